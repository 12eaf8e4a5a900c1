import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { BANK_ADMIN_ROLES, CONVERSATION_ROLES } from "@kanal/contracts/roles";
import {
  campaignDetail,
  listTemplates,
  MAX_BATCH_ITEMS,
  notificationDetail,
  sendNotification,
  sendNotificationBatch,
  syncTemplatesNow,
} from "@kanal/core/channel";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { requestContext, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

/** API key scope of the bank's systems that send notifications (and read templates). */
const SCOPE = "notifications";
/**
 * Who may use a route, checked before its validators: everybody who may send a template in a chat (the
 * console's picker) reads the registry; bank admins (in the console) and the bank's systems (API key with
 * the scope) send and read notifications; a bank admin or the provider syncs the registry.
 */
const readers = tenantRole({ roles: CONVERSATION_ROLES, scope: SCOPE });
const senders = tenantRole({ roles: BANK_ADMIN_ROLES, scope: SCOPE });
const syncers = tenantRole({ roles: BANK_ADMIN_ROLES, provider: true });

const parameterSchema = z.object({
  component: z.enum(["header", "body", "button"]),
  name: z.string().openapi({
    description: '"1", "2" … (positional) or the parameter\'s name (named); "media" for a media header',
  }),
  type: z
    .enum(["text", "image", "document", "video"])
    .openapi({ description: "text, or an https link to the header's media" }),
  example: z.string().nullable(),
});

const templateSchema = z
  .object({
    name: z.string(),
    language: z.string(),
    category: z.enum(["MARKETING", "UTILITY", "AUTHENTICATION"]),
    status: z.enum(["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"]),
    reason: z.string().nullable().openapi({ description: "Meta's reason for a status other than APPROVED" }),
    sendable: z.boolean().openapi({ description: "only APPROVED templates can be sent" }),
    parameterFormat: z.string(),
    header: z.string().nullable(),
    body: z.string().nullable(),
    footer: z.string().nullable(),
    parameters: z.array(parameterSchema).openapi({ description: "what `params` fill, in this order" }),
    buttons: z.array(z.object({ index: z.number(), type: z.string(), text: z.string() })),
    syncedAt: z.string(),
  })
  .openapi("Template");

const customerRef = z.union([
  z.strictObject({
    externalRef: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "1–64 letters, digits, . _ -"),
  }),
  z.strictObject({
    waId: z.string().regex(/^\+?\d{6,20}$/, "the WhatsApp id (digits, international format)"),
  }),
]);

const notificationRequestSchema = z
  .strictObject({
    customer: customerRef.openapi({ description: "the customer by core banking reference or WhatsApp id" }),
    template: z.strictObject({
      name: z.string().min(1).max(512),
      language: z.string().min(2).max(15).openapi({ example: "de" }),
      params: z.array(z.string().max(2000)).max(60).optional().openapi({
        description: "the template's parameters in the order of its `parameters` (header, body, URL buttons)",
      }),
    }),
  })
  .openapi("NotificationRequest");

const notificationError = z.object({
  code: z.number().nullable(),
  title: z.string().nullable(),
  details: z.string().nullable(),
});

const notificationSchema = z
  .object({
    id: z.string(),
    status: z.enum(["queued", "sent", "delivered", "read", "failed"]),
    campaignId: z.string().nullable(),
    customer: z.object({ id: z.string(), externalRef: z.string().nullable(), waId: z.string().nullable() }),
    template: z.object({
      name: z.string(),
      language: z.string(),
      category: z.string().nullable(),
      params: z.array(z.string()).openapi({ description: "as stored and sent (card numbers masked)" }),
    }),
    conversationId: z.string(),
    messageId: z.string(),
    error: notificationError.nullable().openapi({ description: "Meta's reason when the status is failed" }),
    reply: z
      .object({
        code: z.string().openapi({ description: "card_tx_confirmed, card_tx_not_me, or button_<index>" }),
        text: z.string().nullable(),
        payload: z.string().nullable(),
        messageId: z.string(),
        at: z.string(),
      })
      .nullable()
      .openapi({ description: "the customer's quick-reply answer" }),
    createdAt: z.string(),
    statusAt: z.string().nullable(),
  })
  .openapi("Notification");

const refusedSchema = z.object({
  index: z.number(),
  code: z.enum(["unknown_customer", "not_opted_in", "opted_out", "template_not_approved", "invalid_params"]),
  message: z.string(),
});

const campaignSchema = z
  .object({
    id: z.string(),
    items: z.number(),
    accepted: z.number(),
    refused: z.number(),
    counts: z.object({
      queued: z.number(),
      sent: z.number(),
      delivered: z.number(),
      read: z.number(),
      failed: z.number(),
    }),
    failures: z.array(
      z.object({ code: z.number().nullable(), title: z.string().nullable(), count: z.number() }),
    ),
    replies: z.array(z.object({ code: z.string(), count: z.number() })),
    createdAt: z.string(),
  })
  .openapi("Campaign");

const idempotencyHeader = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(255)
    .optional()
    .openapi({
      param: { name: "idempotency-key", in: "header" },
      description: "the same key again returns what the first request created, and never sends twice",
    }),
});

const idParam = (name: string) =>
  tenantParam.extend({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .openapi({ param: { name: "id", in: "path" }, description: name }),
  });

