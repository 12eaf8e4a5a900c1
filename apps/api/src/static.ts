import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { serveStatic } from "@hono/node-server/serve-static";
import type { AppEnv } from "./env";

const DEFAULT_DIST = fileURLToPath(new URL("../../web/dist", import.meta.url));

/** Serves the built web console from the same origin; unknown non-API paths get index.html (SPA routes). */
export function serveWebConsole(distDir = DEFAULT_DIST) {
  return (app: OpenAPIHono<AppEnv>) => {
    const index = path.join(distDir, "index.html");
    if (!existsSync(index)) return;
    const root = path.relative(process.cwd(), distDir);
    app.use("/assets/*", serveStatic({ root }));
    app.get("/favicon.svg", serveStatic({ root }));
    app.get("*", async (c, next) => {
      if (c.req.path.startsWith("/v1/") || c.req.path.startsWith("/webhooks/")) return next();
      return c.html(readFileSync(index, "utf8"));
    });
  };
}
