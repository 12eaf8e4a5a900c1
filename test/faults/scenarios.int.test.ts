import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { countFigures, type Figures, quiescence } from "./support/figures";
import { repoRoot, waitUntilOk } from "./support/processes";
import { startFaultSystem, type FaultSystem } from "./support/system";
import { Repliers, WebhookSender } from "./support/traffic";

/**
 * Faults under load, one per scenario, on the real processes (simulator, API, worker) and the suite's own
 * Postgres and Redis: customers write at 200 webhooks/s, agents answer through the API, and meanwhile
 * Postgres restarts, Redis restarts without its data, the worker is SIGKILLed, the API is SIGKILLed.
 * After each: Meta's redeliveries, quiescence, and the count — every acknowledged webhook stored once,
 * every event processed, every accepted reply received by the simulator once.
 */

const RATE = 200;
const LOAD_MS = 15_000;
const FAULT_AT_MS = 4_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let system: FaultSystem;
let sender: WebhookSender;
let repliers: Repliers;
const results: Figures[] = [];

beforeAll(async () => {
  const root = mkdtempSync(join(inject("faultsRoot"), "scenarios-"));
  system = await startFaultSystem(root);
  sender = new WebhookSender(system.apiUrl, system.appSecret, system.banks);
  repliers = new Repliers(system.agents);
  // Warm-up: every customer's conversation open and assigned before the first fault.
  const warm = await sender.run("warm", RATE, 2_000);
  await sender.redeliver(warm.deliveries);
  await quiescence(system, new Date());
  repliers.start(500);
}, 180_000);

afterAll(async () => {
  await repliers?.stop();
  sender?.close();
  if (results.length > 0) {
    mkdirSync(join(repoRoot, "artifacts", "faults"), { recursive: true });
    writeFileSync(join(repoRoot, "artifacts", "faults", "figures.json"), JSON.stringify(results, null, 2));
    console.log(`\nfault suite figures\n${table(results)}`);
  }
  await system?.close();
}, 60_000);

function table(rows: Figures[]): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))] as (keyof Figures)[];
  return [
    `| ${keys.join(" | ")} |`,
    `|${keys.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${keys.map((k) => r[k] ?? "").join(" | ")} |`),
  ].join("\n");
}

/** Load with `fault` injected at FAULT_AT_MS; then redeliveries, quiescence and the figures. */
async function scenario(name: string, tag: string, fault: () => Promise<void>): Promise<Figures> {
  const from = new Date();
  const acceptedBefore = new Set(repliers.accepted);
  const { deliveries, actions } = await sender.run(tag, RATE, LOAD_MS, [{ ms: FAULT_AT_MS, action: fault }]);
  await Promise.all(actions);
  const redelivered = await sender.redeliver(deliveries, 120_000);
  await repliers.stop();
  const quiet = await quiescence(system, from).catch((error: Error) => {
    throw new Error(`${name}: ${error.message}\n${tails()}`);
  });
  const accepted = new Set([...repliers.accepted].filter((id) => !acceptedBefore.has(id)));
  const figures = await countFigures(system, {
    scenario: name,
    tag,
    deliveries,
    redelivered,
    accepted,
    from,
    to: new Date(),
    quiescenceSeconds: quiet,
  });
  results.push(figures);
  console.log(`${name}: ${JSON.stringify(figures)}`);
  repliers.start(500);
  return figures;
}

/** The worker's "jobs rebuilt from Postgres" log lines (sweepers.ts), in order. */
function rebuildLines(): { events: number; sends: number; media: number }[] {
  const log = readFileSync(join(system.root, "logs", "worker.log"), "utf8");
  return log
    .split("\n")
    .filter((line) => line.includes("jobs rebuilt from Postgres"))
    .map((line) => JSON.parse(line) as { events: number; sends: number; media: number });
}

function tails(): string {
  return [system.api, system.worker, system.sim].map((s) => `[${s.name}]\n${s.tail.join("\n")}`).join("\n");
}

