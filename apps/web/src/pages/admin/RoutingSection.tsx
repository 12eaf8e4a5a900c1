import { type FormEvent, useState } from "react";
import {
  api,
  type Interval,
  type RoutingMode,
  type RoutingSettings,
  WEEKDAYS,
  type Weekday,
} from "../../api";
import { Async, CheckboxField, Field, FormError, SelectField, TextAreaField } from "../../components/ui";
import { useAction, useResource } from "../../hooks";
import { useI18n } from "../../i18n";
import { showToast } from "../../notify";

const MODES: readonly RoutingMode[] = ["in_house", "hours_outsourcing", "capacity_overflow", "full_service"];

function emptyHours(): Record<Weekday, Interval[]> {
  return { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] };
}

/** Fill gaps of a partial answer so the editor always has every field. */
function complete(partial: Partial<RoutingSettings>): RoutingSettings {
  return {
    ...partial,
    mode: partial.mode ?? "in_house",
    capacityThreshold: partial.capacityThreshold ?? 3,
    serviceHours: { ...emptyHours(), ...(partial.serviceHours ?? {}) },
    closures: partial.closures ?? [],
    awayMessage: partial.awayMessage ?? "",
    reopenWindowHours: partial.reopenWindowHours ?? 24,
    advisorRouting: partial.advisorRouting ?? false,
    observePublicHolidays: partial.observePublicHolidays ?? true,
  };
}

export function RoutingSection({ tenant }: { tenant: string }) {
  const { t } = useI18n();
  const routing = useResource(async () => complete(await api.routing(tenant)), [tenant]);
  return (
    <section aria-labelledby="routing-title">
      <h2 id="routing-title">{t("admin.routing")}</h2>
      <Async resource={routing}>{(settings) => <RoutingForm tenant={tenant} initial={settings} />}</Async>
      <HolidaysPreview tenant={tenant} />
    </section>
  );
}

/** The days the bank is closed anyway this year: its state's public holidays and its closure days. */
function HolidaysPreview({ tenant }: { tenant: string }) {
  const { t, locale } = useI18n();
  const year = new Date().getFullYear();
  const holidays = useResource(() => api.holidays(tenant, year), [tenant, year]);
  const date = (iso: string) =>
    new Intl.DateTimeFormat(locale, {
      weekday: "short",
      day: "2-digit",
      month: "2-digit",
      timeZone: "UTC",
    }).format(new Date(`${iso}T00:00:00Z`));
  return (
    <details className="holidays" data-testid="holidays-preview">
      <summary>{t("routing.holidays", { year })}</summary>
      <Async resource={holidays}>
        {(data) => (
          <ul className="plain-list">
            {data.holidays.map((holiday) => (
              <li key={holiday.date} data-testid="holiday">
                <time dateTime={holiday.date}>{date(holiday.date)}</time> {holiday.name}
              </li>
            ))}
            {data.closures.map((closure) => (
              <li key={`c-${closure}`}>
                <time dateTime={closure}>{date(closure)}</time> {t("routing.closureDay")}
              </li>
            ))}
          </ul>
        )}
      </Async>
    </details>
  );
}

