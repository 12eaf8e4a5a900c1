import { useEffect } from "react";
import { useI18n } from "./i18n";
import { Shell } from "./components/Shell";
import { Toasts } from "./components/Toasts";
import { Loading } from "./components/ui";
import { AdminPage } from "./pages/admin/AdminPage";
import { InboxPage } from "./pages/InboxPage";
import { LoginPage } from "./pages/LoginPage";
import { ProviderPage } from "./pages/provider/ProviderPage";
import { SettingsPage } from "./pages/SettingsPage";
import { matchPath, navigate, splitLocation, useLocation } from "./router";
import { areasOf, defaultRoute, loginRoute, useSession } from "./session";

export function App() {
  const { state } = useSession();
  const location = useLocation();
  const { path } = splitLocation(location);

  const redirect =
    state.status === "anonymous" && !path.startsWith("/login")
      ? loginRoute(location)
      : state.status === "authenticated" && (path === "/" || path.startsWith("/login"))
        ? defaultRoute(state.me)
        : null;

  useEffect(() => {
    if (redirect) navigate(redirect, { replace: true });
  }, [redirect]);

  if (state.status === "loading" || redirect) {
    return (
      <main className="center-page">
        <Loading />
      </main>
    );
  }

  if (state.status === "anonymous") {
    return (
      <>
        <LoginPage expired={state.expired} />
        <Toasts />
      </>
    );
  }

  const areas = areasOf(state.me.memberships);
  return (
    <>
      <Shell me={state.me} areas={areas}>
        <Routed path={path} areas={areas} />
      </Shell>
      <Toasts />
    </>
  );
}

function Routed({ path, areas }: { path: string; areas: ReturnType<typeof areasOf> }) {
  if (areas.inbox) {
    if (matchPath("/inbox", path)) return <InboxPage />;
    const open = matchPath("/inbox/:tenant/:id", path);
    if (open) return <InboxPage tenant={open.tenant} conversationId={open.id} />;
  }
  const admin = matchPath("/admin/:tenant/:section", path);
  if (admin?.tenant && admin.section && areas.adminTenants.includes(admin.tenant)) {
    return <AdminPage tenant={admin.tenant} section={admin.section} tenants={areas.adminTenants} />;
  }
  const provider = matchPath("/provider/:section", path);
  if (provider?.section && areas.provider) return <ProviderPage section={provider.section} />;
  if (matchPath("/settings", path)) return <SettingsPage />;
  return <NotFound />;
}

function NotFound() {
  const { t } = useI18n();
  const { state } = useSession();
  const home = state.status === "authenticated" ? defaultRoute(state.me) : "/login";
  return (
    <main className="page" id="main">
      <p>
        {t("error.not_found")} <a href={`#${home}`}>{t("common.home")}</a>
      </p>
    </main>
  );
}
