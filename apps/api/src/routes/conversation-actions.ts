import { CONVERSATION_ROLES } from "@kanal/contracts/roles";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  closeConversation,
  handoverConversation,
  linkConversationCustomer,
  loadInbox,
  requestCallback,
  takeConversation,
} from "@kanal/core/conversations";
import { reopenConversation } from "@kanal/core/routing";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { personOnly, requestContext, requireUser, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

/** The core verbs check the person's rights on the conversation; this refuses a stranger to the bank first. */
const CONVERSATION_STAFF = tenantRole({ roles: CONVERSATION_ROLES });
const conversationParams = tenantParam.extend({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

const routedConversation = z
  .object({
    id: z.string(),
    status: z.string(),
    assigneeUserId: z.string().nullable(),
    handledBy: z.string().nullable(),
    queue: z.string().nullable(),
    routing: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi("RoutedConversation");

const inboxItem = z
  .object({
    tenant: z.string(),
    tenantName: z.string(),
    id: z.string(),
    status: z.string(),
    assigneeUserId: z.string().nullable(),
    handledBy: z.string().nullable(),
    queue: z.string().nullable(),
    customer: z.object({ id: z.string(), name: z.string().nullable(), waId: z.string().nullable() }),
    topic: z.string().nullable(),
    lastMessageAt: z.string(),
    queuedAt: z.string().nullable(),
    routingReason: z.string().nullable(),
  })
  .openapi("InboxConversation");

const inboxRoute = createRoute({
  middleware: [personOnly] as const,
  method: "get",
  path: "/v1/inbox",
  tags: ["Conversations"],
  summary: "My open conversations across every bank I serve, and the queues I may take from",
  responses: {
    200: jsonResponse(
      z.object({
        conversations: z.array(inboxItem),
        queues: z.array(
          z.object({
            tenant: z.string(),
            tenantName: z.string(),
            queue: z.enum(["bank", "ksc"]),
            count: z.number(),
            oldestQueuedAt: z.string().nullable(),
            oldest: z.array(inboxItem),
          }),
        ),
      }),
      "Inbox",
    ),
    ...errorResponses,
  },
});

const handoverRoute = createRoute({
  middleware: [CONVERSATION_STAFF] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/conversations/{id}/handover",
  tags: ["Conversations"],
  summary: "Hand the chat to a person or a queue, with an internal note the customer never sees",
  request: {
    params: conversationParams,
    ...jsonBody(
      z.strictObject({
        toUserId: z.string().min(1).max(64).optional(),
        toQueue: z.enum(["bank", "ksc"]).optional(),
        note: z.string().trim().min(1).max(2000).optional(),
      }),
    ),
  },
  responses: {
    200: jsonResponse(z.object({ conversation: routedConversation }), "Handed over"),
    ...errorResponses,
  },
});

const closeRoute = createRoute({
  middleware: [CONVERSATION_STAFF] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/conversations/{id}/close",
  tags: ["Conversations"],
  summary: "Close the chat (frees the handler's slot; idempotent)",
  request: { params: conversationParams },
  responses: {
    200: jsonResponse(z.object({ conversation: routedConversation }), "Closed"),
    ...errorResponses,
  },
});

const takeRoute = createRoute({
  middleware: [CONVERSATION_STAFF] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/conversations/{id}/take",
  tags: ["Conversations"],
  summary: "Take a waiting chat from a queue (exactly one person wins; 409 for the others)",
  request: { params: conversationParams },
  responses: {
    200: jsonResponse(z.object({ conversation: routedConversation }), "Taken"),
    ...errorResponses,
  },
});

const reopenRoute = createRoute({
  middleware: [CONVERSATION_STAFF] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/conversations/{id}/reopen",
  tags: ["Conversations"],
  summary:
    "Reopen a closed chat (bank staff): routed again at once, its previous handler preferred inside the reopen window; 409 while the customer has another open chat",
  request: { params: conversationParams },
  responses: {
    200: jsonResponse(z.object({ conversation: routedConversation }), "Reopened and routed"),
    ...errorResponses,
  },
});

const callbackRoute = createRoute({
  middleware: [CONVERSATION_STAFF] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/conversations/{id}/callback",
  tags: ["Conversations"],
  summary: "Request a callback by the bank (Rückruf)",
  request: {
    params: conversationParams,
    ...jsonBody(
      z.strictObject({
        note: z.string().trim().min(1).max(2000),
        preferredTime: z.string().trim().min(1).max(200).nullable().optional(),
      }),
    ),
  },
  responses: {
    201: jsonResponse(
      z.object({
        callback: z.object({
          id: z.string(),
          conversationId: z.string(),
          note: z.string(),
          preferredTime: z.string().nullable(),
          status: z.string(),
          createdBy: z.string().nullable(),
          createdAt: z.string(),
        }),
      }),
      "Requested",
    ),
    ...errorResponses,
  },
});

const customerRoute = createRoute({
  middleware: [CONVERSATION_STAFF] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/conversations/{id}/customer",
  tags: ["Conversations"],
  summary: "Link the chat's WhatsApp contact to a customer record (bank staff only)",
  request: {
    params: conversationParams,
    ...jsonBody(z.strictObject({ customerId: z.string().min(1).max(64) })),
  },
  responses: {
    200: jsonResponse(
      z.object({ conversation: routedConversation.extend({ customerId: z.string() }) }),
      "Linked",
    ),
    ...errorResponses,
  },
});

export function registerConversationActions(app: OpenAPIHono<AppEnv>) {
  app.openapi(inboxRoute, async (c) => {
    const actor = requireUser(c);
    return c.json(await loadInbox(c.get("services"), actor), 200);
  });

  app.openapi(handoverRoute, async (c) => {
    const { tenant, id } = c.req.valid("param");
    const conversation = await handoverConversation(
      c.get("services"),
      requestContext(c),
      tenant,
      id,
      c.req.valid("json"),
    );
    return c.json({ conversation }, 200);
  });

  app.openapi(closeRoute, async (c) => {
    const { tenant, id } = c.req.valid("param");
    return c.json(
      { conversation: await closeConversation(c.get("services"), requestContext(c), tenant, id) },
      200,
    );
  });

  app.openapi(takeRoute, async (c) => {
    const { tenant, id } = c.req.valid("param");
    return c.json(
      { conversation: await takeConversation(c.get("services"), requestContext(c), tenant, id) },
      200,
    );
  });

  app.openapi(reopenRoute, async (c) => {
    const { tenant, id } = c.req.valid("param");
    return c.json(
      { conversation: await reopenConversation(c.get("services"), requestContext(c), tenant, id) },
      200,
    );
  });

  app.openapi(callbackRoute, async (c) => {
    const { tenant, id } = c.req.valid("param");
    const callback = await requestCallback(
      c.get("services"),
      requestContext(c),
      tenant,
      id,
      c.req.valid("json"),
    );
    return c.json({ callback }, 201);
  });

  app.openapi(customerRoute, async (c) => {
    const { tenant, id } = c.req.valid("param");
    const { customerId } = c.req.valid("json");
    const conversation = await linkConversationCustomer(
      c.get("services"),
      requestContext(c),
      tenant,
      id,
      customerId,
    );
    return c.json({ conversation }, 200);
  });
}
