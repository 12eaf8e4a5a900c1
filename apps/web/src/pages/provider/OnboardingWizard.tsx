import { type FormEvent, useEffect, useRef, useState } from "react";
import { ApiError, api, type OnboardingInput } from "../../api";
import { errorMessage, Field } from "../../components/ui";
import { type MessageKey, useI18n } from "../../i18n";
import { href } from "../../router";

type FieldPath =
  | "slug"
  | "name"
  | "timezone"
  | "region"
  | "whatsapp.phoneNumberId"
  | "whatsapp.wabaId"
  | "whatsapp.displayPhoneNumber"
  | "whatsapp.accessToken"
  | "admin.email"
  | "admin.name"
  | "admin.password";

type FieldSpec = {
  path: FieldPath;
  label: MessageKey;
  type?: string;
  autoComplete?: string;
  optional?: boolean;
};

const STEPS: { title: MessageKey; fields: FieldSpec[] }[] = [
  {
    title: "wizard.bank",
    fields: [
      { path: "slug", label: "wizard.slug" },
      { path: "name", label: "wizard.name" },
      { path: "timezone", label: "wizard.timezone" },
      { path: "region", label: "wizard.region" },
    ],
  },
  {
    title: "wizard.whatsapp",
    fields: [
      { path: "whatsapp.phoneNumberId", label: "wizard.phoneNumberId" },
      { path: "whatsapp.wabaId", label: "wizard.wabaId" },
      { path: "whatsapp.displayPhoneNumber", label: "wizard.displayPhoneNumber", type: "tel" },
      { path: "whatsapp.accessToken", label: "wizard.accessToken", type: "password", autoComplete: "off" },
    ],
  },
  {
    title: "wizard.admin",
    fields: [
      { path: "admin.email", label: "wizard.adminEmail", type: "email", autoComplete: "off" },
      { path: "admin.name", label: "wizard.adminName" },
      {
        path: "admin.password",
        label: "wizard.adminPassword",
        type: "password",
        autoComplete: "new-password",
      },
    ],
  },
];
const REVIEW_STEP = STEPS.length;
const SLUG_PATTERN = /^[a-z][a-z0-9-]{1,39}$/;

const EMPTY: Record<FieldPath, string> = {
  slug: "",
  name: "",
  timezone: "Europe/Berlin",
  region: "DE-BY",
  "whatsapp.phoneNumberId": "",
  "whatsapp.wabaId": "",
  "whatsapp.displayPhoneNumber": "",
  "whatsapp.accessToken": "",
  "admin.email": "",
  "admin.name": "",
  "admin.password": "",
};

function toInput(values: Record<FieldPath, string>): OnboardingInput {
  return {
    slug: values.slug.trim(),
    name: values.name.trim(),
    timezone: values.timezone.trim(),
    region: values.region.trim(),
    whatsapp: {
      phoneNumberId: values["whatsapp.phoneNumberId"].trim(),
      wabaId: values["whatsapp.wabaId"].trim(),
      displayPhoneNumber: values["whatsapp.displayPhoneNumber"].trim(),
      accessToken: values["whatsapp.accessToken"].trim(),
    },
    admin: {
      email: values["admin.email"].trim(),
      name: values["admin.name"].trim(),
      password: values["admin.password"],
    },
  };
}

function stepOf(path: string): number {
  const index = STEPS.findIndex((step) => step.fields.some((field) => field.path === path));
  return index < 0 ? REVIEW_STEP : index;
}

