import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sql } from "@kanal/db";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { quiescence } from "./support/figures";
import { repoRoot, waitUntilOk } from "./support/processes";
import { type FaultSystem, startFaultSystem } from "./support/system";
import { acknowledged, type Delivery, WebhookSender } from "./support/traffic";

/**
 * SIGTERM/SIGINT drain every process within SHUTDOWN_DEADLINE_MS (5 s here), then it exits anyway — even
 * with its event loop blocked by CPU work.
 */

const DEADLINE_MS = 5_000;
/** A preload that keeps the event loop busy for a minute right after SIGTERM (a CPU-bound job). */
const BUSY_AFTER_SIGTERM =
  'data:text/javascript,process.on("SIGTERM",()=>setImmediate(()=>{const t=Date.now();while(Date.now()-t<60000);}))';

describe("onShutdown", () => {
  it("kills the process at the deadline when its event loop is blocked", async () => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--import",
        BUSY_AFTER_SIGTERM,
        "--input-type=module",
        "-e",
        `import { onShutdown } from "@kanal/config/shutdown";
         onShutdown(() => new Promise(() => {}), { deadlineMs: 1000, log: () => {} });
         console.log("ready");
         setInterval(() => {}, 1000);`,
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    const signalled = Date.now();
    const exited = new Promise<NodeJS.Signals | number | null>((r) =>
      child.once("exit", (code, signal) => r(signal ?? code)),
    );
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const how = await exited;
    clearTimeout(timer);
    const tookMs = Date.now() - signalled;
    expect(how).toBe("SIGKILL");
    expect(tookMs).toBeGreaterThanOrEqual(1_000);
    expect(tookMs).toBeLessThan(3_000);
  }, 40_000);
});

describe("the API and the worker under load", () => {
  let system: FaultSystem;
  let sender: WebhookSender;

  beforeAll(async () => {
    system = await startFaultSystem(mkdtempSync(join(inject("faultsRoot"), "shutdown-")), {
      banks: 1,
      agentsPerBank: 1,
      customersPerBank: 50,
      env: { SHUTDOWN_DEADLINE_MS: String(DEADLINE_MS) },
    });
    sender = new WebhookSender(system.apiUrl, system.appSecret, system.banks);
  }, 120_000);

  afterAll(async () => {
    sender?.close();
    await system?.close();
  }, 60_000);

  /** Meta's retries for what was not acknowledged, then everything processed and sent. */
  async function settle(deliveries: Delivery[]): Promise<void> {
    await sender.redeliver(deliveries, 60_000);
    await quiescence(system, new Date(), 90_000);
  }

  async function storedWamids(tag: string): Promise<Set<string>> {
    const rows = await system.db
      .withSchema(system.banks[0]?.schema as string)
      .selectFrom("messages")
      .select("wamid")
      .where("wamid", "like", `wamid.fault.${tag}.%`)
      .execute();
    return new Set(rows.map((r) => r.wamid as string));
  }

  it("the API stops accepting, answers what it took, hands every stored event to the worker and exits 0 in time", async () => {
    let exit: Awaited<ReturnType<typeof system.api.exited>> | undefined;
    const { deliveries, actions } = await sender.run("apidrain", 200, 4_000, [
      {
        ms: 1_500,
        action: async () => {
          system.api.signal("SIGTERM");
          exit = await system.api.exited();
        },
      },
    ]);
    await Promise.all(actions);
    expect(exit?.code, "exit code").toBe(0);
    expect(exit?.afterMs).toBeLessThan(DEADLINE_MS);
    // Each webhook was answered 200 or met a closed port (Meta retries those): never a 5xx mid-drain.
    const statuses = new Set(deliveries.flatMap((d) => d.attempts));
    expect([...statuses].sort()).toEqual([0, 200]);
    // The acknowledged ones reach the worker through the API's relay, flushed before it exited — not
    // through the worker's sweeper, which only takes events older than 10 s (and marks them enqueued).
    const acked = deliveries.filter(acknowledged);
    console.log(
      `API SIGTERM under load: exit ${exit?.code} after ${exit?.afterMs} ms; ${acked.length} of ${deliveries.length} webhooks answered 200, the rest met the closed port`,
    );
    await quiescence(system, new Date(), 8_000).catch(() => undefined);
    const events = await sql<{ processed: string; swept: string }>`
      select count(*) filter (where status = 'processed')::text as processed,
             count(*) filter (where enqueued_at is not null)::text as swept
      from control.webhook_events where body like ${'%"wamid.fault.apidrain.%'}`.execute(system.db);
    expect(events.rows[0]).toEqual({ processed: String(acked.length), swept: "0" });
    const stored = await storedWamids("apidrain");
    expect(acked.filter((d) => !stored.has(d.wamid))).toEqual([]);

    system.api.start();
    await waitUntilOk(`${system.apiUrl}/readyz`);
    await settle(deliveries);
    expect((await storedWamids("apidrain")).size).toBe(deliveries.length);
  }, 120_000);

  it("a worker that drains exits 0 in time; a restarted one finishes its work", async () => {
    let exit: Awaited<ReturnType<typeof system.worker.exited>> | undefined;
    const { deliveries, actions } = await sender.run("workerdrain", 200, 3_000, [
      {
        ms: 1_500,
        action: async () => {
          system.worker.signal("SIGTERM");
          exit = await system.worker.exited();
        },
      },
    ]);
    await Promise.all(actions);
    console.log(`worker SIGTERM under load: exit ${exit?.code} after ${exit?.afterMs} ms`);
    expect(exit?.code).toBe(0);
    expect(exit?.afterMs).toBeLessThan(DEADLINE_MS);
    system.worker.start();
    await settle(deliveries);
    expect((await storedWamids("workerdrain")).size).toBe(deliveries.length);
  }, 120_000);

  it("a worker busy on the CPU is killed at the deadline; its jobs run again after a restart", async () => {
    await system.worker.stop();
    system.worker.start(["--import", "tsx", "--import", BUSY_AFTER_SIGTERM, "apps/worker/src/main.ts"]);
    await new Promise((r) => setTimeout(r, 3_000));
    let exit: Awaited<ReturnType<typeof system.worker.exited>> | undefined;
    const { deliveries, actions } = await sender.run("workerbusy", 200, 3_000, [
      {
        ms: 1_000,
        action: async () => {
          system.worker.signal("SIGTERM");
          exit = await system.worker.exited();
        },
      },
    ]);
    await Promise.all(actions);
    if (!exit) exit = await system.worker.exited();
    console.log(
      `worker SIGTERM with its event loop blocked: ${exit.signal ?? exit.code} after ${exit.afterMs} ms`,
    );
    expect(exit.signal ?? exit.code).toBe("SIGKILL");
    expect(exit.afterMs).toBeGreaterThanOrEqual(DEADLINE_MS);
    expect(exit.afterMs).toBeLessThan(DEADLINE_MS + 1_500);
    system.worker.start();
    await settle(deliveries);
    expect((await storedWamids("workerbusy")).size).toBe(deliveries.length);
  }, 150_000);
});
