import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { canonical, type FormObject, type FormValue, parseForm } from "./form";

/**
 * A Stripe-compatible fake for tests and local development: only the endpoints Kanal calls, with
 * Stripe's object and error shapes, idempotency-key semantics and injectable failures. Point the real
 * `stripe` client at it with `{ host: "127.0.0.1", port, protocol: "http" }`.
 */

export type StripeObject = Record<string, unknown> & { id: string; object: string };

export interface FakeMeterEvent {
  object: "billing.meter_event";
  created: number;
  event_name: string;
  identifier: string;
  livemode: false;
  payload: Record<string, string>;
  timestamp: number;
}

export interface FakeRequest {
  method: string;
  path: string;
  status: number;
  idempotencyKey: string | null;
  replayed: boolean;
  injected: FailureMode | null;
}

/**
 * `down`: the connection is reset before anything happens. `lost_response`: the request is carried
 * out, then the connection is reset (the caller cannot know it succeeded). `500` / `429`: Stripe's
 * error bodies, nothing carried out.
 */
export type FailureMode = "down" | "lost_response" | "500" | "429";

export interface Failure {
  mode: FailureMode;
  /** How many matching requests fail; then the failure is used up. */
  count: number;
  /** Only requests whose `METHOD /path` contains this string (e.g. "POST /v1/billing/meter_events"). */
  match?: string;
  /** Let this many matching requests through before failing. */
  after?: number;
}

export interface FakeState {
  customers: Map<string, StripeObject>;
  products: Map<string, StripeObject>;
  prices: Map<string, StripeObject>;
  meters: Map<string, StripeObject>;
  subscriptions: Map<string, StripeObject>;
  invoices: Map<string, StripeObject>;
  /** Accepted meter events by identifier (a duplicate identifier is rejected, as Stripe does). */
  meterEvents: Map<string, FakeMeterEvent>;
  /** Every request in order, with what happened to it. */
  requests: FakeRequest[];
  /** Accepted API keys (Bearer). Empty set = any key starting with sk_. */
  apiKeys: Set<string>;
}

export interface StripeFake {
  state: FakeState;
  /** Listens on 127.0.0.1; port 0 picks a free one. */
  listen(port?: number): Promise<{ port: number; url: string }>;
  port(): number;
  close(): Promise<void>;
  /** Queues a failure for upcoming requests. */
  fail(failure: Failure): void;
  /** Every request resets the connection until `down(false)`. */
  down(isDown: boolean): void;
  clearFailures(): void;
  /** Adds this much delay to every API request (to widen race windows in tests). */
  latency(ms: number): void;
  /** Creates an invoice for a customer (as Stripe does at a period's end), for webhook tests. */
  createInvoice(customerId: string, fields?: Partial<Record<string, unknown>>): StripeObject;
  /** A webhook event object as Stripe sends it. */
  event(type: string, object: StripeObject, created?: number): StripeObject;
  /** Meter events accepted for a customer and event name. */
  meterEventsFor(customerId: string, eventName?: string): FakeMeterEvent[];
  reset(): void;
}

class StripeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: { type: string; message: string; code?: string; param?: string },
  ) {
    super(body.message);
  }
}

const missing = (param: string) =>
  new StripeHttpError(400, {
    type: "invalid_request_error",
    code: "parameter_missing",
    message: `Missing required param: ${param}.`,
    param,
  });
const noSuch = (what: string, id: string, param = "id") =>
  new StripeHttpError(404, {
    type: "invalid_request_error",
    code: "resource_missing",
    message: `No such ${what}: '${id}'`,
    param,
  });
const invalid = (message: string, param?: string, code?: string) =>
  new StripeHttpError(400, {
    type: "invalid_request_error",
    message,
    ...(param ? { param } : {}),
    ...(code ? { code } : {}),
  });

const id = (prefix: string) => `${prefix}_${randomBytes(10).toString("hex")}`;
const now = () => Math.floor(Date.now() / 1000);

