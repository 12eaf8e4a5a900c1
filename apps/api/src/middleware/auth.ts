import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { authenticateApiKey, SESSION_COOKIE } from "@kanal/core/auth";
import { AppError, type Actor } from "@kanal/core/kernel";
import { loadMemberships } from "@kanal/core/people";
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

export function clientIp(c: Context<AppEnv>): string {
  const forwarded = c.req.header("x-forwarded-for");
  if (forwarded && c.get("services").config.NODE_ENV === "production")
    return forwarded.split(",")[0]?.trim() || "unknown";
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? "local";
}
