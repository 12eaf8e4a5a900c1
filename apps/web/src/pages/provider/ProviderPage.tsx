import { type MessageKey, useI18n } from "../../i18n";
import { href } from "../../router";
import { KscSection } from "./KscSection";
import { OnboardingWizard } from "./OnboardingWizard";
import { TenantsSection } from "./TenantsSection";

const SECTIONS: { id: string; label: MessageKey }[] = [
  { id: "tenants", label: "provider.tenants" },
  { id: "onboarding", label: "provider.onboarding" },
  { id: "ksc", label: "provider.ksc" },
];

export function ProviderPage({ section }: { section: string }) {
  const { t } = useI18n();
  return (
    <div className="with-sidebar">
      <nav className="sidebar" aria-label={t("provider.title")}>
        <h1 className="sidebar-title">{t("provider.title")}</h1>
        <ul className="sidebar-links">
          {SECTIONS.map((item) => (
            <li key={item.id}>
              <a
                href={href(`/provider/${item.id}`)}
                aria-current={item.id === section ? "page" : undefined}
                data-testid={`provider-nav-${item.id}`}
              >
                {t(item.label)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main className="page" id="main" tabIndex={-1}>
        {section === "tenants" ? <TenantsSection /> : null}
        {section === "onboarding" ? <OnboardingWizard /> : null}
        {section === "ksc" ? <KscSection /> : null}
        {!SECTIONS.some((item) => item.id === section) ? <p>{t("error.not_found")}</p> : null}
      </main>
    </div>
  );
}
