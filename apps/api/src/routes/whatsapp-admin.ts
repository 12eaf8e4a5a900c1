import { BANK_ADMIN_ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { getBusinessProfile, numberStatus, updateBusinessProfile, updateNumber } from "@kanal/core/channel";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { providerOnly, requestContext, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

const profileSchema = z
  .object({
    about: z.string().max(139),
    address: z.string().max(256),
    description: z.string().max(512),
    email: z.string().max(128),
    websites: z.array(z.string()).max(2),
    vertical: z.string(),
  })
  .openapi("BusinessProfile");

const numberSchema = z
  .object({
    phoneNumberId: z.string(),
    wabaId: z.string(),
    displayPhoneNumber: z.string(),
    throughputPerSecond: z.number(),
    sendingPaused: z.boolean(),
    pausedReason: z.string().nullable(),
    pausedAt: z.string().nullable(),
  })
  .openapi("WhatsappNumber");

const getProfile = createRoute({
  middleware: [tenantRole({ roles: BANK_ADMIN_ROLES })] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/whatsapp/profile",
  tags: ["WhatsApp"],
  summary: "The bank's WhatsApp business profile (service number, hours, info text)",
  request: { params: tenantParam },
  responses: { 200: jsonResponse(z.object({ profile: profileSchema }), "Profile"), ...errorResponses },
});

const putProfile = createRoute({
  middleware: [tenantRole({ roles: BANK_ADMIN_ROLES })] as const,
  method: "put",
  path: "/v1/tenants/{tenant}/whatsapp/profile",
  tags: ["WhatsApp"],
  summary: "Update the business profile",
  request: {
    params: tenantParam,
    ...jsonBody(
      z.strictObject({
        about: z.string().max(139).optional(),
        address: z.string().max(256).optional(),
        description: z.string().max(512).optional(),
        email: z.union([z.email().max(128), z.literal("")]).optional(),
        websites: z.array(z.url().max(256)).max(2).optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(z.object({ profile: profileSchema }), "Updated"), ...errorResponses },
});

const getNumber = createRoute({
  middleware: [tenantRole({ roles: BANK_ADMIN_ROLES, provider: true })] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/whatsapp",
  tags: ["WhatsApp"],
  summary: "The bank's WhatsApp number and whether sending is paused (e.g. token expired)",
  request: { params: tenantParam },
  responses: { 200: jsonResponse(z.object({ whatsapp: numberSchema }), "Number"), ...errorResponses },
});

const putNumber = createRoute({
  middleware: [providerOnly, tenantRole({ provider: true })] as const,
  method: "put",
  path: "/v1/tenants/{tenant}/whatsapp",
  tags: ["WhatsApp"],
  summary: "Provider: replace the access token (resumes paused sending) or set the throughput",
  request: {
    params: tenantParam,
    ...jsonBody(
      z.strictObject({
        accessToken: z.string().min(10).max(2000).optional(),
        throughputPerSecond: z.number().int().min(1).max(1000).optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(z.object({ whatsapp: numberSchema }), "Updated"), ...errorResponses },
});

export function registerWhatsappAdmin(app: OpenAPIHono<AppEnv>) {
  app.openapi(getProfile, async (c) => {
    const services = c.get("services");
    const access = tenantAccess(c);
    return c.json({ profile: profileSchema.parse(await getBusinessProfile(services, access)) }, 200);
  });
  app.openapi(putProfile, async (c) => {
    const services = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    return c.json(
      {
        profile: profileSchema.parse(await updateBusinessProfile(services, ctx, access, c.req.valid("json"))),
      },
      200,
    );
  });
  app.openapi(getNumber, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json({ whatsapp: await numberStatus(db, access.tenant.id) }, 200);
  });
  app.openapi(putNumber, async (c) => {
    const { db, config } = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    return c.json(
      { whatsapp: await updateNumber(db, ctx, access, config.secretsKey, c.req.valid("json")) },
      200,
    );
  });
}

const problemsRoute = createRoute({
  middleware: [providerOnly] as const,
  method: "get",
  path: "/v1/ops/webhook-events",
  tags: ["Provider"],
  summary:
    "Webhook events that need attention: dead letters (malformed, repeatedly failing) and unknown numbers",
  request: {
    query: z.object({
      status: z.enum(["dead", "unknown_number", "pending"]).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(100),
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({
        events: z.array(
          z.object({
            id: z.string(),
            receivedAt: z.string(),
            status: z.string(),
            error: z.string().nullable(),
            attempts: z.number(),
          }),
        ),
        counts: z.record(z.string(), z.number()),
      }),
      "Events (bodies are never returned)",
    ),
    ...errorResponses,
  },
});

export function registerWebhookOps(app: OpenAPIHono<AppEnv>) {
  app.openapi(problemsRoute, async (c) => {
    const { db } = c.get("services");
    const { status, limit } = c.req.valid("query");
    const rows = await db
      .withSchema("control")
      .selectFrom("webhook_events")
      .select(["id", "received_at", "status", "error", "attempts"])
      .where("status", "in", status ? [status] : ["dead", "unknown_number"])
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    const counts = await db
      .withSchema("control")
      .selectFrom("webhook_events")
      .select(["status", (eb) => eb.fn.countAll<string>().as("n")])
      .where("status", "in", ["dead", "unknown_number", "pending"])
      .groupBy("status")
      .execute();
    return c.json(
      {
        events: rows.map((r) => ({
          id: String(r.id),
          receivedAt: r.received_at.toISOString(),
          status: r.status,
          error: r.error,
          attempts: r.attempts,
        })),
        counts: Object.fromEntries(counts.map((r) => [r.status, Number(r.n)])),
      },
      200,
    );
  });
}
