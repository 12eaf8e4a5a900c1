import { ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { endSession, login } from "@kanal/core/auth";
import { sql } from "@kanal/db";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { clientIp, personOnly, requireUser } from "../middleware/auth";
import { jsonBody, jsonResponse } from "../schemas";

const userSchema = z.object({ id: z.string(), email: z.string(), name: z.string() }).openapi("User");
const membershipSchema = z
  .object({
    tenant: z.string().optional(),
    kscOrg: z.string().optional(),
    role: z.enum(ROLES),
    maxChats: z.number().optional(),
  })
  .openapi("Membership");

const loginRoute = createRoute({
  method: "post",
  path: "/v1/auth/login",
  tags: ["Auth"],
  summary: "Sign in; sets the HttpOnly session cookie",
  request: jsonBody(
    z.strictObject({ email: z.string().min(1).max(320), password: z.string().min(1).max(200) }),
  ),
  responses: { 200: jsonResponse(z.object({ user: userSchema }), "Signed in"), ...errorResponses },
});

const logoutRoute = createRoute({
  middleware: [personOnly] as const,
  method: "post",
  path: "/v1/auth/logout",
  tags: ["Auth"],
  summary: "Sign out; ends the session",
  responses: { 204: { description: "Signed out" }, ...errorResponses },
});

const meRoute = createRoute({
  middleware: [personOnly] as const,
  method: "get",
  path: "/v1/me",
  tags: ["Auth"],
  summary: "The signed-in person and their memberships",
  responses: {
    200: jsonResponse(
      z.object({ user: userSchema, memberships: z.array(membershipSchema), presence: z.string() }),
      "Me",
    ),
    ...errorResponses,
  },
});

const presenceRoute = createRoute({
  middleware: [personOnly] as const,
  method: "put",
  path: "/v1/me/presence",
  tags: ["Auth"],
  summary: "Set my presence (online, away, offline)",
  request: jsonBody(z.strictObject({ status: z.enum(["online", "away", "offline"]) })),
  responses: { 200: jsonResponse(z.object({ status: z.string() }), "Presence set"), ...errorResponses },
});

export type PresenceListener = (userId: string, status: "online" | "away" | "offline") => Promise<void>;

export function registerAuth(app: OpenAPIHono<AppEnv>, onPresence?: PresenceListener) {
  app.openapi(loginRoute, async (c) => {
    const services = c.get("services");
    const body = c.req.valid("json");
    const result = await login(services, {
      email: body.email,
      password: body.password,
      ip: clientIp(c),
      userAgent: c.req.header("user-agent") ?? null,
    });
    c.header("Set-Cookie", services.lucia.createSessionCookie(result.session.id).serialize(), {
      append: true,
    });
    services.logger.info({ userId: result.user.id, requestId: c.get("requestId") }, "login");
    return c.json({ user: result.user }, 200);
  });

  app.openapi(logoutRoute, async (c) => {
    const actor = requireUser(c);
    const services = c.get("services");
    // Also closes the event streams opened with this session, in every API process.
    if (actor.sessionId) await endSession(services, actor.sessionId);
    c.header("Set-Cookie", services.lucia.createBlankSessionCookie().serialize(), { append: true });
    return c.body(null, 204);
  });

  app.openapi(meRoute, async (c) => {
    const actor = requireUser(c);
    const state = await c
      .get("services")
      .db.withSchema("control")
      .selectFrom("agent_state")
      .select("presence")
      .where("user_id", "=", actor.userId)
      .executeTakeFirst();
    return c.json(
      {
        user: { id: actor.userId, email: actor.email, name: actor.name },
        memberships: actor.memberships.map((m) => ({
          ...(m.tenantSlug && { tenant: m.tenantSlug }),
          ...(m.kscOrgSlug && { kscOrg: m.kscOrgSlug }),
          role: m.role,
          maxChats: m.maxChats,
        })),
        presence: state?.presence ?? "offline",
      },
      200,
    );
  });

  app.openapi(presenceRoute, async (c) => {
    const actor = requireUser(c);
    const { status } = c.req.valid("json");
    await c
      .get("services")
      .db.withSchema("control")
      .insertInto("agent_state")
      .values({
        user_id: actor.userId,
        presence: status,
        presence_changed_at: new Date(),
        last_seen_at: new Date(),
      })
      .onConflict((oc) =>
        oc
          .column("user_id")
          .doUpdateSet({ presence: status, presence_changed_at: sql`now()`, last_seen_at: sql`now()` }),
      )
      .execute();
    await onPresence?.(actor.userId, status);
    return c.json({ status }, 200);
  });
}
