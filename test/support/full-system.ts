import net from "node:net";
import type { DestinationStream } from "pino";
import type { Server } from "node:http";
import { createSimulator, type RunningSimulator } from "@kanal/simulator";
import { processors, startWorkers, type RunningWorkers } from "@kanal/worker";
import { createApiServer } from "../../apps/api/src/server";
import { serveWebConsole } from "../../apps/api/src/static";
import { startTestSystem, type TestSystem } from "./system";

export interface FullSystem extends TestSystem {
  apiUrl: string;
  simUrl: string;
  sim: RunningSimulator;
  workers: RunningWorkers;
  /** POST to the simulator's test side (inject a customer message, set faults …). */
  simPost<T = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
  simGet<T = Record<string, unknown>>(path: string): Promise<T>;
  /** Cuts every open connection to the API (event streams included), like a network blip. */
  dropConnections(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/**
 * The whole system as in production, in one test process: the API on a real port, the WhatsApp simulator
 * on another (sending signed webhooks to the API), and the BullMQ workers — real Postgres and Redis.
 */
export async function startFullSystem(
  options: {
    env?: Record<string, string>;
    simulator?: Parameters<typeof createSimulator>[0];
    workers?: boolean;
    logDestination?: DestinationStream;
    /** Serve this built web console (apps/web/dist) from the API's origin, as in production. */
    webDist?: string;
  } = {},
): Promise<FullSystem> {
  const apiPort = await freePort();
  const appSecret = options.env?.WHATSAPP_APP_SECRET ?? "test-app-secret";
  const simulator = createSimulator({
    webhookUrl: `http://127.0.0.1:${apiPort}/webhooks/whatsapp`,
    appSecret,
    statusDelayMs: 50,
    ...options.simulator,
  });
  const sim = await simulator.listen(0);
  const simUrl = `http://127.0.0.1:${sim.port}`;
  const system = await startTestSystem({
    logDestination: options.logDestination,
    extend: options.webDist ? serveWebConsole(options.webDist) : undefined,
    env: {
      WHATSAPP_APP_SECRET: appSecret,
      WHATSAPP_API_BASE_URL: simUrl,
      DISPATCH_RECONCILE_MS: "1500",
      ...options.env,
    },
  });
  // The API's own server, as apps/api/src/main.ts listens with (webhook POSTs on Node's fast path).
  const server: Server = await new Promise((resolve) => {
    const s = createApiServer(system.app).listen(apiPort, "127.0.0.1", () => resolve(s));
  });
  const workers =
    options.workers === false
      ? { workers: [], close: async () => undefined }
      : await startWorkers(system.services, processors, { schedule: false });
  const simPost = async <T>(path: string, body: unknown) => {
    const res = await fetch(`${simUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return (await res.json()) as T;
  };
  const simGet = async <T>(path: string) => (await (await fetch(`${simUrl}${path}`)).json()) as T;
  return {
    ...system,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    simUrl,
    sim,
    workers,
    simPost,
    simGet,
    dropConnections() {
      server.closeAllConnections();
    },
    async close() {
      await workers.close();
      await sim.close();
      await new Promise((r) => server.close(r));
      await system.close();
    },
  };
}

/** A template of the bank's WhatsApp Business Account, as `POST /_sim/templates` takes it. */
export interface TemplateSeed {
  name: string;
  language?: string;
  category?: "MARKETING" | "UTILITY" | "AUTHENTICATION";
  status?: "APPROVED" | "PENDING" | "REJECTED" | "PAUSED" | "DISABLED";
  reason?: string;
  body?: string;
  header?: string;
  footer?: string;
  quickReplies?: string[];
}

/**
 * Seeds templates in the bank's WABA at the simulator (without Meta's webhook) and has the bank's admin
 * sync the registry, as a bank does after creating templates in Meta's tools.
 */
export async function seedTemplates(
  system: FullSystem,
  bank: {
    slug: string;
    wabaId: string;
    admin: { post(path: string, body?: unknown): Promise<{ status: number; body: unknown }> };
  },
  templates: readonly TemplateSeed[],
): Promise<void> {
  for (const template of templates)
    await system.simPost("/_sim/templates", { wabaId: bank.wabaId, notify: false, ...template });
  const synced = await bank.admin.post(`/v1/tenants/${bank.slug}/templates/sync`);
  if (synced.status !== 200)
    throw new Error(`template sync failed: ${synced.status} ${JSON.stringify(synced.body)}`);
}

/** Polls until `check` returns a value (not undefined/false) or the time is up. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false | null>,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false && value !== null) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ""}`);
}
