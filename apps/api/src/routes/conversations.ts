import { CONVERSATION_ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { create as contentDisposition } from "content-disposition";
import { sendMessage } from "@kanal/core/channel";
import { conversationDetail, listConversations, messageMedia } from "@kanal/core/conversations";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { requestContext, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

const READERS = { roles: CONVERSATION_ROLES };
/** For a customer's file: a separate, script-less origin that may load nothing, should it be displayed. */
const MEDIA_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'";
const idParam = (name: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name, in: "path" } });

const summarySchema = z
  .object({
    id: z.string(),
    tenant: z.string(),
    status: z.string(),
    assigneeUserId: z.string().nullable(),
    handledBy: z.string().nullable(),
    queue: z.string().nullable(),
    customer: z.object({ id: z.string(), name: z.string().nullable(), waId: z.string().nullable() }),
    topic: z.string().nullable(),
    flags: z.array(z.string()),
    lastMessageAt: z.string(),
    openedAt: z.string(),
  })
  .openapi("ConversationSummary");

const messageSchema = z
  .object({
    id: z.string(),
    conversationId: z.string(),
    direction: z.string(),
    type: z.string(),
    kind: z.string(),
    text: z.string().nullable(),
    status: z.string(),
    error: z.record(z.string(), z.unknown()).nullable(),
    media: z
      .object({
        url: z.string(),
        mimeType: z.string().nullable(),
        filename: z.string().nullable(),
        status: z.string(),
      })
      .nullable(),
    payload: z.record(z.string(), z.unknown()).nullable(),
    authorUserId: z.string().nullable(),
    topic: z.string().nullable(),
    ruleVersion: z.number().nullable(),
    createdAt: z.string(),
  })
  .openapi("Message");

const listRoute = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/conversations",
  tags: ["Conversations"],
  summary: "Conversations of the bank (a KSC agent sees the KSC's)",
  request: {
    params: tenantParam,
    query: z.object({ status: z.enum(["open", "queued", "closed"]).optional() }),
  },
  responses: {
    200: jsonResponse(z.object({ conversations: z.array(summarySchema) }), "Conversations"),
    ...errorResponses,
  },
});

const detailRoute = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/conversations/{id}",
  tags: ["Conversations"],
  summary: "A conversation with its messages, routing reason and the customer's earlier conversations",
  request: { params: tenantParam.extend({ id: idParam("id") }) },
  responses: {
    200: jsonResponse(
      z.object({
        conversation: z.object({
          id: z.string(),
          tenant: z.string(),
          status: z.string(),
          assigneeUserId: z.string().nullable(),
          handledBy: z.string().nullable(),
          queue: z.string().nullable(),
          customer: z.object({
            id: z.string(),
            name: z.string().nullable(),
            waId: z.string().nullable(),
            externalRef: z.string().nullable(),
            advisorUserId: z.string().nullable(),
          }),
          topic: z.string().nullable(),
          ruleId: z.string().nullable(),
          flags: z.array(z.string()),
          routing: z.record(z.string(), z.unknown()).nullable(),
          openedAt: z.string(),
          closedAt: z.string().nullable(),
          lastMessageAt: z.string(),
          windowExpiresAt: z.string().nullable(),
        }),
        messages: z.array(messageSchema),
        history: z.array(
          z.object({
            id: z.string(),
            openedAt: z.string(),
            closedAt: z.string().nullable(),
            topic: z.string().nullable(),
            handledBy: z.string().nullable(),
            messages: z.array(messageSchema),
          }),
        ),
      }),
      "Conversation",
    ),
    ...errorResponses,
  },
});

const sendBody = z.union([
  z.strictObject({ text: z.string().trim().min(1, "must not be empty").max(4096) }),
  z.strictObject({ snippetId: z.string().min(1).max(64) }),
  z.strictObject({
    template: z.strictObject({
      name: z.string().regex(/^[a-z0-9_]{1,512}$/, "lower-case letters, digits and _"),
      language: z.string().regex(/^[a-z]{2}(_[A-Z]{2})?$/, "like de or de_DE"),
      params: z.array(z.string().max(1024)).max(20).optional(),
    }),
  }),
]);

const sendRoute = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/conversations/{id}/messages",
  tags: ["Conversations"],
  summary: "Reply to the customer (text, snippet or template); 422 window_closed / rule_violation",
  request: { params: tenantParam.extend({ id: idParam("id") }), ...jsonBody(sendBody) },
  responses: {
    202: jsonResponse(
      z.object({
        message: z.object({
          id: z.string(),
          status: z.literal("queued"),
          text: z.string().nullable(),
          type: z.string(),
          createdAt: z.string(),
          warnings: z.array(z.object({ code: z.string(), message: z.string() })),
        }),
      }),
      "Queued for sending",
    ),
    ...errorResponses,
  },
});

/** The name shown in the download dialog: the viewer's masked name, without control characters. */
function downloadName(filename: string | null): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return filename?.replace(/[\u0000-\u001f\u007f]/g, "").trim() || "media";
}

export function registerConversations(app: OpenAPIHono<AppEnv>) {
  app.openapi(listRoute, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json({ conversations: await listConversations(db, access, c.req.valid("query").status) }, 200);
  });

  app.openapi(detailRoute, async (c) => {
    const services = c.get("services");
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    return c.json(await conversationDetail(services, ctx, access, id), 200);
  });

  app.openapi(sendRoute, async (c) => {
    const services = c.get("services");
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    return c.json({ message: await sendMessage(services, ctx, access, id, c.req.valid("json")) }, 202);
  });

  app.get("/v1/tenants/:tenant/messages/:id/media", tenantRole(READERS), async (c) => {
    const services = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    const media = await messageMedia(services, ctx, access, c.req.param("id"));
    if (media.status !== "stored" || !media.content) {
      return c.json(
        {
          error: {
            code: "not_found",
            message: "The media has not been fetched yet",
            requestId: c.get("requestId"),
          },
        },
        404,
      );
    }
    // A customer's file is never rendered on the console's origin: always a download (RFC 6266, with the
    // UTF-8 name as RFC 5987 filename*), never sniffed into another type, and sandboxed should a browser
    // display it anyway (no scripts, no same-origin access, nothing loaded).
    c.header("Content-Type", media.mime_type ?? "application/octet-stream");
    c.header("Content-Disposition", contentDisposition(downloadName(media.filename), { type: "attachment" }));
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Cache-Control", "private, no-store");
    c.header("Content-Security-Policy", MEDIA_CSP);
    return c.body(new Uint8Array(media.content), 200);
  });
}
