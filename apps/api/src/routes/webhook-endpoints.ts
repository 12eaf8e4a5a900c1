import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { BANK_WEBHOOK_EVENTS } from "@kanal/contracts/webhooks";
import {
  createEndpoint,
  deleteEndpoint,
  getDelivery,
  getEndpoint,
  listDeliveries,
  listEndpoints,
  resendDelivery,
  rotateSecret,
  updateEndpoint,
} from "@kanal/core/bank-webhooks";
import { BANK_ADMIN_ROLES } from "@kanal/contracts/roles";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { requestContext, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

// The bank's admins only, checked before the path or body is looked at (403 / 404 first).
const ADMIN = { roles: BANK_ADMIN_ROLES };

const TAGS = ["Webhooks to the bank's systems"];

const pathId = (name: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name, in: "path" } });
const endpointParam = tenantParam.extend({ id: pathId("id") });
const deliveryParam = endpointParam.extend({ deliveryId: pathId("deliveryId") });

const eventsField = z.array(z.enum(BANK_WEBHOOK_EVENTS)).openapi({
  description: "The events this endpoint receives",
  example: ["message.received", "conversation.closed"],
});

const endpointOut = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    events: z.array(z.string()),
    state: z.enum(["enabled", "disabled"]),
    disabledAt: z.string().nullable(),
    disabledReason: z.string().nullable().openapi({
      description: "`failing` or `gone` (410): Kanal disabled it and alerted the admins; `manual`: an admin",
    }),
    failureStreak: z.number().int(),
    failingSince: z.string().nullable(),
    lastSuccessAt: z.string().nullable(),
    lastFailureAt: z.string().nullable(),
    previousSecretExpiresAt: z
      .string()
      .nullable()
      .openapi({ description: "During a secret rotation: until when the previous secret still signs" }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("WebhookEndpoint");

const endpointWithSecret = endpointOut
  .extend({
    secret: z.string().openapi({
      description: "Standard Webhooks signing secret (`whsec_…`). Shown only in this answer.",
    }),
  })
  .openapi("WebhookEndpointWithSecret");

const deliveryOut = z
  .object({
    id: z.string().openapi({ description: "The `webhook-id` header: stable across retries and resends" }),
    eventId: z.string(),
    eventType: z.string(),
    status: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int(),
    createdAt: z.string(),
    lastAttemptAt: z.string().nullable(),
    nextAttemptAt: z.string().nullable(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    deliveredAt: z.string().nullable(),
  })
  .openapi("WebhookDelivery");

const deliveryDetail = deliveryOut
  .extend({
    payload: z
      .record(z.string(), z.unknown())
      .openapi({ description: "The body as sent: {type, timestamp, data}" }),
    attemptLog: z.array(
      z.object({
        attempt: z.number().int(),
        at: z.string(),
        durationMs: z.number().int(),
        statusCode: z.number().int().nullable(),
        outcome: z.enum(["success", "failure", "gone"]),
        error: z.string().nullable(),
        responseExcerpt: z.string().nullable(),
      }),
    ),
  })
  .openapi("WebhookDeliveryDetail");

const list = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/webhook-endpoints",
  tags: TAGS,
  summary: "The bank's webhook endpoints (never their secrets)",
  request: { params: tenantParam },
  responses: {
    200: jsonResponse(z.object({ endpoints: z.array(endpointOut) }), "Endpoints"),
    ...errorResponses,
  },
});

const getOne = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/webhook-endpoints/{id}",
  tags: TAGS,
  summary: "One webhook endpoint",
  request: { params: endpointParam },
  responses: { 200: jsonResponse(z.object({ endpoint: endpointOut }), "Endpoint"), ...errorResponses },
});

const create = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/webhook-endpoints",
  tags: TAGS,
  summary: "Register an endpoint (HTTPS); the answer shows its signing secret once",
  request: {
    params: tenantParam,
    ...jsonBody(
      z.strictObject({
        url: z.string().max(2_000).openapi({ example: "https://core.sparkasse.example/kanal/webhooks" }),
        events: eventsField,
        description: z.string().max(200).nullable().optional(),
      }),
    ),
  },
  responses: {
    201: jsonResponse(z.object({ endpoint: endpointWithSecret }), "Created"),
    ...errorResponses,
  },
});

