import { type MessageKey, useI18n } from "../../i18n";
import { href, navigate } from "../../router";
import { ApiKeysSection } from "./ApiKeysSection";
import { AuditSection } from "./AuditSection";
import { ProfileSection } from "./ProfileSection";
import { RoutingSection } from "./RoutingSection";
import { SnippetsSection } from "./SnippetsSection";
import { UsersSection } from "./UsersSection";
import { WebhooksSection } from "./WebhooksSection";

const SECTIONS: { id: string; label: MessageKey }[] = [
  { id: "users", label: "admin.users" },
  { id: "routing", label: "admin.routing" },
  { id: "snippets", label: "admin.snippets" },
  { id: "profile", label: "admin.profile" },
  { id: "api-keys", label: "admin.apiKeys" },
  { id: "webhooks", label: "admin.webhooks" },
  { id: "audit", label: "admin.audit" },
];

export function AdminPage({
  tenant,
  section,
  tenants,
}: {
  tenant: string;
  section: string;
  tenants: string[];
}) {
  const { t } = useI18n();
  return (
    <div className="with-sidebar">
      <nav className="sidebar" aria-label={t("admin.title")}>
        <h1 className="sidebar-title">{t("admin.title")}</h1>
        {tenants.length > 1 ? (
          <label className="field">
            <span>{t("admin.tenant")}</span>
            <select value={tenant} onChange={(event) => navigate(`/admin/${event.target.value}/${section}`)}>
              {tenants.map((slug) => (
                <option key={slug} value={slug}>
                  {slug}
                </option>
              ))}
            </select>
          </label>
        ) : (
          <p className="muted small">{tenant}</p>
        )}
        <ul className="sidebar-links">
          {SECTIONS.map((item) => (
            <li key={item.id}>
              <a
                href={href(`/admin/${tenant}/${item.id}`)}
                aria-current={item.id === section ? "page" : undefined}
                data-testid={`admin-nav-${item.id}`}
              >
                {t(item.label)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main className="page" id="main" tabIndex={-1}>
        {section === "users" ? <UsersSection key={tenant} tenant={tenant} /> : null}
        {section === "routing" ? <RoutingSection key={tenant} tenant={tenant} /> : null}
        {section === "snippets" ? <SnippetsSection key={tenant} tenant={tenant} /> : null}
        {section === "profile" ? <ProfileSection key={tenant} tenant={tenant} /> : null}
        {section === "api-keys" ? <ApiKeysSection key={tenant} tenant={tenant} /> : null}
        {section === "webhooks" ? <WebhooksSection key={tenant} tenant={tenant} /> : null}
        {section === "audit" ? <AuditSection key={tenant} tenant={tenant} /> : null}
        {!SECTIONS.some((item) => item.id === section) ? <p>{t("error.not_found")}</p> : null}
      </main>
    </div>
  );
}
