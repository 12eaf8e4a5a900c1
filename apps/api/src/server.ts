import { createServer, type Server } from "node:http";
import { getRequestListener } from "@hono/node-server";
import type { KanalApp } from "./app";
import { isWebhookIngestRequest } from "./routes/whatsapp-webhook";

/**
 * The API's HTTP server: `POST /webhooks/whatsapp` is answered straight from Node's request (the hot
 * path: no web Request/Response, router or middleware per webhook), everything else goes to the Hono app.
 */
export function createApiServer(app: KanalApp): Server {
  const hono = getRequestListener(app.fetch);
  return createServer((req, res) => {
    if (isWebhookIngestRequest(req.method, req.url)) app.webhookIngest.serveNode(req, res);
    else void hono(req, res);
  });
}
