import type { OpenAPIHono } from "@hono/zod-openapi";
import { html, raw } from "hono/html";
import type { AppEnv } from "../env";

const DOC_CONFIG = {
  openapi: "3.1.0",
  info: {
    title: "Kanal API",
    version: "1.0.0",
    description: "WhatsApp customer service for savings banks. Errors: `{error:{code,message,requestId}}`.",
  },
};

const escapeHtml = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

export function registerDocs(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "session", {
    type: "apiKey",
    in: "cookie",
    name: "kanal_session",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", { type: "http", scheme: "bearer" });
  // Routes that stream or return bytes are plain Hono handlers; they are documented here by hand.
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/v1/events",
    tags: ["Conversations"],
    summary:
      "Server-Sent Events for the signed-in person: conversation.assigned, conversation.updated, message.created, message.status (Last-Event-ID replays what was missed)",
    description:
      "Ends (a last `event: end` frame with the reason, then the connection closes) when the session ends: logout, expiry, a password change or the person disabled — in every API process. A person holds at most EVENT_STREAMS_PER_USER streams; opening one more ends the oldest (reason `replaced`).",
    responses: {
      200: { description: "text/event-stream" },
      401: { description: "Not signed in" },
      403: { description: "An API key (streams are for people)" },
    },
  });
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/v1/tenants/{tenant}/messages/{id}/media",
    tags: ["Conversations"],
    summary:
      "The media a customer sent (image, document, audio, video), as stored by Kanal: always a download (Content-Disposition attachment with an RFC 5987 filename*), nosniff, sandboxed by its CSP",
    responses: {
      200: { description: "The media bytes with their content type" },
      401: { description: "Not signed in" },
      403: { description: "No role that reads the bank's conversations" },
      404: { description: "Not found or not fetched yet" },
    },
  });
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/webhooks/whatsapp",
    tags: ["Webhooks"],
    summary:
      "Meta's notifications for every bank's number; X-Hub-Signature-256 checked over the raw body; 200 once stored",
    responses: {
      200: { description: "Stored" },
      401: { description: "Missing or wrong signature" },
      413: { description: "Too large" },
    },
  });
  app.doc31("/openapi.json", DOC_CONFIG);

  // A self-contained reference page (no CDN: works offline and under our strict CSP).
  app.get("/docs", (c) => {
    const doc = app.getOpenAPI31Document(DOC_CONFIG);
    const rows: string[] = [];
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
      for (const [method, op] of Object.entries(item ?? {})) {
        const operation = op as { summary?: string; tags?: string[] };
        rows.push(
          `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escapeHtml(path)}</code></td><td>${escapeHtml(operation.tags?.join(", ") ?? "")}</td><td>${escapeHtml(operation.summary ?? "")}</td></tr>`,
        );
      }
    }
    return c.html(
      html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Kanal API reference</title></head>
<body><h1>Kanal API reference</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<table border="1" cellpadding="4"><thead><tr><th>Method</th><th>Path</th><th>Area</th><th>Summary</th></tr></thead><tbody>${raw(rows.join(""))}</tbody></table></body></html>`,
    );
  });
}
