import { BANK_WEBHOOK_EVENTS } from "@kanal/contracts/webhooks";
import { type FormEvent, useState } from "react";
import { api, type WebhookDelivery, type WebhookEndpoint } from "../../api";
import { Dialog } from "../../components/Dialog";
import { Async, CheckboxField, Field, FormError } from "../../components/ui";
import { formatDateTime } from "../../format";
import { useAction, useResource } from "../../hooks";
import { type MessageKey, useI18n } from "../../i18n";
import { showToast } from "../../notify";
import { useTenantInfo } from "../../tenants";

/** Event checkboxes; the event names are the API's and stay as they are in both languages. */
function EventPicker({
  selected,
  onChange,
  prefix,
}: {
  selected: string[];
  onChange: (events: string[]) => void;
  prefix: string;
}) {
  return (
    <fieldset className="event-picker">
      {BANK_WEBHOOK_EVENTS.map((event) => (
        <CheckboxField
          key={event}
          label={event}
          testId={`${prefix}-${event}`}
          checked={selected.includes(event)}
          onChange={(on) => onChange(on ? [...selected, event] : selected.filter((e) => e !== event))}
        />
      ))}
    </fieldset>
  );
}

function SecretDialog({ secret, onClose }: { secret: string; onClose: () => void }) {
  const { t } = useI18n();
  return (
    <Dialog title={t("webhooks.secretTitle")} onClose={onClose} testId="webhook-secret-dialog">
      <p className="notice">{t("webhooks.secretOnce")}</p>
      <p>
        <code className="secret" data-testid="webhook-secret">
          {secret}
        </code>
      </p>
      <div className="dialog-actions">
        <button
          type="button"
          data-autofocus
          onClick={() =>
            void navigator.clipboard
              ?.writeText(secret)
              .then(() => showToast(t("common.copied"), "success"))
              .catch(() => undefined)
          }
        >
          {t("common.copy")}
        </button>
        <button type="button" className="primary" onClick={onClose}>
          {t("common.close")}
        </button>
      </div>
    </Dialog>
  );
}

