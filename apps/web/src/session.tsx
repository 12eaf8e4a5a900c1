import { CONVERSATION_ROLES } from "@kanal/contracts/roles";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from "react";
import { api, type Me, type Membership, onUnauthenticated, type Role } from "./api";
import { stopEvents } from "./events";
import { navigate, splitLocation } from "./router";

type SessionState =
  | { status: "loading" }
  | { status: "anonymous"; expired: boolean }
  | { status: "authenticated"; me: Me };

type Session = {
  state: SessionState;
  /** After a successful login: load /v1/me and go back where the person was. */
  signedIn: () => Promise<void>;
  logout: () => Promise<void>;
};

const SessionContext = createContext<Session | null>(null);

function currentRoute(): string {
  return window.location.hash.replace(/^#/, "") || "/";
}

export function loginRoute(next: string): string {
  return next && next !== "/" && !next.startsWith("/login")
    ? `/login?next=${encodeURIComponent(next)}`
    : "/login";
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: "loading" });

  useEffect(() => {
    let active = true;
    api
      .me()
      .then((me) => active && setState({ status: "authenticated", me }))
      .catch(() => active && setState({ status: "anonymous", expired: false }));
    return () => {
      active = false;
    };
  }, []);

  useEffect(
    () =>
      onUnauthenticated(() => {
        stopEvents();
        setState((previous) => ({ status: "anonymous", expired: previous.status === "authenticated" }));
        const route = currentRoute();
        if (!route.startsWith("/login")) navigate(loginRoute(route), { replace: true });
      }),
    [],
  );

  const signedIn = useCallback(async () => {
    const me = await api.me();
    setState({ status: "authenticated", me });
    const next = splitLocation(currentRoute()).query.get("next");
    navigate(next?.startsWith("/") && !next.startsWith("/login") ? next : defaultRoute(me), {
      replace: true,
    });
  }, []);

  const logout = useCallback(async () => {
    stopEvents();
    try {
      await api.logout();
    } finally {
      setState({ status: "anonymous", expired: false });
      navigate("/login", { replace: true });
    }
  }, []);

  const value = useMemo(() => ({ state, signedIn, logout }), [state, signedIn, logout]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}

// ---------- areas derived from memberships ----------

export type Areas = {
  provider: boolean;
  adminTenants: string[];
  inbox: boolean;
  /** Tenants the person works in as bank staff (not via a KSC). */
  bankTenants: string[];
  ksc: boolean;
};

export function areasOf(memberships: readonly Membership[]): Areas {
  const adminTenants = memberships
    .filter((m) => m.role === "bank_admin" && m.tenant)
    .map((m) => m.tenant ?? "");
  return {
    provider: memberships.some((m) => m.role === "provider_admin"),
    adminTenants: [...new Set(adminTenants)],
    inbox: memberships.some((m) => (CONVERSATION_ROLES as readonly Role[]).includes(m.role)),
    bankTenants: [...new Set(memberships.filter((m) => m.tenant).map((m) => m.tenant ?? ""))],
    ksc: memberships.some((m) => m.role === "ksc_agent"),
  };
}

export function defaultRoute(me: Me): string {
  const areas = areasOf(me.memberships);
  if (areas.inbox && !areas.adminTenants.length) return "/inbox";
  if (areas.adminTenants.length) {
    // A bank admin who also answers chats starts in the inbox only if they are an agent too.
    const agentToo = me.memberships.some((m) => m.role !== "bank_admin" && m.role !== "provider_admin");
    return agentToo ? "/inbox" : `/admin/${areas.adminTenants[0]}/users`;
  }
  if (areas.provider) return "/provider/tenants";
  return "/settings";
}
