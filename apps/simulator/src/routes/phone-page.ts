import { readFileSync } from "node:fs";
import type { Hono } from "hono";

/** The customer-phone page: static files read once, no external assets, script kept out of the HTML. */
const asset = (name: string): string => readFileSync(new URL(`../phone/${name}`, import.meta.url), "utf8");

export function registerPhonePage(app: Hono): void {
  const html = asset("index.html");
  const script = asset("phone.js");
  const styles = asset("phone.css");
  const securityHeaders = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'",
    "x-content-type-options": "nosniff",
  };
  app.get("/", (c) => c.html(html, 200, securityHeaders));
  app.get("/phone.js", (c) =>
    c.body(script, 200, { ...securityHeaders, "content-type": "text/javascript; charset=utf-8" }),
  );
  // Browsers ask for it on their own; an empty answer keeps the console free of errors.
  app.get("/favicon.ico", (c) => c.body(null, 204));
  app.get("/phone.css", (c) =>
    c.body(styles, 200, { ...securityHeaders, "content-type": "text/css; charset=utf-8" }),
  );
}
