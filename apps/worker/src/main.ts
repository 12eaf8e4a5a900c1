import { loadConfig } from "@kanal/config";
import { logTo, onShutdown } from "@kanal/config/shutdown";
import { createServices } from "@kanal/core/runtime";
import { processors } from "./processors/index";
import { startSweepers } from "./sweepers";
import { registerSchedules, startWorkers } from "./worker";

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
const sweepers = startSweepers(services, {
  registerSchedules: () => registerSchedules(services, processors),
});
services.logger.info({ queues: running.workers.map((w) => w.name) }, "worker started");

// Stop taking jobs, let the running ones finish while the deadline allows (the rest go back to the queue
// when their lock lapses), then close Redis and Postgres.
onShutdown(
  async (drain) => {
    sweepers.stop();
    await running.close({ waitMs: drain.remaining(2_000) });
    await services.close();
  },
  { deadlineMs: config.SHUTDOWN_DEADLINE_MS, log: logTo(services.logger) },
);
