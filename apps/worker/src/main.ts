import { loadConfig } from "@kanal/config";
import { createServices } from "@kanal/core/runtime";
import { processors } from "./processors/index";
import { startSweepers } from "./sweepers";
import { startWorkers } from "./worker";

const config = loadConfig();
// Inbound messages and their routing run on bank-affine pools (Services.bankDb): 12 × 2 connections.
const services = createServices(config, {
  name: "kanal-worker",
  dbPoolSize: 32,
  bankDbGroups: { groups: 12, size: 2 },
});
// A database that is not there yet must not stop the worker: the pools then connect on first use.
await services
  .openBankPools()
  .catch((error: Error) => services.logger.warn({ err: error.message }, "bank pools not opened at start"));
const running = await startWorkers(services, processors);
const sweepers = startSweepers(services);
services.logger.info({ queues: running.workers.map((w) => w.name) }, "worker started");

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  services.logger.info({ signal }, "worker shutting down");
  setTimeout(() => process.exit(1), 15_000).unref();
  sweepers.stop();
  await running.close();
  await services.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
