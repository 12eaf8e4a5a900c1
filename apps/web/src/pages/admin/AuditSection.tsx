import { useState } from "react";
import { type AuditEntry, api } from "../../api";
import { ErrorBox, Loading } from "../../components/ui";
import { formatDateTime } from "../../format";
import { useResource } from "../../hooks";
import { useI18n } from "../../i18n";
import { useTenantInfo } from "../../tenants";

const PAGE = 50;

function detailsText(details: unknown): string {
  if (details === null || details === undefined) return "";
  return typeof details === "string" ? details : JSON.stringify(details);
}

export function AuditSection({ tenant }: { tenant: string }) {
  const { t, locale } = useI18n();
  const { timezone } = useTenantInfo(tenant);
  const first = useResource(() => api.audit(tenant, PAGE), [tenant]);
  const [more, setMore] = useState<AuditEntry[]>([]);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<unknown>(undefined);
  const [exhausted, setExhausted] = useState(false);
  const entries = [...(first.data ?? []), ...more];

  async function loadMore() {
    const last = entries.at(-1);
    if (!last) return;
    setLoadingMore(true);
    setMoreError(undefined);
    try {
      // `before` is the id of the oldest entry shown (ids grow with time); the API pages backwards.
      const page = await api.audit(tenant, PAGE, last.id);
      const seen = new Set(entries.map((e) => e.id));
      setMore((current) => [...current, ...page.filter((e) => !seen.has(e.id))]);
      if (page.length < PAGE) setExhausted(true);
    } catch (caught) {
      setMoreError(caught);
    } finally {
      setLoadingMore(false);
    }
  }

  if (first.error !== undefined && !first.data)
    return <ErrorBox error={first.error} onRetry={() => void first.reload()} />;
  if (!first.data) return <Loading />;

  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">{t("admin.audit")}</h2>
      {entries.length === 0 ? (
        <p className="muted">{t("common.empty")}</p>
      ) : (
        <table className="table" data-testid="audit-table">
          <thead>
            <tr>
              <th scope="col">{t("audit.at")}</th>
              <th scope="col">{t("audit.actor")}</th>
              <th scope="col">{t("audit.action")}</th>
              <th scope="col">{t("audit.target")}</th>
              <th scope="col">{t("audit.details")}</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr key={entry.id} data-testid="audit-row">
                <td className="nowrap">
                  <time dateTime={entry.at}>{formatDateTime(entry.at, locale, timezone)}</time>
                </td>
                <td>{entry.actorName ?? entry.actorUserId ?? t("common.none")}</td>
                <td>
                  <code>{entry.action}</code>
                </td>
                <td>
                  {entry.targetType
                    ? `${entry.targetType}${entry.targetId ? ` ${entry.targetId}` : ""}`
                    : t("common.none")}
                </td>
                <td className="clip">
                  <code className="small">{detailsText(entry.details)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {moreError ? <ErrorBox error={moreError} /> : null}
      {!exhausted && (first.data.length >= PAGE || more.length > 0) ? (
        <button type="button" data-testid="audit-more" disabled={loadingMore} onClick={() => void loadMore()}>
          {loadingMore ? t("common.loading") : t("common.loadMore")}
        </button>
      ) : null}
    </section>
  );
}
