import { type ReactNode, useEffect, useState } from "react";
import { api, type Me, type Presence } from "../api";
import { startEvents, useKanalEvents } from "../events";
import { LANGS, type Lang, useI18n } from "../i18n";
import { announce, showToast } from "../notify";
import { href, useLocation } from "../router";
import { type Areas, useSession } from "../session";

const PRESENCES: readonly Presence[] = ["online", "away", "offline"];

export function Shell({ me, areas, children }: { me: Me; areas: Areas; children: ReactNode }) {
  const { t, lang, setLang } = useI18n();
  const { logout } = useSession();
  const location = useLocation();
  const [presence, setPresence] = useState<Presence>(me.presence ?? me.user.presence ?? "offline");
  const [presenceBusy, setPresenceBusy] = useState(false);

  useEffect(() => {
    if (areas.inbox) startEvents();
  }, [areas.inbox]);

  // New chats and customer messages are announced wherever the agent is in the app.
  useKanalEvents((event) => {
    const data = event.data;
    const link = href(`/inbox/${data.tenant}/${data.conversationId}`);
    const viewing = location.startsWith(`/inbox/${data.tenant}/${data.conversationId}`);
    if (event.type === "conversation.assigned") {
      if (event.data.assigneeUserId !== me.user.id) return;
      // Routing events carry no customer data (it is fetched with the chat), so the name is unknown.
      announce(t("inbox.newChatAnonymous"), link);
    } else if (event.type === "message.created") {
      if (event.data.direction !== "inbound") return;
      if (viewing && document.visibilityState === "visible") return;
      announce(t("inbox.newMessage", { name: event.data.customerName ?? "" }), link);
    }
  });

  async function changePresence(next: Presence) {
    const previous = presence;
    setPresence(next);
    setPresenceBusy(true);
    try {
      await api.setPresence(next);
    } catch {
      setPresence(previous);
      showToast(t("presence.failed"), "error");
    } finally {
      setPresenceBusy(false);
    }
  }

  const navItems: { to: string; label: string; active: boolean }[] = [];
  if (areas.inbox)
    navItems.push({ to: "/inbox", label: t("nav.inbox"), active: location.startsWith("/inbox") });
  for (const tenant of areas.adminTenants) {
    navItems.push({
      to: `/admin/${tenant}/users`,
      label: areas.adminTenants.length > 1 ? `${t("nav.admin")} (${tenant})` : t("nav.admin"),
      active: location.startsWith(`/admin/${tenant}/`),
    });
  }
  if (areas.provider) {
    navItems.push({
      to: "/provider/tenants",
      label: t("nav.provider"),
      active: location.startsWith("/provider"),
    });
  }

  return (
    <div className="shell">
      <button type="button" className="skip-link" onClick={() => document.getElementById("main")?.focus()}>
        {t("app.skip")}
      </button>
      <header className="topbar">
        <span className="brand">{t("app.name")}</span>
        <nav aria-label={t("nav.main")} className="topnav">
          {navItems.map((item) => (
            <a
              key={item.to}
              href={href(item.to)}
              className={item.active ? "active" : undefined}
              aria-current={item.active ? "page" : undefined}
            >
              {item.label}
            </a>
          ))}
        </nav>
        <div className="topbar-tools">
          {areas.inbox ? (
            <label className="inline-field">
              <span>{t("presence.label")}</span>
              <select
                data-testid="presence-switch"
                className={`presence presence-${presence}`}
                value={presence}
                disabled={presenceBusy}
                onChange={(event) => void changePresence(event.target.value as Presence)}
              >
                {PRESENCES.map((p) => (
                  <option key={p} value={p}>
                    {t(`presence.${p}`)}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          <label className="inline-field">
            <span className="visually-hidden">{t("nav.language")}</span>
            <select
              data-testid="language-switch"
              value={lang}
              onChange={(event) => setLang(event.target.value as Lang)}
            >
              {LANGS.map((l) => (
                <option key={l} value={l}>
                  {l === "de" ? "Deutsch" : "English"}
                </option>
              ))}
            </select>
          </label>
          <a href={href("/settings")} aria-current={location === "/settings" ? "page" : undefined}>
            {t("nav.settings")}
          </a>
          <span className="muted user-name" data-testid="current-user">
            {me.user.name}
          </span>
          <button type="button" data-testid="logout" onClick={() => void logout()}>
            {t("nav.logout")}
          </button>
        </div>
      </header>
      {navItems.length === 0 ? <p className="page">{t("nav.noAreas")}</p> : null}
      {children}
    </div>
  );
}
