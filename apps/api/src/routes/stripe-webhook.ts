import type { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { handleStripeWebhook } from "@kanal/core/billing";
import type { AppEnv } from "../env";
import { errorBody } from "../errors";

/**
 * Stripe's webhook endpoint. Outside /v1 on purpose: no session, no CSRF — the signature over the raw
 * body is the authentication, so the body is read as text and never re-serialised before checking.
 */
export function registerStripeWebhook(app: OpenAPIHono<AppEnv>) {
  app.post(
    "/webhooks/stripe",
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) => c.json(errorBody(c, "payload_too_large", "Request body larger than 1 MiB"), 413),
    }),
    async (c) => {
      const raw = await c.req.text();
      const result = await handleStripeWebhook(c.get("services"), raw, c.req.header("stripe-signature"));
      return c.json({ received: true, duplicate: result.duplicate }, 200);
    },
  );
}