function str(value: FormValue | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}
function obj(value: FormValue | undefined): FormObject {
  return value !== undefined && typeof value === "object" && !Array.isArray(value) ? value : {};
}
function list(value: FormValue | undefined): FormValue[] {
  if (Array.isArray(value)) return value;
  if (value !== undefined && typeof value === "object") return Object.values(value);
  return [];
}
function metadata(value: FormValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(value))) if (typeof v === "string") out[k] = v;
  return out;
}

function monthAfter(start: number): number {
  const d = new Date(start * 1000);
  d.setUTCMonth(d.getUTCMonth() + 1);
  return Math.floor(d.getTime() / 1000);
}

function listObject(data: StripeObject[], url: string) {
  return { object: "list", data, has_more: false, url };
}

export function createStripeFake(options: { apiKeys?: string[] } = {}): StripeFake {
  const state: FakeState = {
    customers: new Map(),
    products: new Map(),
    prices: new Map(),
    meters: new Map(),
    subscriptions: new Map(),
    invoices: new Map(),
    meterEvents: new Map(),
    requests: [],
    apiKeys: new Set(options.apiKeys ?? []),
  };
  const idempotency = new Map<string, { signature: string; status: number; body: unknown }>();
  let failures: (Failure & { seen: number })[] = [];
  let isDown = false;
  let delayMs = 0;
  let server: Server | null = null;
  let boundPort = 0;

  function injectedFailure(route: string): FailureMode | null {
    if (isDown) return "down";
    for (const f of failures) {
      if (f.count <= 0) continue;
      if (f.match && !route.includes(f.match)) continue;
      f.seen++;
      if (f.seen <= (f.after ?? 0)) continue;
      f.count--;
      return f.mode;
    }
    return null;
  }

  function requirePrice(priceId: string, param: string): StripeObject {
    const price = state.prices.get(priceId);
    if (!price) throw noSuch("price", priceId, param);
    return price;
  }

  function requireCustomer(customerId: string | undefined, param = "customer"): StripeObject {
    if (!customerId) throw missing(param);
    const customer = state.customers.get(customerId);
    if (!customer) throw noSuch("customer", customerId, param);
    return customer;
  }

  /** The routes; each returns [status, body] or throws a StripeHttpError. */
  function handle(
    method: string,
    path: string,
    params: FormObject,
    query: URLSearchParams,
  ): [number, unknown] {
    const parts = path.split("/").filter(Boolean); // ["v1", "customers", "cus_…"]
    if (parts[0] !== "v1")
      throw new StripeHttpError(404, {
        type: "invalid_request_error",
        message: `Unrecognized request URL (${method}: ${path}).`,
      });
    const resource = parts.slice(1).join("/");

    if (method === "POST" && resource === "customers") {
      const customer: StripeObject = {
        id: id("cus"),
        object: "customer",
        created: now(),
        email: str(params.email) ?? null,
        name: str(params.name) ?? null,
        description: str(params.description) ?? null,
        metadata: metadata(params.metadata),
        livemode: false,
        delinquent: false,
      };
      state.customers.set(customer.id, customer);
      return [200, customer];
    }
    if (method === "GET" && parts[1] === "customers" && parts[2]) {
      return [200, requireCustomer(parts[2], "id")];
    }
    if (method === "POST" && resource === "products") {
      const name = str(params.name);
      if (!name) throw missing("name");
      const product: StripeObject = {
        id: str(params.id) ?? id("prod"),
        object: "product",
        active: true,
        name,
        metadata: metadata(params.metadata),
        created: now(),
        livemode: false,
      };
      state.products.set(product.id, product);
      return [200, product];
    }
    if (method === "POST" && resource === "billing/meters") {
      const eventName = str(params.event_name);
      if (!eventName) throw missing("event_name");
      const meter: StripeObject = {
        id: id("mtr"),
        object: "billing.meter",
        created: now(),
        display_name: str(params.display_name) ?? eventName,
        event_name: eventName,
        default_aggregation: { formula: str(obj(params.default_aggregation).formula) ?? "sum" },
        customer_mapping: { event_payload_key: "stripe_customer_id", type: "by_id" },
        value_settings: { event_payload_key: "value" },
        status: "active",
        livemode: false,
      };
      state.meters.set(meter.id, meter);
      return [200, meter];
    }
    if (method === "POST" && resource === "prices") {
      const currency = str(params.currency);
      if (!currency) throw missing("currency");
      const productId = str(params.product);
      let product = productId;
      if (!product) {
        const data = obj(params.product_data);
        const name = str(data.name);
        if (!name) throw missing("product");
        const created: StripeObject = {
          id: id("prod"),
          object: "product",
          active: true,
          name,
          metadata: {},
          created: now(),
          livemode: false,
        };
        state.products.set(created.id, created);
        product = created.id;
      } else if (!state.products.has(product)) {
        throw noSuch("product", product, "product");
      }
      const recurring = obj(params.recurring);
      const meter = str(recurring.meter);
      if (meter && !state.meters.has(meter)) throw noSuch("billing.meter", meter, "recurring[meter]");
      const unitAmount = str(params.unit_amount);
      const unitAmountDecimal = str(params.unit_amount_decimal);
      const price: StripeObject = {
        id: id("price"),
        object: "price",
        active: true,
        billing_scheme: "per_unit",
        created: now(),
        currency,
        livemode: false,
        lookup_key: str(params.lookup_key) ?? null,
        metadata: metadata(params.metadata),
        nickname: str(params.nickname) ?? null,
        product,
        recurring: str(recurring.interval)
          ? {
              interval: str(recurring.interval),
              interval_count: Number(str(recurring.interval_count) ?? "1"),
              usage_type: str(recurring.usage_type) ?? "licensed",
              meter: meter ?? null,
            }
          : null,
        type: str(recurring.interval) ? "recurring" : "one_time",
        unit_amount: unitAmount !== undefined ? Number(unitAmount) : null,
        unit_amount_decimal: unitAmountDecimal ?? unitAmount ?? null,
      };
      state.prices.set(price.id, price);
      return [200, price];
    }
    if (method === "GET" && parts[1] === "prices" && parts[2]) {
      return [200, requirePrice(parts[2], "id")];
    }
    if (method === "POST" && resource === "subscriptions") {
      const customer = requireCustomer(str(params.customer));
      const items = list(params.items);
      if (items.length === 0) throw missing("items");
      const start = now();
      const end = monthAfter(start);
      const subscriptionId = id("sub");
      const itemObjects = items.map((raw, index) => {
        const item = obj(raw);
        const priceId = str(item.price);
        if (!priceId) throw missing(`items[${index}][price]`);
        const price = requirePrice(priceId, `items[${index}][price]`);
        const recurring = (price.recurring ?? null) as { usage_type?: string } | null;
        if (!recurring)
          throw invalid(
            "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
            `items[${index}][price]`,
          );
        const quantity = str(item.quantity);
        if (recurring.usage_type === "metered" && quantity !== undefined) {
          throw invalid(
            "Quantity should not be specified where usage_type is `metered`. Remove quantity from `line_items[0]`",
            `items[${index}][quantity]`,
          );
        }
        return {
          id: id("si"),
          object: "subscription_item",
          created: start,
          current_period_start: start,
          current_period_end: end,
          metadata: {},
          price,
          quantity: recurring.usage_type === "metered" ? undefined : Number(quantity ?? "1"),
          subscription: subscriptionId,
        };
      });
      const subscription: StripeObject = {
        id: subscriptionId,
        object: "subscription",
        billing_cycle_anchor: start,
        cancel_at_period_end: false,
        canceled_at: null,
        collection_method: str(params.collection_method) ?? "charge_automatically",
        created: start,
        currency: (itemObjects[0]?.price.currency as string | undefined) ?? "eur",
        customer: customer.id,
        items: listObject(
          itemObjects as unknown as StripeObject[],
          `/v1/subscription_items?subscription=${subscriptionId}`,
        ),
        livemode: false,
        metadata: metadata(params.metadata),
        start_date: start,
        status: "active",
      };
      state.subscriptions.set(subscription.id, subscription);
      return [200, subscription];
    }
    if (method === "GET" && parts[1] === "subscriptions" && parts[2]) {
      const subscription = state.subscriptions.get(parts[2]);
      if (!subscription) throw noSuch("subscription", parts[2]);
      return [200, subscription];
    }
    if (method === "POST" && resource === "billing/meter_events") {
      const eventName = str(params.event_name);
      if (!eventName) throw missing("event_name");
      const payload = metadata(params.payload);
      if (!payload.stripe_customer_id) throw missing("payload[stripe_customer_id]");
      if (payload.value !== undefined && !/^-?\d+(\.\d+)?$/.test(payload.value))
        throw invalid("payload[value] must be a number", "payload[value]");
      const timestamp = Number(str(params.timestamp) ?? String(now()));
      if (timestamp < now() - 35 * 86_400 || timestamp > now() + 300) {
        throw invalid(
          "Timestamp must be within the past 35 calendar days or up to 5 minutes in the future.",
          "timestamp",
          "timestamp_out_of_range",
        );
      }
      const identifier = str(params.identifier) ?? id("mev");
      if (state.meterEvents.has(identifier)) {
        throw invalid(
          `An event already exists with identifier ${identifier}.`,
          "identifier",
          "resource_already_exists",
        );
      }
      const event: FakeMeterEvent = {
        object: "billing.meter_event",
        created: now(),
        event_name: eventName,
        identifier,
        livemode: false,
        payload,
        timestamp,
      };
      state.meterEvents.set(identifier, event);
      return [200, event];
    }
    if (method === "GET" && resource === "invoices") {
      const customer = query.get("customer");
      const limit = Number(query.get("limit") ?? "10");
      const data = [...state.invoices.values()]
        .filter((i) => !customer || i.customer === customer)
        .sort((a, b) => Number(b.created) - Number(a.created))
        .slice(0, limit);
      return [200, listObject(data, "/v1/invoices")];
    }
    throw new StripeHttpError(404, {
      type: "invalid_request_error",
      message: `Unrecognized request URL (${method}: ${path}).`,
    });
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { "content-type": "application/json", "request-id": id("req"), ...headers });
    res.end(JSON.stringify(body));
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://fake");
    const method = req.method ?? "GET";
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");

    // Test side over HTTP, for processes that do not hold the fake object (npm start, other languages).
    if (url.pathname === "/__fake/state") {
      send(res, 200, {
        customers: [...state.customers.values()],
        subscriptions: [...state.subscriptions.values()],
        prices: [...state.prices.values()],
        meterEvents: [...state.meterEvents.values()],
        invoices: [...state.invoices.values()],
        requests: state.requests.length,
      });
      return;
    }
    if (url.pathname === "/__fake/fail" && method === "POST") {
      const body = JSON.parse(raw || "{}") as Failure & { down?: boolean };
      if (body.down !== undefined) isDown = body.down;
      else failures.push({ ...body, seen: 0 });
      send(res, 200, { ok: true });
      return;
    }

    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const idempotencyKey = header(req, "idempotency-key");
    const route = `${method} ${url.pathname}`;
    const record = (status: number, replayed: boolean, injected: FailureMode | null) =>
      state.requests.push({ method, path: url.pathname, status, idempotencyKey, replayed, injected });

    const injected = injectedFailure(route);
    if (injected === "down") {
      record(0, false, injected);
      req.socket.destroy();
      return;
    }
    if (injected === "500") {
      record(500, false, injected);
      send(res, 500, {
        error: { type: "api_error", message: "An unknown error occurred (injected by the fake)." },
      });
      return;
    }
    if (injected === "429") {
      record(429, false, injected);
      send(res, 429, {
        error: {
          type: "invalid_request_error",
          code: "rate_limit",
          message: "Request rate limit exceeded. (injected by the fake)",
        },
      });
      return;
    }

    const auth = header(req, "authorization") ?? "";
    const key = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    if (!key.startsWith("sk_") || (state.apiKeys.size > 0 && !state.apiKeys.has(key))) {
      record(401, false, null);
      send(res, 401, {
        error: { type: "invalid_request_error", message: `Invalid API Key provided: ${key.slice(0, 8)}***` },
      });
      return;
    }

    const params = method === "POST" ? parseForm(raw) : {};
    const signature = `${route} ${canonical(params)}`;
    if (method === "POST" && idempotencyKey) {
      const earlier = idempotency.get(`${key} ${idempotencyKey}`);
      if (earlier) {
        if (earlier.signature !== signature) {
          record(400, false, null);
          send(res, 400, {
            error: {
              type: "idempotency_error",
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            },
          });
          return;
        }
        record(earlier.status, true, injected);
        if (injected === "lost_response") {
          req.socket.destroy();
          return;
        }
        send(res, earlier.status, earlier.body, {
          "idempotent-replayed": "true",
          "idempotency-key": idempotencyKey,
        });
        return;
      }
    }

    let status: number;
    let body: unknown;
    try {
      [status, body] = handle(method, url.pathname, params, url.searchParams);
    } catch (error) {
      if (!(error instanceof StripeHttpError)) throw error;
      status = error.status;
      body = { error: error.body };
    }
    // Stripe keeps the outcome of every request that started executing, errors included.
    if (method === "POST" && idempotencyKey)
      idempotency.set(`${key} ${idempotencyKey}`, { signature, status, body });
    record(status, false, injected);
    if (injected === "lost_response") {
      req.socket.destroy();
      return;
    }
    send(res, status, body, idempotencyKey ? { "idempotency-key": idempotencyKey } : {});
  }

  return {
    state,
    async listen(port = 0) {
      server = createServer((req, res) => {
        onRequest(req, res).catch((error: unknown) => {
          send(res, 500, { error: { type: "api_error", message: String(error) } });
        });
      });
      const s = server;
      await new Promise<void>((resolve) => s.listen(port, "127.0.0.1", resolve));
      boundPort = (s.address() as AddressInfo).port;
      return { port: boundPort, url: `http://127.0.0.1:${boundPort}` };
    },
    port: () => boundPort,
    async close() {
      const s = server;
      if (!s) return;
      server = null;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    fail(failure) {
      failures.push({ ...failure, seen: 0 });
    },
    down(value) {
      isDown = value;
    },
    latency(ms) {
      delayMs = ms;
    },
    clearFailures() {
      failures = [];
      isDown = false;
    },
    createInvoice(customerId, fields = {}) {
      const subscription = [...state.subscriptions.values()].find((s) => s.customer === customerId);
      const created = now();
      const invoice: StripeObject = {
        id: id("in"),
        object: "invoice",
        amount_due: 9900,
        amount_paid: 0,
        amount_remaining: 9900,
        attempt_count: 1,
        created,
        currency: "eur",
        customer: customerId,
        hosted_invoice_url: `https://invoice.stripe.com/i/fake_${randomBytes(6).toString("hex")}`,
        livemode: false,
        number: `KANAL-${String(state.invoices.size + 1).padStart(4, "0")}`,
        parent: subscription
          ? {
              type: "subscription_details",
              subscription_details: { subscription: subscription.id, metadata: {} },
            }
          : null,
        period_start: created - 30 * 86_400,
        period_end: created,
        status: "open",
        total: 9900,
        ...fields,
      };
      state.invoices.set(invoice.id, invoice);
      return invoice;
    },
    event(type, object, created = now()) {
      return {
        id: id("evt"),
        object: "event",
        api_version: "2026-10-28.endive",
        created,
        data: { object },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type,
      };
    },
    meterEventsFor(customerId, eventName) {
      return [...state.meterEvents.values()].filter(
        (e) => e.payload.stripe_customer_id === customerId && (!eventName || e.event_name === eventName),
      );
    },
    reset() {
      for (const m of [
        state.customers,
        state.products,
        state.prices,
        state.meters,
        state.subscriptions,
        state.invoices,
        state.meterEvents,
      ])
        m.clear();
      state.requests.length = 0;
      idempotency.clear();
      failures = [];
      isDown = false;
      delayMs = 0;
    },
  };
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}
