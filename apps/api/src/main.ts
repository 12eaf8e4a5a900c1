import type { ServerResponse } from "node:http";
import { loadConfig } from "@kanal/config";
import { logTo, onShutdown, within } from "@kanal/config/shutdown";
import { EventHub } from "@kanal/core/realtime";
import { createServices } from "@kanal/core/runtime";
import { Redis } from "ioredis";
import { newApp } from "./app";
import { apiHooks } from "./hooks";
import { createApiServer } from "./server";
import { serveWebConsole } from "./static";

const config = loadConfig();
const services = createServices(config, { name: "kanal-api", dbPoolSize: 20 });
const hub = new EventHub(new Redis(config.REDIS_URL, { maxRetriesPerRequest: null }), config.QUEUE_PREFIX);
await hub.start();
const app = newApp(services, hub, { ...apiHooks(services), extend: serveWebConsole(config.WEB_DIST_DIR) });

const server = createApiServer(app);
// Event streams never end by themselves: known here, so that a shutdown can end them first.
const streams = new Set<ServerResponse>();
server.on("request", (req, res: ServerResponse) => {
  if (!req.url?.startsWith("/v1/events")) return;
  streams.add(res);
  res.once("close", () => streams.delete(res));
});
server.listen(config.PORT, config.HOST, () => {
  services.logger.info({ port: config.PORT, host: config.HOST }, "api listening");
});

onShutdown(
  async (drain) => {
    // Stop accepting connections; the requests under way are answered (a webhook only once its row has
    // committed), then their connections close.
    const closed = new Promise<true>((resolve) => server.close(() => resolve(true)));
    // The console's event streams end now (it reconnects to another instance) …
    for (const res of streams) res.socket?.destroy();
    await hub.stop();
    // … and kept-alive connections as soon as they fall idle.
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    const answered = await within(drain.remaining(2_500), closed);
    clearInterval(idle);
    if (!answered) {
      services.logger.warn("requests still open at the drain deadline; closing their connections");
      server.closeAllConnections();
    }
    // Every stored webhook to the worker (what Redis refuses now, the worker's sweeper enqueues later) …
    await within(drain.remaining(2_000), app.webhookIngest.flush());
    // … and only then Redis and Postgres.
    await services.close();
  },
  { deadlineMs: config.SHUTDOWN_DEADLINE_MS, log: logTo(services.logger) },
);
