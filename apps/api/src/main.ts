import { loadConfig } from "@kanal/config";
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
server.listen(config.PORT, config.HOST, () => {
  services.logger.info({ port: config.PORT, host: config.HOST }, "api listening");
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  services.logger.info({ signal }, "api shutting down");
  // Event streams never end by themselves: stop accepting, end the streams, then drain the rest.
  server.close();
  await hub.stop();
  setTimeout(() => process.exit(0), 5_000).unref();
  await services.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