const patch = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "patch",
  path: "/v1/tenants/{tenant}/webhook-endpoints/{id}",
  tags: TAGS,
  summary: "Change URL, events or description; disable or enable (enabling resumes pending deliveries)",
  request: {
    params: endpointParam,
    ...jsonBody(
      z.strictObject({
        url: z.string().max(2_000).optional(),
        events: eventsField.optional(),
        description: z.string().max(200).nullable().optional(),
        enabled: z.boolean().optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(z.object({ endpoint: endpointOut }), "Updated"), ...errorResponses },
});

const remove = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "delete",
  path: "/v1/tenants/{tenant}/webhook-endpoints/{id}",
  tags: TAGS,
  summary: "Delete an endpoint with its delivery log (pending deliveries are dropped)",
  request: { params: endpointParam },
  responses: { 204: { description: "Deleted" }, ...errorResponses },
});

const rotate = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/webhook-endpoints/{id}/rotate-secret",
  tags: TAGS,
  summary: "New signing secret (shown once); the previous one keeps signing beside it for the overlap",
  request: {
    params: endpointParam,
    body: {
      content: {
        "application/json": {
          schema: z.strictObject({
            overlapHours: z
              .number()
              .min(0)
              .max(168)
              .optional()
              .openapi({ description: "How long the previous secret still signs (default 24)" }),
          }),
        },
      },
      required: false,
    },
  },
  responses: { 200: jsonResponse(z.object({ endpoint: endpointWithSecret }), "Rotated"), ...errorResponses },
});

const deliveries = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/webhook-endpoints/{id}/deliveries",
  tags: TAGS,
  summary: "The endpoint's delivery log, newest first, paged",
  request: {
    params: endpointParam,
    query: z.object({
      status: z.enum(["pending", "delivered", "failed"]).optional(),
      limit: z.coerce.number().int().min(1).max(200).optional(),
      cursor: z.string().max(200).optional().openapi({ description: "`nextCursor` of the previous page" }),
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({ deliveries: z.array(deliveryOut), nextCursor: z.string().nullable() }),
      "Deliveries",
    ),
    ...errorResponses,
  },
});

const delivery = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/webhook-endpoints/{id}/deliveries/{deliveryId}",
  tags: TAGS,
  summary: "One delivery: its payload and every attempt",
  request: { params: deliveryParam },
  responses: { 200: jsonResponse(z.object({ delivery: deliveryDetail }), "Delivery"), ...errorResponses },
});

const resend = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/webhook-endpoints/{id}/deliveries/{deliveryId}/resend",
  tags: TAGS,
  summary: "Send a delivery again (same webhook-id, fresh retry window); 409 while the endpoint is disabled",
  request: { params: deliveryParam },
  responses: { 202: jsonResponse(z.object({ delivery: deliveryOut }), "Queued"), ...errorResponses },
});

export function registerWebhookEndpoints(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) =>
    c.json({ endpoints: await listEndpoints(c.get("services"), tenantAccess(c)) }, 200),
  );

  app.openapi(getOne, async (c) => {
    const { id } = c.req.valid("param");
    return c.json({ endpoint: await getEndpoint(c.get("services"), tenantAccess(c), id) }, 200);
  });

  app.openapi(create, async (c) => {
    const endpoint = await createEndpoint(
      c.get("services"),
      requestContext(c),
      tenantAccess(c),
      c.req.valid("json"),
    );
    return c.json({ endpoint }, 201);
  });

  app.openapi(patch, async (c) => {
    const { id } = c.req.valid("param");
    const endpoint = await updateEndpoint(
      c.get("services"),
      requestContext(c),
      tenantAccess(c),
      id,
      c.req.valid("json"),
    );
    return c.json({ endpoint }, 200);
  });

  app.openapi(remove, async (c) => {
    const { id } = c.req.valid("param");
    await deleteEndpoint(c.get("services"), requestContext(c), tenantAccess(c), id);
    return c.body(null, 204);
  });

  app.openapi(rotate, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.header("content-type")?.includes("application/json")
      ? (c.req.valid("json") as { overlapHours?: number } | undefined)
      : undefined;
    const endpoint = await rotateSecret(c.get("services"), requestContext(c), tenantAccess(c), id, {
      overlapHours: body?.overlapHours,
    });
    return c.json({ endpoint }, 200);
  });

  app.openapi(deliveries, async (c) => {
    const { id } = c.req.valid("param");
    const page = await listDeliveries(c.get("services"), tenantAccess(c), id, c.req.valid("query"));
    return c.json(page, 200);
  });

  app.openapi(delivery, async (c) => {
    const { id, deliveryId } = c.req.valid("param");
    const detail = await getDelivery(c.get("services"), tenantAccess(c), id, deliveryId);
    return c.json({ delivery: detail as z.infer<typeof deliveryDetail> }, 200);
  });

  app.openapi(resend, async (c) => {
    const { id, deliveryId } = c.req.valid("param");
    const resent = await resendDelivery(
      c.get("services"),
      requestContext(c),
      tenantAccess(c),
      id,
      deliveryId,
    );
    return c.json({ delivery: resent }, 202);
  });
}
