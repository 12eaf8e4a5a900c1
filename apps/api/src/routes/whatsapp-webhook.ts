import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { Counter } from "prom-client";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { verifyWebhookSignature, WebhookRelay, WebhookStore } from "@kanal/core/channel";
import { constantTimeEqual } from "@kanal/core/kernel";
import type { Services } from "@kanal/core/runtime";
import type { AppEnv } from "../env";
import { errorBody, errorBodyFor } from "../errors";
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
/**
 * This path bypasses the app's request log (it is answered before the middleware, or without Hono): a
 * refusal is logged here, one line like the app's `request refused`, never with the body.
 */
function logRefused(
  services: Services,
  requestId: string,
  status: 401 | 413,
  code: "unauthenticated" | "payload_too_large",
): void {
  services.logger.warn(
    { requestId, method: "POST", route: "/webhooks/whatsapp", status, code },
    "request refused",
  );
}

const tooLarge = (c: Context<AppEnv>) => {
  logRefused(c.get("services"), c.get("requestId"), 413, "payload_too_large");
  return c.json(errorBody(c, "payload_too_large", "Webhook body too large"), 413);
};
const limitBody = bodyLimit({ maxSize: MAX_WEBHOOK_BYTES, onError: tooLarge });

const stored = webhooks.labels("stored");
const deadLetter = webhooks.labels("dead_letter");
const badSignature = webhooks.labels("bad_signature");

type WebhookAnswer = { status: 200 | 401 | 413 | 500; body: unknown };
const RECEIVED = { received: true };
const RECEIVED_JSON = Buffer.from(JSON.stringify(RECEIVED));

/**
 * `POST /webhooks/whatsapp`, the hottest path (3× outgoing plus 1× incoming traffic): the signature check
 * over the raw bytes, one group-committed insert (answered only once its row committed) and a batched
 * hand-over to the worker. Served two ways with the same logic: straight from Node's HTTP server
 * (`serveNode`, what the API process listens with: no web Request/Response, no router, no middleware
 * per webhook) and as a Hono route (for `app.request()` and any other fetch-style host).
 */
export class WhatsappWebhookIngest {
  private readonly store: WebhookStore;
  private readonly relay: WebhookRelay;

  constructor(private readonly services: Services) {
    const relay = new WebhookRelay(services.queues, (error, count) => {
      services.logger.warn(
        { events: count, err: error.message },
        "webhook enqueue failed; the sweeper will pick it up",
      );
    });
    this.store = new WebhookStore(services.db, (events) => {
      // Stored durably: the relay hands them to the worker within milliseconds.
      for (const event of events) relay.push(event);
    });
    this.relay = relay;
  }

  /**
   * At shutdown, once the server has answered its last webhook: hands every stored event still waiting
   * in the relay to the worker (what Redis refuses is left to the worker's sweeper).
   */
  flush(): Promise<void> {
    return this.relay.drain();
  }

  /** The answer to one webhook POST whose body is `raw`. */
  async ingest(raw: Buffer, signature: string | undefined, requestId: string): Promise<WebhookAnswer> {
    if (!verifyWebhookSignature(raw, signature, this.services.config.WHATSAPP_APP_SECRET)) {
      badSignature.inc();
      logRefused(this.services, requestId, 401, "unauthenticated");
      return {
        status: 401,
        body: errorBodyFor(requestId, "unauthenticated", "Missing or wrong X-Hub-Signature-256"),
      };
    }
    const event = await this.store.store(raw.toString("utf8"));
    if (event.status === "dead") {
      deadLetter.inc();
      this.services.logger.warn({ eventId: event.id, requestId }, "malformed webhook kept as dead letter");
    } else {
      stored.inc();
    }
    return { status: 200, body: RECEIVED };
  }

  /** Node `request` listener for `POST /webhooks/whatsapp`. */
  serveNode(req: IncomingMessage, res: ServerResponse): void {
    const requestId = randomUUID();
    const answer = (result: WebhookAnswer) => {
      const body = result.body === RECEIVED ? RECEIVED_JSON : Buffer.from(JSON.stringify(result.body));
      res.writeHead(result.status, {
        "content-type": "application/json",
        "content-length": body.length,
        "x-request-id": requestId,
      });
      res.end(body);
    };
    const fail = (error: Error) => {
      this.services.logger.error(
        { err: { name: error.name, message: error.message, stack: error.stack }, requestId },
        "unhandled error",
      );
      answer({ status: 500, body: errorBodyFor(requestId, "internal", "Internal error") });
    };
    const payloadTooLarge = () => {
      logRefused(this.services, requestId, 413, "payload_too_large");
      answer({ status: 413, body: errorBodyFor(requestId, "payload_too_large", "Webhook body too large") });
    };
    // Node's parser has already rejected a malformed Content-Length; a declared length over the limit is
    // refused before reading, a body without one is counted as it arrives. Either way Node then reads and
    // discards the rest (bounded by the server's request timeout), so the client gets the answer.
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > MAX_WEBHOOK_BYTES) {
      payloadTooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_WEBHOOK_BYTES) {
        if (!res.headersSent) payloadTooLarge();
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > MAX_WEBHOOK_BYTES) return;
      const raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      const signature = req.headers["x-hub-signature-256"];
      this.ingest(raw, typeof signature === "string" ? signature : undefined, requestId).then(answer, fail);
    });
    req.on("error", () => res.destroy());
  }

  /** The same endpoint as a Hono route, mounted before the global middleware. */
  register(app: OpenAPIHono<AppEnv>): void {
    app.post(
      "/webhooks/whatsapp",
      async (c, next) => {
        const requestId = randomUUID();
        c.set("requestId", requestId);
        c.set("services", this.services);
        c.header("X-Request-Id", requestId);
        await next();
      },
      async (c, next) => {
        // A body with a Content-Length is checked by that header and read straight from the socket
        // (hono's bodyLimit would first build a full web Request around it); one without goes through
        // bodyLimit.
        const length = c.req.header("content-length");
        if (length === undefined || c.req.header("transfer-encoding") !== undefined)
          return limitBody(c, next);
        if (!/^\d+$/.test(length) || Number(length) > MAX_WEBHOOK_BYTES) return tooLarge(c);
        await next();
      },
      async (c) => {
        const raw = Buffer.from(await c.req.arrayBuffer());
        const result = await this.ingest(raw, c.req.header("x-hub-signature-256"), c.get("requestId"));
        return c.json(result.body as object, result.status as 200 | 401);
      },
    );
  }
}

/** `POST /webhooks/whatsapp` (with or without a query string) — the requests `serveNode` answers. */
export function isWebhookIngestRequest(method: string | undefined, url: string | undefined): boolean {
  return (
    method === "POST" &&
    url !== undefined &&
    url.startsWith("/webhooks/whatsapp") &&
    (url.length === 18 || url.charCodeAt(18) === 63) // "?"
  );
}