/** What must hold after every scenario, whatever the fault. */
function expectExact(f: Figures): void {
  expect(f.stored, "every webhook stored once Meta's retries are in").toBe(f.webhooks);
  expect(f.lost, "acknowledged but not stored").toBe(0);
  expect(f.duplicates, "messages stored twice").toBe(0);
  expect(f.eventsPending, "events left pending").toBe(0);
  expect(f.eventsDead, "events given up").toBe(0);
  expect(f.eventsProcessed).toBeGreaterThanOrEqual(f.stored);
  expect(f.doubleConversations, "customers with two open conversations").toBe(0);
  expect(f.repliesAccepted, "agents kept replying").toBeGreaterThan(0);
  expect(f.repliesMissing, "stored replies never sent").toBe(0);
  expect(f.repliesReceived).toBe(f.repliesAccepted + f.repliesUnacknowledged);
  expect(f.repliesDuplicated, "replies sent twice").toBe(0);
}

describe("faults under 200 webhooks/s with agents replying", () => {
  it("Postgres restarts (about 10 s down): the processes stay up, /readyz reports it, everything is processed after", async () => {
    const readiness: number[] = [];
    let downMs = 0;
    const f = await scenario("postgres restart", "pg", async () => {
      const down = Date.now();
      await system.pg.stop("fast");
      // Down for a while: what the API says meanwhile.
      for (let i = 0; i < 16; i++) {
        readiness.push(
          await fetch(`${system.apiUrl}/readyz`, { signal: AbortSignal.timeout(3_000) }).then(
            (r) => r.status,
            () => 0,
          ),
        );
        await sleep(500);
      }
      await system.pg.start();
      downMs = Date.now() - down;
    });
    expect(system.api.running, "the API survived").toBe(true);
    expect(system.worker.running, "the worker survived").toBe(true);
    expect(readiness).toContain(503);
    await waitUntilOk(`${system.apiUrl}/readyz`, 10_000);
    f.notes = `Postgres down ${(downMs / 1000).toFixed(1)} s; /readyz answered 503 to ${readiness.filter((r) => r === 503).length} of ${readiness.length} probes meanwhile`;
    expect(f.notAcknowledged, "webhooks refused while Postgres was down").toBeGreaterThan(0);
    expectExact(f);
  }, 300_000);

  it("Redis restarts without its data: the stranded events and sends are rebuilt from Postgres", async () => {
    const rebuiltBefore = rebuildLines().length;
    const f = await scenario("redis restart, data lost", "redis", async () => {
      // Meta throttles the numbers for a moment: the next replies' send jobs wait in Redis (delayed) …
      await fetch(`${system.simUrl}/_sim/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ kind: "rate_limit", count: 6 }),
      });
      await sleep(1_500);
      // … when Redis dies and comes back empty.
      await system.redis.kill();
      await sleep(2_000);
      await system.redis.start();
    });
    expect(system.api.running && system.worker.running).toBe(true);
    const rebuilt = rebuildLines().slice(rebuiltBefore);
    expect(rebuilt.length, "the worker noticed the empty Redis").toBeGreaterThan(0);
    f.notes = rebuilt.map((r) => `rebuilt ${r.events} events, ${r.sends} sends, ${r.media} media`).join("; ");
    expectExact(f);
  }, 300_000);

  it("the worker is SIGKILLed and started again: its jobs are taken over", async () => {
    const f = await scenario("worker SIGKILL", "worker", async () => {
      await system.worker.kill();
      await sleep(2_000);
      system.worker.start();
    });
    f.notes =
      "worker down 2 s, then started again; the dead worker's jobs were taken over when their lock lapsed (WORKER_LOCK_MS 5 s)";
    expectExact(f);
  }, 300_000);

  it("the API is SIGKILLed and started again: what met the closed port is redelivered by Meta", async () => {
    let downMs = 0;
    const f = await scenario("API SIGKILL", "api", async () => {
      const down = Date.now();
      await system.api.kill();
      system.api.start();
      await waitUntilOk(`${system.apiUrl}/readyz`, 30_000);
      downMs = Date.now() - down;
    });
    f.notes = `API down ${(downMs / 1000).toFixed(1)} s (SIGKILL until /readyz answered again)`;
    expect(f.notAcknowledged, "webhooks that met the closed port").toBeGreaterThan(0);
    expectExact(f);
  }, 300_000);
});
