import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { Counter } from "prom-client";
import {
  constantTimeEqual,
  type Services,
  verifyWebhookSignature,
  WebhookRelay,
  WebhookStore,
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

const MAX_WEBHOOK_BYTES = 4 * 1024 * 1024;
const tooLarge = (c: Context<AppEnv>) =>
  c.json(errorBody(c, "payload_too_large", "Webhook body too large"), 413);
const limitBody = bodyLimit({ maxSize: MAX_WEBHOOK_BYTES, onError: tooLarge });

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
  const store = new WebhookStore(services.db, (events) => {
    // Stored durably: the relay hands them to the worker within milliseconds.
    for (const event of events) relay.push(event);
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
    async (c, next) => {
      // Meta always sends Content-Length: checking the header lets the body be read straight from the
      // socket (hono's bodyLimit would first build a full web Request around it — a third of the CPU
      // of this path). A body without a length goes through bodyLimit as before.
      const length = c.req.header("content-length");
      if (length === undefined || c.req.header("transfer-encoding") !== undefined) return limitBody(c, next);
      if (!/^\d+$/.test(length) || Number(length) > MAX_WEBHOOK_BYTES) return tooLarge(c);
      await next();
    },
    async (c) => {
      const raw = Buffer.from(await c.req.arrayBuffer());
      if (
        !verifyWebhookSignature(raw, c.req.header("x-hub-signature-256"), services.config.WHATSAPP_APP_SECRET)
      ) {
        webhooks.inc({ outcome: "bad_signature" });
        return c.json(errorBody(c, "unauthenticated", "Missing or wrong X-Hub-Signature-256"), 401);
      }
      const stored = await store.store(raw.toString("utf8"));
      if (stored.status === "dead") {
        webhooks.inc({ outcome: "dead_letter" });
        services.logger.warn(
          { eventId: stored.id, requestId: c.get("requestId") },
          "malformed webhook kept as dead letter",
        );
        return c.json({ received: true }, 200);
      }
      webhooks.inc({ outcome: "stored" });
      return c.json({ received: true }, 200);
    },
  );
}
