import { sql } from "@kanal/db";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

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
    // Read at scrape time from partial indexes: cheap, and true across all API and worker processes.
    const counts = await c
      .get("services")
      .db.withSchema("control")
      .selectFrom("webhook_events")
      .select(["status", (eb) => eb.fn.countAll<string>().as("n")])
      .where("status", "in", ["pending", "dead", "unknown_number"])
      .groupBy("status")
      .execute()
      .catch(() => []);
    for (const status of ["pending", "dead", "unknown_number"]) {
      webhookBacklog.set({ status }, Number(counts.find((r) => r.status === status)?.n ?? 0));
    }
    c.header("Content-Type", metricsRegistry.contentType);
    return c.body(await metricsRegistry.metrics());
  });
}