function Deliveries({ tenant, endpoint }: { tenant: string; endpoint: WebhookEndpoint }) {
  const { t, locale } = useI18n();
  const { timezone } = useTenantInfo(tenant);
  const [more, setMore] = useState<WebhookDelivery[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const page = useResource(async () => {
    const first = await api.webhookDeliveries(tenant, endpoint.id);
    setMore([]);
    setCursor(first.nextCursor);
    return first.deliveries;
  }, [tenant, endpoint.id]);
  const resend = useAction();
  const loadMore = useAction();
  return (
    <section aria-label={t("webhooks.deliveries")} data-testid="webhook-deliveries">
      <h3>
        {t("webhooks.deliveries")}: <code>{endpoint.url}</code>
      </h3>
      <FormError error={resend.error} />
      <Async resource={page}>
        {(first) => {
          const rows = [...first, ...more];
          return rows.length === 0 ? (
            <p className="muted">{t("common.empty")}</p>
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">{t("webhooks.created")}</th>
                  <th scope="col">{t("webhooks.event")}</th>
                  <th scope="col">{t("webhooks.state")}</th>
                  <th scope="col">{t("webhooks.attempts")}</th>
                  <th scope="col">{t("webhooks.lastResult")}</th>
                  <th scope="col">{t("webhooks.nextAttempt")}</th>
                  <th scope="col">
                    <span className="visually-hidden">{t("webhooks.resend")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((d) => (
                  <tr key={d.id} data-testid="webhook-delivery-row" data-status={d.status}>
                    <td>{formatDateTime(d.createdAt, locale, timezone)}</td>
                    <td>
                      <code>{d.eventType}</code>
                    </td>
                    <td>{t(`webhooks.status.${d.status}` as MessageKey)}</td>
                    <td>{d.attempts}</td>
                    <td>
                      {d.lastError ?? (d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : t("common.none"))}
                    </td>
                    <td>{formatDateTime(d.nextAttemptAt, locale, timezone) || t("common.none")}</td>
                    <td>
                      <button
                        type="button"
                        disabled={resend.busy || endpoint.state !== "enabled"}
                        onClick={async () => {
                          const result = await resend.run(() =>
                            api.resendWebhookDelivery(tenant, endpoint.id, d.id),
                          );
                          if (result.ok) {
                            showToast(t("webhooks.resent"), "success");
                            void page.reload();
                          }
                        }}
                      >
                        {t("webhooks.resend")}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Async>
      {cursor ? (
        <button
          type="button"
          disabled={loadMore.busy}
          onClick={async () => {
            const result = await loadMore.run(() => api.webhookDeliveries(tenant, endpoint.id, cursor));
            if (result.ok) {
              setMore((rows) => [...rows, ...result.value.deliveries]);
              setCursor(result.value.nextCursor);
            }
          }}
        >
          {t("common.loadMore")}
        </button>
      ) : null}
    </section>
  );
}

export function WebhooksSection({ tenant }: { tenant: string }) {
  const { t, locale } = useI18n();
  const { timezone } = useTenantInfo(tenant);
  const endpoints = useResource(() => api.webhookEndpoints(tenant), [tenant]);
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>(["message.received"]);
  const [secret, setSecret] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ endpoint: WebhookEndpoint; events: string[] } | null>(null);
  const [rotating, setRotating] = useState<WebhookEndpoint | null>(null);
  const [deleting, setDeleting] = useState<WebhookEndpoint | null>(null);
  const [showing, setShowing] = useState<string | null>(null);
  const create = useAction();
  const change = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const result = await create.run(() => api.createWebhookEndpoint(tenant, { url: url.trim(), events }));
    if (result.ok) {
      setUrl("");
      setSecret(result.value.endpoint.secret);
      void endpoints.reload();
    }
  }

  async function update(endpoint: WebhookEndpoint, body: { events?: string[]; enabled?: boolean }) {
    const result = await change.run(() => api.updateWebhookEndpoint(tenant, endpoint.id, body));
    if (result.ok) void endpoints.reload();
    return result.ok;
  }

  const shown = endpoints.data?.find((e) => e.id === showing);
  const disabledByKanal = (endpoints.data ?? []).filter(
    (e) => e.state === "disabled" && (e.disabledReason === "failing" || e.disabledReason === "gone"),
  );

  return (
    <section aria-labelledby="webhooks-title">
      <h2 id="webhooks-title">{t("admin.webhooks")}</h2>
      <p className="muted">{t("webhooks.intro")}</p>
      {disabledByKanal.length > 0 ? (
        <p className="notice" role="alert" data-testid="webhooks-alert">
          {t("webhooks.alert", { count: disabledByKanal.length })}
        </p>
      ) : null}
      <form onSubmit={submit} data-testid="webhook-form">
        <Field
          label={t("webhooks.url")}
          testId="webhook-url"
          value={url}
          placeholder="https://"
          error={create.error?.fieldMessage("url")}
          onChange={(event) => setUrl(event.target.value)}
        />
        <p>{t("webhooks.events")}</p>
        <EventPicker selected={events} onChange={setEvents} prefix="webhook-event" />
        {create.error?.fieldMessage("events") ? (
          <p className="field-error">{create.error.fieldMessage("events")}</p>
        ) : null}
        <button
          type="submit"
          className="primary"
          data-testid="webhook-create"
          disabled={create.busy || !url.trim() || events.length === 0}
        >
          {t("webhooks.new")}
        </button>
      </form>
      <FormError error={create.error} />
      <FormError error={change.error} />
      <Async resource={endpoints}>
        {(list) =>
          list.length === 0 ? (
            <p className="muted">{t("common.empty")}</p>
          ) : (
            <table className="table" data-testid="webhooks-table">
              <thead>
                <tr>
                  <th scope="col">{t("webhooks.url")}</th>
                  <th scope="col">{t("webhooks.events")}</th>
                  <th scope="col">{t("webhooks.state")}</th>
                  <th scope="col">
                    <span className="visually-hidden">{t("common.edit")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((endpoint) => (
                  <tr key={endpoint.id} data-testid="webhook-row" data-state={endpoint.state}>
                    <td>
                      <code>{endpoint.url}</code>
                      {endpoint.previousSecretExpiresAt ? (
                        <p className="muted small">
                          {t("webhooks.rotating", {
                            time: formatDateTime(endpoint.previousSecretExpiresAt, locale, timezone),
                          })}
                        </p>
                      ) : null}
                    </td>
                    <td>{endpoint.events.join(", ")}</td>
                    <td>
                      {endpoint.state === "enabled" ? t("webhooks.enabled") : t("webhooks.disabled")}
                      {endpoint.disabledReason ? (
                        <p className="muted small">
                          {t(`webhooks.reason.${endpoint.disabledReason}` as MessageKey)}
                        </p>
                      ) : null}
                      {endpoint.failureStreak > 0 ? (
                        <p className="muted small">
                          {t("webhooks.failureStreak", { count: endpoint.failureStreak })}
                        </p>
                      ) : null}
                      {endpoint.lastSuccessAt ? (
                        <p className="muted small">
                          {t("webhooks.lastSuccess")}:{" "}
                          {formatDateTime(endpoint.lastSuccessAt, locale, timezone)}
                        </p>
                      ) : null}
                    </td>
                    <td className="actions">
                      <button
                        type="button"
                        data-testid="webhook-deliveries-toggle"
                        aria-expanded={showing === endpoint.id}
                        onClick={() => setShowing(showing === endpoint.id ? null : endpoint.id)}
                      >
                        {t("webhooks.deliveries")}
                      </button>
                      <button
                        type="button"
                        data-testid="webhook-edit"
                        onClick={() => setEditing({ endpoint, events: endpoint.events })}
                      >
                        {t("webhooks.edit")}
                      </button>
                      <button
                        type="button"
                        data-testid="webhook-toggle"
                        disabled={change.busy}
                        onClick={() => void update(endpoint, { enabled: endpoint.state !== "enabled" })}
                      >
                        {endpoint.state === "enabled" ? t("webhooks.disable") : t("webhooks.enable")}
                      </button>
                      <button
                        type="button"
                        data-testid="webhook-rotate"
                        onClick={() => setRotating(endpoint)}
                      >
                        {t("webhooks.rotate")}
                      </button>
                      <button type="button" className="danger" onClick={() => setDeleting(endpoint)}>
                        {t("common.delete")}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
      {shown ? <Deliveries key={shown.id} tenant={tenant} endpoint={shown} /> : null}
      {secret !== null ? <SecretDialog secret={secret} onClose={() => setSecret(null)} /> : null}
      {editing ? (
        <Dialog title={t("webhooks.edit")} onClose={() => setEditing(null)} testId="webhook-edit-dialog">
          <p>
            <code>{editing.endpoint.url}</code>
          </p>
          <EventPicker
            selected={editing.events}
            onChange={(selected) => setEditing({ ...editing, events: selected })}
            prefix="webhook-edit-event"
          />
          <div className="dialog-actions">
            <button type="button" data-autofocus onClick={() => setEditing(null)}>
              {t("common.cancel")}
            </button>
            <button
              type="button"
              className="primary"
              data-testid="webhook-edit-save"
              disabled={change.busy || editing.events.length === 0}
              onClick={async () => {
                if (await update(editing.endpoint, { events: editing.events })) setEditing(null);
              }}
            >
              {t("common.save")}
            </button>
          </div>
        </Dialog>
      ) : null}
      {rotating ? (
        <Dialog title={t("webhooks.rotate")} onClose={() => setRotating(null)}>
          <p>{t("webhooks.rotateConfirm")}</p>
          <div className="dialog-actions">
            <button type="button" data-autofocus onClick={() => setRotating(null)}>
              {t("common.cancel")}
            </button>
            <button
              type="button"
              className="primary"
              data-testid="webhook-rotate-confirm"
              disabled={change.busy}
              onClick={async () => {
                const result = await change.run(() => api.rotateWebhookSecret(tenant, rotating.id));
                if (result.ok) {
                  setRotating(null);
                  setSecret(result.value.endpoint.secret);
                  void endpoints.reload();
                }
              }}
            >
              {t("webhooks.rotate")}
            </button>
          </div>
        </Dialog>
      ) : null}
      {deleting ? (
        <Dialog title={t("common.delete")} onClose={() => setDeleting(null)}>
          <p>{t("webhooks.deleteConfirm")}</p>
          <p>
            <code>{deleting.url}</code>
          </p>
          <div className="dialog-actions">
            <button type="button" data-autofocus onClick={() => setDeleting(null)}>
              {t("common.cancel")}
            </button>
            <button
              type="button"
              className="danger"
              disabled={change.busy}
              onClick={async () => {
                const result = await change.run(() => api.deleteWebhookEndpoint(tenant, deleting.id));
                if (result.ok) {
                  setDeleting(null);
                  if (showing === deleting.id) setShowing(null);
                  void endpoints.reload();
                }
              }}
            >
              {t("common.delete")}
            </button>
          </div>
        </Dialog>
      ) : null}
    </section>
  );
}
