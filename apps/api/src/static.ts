import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { serveStatic } from "@hono/node-server/serve-static";
import type { AppEnv } from "./env";

const DEFAULT_DIST = fileURLToPath(new URL("../../web/dist", import.meta.url));

/** Paths the API answers itself: the console's catch-all never serves index.html for them. */
const API_PATHS = new Set(["/openapi.json", "/docs", "/metrics", "/healthz", "/readyz"]);
const API_PREFIXES = ["/v1/", "/webhooks/"];

/**
 * Serves the built web console from the same origin; unknown non-API paths get index.html (SPA routes).
 * Registered after the API's own routes (app.ts), and its catch-all passes over the API's paths anyway,
 * so a route registered later is not shadowed either.
 */
export function serveWebConsole(distDir = DEFAULT_DIST) {
  return (app: OpenAPIHono<AppEnv>) => {
    const index = path.join(distDir, "index.html");
    if (!existsSync(index)) return;
    const root = path.relative(process.cwd(), distDir);
    app.use("/assets/*", serveStatic({ root }));
    app.get("/favicon.svg", serveStatic({ root }));
    app.get("*", async (c, next) => {
      const requested = c.req.path;
      if (API_PATHS.has(requested) || API_PREFIXES.some((p) => requested.startsWith(p))) return next();
      return c.html(readFileSync(index, "utf8"));
    });
  };
}
