import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import type { EventHub } from "@kanal/core/realtime";
import type { Services } from "@kanal/core/runtime";
import type { AppEnv } from "./env";
import { errorBody, onError, zodFields } from "./errors";
import { authenticate, requireSignIn } from "./middleware/auth";
import { csrfProtection } from "./middleware/csrf";
import { registerAuth, type PresenceListener } from "./routes/auth";
import { registerBankAdmin } from "./routes/bank-admin";
import { registerBilling } from "./routes/billing";
import { registerStripeWebhook } from "./routes/stripe-webhook";
import { registerCustomers } from "./routes/customers";
import { registerDataProtection } from "./routes/data-protection";
import { registerDocs } from "./routes/docs";
import { registerNotifications } from "./routes/notifications";
import { registerConversations } from "./routes/conversations";
import { registerConversationActions } from "./routes/conversation-actions";
import { registerRouting } from "./routes/routing";
import { keepStreamsAlreadySent, registerEvents } from "./routes/events";
import { registerRules } from "./routes/rules";
import { registerSnippets } from "./routes/snippets";
import { registerWebhookOps, registerWhatsappAdmin } from "./routes/whatsapp-admin";
import { registerWhatsappWebhook, WhatsappWebhookIngest } from "./routes/whatsapp-webhook";
import { measure, registerOps } from "./routes/ops";
import { registerTenants } from "./routes/tenants";
import { registerWebhookEndpoints } from "./routes/webhook-endpoints";

const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export interface AppHooks {
  onPresence?: PresenceListener;
  afterOnboard?: (tenantId: string) => Promise<void>;
  /** Further route groups (WhatsApp webhooks, conversations, routing, rules …) register here. */
  extend?: (app: OpenAPIHono<AppEnv>) => void;
}

/** Builds the whole HTTP app; the entry file only listens, so tests call `app.request()` without a port. */
export function newApp(services: Services, hub: EventHub, hooks: AppHooks = {}) {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const fields = zodFields(result.error.issues);
        return c.json(errorBody(c, "invalid_request", "Invalid request", fields), 400);
      }
    },
  });

  // Before the global middleware on purpose: the webhook ingest path stays lean (and the API's own
  // server answers it without Hono at all, see server.ts).
  const webhookIngest = new WhatsappWebhookIngest(services);
  webhookIngest.register(app);
  app.use("/v1/events", keepStreamsAlreadySent);
  app.use("*", requestId({ headerName: "X-Request-Id", generator: () => crypto.randomUUID() }));
  app.use("*", async (c, next) => {
    c.set("services", services);
    c.set("hub", hub);
    await next();
  });
  app.use("*", measure);
  app.use("*", secureHeaders({ contentSecurityPolicy: undefined, crossOriginEmbedderPolicy: false }));
  app.use("*", async (c, next) => {
    await next();
    // A route with a stricter policy of its own (a customer's media) keeps it.
    if (!c.res.headers.has("Content-Security-Policy"))
      c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
  });
  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    const ms = Math.round(performance.now() - started);
    if (c.req.path !== "/healthz" && c.req.path !== "/metrics") {
      // One line per request; a refused one (4xx) says why in `code`, and never carries a stack.
      const status = c.res.status;
      const line = {
        requestId: c.get("requestId"),
        method: c.req.method,
        route: c.req.routePath,
        status,
        ms,
        ...(status >= 400 && { code: c.get("errorCode") }),
      };
      if (status >= 400 && status < 500) services.logger.warn(line, "request refused");
      else services.logger.info(line, "request");
    }
  });
  const limitBody = bodyLimit({
    maxSize: 1024 * 1024,
    onError: (c) => c.json(errorBody(c, "payload_too_large", "Request body larger than 1 MiB"), 413),
  });
  // A batch of up to 10,000 notifications is larger (about 1 KiB an item at most).
  const limitBatchBody = bodyLimit({
    maxSize: 8 * 1024 * 1024,
    onError: (c) => c.json(errorBody(c, "payload_too_large", "Request body larger than 8 MiB"), 413),
  });
  // A GET has no body to limit; asking would build a full web Request (per event stream, for its life).
  app.use("/v1/*", (c, next) =>
    c.req.method === "GET" || c.req.method === "HEAD"
      ? next()
      : (c.req.path.endsWith("/notifications/batch") ? limitBatchBody : limitBody)(c, next),
  );
  app.use("/v1/*", authenticate);
  app.use("/v1/*", requireSignIn);
  app.use("/v1/*", csrfProtection);

  registerOps(app);
  registerAuth(app, hooks.onPresence);
  registerTenants(app, hooks.afterOnboard);
  registerBankAdmin(app);
  registerBilling(app);
  registerStripeWebhook(app);
  registerCustomers(app);
  registerEvents(app);
  registerRules(app);
  registerSnippets(app);
  registerDataProtection(app);
  registerWhatsappWebhook(app);
  registerWhatsappAdmin(app);
  registerWebhookOps(app);
  registerConversations(app);
  registerRouting(app);
  registerConversationActions(app);
  registerNotifications(app);
  registerWebhookEndpoints(app);
  // Before `extend`: the web console's catch-all (static.ts) must not shadow /openapi.json and /docs.
  registerDocs(app);
  hooks.extend?.(app);

  app.notFound((c) => c.json(errorBody(c, "not_found", "No such route"), 404));
  app.onError(onError);
  return Object.assign(app, { webhookIngest });
}

export type KanalApp = ReturnType<typeof newApp>;