function RoutingForm({ tenant, initial }: { tenant: string; initial: RoutingSettings }) {
  const { t } = useI18n();
  const [settings, setSettings] = useState<RoutingSettings>(initial);
  const [newClosure, setNewClosure] = useState("");
  const action = useAction();
  const fieldError = (path: string) => action.error?.fieldMessage(path);

  const update = <K extends keyof RoutingSettings>(key: K, value: RoutingSettings[K]) =>
    setSettings((current) => ({ ...current, [key]: value }));

  const setDay = (day: Weekday, intervals: Interval[]) =>
    setSettings((current) => ({ ...current, serviceHours: { ...current.serviceHours, [day]: intervals } }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    const result = await action.run(() => api.saveRouting(tenant, settings));
    if (result.ok) showToast(t("common.saved"), "success");
  }

  return (
    <form className="form" onSubmit={submit} noValidate data-testid="routing-form">
      <SelectField
        label={t("routing.mode")}
        testId="routing-mode"
        value={settings.mode}
        error={fieldError("mode")}
        onChange={(value) => update("mode", value as RoutingMode)}
        options={MODES.map((mode) => ({ value: mode, label: t(`routing.mode.${mode}`) }))}
      />
      <Field
        label={t("routing.capacityThreshold")}
        type="number"
        min={0}
        testId="routing-capacity"
        value={String(settings.capacityThreshold)}
        error={fieldError("capacityThreshold")}
        disabled={settings.mode !== "capacity_overflow"}
        onChange={(event) => update("capacityThreshold", Number(event.target.value))}
      />

      <fieldset className="service-hours" data-testid="service-hours">
        <legend>{t("routing.serviceHours")}</legend>
        <table className="table hours-table">
          <tbody>
            {WEEKDAYS.map((day) => {
              const intervals = settings.serviceHours[day];
              const dayError = fieldError(`serviceHours.${day}`);
              return (
                <tr key={day} data-testid={`hours-${day}`}>
                  <th scope="row">{t(`day.${day}`)}</th>
                  <td>
                    {intervals.length === 0 ? <span className="muted">{t("routing.closedDay")}</span> : null}
                    {intervals.map(([from, to], index) => (
                      // biome-ignore lint/suspicious/noArrayIndexKey: intervals have no identity beyond position
                      <span key={index} className="interval">
                        <label>
                          <span className="visually-hidden">
                            {t(`day.${day}`)} {index + 1} {t("routing.from")}
                          </span>
                          <input
                            type="time"
                            value={from}
                            data-testid={`hours-${day}-${index}-from`}
                            onChange={(event) =>
                              setDay(
                                day,
                                intervals.map((iv, i) => (i === index ? [event.target.value, iv[1]] : iv)),
                              )
                            }
                          />
                        </label>
                        –
                        <label>
                          <span className="visually-hidden">
                            {t(`day.${day}`)} {index + 1} {t("routing.to")}
                          </span>
                          <input
                            type="time"
                            value={to}
                            data-testid={`hours-${day}-${index}-to`}
                            onChange={(event) =>
                              setDay(
                                day,
                                intervals.map((iv, i) => (i === index ? [iv[0], event.target.value] : iv)),
                              )
                            }
                          />
                        </label>
                        <button
                          type="button"
                          className="icon-button"
                          aria-label={`${t("common.remove")}: ${t(`day.${day}`)} ${from}–${to}`}
                          onClick={() =>
                            setDay(
                              day,
                              intervals.filter((_, i) => i !== index),
                            )
                          }
                        >
                          ×
                        </button>
                      </span>
                    ))}
                    {dayError ? <p className="field-error">{dayError}</p> : null}
                  </td>
                  <td>
                    <button
                      type="button"
                      className="small-button"
                      data-testid={`hours-${day}-add`}
                      aria-label={`${t("routing.addInterval")}: ${t(`day.${day}`)}`}
                      onClick={() => {
                        const last = intervals.at(-1);
                        setDay(day, [...intervals, last ? [last[1], last[1]] : ["08:00", "18:00"]]);
                      }}
                    >
                      + {t("routing.addInterval")}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {fieldError("serviceHours") ? <p className="field-error">{fieldError("serviceHours")}</p> : null}
      </fieldset>

      <fieldset data-testid="closures">
        <legend>{t("routing.closures")}</legend>
        <ul className="plain-list">
          {settings.closures.map((day) => (
            <li key={day}>
              <time dateTime={day}>{day}</time>{" "}
              <button
                type="button"
                className="icon-button"
                aria-label={`${t("common.remove")}: ${day}`}
                onClick={() =>
                  update(
                    "closures",
                    settings.closures.filter((d) => d !== day),
                  )
                }
              >
                ×
              </button>
            </li>
          ))}
        </ul>
        <div className="inline-form">
          <Field
            label={t("routing.addClosure")}
            type="date"
            testId="closure-date"
            value={newClosure}
            onChange={(event) => setNewClosure(event.target.value)}
          />
          <button
            type="button"
            data-testid="closure-add"
            disabled={!newClosure}
            onClick={() => {
              if (!settings.closures.includes(newClosure)) {
                update("closures", [...settings.closures, newClosure].sort());
              }
              setNewClosure("");
            }}
          >
            {t("common.add")}
          </button>
        </div>
        {fieldError("closures") ? <p className="field-error">{fieldError("closures")}</p> : null}
      </fieldset>

      <TextAreaField
        label={t("routing.awayMessage")}
        testId="routing-away-message"
        rows={3}
        value={settings.awayMessage}
        error={fieldError("awayMessage")}
        onChange={(event) => update("awayMessage", event.target.value)}
      />
      <Field
        label={t("routing.reopenWindowHours")}
        type="number"
        min={0}
        testId="routing-reopen-hours"
        value={String(settings.reopenWindowHours)}
        error={fieldError("reopenWindowHours")}
        onChange={(event) => update("reopenWindowHours", Number(event.target.value))}
      />
      <CheckboxField
        label={t("routing.observePublicHolidays")}
        testId="routing-observe-holidays"
        checked={settings.observePublicHolidays}
        onChange={(checked) => update("observePublicHolidays", checked)}
      />
      <CheckboxField
        label={t("routing.advisorRouting")}
        testId="routing-advisor"
        checked={settings.advisorRouting}
        onChange={(checked) => update("advisorRouting", checked)}
      />
      <FormError error={action.error} />
      <button type="submit" className="primary" data-testid="routing-save" disabled={action.busy}>
        {t("common.save")}
      </button>
    </form>
  );
}