export function OnboardingWizard() {
  const { t } = useI18n();
  const [step, setStep] = useState(0);
  const [values, setValues] = useState<Record<FieldPath, string>>(EMPTY);
  const [errors, setErrors] = useState<Partial<Record<string, string>>>({});
  const [formError, setFormError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<{ name: string; email: string; slug: string } | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  // Move focus to the step heading so screen readers announce the new step.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on step change only
  useEffect(() => {
    headingRef.current?.focus();
  }, [step]);

  function validate(fields: FieldSpec[]): Record<string, string> {
    const found: Record<string, string> = {};
    for (const field of fields) {
      if (!field.optional && !values[field.path].trim()) found[field.path] = t("wizard.required");
    }
    if (fields.some((f) => f.path === "slug") && values.slug && !SLUG_PATTERN.test(values.slug.trim())) {
      found.slug = t("wizard.slugHint");
    }
    return found;
  }

  function next(event: FormEvent) {
    event.preventDefault();
    const current = STEPS[step];
    if (current) {
      const found = validate(current.fields);
      setErrors(found);
      if (Object.keys(found).length) {
        const first = current.fields.find((f) => found[f.path]);
        if (first)
          document
            .querySelector<HTMLElement>(`[data-testid="wizard-${first.path.replace(".", "-")}"]`)
            ?.focus();
        return;
      }
      setStep(step + 1);
      return;
    }
    void submit();
  }

  async function submit() {
    const all = validate(STEPS.flatMap((s) => s.fields));
    if (Object.keys(all).length) {
      setErrors(all);
      setStep(Math.min(...Object.keys(all).map(stepOf)));
      return;
    }
    setBusy(true);
    setFormError(undefined);
    try {
      const answer = await api.createTenant(toInput(values));
      setCreated({ name: answer.tenant.name, email: answer.admin.email, slug: answer.tenant.slug });
      setValues(EMPTY);
      setErrors({});
      setStep(0);
    } catch (caught) {
      setFormError(caught);
      if (caught instanceof ApiError && caught.fields.length) {
        const mapped: Record<string, string> = {};
        for (const field of caught.fields) mapped[field.path] = field.message;
        setErrors(mapped);
        setStep(Math.min(...caught.fields.map((f) => stepOf(f.path))));
      }
    } finally {
      setBusy(false);
    }
  }

  const current = STEPS[step];
  const input = toInput(values);

  return (
    <section aria-labelledby="wizard-title" data-testid="onboarding-wizard">
      <h2 id="wizard-title">{t("provider.onboarding")}</h2>
      {created ? (
        <div className="notice success" role="status" data-testid="wizard-created">
          <p>{t("wizard.created", { name: created.name, email: created.email })}</p>
          <a href={href("/provider/tenants")}>{t("provider.tenants")}</a>
        </div>
      ) : null}
      <ol className="steps" aria-label={t("wizard.step", { n: step + 1, total: STEPS.length + 1 })}>
        {[...STEPS.map((s) => s.title), "wizard.review" as const].map((title, index) => (
          <li
            key={title}
            className={index === step ? "current" : index < step ? "done" : undefined}
            aria-current={index === step ? "step" : undefined}
          >
            {t(title)}
          </li>
        ))}
      </ol>
      <form className="form" onSubmit={next} noValidate>
        <h3 ref={headingRef} tabIndex={-1} data-testid="wizard-step-title">
          {t("wizard.step", { n: step + 1, total: STEPS.length + 1 })}:{" "}
          {t(current ? current.title : "wizard.review")}
        </h3>
        {current ? (
          current.fields.map((field) => (
            <Field
              key={field.path}
              label={t(field.label)}
              type={field.type ?? "text"}
              autoComplete={field.autoComplete}
              testId={`wizard-${field.path.replace(".", "-")}`}
              required={!field.optional}
              value={values[field.path]}
              error={errors[field.path]}
              hint={field.path === "slug" ? t("wizard.slugHint") : undefined}
              onChange={(event) => setValues({ ...values, [field.path]: event.target.value })}
            />
          ))
        ) : (
          <dl className="review" data-testid="wizard-review">
            <dt>{t("wizard.slug")}</dt>
            <dd>{input.slug}</dd>
            <dt>{t("wizard.name")}</dt>
            <dd>{input.name}</dd>
            <dt>{t("wizard.timezone")}</dt>
            <dd>{input.timezone}</dd>
            <dt>{t("wizard.region")}</dt>
            <dd>{input.region}</dd>
            <dt>{t("wizard.phoneNumberId")}</dt>
            <dd>{input.whatsapp.phoneNumberId}</dd>
            <dt>{t("wizard.wabaId")}</dt>
            <dd>{input.whatsapp.wabaId}</dd>
            <dt>{t("wizard.displayPhoneNumber")}</dt>
            <dd>{input.whatsapp.displayPhoneNumber}</dd>
            <dt>{t("wizard.adminEmail")}</dt>
            <dd>{input.admin.email}</dd>
            <dt>{t("wizard.adminName")}</dt>
            <dd>{input.admin.name}</dd>
          </dl>
        )}
        {formError ? (
          <p className="form-error" role="alert" data-testid="wizard-error">
            {errorMessage(t, formError)}
          </p>
        ) : null}
        <div className="dialog-actions">
          <button
            type="button"
            data-testid="wizard-back"
            disabled={step === 0 || busy}
            onClick={() => setStep(step - 1)}
          >
            {t("common.back")}
          </button>
          <button
            type="submit"
            className="primary"
            data-testid={current ? "wizard-next" : "wizard-submit"}
            disabled={busy}
          >
            {current ? t("common.next") : t("wizard.submit")}
          </button>
        </div>
      </form>
    </section>
  );
}
