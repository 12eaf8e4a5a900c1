import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { Counter } from "prom-client";
import {
  constantTimeEqual,
  type Services,
  storeWebhookEvent,
  verifyWebhookSignature,
  WebhookRelay,
} from "@kanal/core";
import type { AppEnv } from "../env";
import { errorBody } from "../errors";
import { metricsRegistry } from "./ops";

const webhooks = new Counter({
  name: "kanal_whatsapp_webhooks_total",
  help: "WhatsApp webhook POSTs by outcome",
  labelNames: ["outcome"] as const,
  registers: [metricsRegistry],
});

const verifyRoute = createRoute({
  method: "get",
  path: "/webhooks/whatsapp",
  tags: ["Webhooks"],
  summary: "Meta's verification handshake",
  request: {
    query: z.object({
      "hub.mode": z.string().optional(),
      "hub.verify_token": z.string().optional(),
      "hub.challenge": z.string().optional(),
    }),
  },
  responses: { 200: { description: "The challenge, as plain text" }, 403: { description: "Wrong token" } },
});

export function registerWhatsappWebhook(app: OpenAPIHono<AppEnv>) {
  app.openapi(verifyRoute, (c) => {
    const q = c.req.valid("query");
    const expected = c.get("services").config.WHATSAPP_VERIFY_TOKEN;
    if (
      q["hub.mode"] === "subscribe" &&
      q["hub.verify_token"] &&
      constantTimeEqual(q["hub.verify_token"], expected)
    ) {
      return c.text(q["hub.challenge"] ?? "", 200);
    }
    return c.text("forbidden", 403);
  });
}

/**
 * The webhook POST is the hottest path (3× outgoing plus 1× incoming traffic): it is mounted before the
 * global middleware, with only what it needs — a request id, the body limit, the signature check, one
 * insert and a batched hand-over to the worker.
 */
export function registerWhatsappWebhookIngest(app: OpenAPIHono<AppEnv>, services: Services) {
  const relay = new WebhookRelay(services.queues, (error, count) => {
    services.logger.warn(
      { events: count, err: error.message },
      "webhook enqueue failed; the sweeper will pick it up",
    );
  });
  app.post(
    "/webhooks/whatsapp",
    async (c, next) => {
      const requestId = crypto.randomUUID();
      c.set("requestId", requestId);
      c.set("services", services);
      c.header("X-Request-Id", requestId);
      await next();
    },
    bodyLimit({
      maxSize: 4 * 1024 * 1024,
      onError: (c) => c.json(errorBody(c, "payload_too_large", "Webhook body too large"), 413),
    }),
    async (c) => {
      const raw = Buffer.from(await c.req.arrayBuffer());
      if (
        !verifyWebhookSignature(raw, c.req.header("x-hub-signature-256"), services.config.WHATSAPP_APP_SECRET)
      ) {
        webhooks.inc({ outcome: "bad_signature" });
        return c.json(errorBody(c, "unauthenticated", "Missing or wrong X-Hub-Signature-256"), 401);
      }
      const stored = await storeWebhookEvent(services.db, raw.toString("utf8"));
      if (stored.status === "dead") {
        webhooks.inc({ outcome: "dead_letter" });
        services.logger.warn(
          { eventId: stored.id, requestId: c.get("requestId") },
          "malformed webhook kept as dead letter",
        );
        return c.json({ received: true }, 200);
      }
      webhooks.inc({ outcome: "stored" });
      // Stored durably: answer now; the relay hands it to the worker within milliseconds.
      relay.push(stored);
      return c.json({ received: true }, 200);
    },
  );
}
