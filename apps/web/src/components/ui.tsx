import { type InputHTMLAttributes, type ReactNode, type TextareaHTMLAttributes, useId } from "react";
import { ApiError } from "../api";
import { hasKey, type Translate, useI18n } from "../i18n";

/** An error in words: our text for known codes, the server's message as detail. */
export function errorMessage(t: Translate, error: unknown): string {
  if (error instanceof ApiError) {
    const key = `error.${error.code}`;
    const ours = hasKey(key) ? t(key) : undefined;
    // Field errors are shown beside their fields; the form line then only needs our summary.
    const detailed =
      error.code !== "invalid_credentials" && error.code !== "network_error" && !error.fields.length;
    if (ours && error.message && detailed) {
      return ours === error.message ? ours : `${ours} ${error.message}`;
    }
    return ours ?? (error.message || t("error.generic"));
  }
  return t("error.generic");
}

export function Loading({ label }: { label?: string }) {
  const { t } = useI18n();
  return (
    <p className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label ?? t("common.loading")}
    </p>
  );
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useI18n();
  const requestId = error instanceof ApiError ? error.requestId : undefined;
  return (
    <div className="error-box" role="alert">
      <p>{errorMessage(t, error)}</p>
      {requestId ? <p className="muted small">{t("common.requestId", { id: requestId })}</p> : null}
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          {t("common.retry")}
        </button>
      ) : null}
    </div>
  );
}

/** Loading / error / content switch used by every screen. */
export function Async<T>({
  resource,
  children,
}: {
  resource: { data: T | undefined; error: unknown; loading: boolean; reload: () => Promise<void> };
  children: (data: T) => ReactNode;
}) {
  if (resource.error !== undefined && resource.data === undefined) {
    return <ErrorBox error={resource.error} onRetry={() => void resource.reload()} />;
  }
  if (resource.data === undefined) return <Loading />;
  return <>{children(resource.data)}</>;
}

type FieldProps = {
  label: string;
  error?: string | undefined;
  hint?: string | undefined;
  testId?: string;
} & Omit<InputHTMLAttributes<HTMLInputElement>, "id">;

export function Field({ label, error, hint, testId, className, ...input }: FieldProps) {
  const id = useId();
  const describedBy = [error ? `${id}-error` : "", hint ? `${id}-hint` : ""].filter(Boolean).join(" ");
  return (
    <div className={`field${className ? ` ${className}` : ""}`}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        data-testid={testId}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy || undefined}
        {...input}
      />
      {hint ? (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

type TextAreaFieldProps = {
  label: string;
  error?: string | undefined;
  hint?: string | undefined;
  testId?: string;
} & Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, "id">;

export function TextAreaField({ label, error, hint, testId, ...textarea }: TextAreaFieldProps) {
  const id = useId();
  const describedBy = [error ? `${id}-error` : "", hint ? `${id}-hint` : ""].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        data-testid={testId}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy || undefined}
        {...textarea}
      />
      {hint ? (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

export function SelectField({
  label,
  value,
  onChange,
  options,
  testId,
  error,
  disabled,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: { value: string; label: string }[];
  testId?: string;
  error?: string | undefined;
  disabled?: boolean;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        data-testid={testId}
        value={value}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(event) => onChange(event.target.value)}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      {error ? (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

export function CheckboxField({
  label,
  checked,
  onChange,
  testId,
}: {
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  testId?: string;
}) {
  const id = useId();
  return (
    <div className="field field-checkbox">
      <input
        id={id}
        type="checkbox"
        data-testid={testId}
        checked={checked}
        onChange={(event) => onChange(event.target.checked)}
      />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}

/** Form-level error (not tied to one field). */
export function FormError({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  return (
    <p className="form-error" role="alert">
      {errorMessage(t, error)}
    </p>
  );
}