const listTemplatesRoute = createRoute({
  middleware: [readers] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/templates",
  tags: ["Notifications"],
  summary: "The bank's WhatsApp templates as synced from the Graph API (API key scope notifications)",
  request: { params: tenantParam },
  responses: {
    200: jsonResponse(z.object({ templates: z.array(templateSchema) }), "Templates"),
    ...errorResponses,
  },
});

const syncTemplatesRoute = createRoute({
  middleware: [syncers] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/templates/sync",
  tags: ["Notifications"],
  summary: "Read the bank's templates from the Graph API now (bank admin)",
  request: { params: tenantParam },
  responses: {
    200: jsonResponse(
      z.object({ synced: z.number(), removed: z.number(), templates: z.array(templateSchema) }),
      "Synced",
    ),
    ...errorResponses,
    503: jsonResponse(
      z.object({ error: z.object({ code: z.string(), message: z.string() }) }),
      "Graph API unavailable",
    ),
  },
});

const sendRoute = createRoute({
  middleware: [senders] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/notifications",
  tags: ["Notifications"],
  summary:
    "Send a notification: an approved template to a customer who opted in (API key scope notifications)",
  description:
    "Refused with 422 `unknown_customer`, `not_opted_in`, `opted_out` (STOP) or `template_not_approved` (with Meta's reason); 400 when the parameters do not fit the template. Goes through the bulk lane: the number's throughput and pair rate apply, replies keep priority.",
  request: { params: tenantParam, headers: idempotencyHeader, ...jsonBody(notificationRequestSchema) },
  responses: {
    202: jsonResponse(
      z.object({ notification: notificationSchema }),
      "Queued (or, for a repeated Idempotency-Key, the first request's notification)",
    ),
    ...errorResponses,
  },
});

const batchRoute = createRoute({
  middleware: [senders] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/notifications/batch",
  tags: ["Notifications"],
  summary: `Send up to ${MAX_BATCH_ITEMS.toLocaleString("en")} notifications as one campaign (API key scope notifications)`,
  description:
    "Each item is checked like a single notification; refused items are listed by index with their code, the others are queued. An Idempotency-Key returns the same campaign again. Bodies up to 8 MiB.",
  request: {
    params: tenantParam,
    headers: idempotencyHeader,
    ...jsonBody(z.strictObject({ items: z.array(notificationRequestSchema).min(1).max(MAX_BATCH_ITEMS) })),
  },
  responses: {
    202: jsonResponse(
      z.object({ campaign: campaignSchema, refused: z.array(refusedSchema) }),
      "Accepted items queued; refused items by index",
    ),
    ...errorResponses,
  },
});

const getNotificationRoute = createRoute({
  middleware: [senders] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/notifications/{id}",
  tags: ["Notifications"],
  summary: "A notification's status (with Meta's reason when it failed) and the customer's answer",
  request: { params: idParam("notification id") },
  responses: {
    200: jsonResponse(z.object({ notification: notificationSchema }), "Notification"),
    ...errorResponses,
  },
});

const getCampaignRoute = createRoute({
  middleware: [senders] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/campaigns/{id}",
  tags: ["Notifications"],
  summary: "A campaign's notifications counted by status, failures by Meta's reason, answers by code",
  request: { params: idParam("campaign id") },
  responses: {
    200: jsonResponse(z.object({ campaign: campaignSchema }), "Campaign"),
    ...errorResponses,
  },
});

export function registerNotifications(app: OpenAPIHono<AppEnv>) {
  app.openapi(listTemplatesRoute, async (c) => {
    const access = tenantAccess(c);
    return c.json({ templates: await listTemplates(c.get("services"), access) }, 200);
  });

  app.openapi(syncTemplatesRoute, async (c) => {
    const access = tenantAccess(c);
    return c.json(await syncTemplatesNow(c.get("services"), requestContext(c), access), 200);
  });

  app.openapi(sendRoute, async (c) => {
    const access = tenantAccess(c);
    const key = c.req.valid("header")["idempotency-key"] ?? null;
    const { notification, created } = await sendNotification(
      c.get("services"),
      requestContext(c),
      access,
      c.req.valid("json"),
      key,
    );
    if (!created) c.header("Idempotent-Replayed", "true");
    return c.json({ notification: notification as z.infer<typeof notificationSchema> }, 202);
  });

  app.openapi(batchRoute, async (c) => {
    const access = tenantAccess(c);
    const key = c.req.valid("header")["idempotency-key"] ?? null;
    const { campaign, refused, created } = await sendNotificationBatch(
      c.get("services"),
      requestContext(c),
      access,
      c.req.valid("json").items,
      key,
    );
    if (!created) c.header("Idempotent-Replayed", "true");
    return c.json({ campaign, refused: refused as z.infer<typeof refusedSchema>[] }, 202);
  });

  app.openapi(getNotificationRoute, async (c) => {
    const access = tenantAccess(c);
    const notification = await notificationDetail(c.get("services"), access, c.req.valid("param").id);
    return c.json({ notification: notification as z.infer<typeof notificationSchema> }, 200);
  });

  app.openapi(getCampaignRoute, async (c) => {
    const access = tenantAccess(c);
    return c.json(
      { campaign: await campaignDetail(c.get("services"), access, c.req.valid("param").id) },
      200,
    );
  });
}
