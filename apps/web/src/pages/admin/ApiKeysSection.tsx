import { type FormEvent, useState } from "react";
import { type ApiKey, api } from "../../api";
import { Dialog } from "../../components/Dialog";
import { Async, CheckboxField, Field, FormError } from "../../components/ui";
import { formatDateTime } from "../../format";
import { useAction, useResource } from "../../hooks";
import { useI18n } from "../../i18n";
import { showToast } from "../../notify";
import { useTenantInfo } from "../../tenants";

export function ApiKeysSection({ tenant }: { tenant: string }) {
  const { t, locale } = useI18n();
  const { timezone } = useTenantInfo(tenant);
  const keys = useResource(() => api.apiKeys(tenant), [tenant]);
  const [name, setName] = useState("");
  /** The key may also send notifications (scope `notifications`, docs/NOTIFICATIONS.md). */
  const [notifications, setNotifications] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const create = useAction();
  const revoke = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!name.trim()) return;
    const scopes = ["customers:read", "customers:write", ...(notifications ? ["notifications"] : [])];
    const result = await create.run(() => api.createApiKey(tenant, name.trim(), scopes));
    if (result.ok) {
      setName("");
      setNotifications(false);
      setSecret(result.value.apiKey.key);
      void keys.reload();
    }
  }

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">{t("admin.apiKeys")}</h2>
      <form className="inline-form" onSubmit={submit}>
        <Field
          label={t("apiKeys.name")}
          testId="api-key-name"
          value={name}
          error={create.error?.fieldMessage("name")}
          onChange={(event) => setName(event.target.value)}
        />
        <CheckboxField
          label={t("apiKeys.notifications")}
          testId="api-key-notifications"
          checked={notifications}
          onChange={setNotifications}
        />
        <button
          type="submit"
          className="primary"
          data-testid="api-key-create"
          disabled={create.busy || !name.trim()}
        >
          {t("apiKeys.new")}
        </button>
      </form>
      <FormError error={create.error} />
      <Async resource={keys}>
        {(list) =>
          list.length === 0 ? (
            <p className="muted">{t("common.empty")}</p>
          ) : (
            <table className="table" data-testid="api-keys-table">
              <thead>
                <tr>
                  <th scope="col">{t("apiKeys.name")}</th>
                  <th scope="col">{t("apiKeys.prefix")}</th>
                  <th scope="col">{t("apiKeys.createdAt")}</th>
                  <th scope="col">{t("apiKeys.lastUsedAt")}</th>
                  <th scope="col">
                    <span className="visually-hidden">{t("apiKeys.revoke")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((key) => (
                  <tr key={key.id} data-testid="api-key-row">
                    <td>
                      {key.name ?? key.id}
                      {key.scopes?.includes("notifications") ? (
                        <span className="badge"> {t("apiKeys.notificationsBadge")}</span>
                      ) : null}
                    </td>
                    <td>
                      <code>{key.prefix ?? t("common.none")}</code>
                    </td>
                    <td>{formatDateTime(key.createdAt, locale, timezone) || t("common.none")}</td>
                    <td>{formatDateTime(key.lastUsedAt, locale, timezone) || t("common.none")}</td>
                    <td>
                      <button type="button" className="danger" onClick={() => setRevoking(key)}>
                        {t("apiKeys.revoke")}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
      {secret !== null ? (
        <Dialog
          title={t("apiKeys.secretTitle")}
          onClose={() => setSecret(null)}
          testId="api-key-secret-dialog"
        >
          <p className="notice">{t("apiKeys.secretOnce")}</p>
          <p>
            <code className="secret" data-testid="api-key-secret">
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
            <button type="button" className="primary" onClick={() => setSecret(null)}>
              {t("common.close")}
            </button>
          </div>
        </Dialog>
      ) : null}
      {revoking ? (
        <Dialog title={t("apiKeys.revoke")} onClose={() => setRevoking(null)}>
          <p>{t("apiKeys.revokeConfirm")}</p>
          <p>
            <strong>{revoking.name ?? revoking.id}</strong>
          </p>
          <FormError error={revoke.error} />
          <div className="dialog-actions">
            <button type="button" data-autofocus onClick={() => setRevoking(null)}>
              {t("common.cancel")}
            </button>
            <button
              type="button"
              className="danger"
              data-testid="api-key-revoke-confirm"
              disabled={revoke.busy}
              onClick={async () => {
                const result = await revoke.run(() => api.deleteApiKey(tenant, revoking.id));
                if (result.ok) {
                  setRevoking(null);
                  void keys.reload();
                }
              }}
            >
              {t("apiKeys.revoke")}
            </button>
          </div>
        </Dialog>
      ) : null}
    </section>
  );
}
