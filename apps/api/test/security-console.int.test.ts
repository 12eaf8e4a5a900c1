import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveWebConsole } from "../src/static";
import { startTestSystem, type TestSystem } from "../../../test/support/system";

/**
 * The configuration users run: the API with the built web console served from the same origin (what
 * `npm start` and production do). A minimal console build is made here, so the test does not depend on
 * `vite build` having run.
 */
const SPA = '<!doctype html><html><head><title>Kanal</title></head><body><div id="root"></div></body></html>';
let dist: string;
let system: TestSystem;

beforeAll(async () => {
  dist = mkdtempSync(path.join(tmpdir(), "kanal-web-dist-"));
  writeFileSync(path.join(dist, "index.html"), SPA);
  mkdirSync(path.join(dist, "assets"));
  system = await startTestSystem({ extend: serveWebConsole(dist) });
});
afterAll(async () => {
  await system.close();
  rmSync(dist, { recursive: true, force: true });
});

describe("with the web console served", () => {
  it("serves the SPA for the console's own routes", async () => {
    for (const route of ["/", "/inbox", "/admin/users"]) {
      const res = await system.app.request(route);
      expect(res.status, route).toBe(200);
      expect(await res.text()).toBe(SPA);
    }
  });

  it("/openapi.json is the OpenAPI document, not the SPA", async () => {
    const res = await system.app.request("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.paths["/v1/tenants"]).toBeDefined();
  });

  it("/docs is the API reference, not the SPA", async () => {
    const res = await system.app.request("/docs");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("Kanal API reference");
    expect(html).not.toContain('<div id="root">');
  });

  it("/healthz, /readyz and /metrics answer themselves", async () => {
    const health = await system.app.request("/healthz");
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await system.app.request("/readyz");
    expect(await ready.json()).toMatchObject({ postgres: true, redis: true });
    const metrics = await system.app.request("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toMatch(/text\/plain/);
    expect(await metrics.text()).toContain("kanal_http_requests_total");
  });

  it("API paths stay the API's: an unknown one is a JSON error, never the SPA", async () => {
    const res = await system.app.request("/v1/no-such-route");
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toContain("application/json");
  });
});
