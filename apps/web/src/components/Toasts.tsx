import { useI18n } from "../i18n";
import { dismissToast, useToasts } from "../notify";

export function Toasts() {
  const { t } = useI18n();
  const toasts = useToasts();
  return (
    <div className="toasts" aria-live="polite" aria-atomic="false" data-testid="toasts">
      {toasts.map((toast) => (
        <div key={toast.id} className={`toast toast-${toast.kind}`} role="status" data-testid="toast">
          {toast.href ? <a href={toast.href}>{toast.text}</a> : <span>{toast.text}</span>}
          <button
            type="button"
            className="icon-button"
            onClick={() => dismissToast(toast.id)}
            aria-label={t("common.close")}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
