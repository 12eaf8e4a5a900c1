import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { Counter } from "prom-client";
import {
  constantTimeEqual,
  enqueueWebhookEvent,
  storeWebhookEvent,
  verifyWebhookSignature,
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

  // Meta sends up to 3 MB; the signature is checked over the raw bytes before anything is parsed or stored.
  app.post(
    "/webhooks/whatsapp",
    bodyLimit({
      maxSize: 4 * 1024 * 1024,
      onError: (c) => c.json(errorBody(c, "payload_too_large", "Webhook body too large"), 413),
    }),
    async (c) => {
      const services = c.get("services");
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
      // Stored durably: answer now. If Redis is down the sweeper enqueues the event later.
      enqueueWebhookEvent(services.queues, stored).catch((error: Error) => {
        services.logger.warn(
          { eventId: stored.id, err: error.message },
          "webhook enqueue failed; the sweeper will pick it up",
        );
      });
      return c.json({ received: true }, 200);
    },
  );
}
