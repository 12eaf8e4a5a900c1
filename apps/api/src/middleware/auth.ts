import type { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import proxyAddr from "proxy-addr";
import type { AppConfig } from "@kanal/config";
import { authenticateApiKey, SESSION_COOKIE } from "@kanal/core/auth";
import { AppError, type Actor } from "@kanal/core/kernel";
import { loadMemberships } from "@kanal/core/people";
import { requireProvider, resolveTenant, type TenantAccess } from "@kanal/core/tenants";
import type { AppEnv } from "../env";

/** Resolves the actor from a Bearer API key or the session cookie; routes decide whether one is required. */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const { db, lucia } = c.get("services");
  c.set("actor", null);
  c.set("viaCookie", false);
  const authorization = c.req.header("authorization");
  if (authorization?.startsWith("Bearer ")) {
    const actor = await authenticateApiKey(db, authorization.slice(7).trim());
    if (!actor) throw new AppError("unauthenticated", "Unknown or revoked API key");
    c.set("actor", actor);
    return next();
  }
  const sessionId = getCookie(c, SESSION_COOKIE);
  if (sessionId) {
    const { session, user } = await lucia.validateSession(sessionId);
    if (session && user) {
      if (session.fresh)
        c.header("Set-Cookie", lucia.createSessionCookie(session.id).serialize(), { append: true });
      c.set("actor", {
        kind: "user",
        userId: user.id,
        email: user.email,
        name: user.name,
        sessionId: session.id,
        memberships: await loadMemberships(db, user.id),
      });
      c.set("viaCookie", true);
    } else {
      c.header("Set-Cookie", lucia.createBlankSessionCookie().serialize(), { append: true });
    }
  }
  return next();
};

/** The /v1 routes anybody may call; every other /v1 route needs a session or an API key. */
const PUBLIC_ROUTES = new Set(["POST /v1/auth/login"]);

/**
 * On /v1/*, after `authenticate`: a request without a session or key is answered 401 here, before any
 * route looks at its path parameters or body (which would tell an anonymous caller the schema).
 */
export const requireSignIn: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.get("actor") && !PUBLIC_ROUTES.has(`${c.req.method} ${c.req.path}`))
    throw new AppError("unauthenticated", "Sign in first");
  return next();
};

/**
 * Per-route requirements, declared with the route (`createRoute({ middleware: … })`): they run before
 * the route's validators, so a caller without the role gets 403 (or 404 for a bank they have no relation
 * to) before the body is read.
 */
export const personOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  requireUser(c);
  return next();
};

export const providerOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  requireProvider(requireActor(c));
  return next();
};

/** Resolves `:tenant` for the actor with the route's requirement; the handler reads it with `tenantAccess`. */
export function tenantRole(need: Parameters<typeof resolveTenant>[3]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const access = await resolveTenant(
      c.get("services").db,
      requireActor(c),
      c.req.param("tenant") ?? "",
      need,
    );
    c.set("access", access);
    return next();
  };
}

export function tenantAccess(c: Context<AppEnv>): TenantAccess {
  const access = c.get("access");
  if (!access) throw new Error(`${c.req.routePath} reads the tenant without a tenantRole middleware`);
  return access;
}

export function requireActor(c: Context<AppEnv>): Actor {
  const actor = c.get("actor");
  if (!actor) throw new AppError("unauthenticated", "Sign in first");
  return actor;
}

export function requireUser(c: Context<AppEnv>): Extract<Actor, { kind: "user" }> {
  const actor = requireActor(c);
  if (actor.kind !== "user")
    throw new AppError("forbidden", "This route needs a signed-in person, not an API key");
  return actor;
}

export function requestContext(c: Context<AppEnv>) {
  return { actor: requireActor(c), ip: clientIp(c), requestId: c.get("requestId") };
}

const trustCache = new WeakMap<AppConfig, (address: string, hop: number) => boolean>();

/** Which peers may tell the client's address (TRUSTED_PROXIES): none, a hop count, or addresses/CIDRs. */
function trustOf(config: AppConfig): (address: string, hop: number) => boolean {
  let trust = trustCache.get(config);
  if (!trust) {
    const value = config.TRUSTED_PROXIES?.trim() ?? "";
    if (!value) trust = () => false;
    else if (/^\d+$/.test(value)) {
      const hops = Number(value);
      trust = (_address, hop) => hop < hops;
    } else trust = proxyAddr.compile(value.split(",").map((entry) => entry.trim()));
    trustCache.set(config, trust);
  }
  return trust;
}

/**
 * The client's address: the socket's peer, or — only when that peer is a trusted proxy — the address it
 * reports in X-Forwarded-For, walking back through trusted hops (proxy-addr). A client that sends its
 * own X-Forwarded-For to a server without trusted proxies changes nothing. A request made in-process
 * (`app.request`, tests) has no socket and is "local".
 */
export function clientIp(c: Context<AppEnv>): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming?.socket?.remoteAddress) return "local";
  return proxyAddr(incoming, trustOf(c.get("services").config));
}
