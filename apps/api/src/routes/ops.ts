import { sql, type Db } from "@kanal/db";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Context, MiddlewareHandler } from "hono";
import proxyAddr from "proxy-addr";
import { AppError, constantTimeEqual } from "@kanal/core/kernel";
import type { AppEnv } from "../env";
import { clientIp } from "../middleware/auth";

export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });
const httpRequests = new Counter({
  name: "kanal_http_requests_total",
  help: "HTTP requests by route and status",
  labelNames: ["method", "route", "status"] as const,
  registers: [metricsRegistry],
});
const httpDuration = new Histogram({
  name: "kanal_http_request_duration_seconds",
  help: "HTTP request duration by route",
  labelNames: ["method", "route"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [metricsRegistry],
});

/** Labels use the matched route pattern, never the raw path, so ids do not explode cardinality. */
export const measure: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = performance.now();
  await next();
  const route = c.req.routePath || "unmatched";
  httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
  httpDuration.observe({ method: c.req.method, route }, (performance.now() - started) / 1000);
};

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const webhookBacklog = new Gauge({
  name: "kanal_webhook_events",
  help: "Stored webhook events needing attention, by status (pending, dead, unknown_number)",
  labelNames: ["status"] as const,
  registers: [metricsRegistry],
});

/**
 * The gauges read from Postgres are refreshed at most this often, whatever the scrape rate and however
 * many scrapers: a scrape is served from memory, and one refresh at a time runs (the partial indexes make
 * it cheap, and the counts are true across all API and worker processes).
 */
const DB_GAUGES_MAX_AGE_MS = 5_000;
let dbGauges: { at: number; refresh: Promise<void> } | null = null;

async function readDbGauges(db: Db): Promise<void> {
  const counts = await db
    .withSchema("control")
    .selectFrom("webhook_events")
    .select(["status", (eb) => eb.fn.countAll<string>().as("n")])
    .where("status", "in", ["pending", "dead", "unknown_number"])
    .groupBy("status")
    .execute();
  for (const status of ["pending", "dead", "unknown_number"]) {
    webhookBacklog.set({ status }, Number(counts.find((r) => r.status === status)?.n ?? 0));
  }
}

function refreshDbGauges(db: Db): Promise<void> {
  const now = Date.now();
  if (!dbGauges || now - dbGauges.at >= DB_GAUGES_MAX_AGE_MS) {
    // A failed read keeps the last values; the next scrape after the interval tries again.
    dbGauges = { at: now, refresh: readDbGauges(db).catch(() => undefined) };
  }
  return dbGauges.refresh;
}

const isLoopback = proxyAddr.compile("loopback");

/**
 * /metrics tells queue depths, routes and process internals: with METRICS_TOKEN set it wants that bearer
 * token from everybody; without, it answers loopback clients only (the client address as TRUSTED_PROXIES
 * resolves it, so a local reverse proxy does not make every client local).
 */
function guardMetrics(c: Context<AppEnv>): void {
  const token = c.get("services").config.METRICS_TOKEN;
  if (token) {
    const authorization = c.req.header("authorization") ?? "";
    const presented = authorization.startsWith("Bearer ") ? authorization.slice(7).trim() : "";
    if (!constantTimeEqual(presented, token))
      throw new AppError("unauthenticated", "/metrics needs the bearer token (METRICS_TOKEN)");
    return;
  }
  const ip = clientIp(c);
  if (ip !== "local" && !isLoopback(ip, 0))
    throw new AppError(
      "forbidden",
      "/metrics answers loopback clients only; set METRICS_TOKEN to scrape it from elsewhere",
    );
}

export function registerOps(app: OpenAPIHono<AppEnv>) {
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const { db, redis } = c.get("services");
    const [postgres, redisOk] = await Promise.all([
      withTimeout(sql`select 1`.execute(db), 2_000).then(
        () => true,
        () => false,
      ),
      withTimeout(redis.ping(), 2_000).then(
        () => true,
        () => false,
      ),
    ]);
    const body = { status: postgres && redisOk ? "ready" : "unavailable", postgres, redis: redisOk };
    return c.json(body, postgres && redisOk ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    guardMetrics(c);
    await refreshDbGauges(c.get("services").db);
    c.header("Content-Type", metricsRegistry.contentType);
    return c.body(await metricsRegistry.metrics());
  });
}
