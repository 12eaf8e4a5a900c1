/**
 * Outbound dispatch: 10,000 bulk messages over 20 numbers limited to 80 msg/s each, then a reply queued
 * behind them.
 *
 * Processes: the WhatsApp simulator (apps/simulator/src/main.ts), one API process (receives the simulator's
 * signed `sent`/`delivered` status webhooks) and one worker process (apps/worker/src/main.ts, all
 * processors) — each `node --import tsx`, real Postgres and Redis. This process onboards 20 banks through
 * `POST /v1/tenants`, seeds 500 customers with an open conversation per bank (one message per customer, so
 * Meta's pair rate is not what limits), and queues the messages with the bulk verb `queueNotifications`
 * (the bulk lane, one call per bank; `BENCH_SINGLE=1`: one `queueSystemMessage(kind: "notification")` per
 * message) while the dispatch queue is paused. The clock starts when the queue is
 * resumed; the drain ends at the simulator's acceptance time of the last message. 2 s into the drain a
 * reply (`queueSystemMessage(kind: "auto_reply")`, the reply lane) is queued for bank 1: its latency is
 * from the call to the simulator's acceptance.
 *
 * Run: npm run bench -- dispatch     (BENCH_RUNS=3, BENCH_MESSAGES=10000, BENCH_NUMBERS=20)
 */
import { QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { queueNotifications, queueSystemMessage } from "@kanal/core/channel";
import { QUEUE_NAMES } from "@kanal/queue";
import { sql } from "@kanal/db";
import {
  repeatRuns,
  clearQueuePrefix,
  cpuByCommand,
  cpuDelta,
  cpuSeconds,
  dropBenchDatabase,
  freePort,
  freshDatabase,
  median,
  onboardBank,
  printCommand,
  printTable,
  providerClient,
  REDIS_URL,
  round,
  sleep,
  spawnService,
  startBenchSystem,
  waitForHttp,
  type OnboardedBank,
} from "./support";

const NUMBERS = Number(process.env.BENCH_NUMBERS ?? 20);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10_000);
const PER_SECOND = 80;
const PER_NUMBER = Math.ceil(MESSAGES / NUMBERS);
const IDEAL_S = MESSAGES / (NUMBERS * PER_SECOND);
const DRAIN_LIMIT_MS = 90_000;
const APP_SECRET = "bench-app-secret";

interface SimSent {
  phoneNumberId: string;
  acceptedAtMs: number;
  bizOpaqueCallbackData?: string;
}
interface SimStats {
  numbers: Record<
    string,
    { accepted: number; rejected: Record<string, number>; maxAcceptedPerSecond: number }
  >;
  duplicateBizOpaqueCallbackData: unknown[];
}

async function oneRun(run: number) {
  const prefix = `kanal-bench-dispatch-${run}`;
  await clearQueuePrefix(prefix);
  const url = await freshDatabase("dispatch");
  const [apiPort, simPort] = [await freePort(), await freePort()];
  const simUrl = `http://127.0.0.1:${simPort}`;
  const env = {
    NODE_ENV: "test",
    DATABASE_URL: url,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_API_BASE_URL: simUrl,
    LOG_LEVEL: "warn",
  };
  const system = await startBenchSystem(url, prefix, env);
  const children = [
    spawnService("sim", "apps/simulator/src/main.ts", {
      SIM_PORT: String(simPort),
      KANAL_WEBHOOK_URL: `http://127.0.0.1:${apiPort}/webhooks/whatsapp`,
      WHATSAPP_APP_SECRET: APP_SECRET,
      SIM_STATUS_DELAY_MS: process.env.SIM_STATUS_DELAY_MS ?? "300",
      // Meta batches statuses of a number under load; one webhook per status at 1,600/s would not be faithful.
      SIM_STATUS_BATCH_MS: process.env.SIM_STATUS_BATCH_MS ?? "100",
    }),
    spawnService("api", "apps/api/src/main.ts", { ...env, PORT: String(apiPort) }),
  ];
  try {
    await waitForHttp(`${simUrl}/_sim/stats`);
    await waitForHttp(`http://127.0.0.1:${apiPort}/healthz`);

    // ---- set-up (not timed) --------------------------------------------------------------------
    const provider = await providerClient(system);
    const banks: OnboardedBank[] = [];
    for (let i = 0; i < NUMBERS; i++) banks.push(await onboardBank(provider));
    const simConfig = await fetch(`${simUrl}/_sim/config`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        // The customers' 24-hour windows are seeded in Kanal's database, not produced through the simulator.
        enforceWindow: false,
        sendRead: false,
        throughput: Object.fromEntries(banks.map((b) => [b.phoneNumberId, PER_SECOND])),
      }),
    });
    if (!simConfig.ok) throw new Error(`simulator config: ${simConfig.status} ${await simConfig.text()}`);
    const { db, queues } = system.services;
    const tenants = await db.withSchema("control").selectFrom("tenants").selectAll().execute();
    const now = new Date();
    const conversationsByBank: string[][] = [];
    for (const [b, bank] of banks.entries()) {
      const ids: string[] = [];
      // One extra customer per bank for the reply queued behind the bulk.
      for (let c = 0; c <= PER_NUMBER; c++) ids.push(`${b}_${c}`);
      const t = db.withSchema(bank.schema);
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        await t
          .insertInto("customers")
          .values(
            chunk.map((id) => ({
              id: `cus_${id}`,
              wa_id: `4917${String(b).padStart(3, "0")}${id.split("_")[1]?.padStart(6, "0")}`,
              profile_name: `Kunde ${id}`,
              last_inbound_at: now,
              // Notifications go only to customers with a recorded opt-in.
              opted_in_at: now,
            })),
          )
          .execute();
        await t
          .insertInto("conversations")
          .values(
            chunk.map((id) => ({
              id: `cnv_${id}`,
              customer_id: `cus_${id}`,
              status: "open",
              last_inbound_at: now,
            })),
          )
          .execute();
      }
      conversationsByBank.push(ids.map((id) => `cnv_${id}`));
    }
    await queues.dispatch.pause();
    const queueStarted = performance.now();
    const work: { tenantIndex: number; conversationId: string }[] = [];
    for (let c = 0; c < PER_NUMBER; c++)
      for (let b = 0; b < NUMBERS && work.length < MESSAGES; b++)
        work.push({ tenantIndex: b, conversationId: conversationsByBank[b]?.[c] ?? "" });
    const tenantOf = (i: number) => {
      const bank = banks[i];
      const tenant = tenants.find((t) => t.id === bank?.tenantId);
      if (!tenant) throw new Error("tenant not found");
      return tenant;
    };
    // Each bank queues its campaign through the bulk verb (one call, NOTIFICATION_BATCH_SIZE per job);
    // BENCH_SINGLE=1 queues them one by one as before.
    const text = "Ihre neue Kreditkarte ist unterwegs. Ihre Sparkasse";
    if (process.env.BENCH_SINGLE) {
      let next = 0;
      await Promise.all(
        Array.from({ length: 12 }, async () => {
          while (next < work.length) {
            const item = work[next++];
            if (!item) break;
            const queued = await queueSystemMessage(system.services, {
              tenant: tenantOf(item.tenantIndex),
              conversationId: item.conversationId,
              text,
              kind: "notification",
            });
            if (!queued) throw new Error("window closed in set-up");
          }
        }),
      );
    } else {
      for (let b = 0; b < NUMBERS; b++) {
        const { skipped } = await queueNotifications(system.services, {
          tenant: tenantOf(b),
          notifications: work
            .filter((w) => w.tenantIndex === b)
            .map((w) => ({ conversationId: w.conversationId, text })),
        });
        if (skipped.length > 0) throw new Error("window closed in set-up");
      }
    }
    const queueMs = performance.now() - queueStarted;
    const worker = spawnService("worker", "apps/worker/src/main.ts", env);
    children.push(worker);
    await sleep(3_000); // the worker connects and its queues are ready (the queue is still paused)

    // ---- the drain -------------------------------------------------------------------------------
    // How many times a job was parked again (limiter said "not yet") per message actually sent.
    const eventsConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const events = new QueueEvents(QUEUE_NAMES.dispatch, { connection: eventsConnection, prefix });
    await events.waitUntilReady();
    let delayedEvents = 0;
    let completedEvents = 0;
    events.on("delayed", () => delayedEvents++);
    events.on("waiting", () => undefined);
    events.on("completed", () => completedEvents++);
    const cpuBefore = children.map((c) => cpuSeconds(c.child.pid));
    const pgBefore = cpuByCommand("postgres");
    const redisBefore = cpuByCommand("redis-server");
    const selfBefore = process.cpuUsage();
    const started = Date.now();
    await queues.dispatch.resume();
    await sleep(2_000);
    const replyQueuedAt = Date.now();
    const reply = await queueSystemMessage(system.services, {
      tenant: tenantOf(0),
      conversationId: conversationsByBank[0]?.at(-1) ?? "",
      text: "Danke für Ihre Nachricht, wir melden uns gleich.",
      kind: "auto_reply",
    });
    if (!reply) throw new Error("reply not queued");
    let stats: SimStats | null = null;
    const total = () => Object.values(stats?.numbers ?? {}).reduce((s, n) => s + n.accepted, 0);
    while (Date.now() - started < DRAIN_LIMIT_MS) {
      stats = (await (await fetch(`${simUrl}/_sim/stats`)).json()) as SimStats;
      if (total() >= MESSAGES + 1) break;
      await sleep(100);
    }
    await events.close();
    eventsConnection.disconnect();
    const cpuAfter = children.map((c) => cpuSeconds(c.child.pid));
    const pgCpu = cpuDelta(pgBefore, cpuByCommand("postgres"));
    const redisCpu = cpuDelta(redisBefore, cpuByCommand("redis-server"));
    const self = process.cpuUsage(selfBefore);
    const cpu = Object.fromEntries(
      children.map((c, i) => [c.name, round((cpuAfter[i] ?? 0) - (cpuBefore[i] ?? 0), 1)]),
    );
    cpu.bench = round((self.user + self.system) / 1e6, 1);
    // Postgres and Redis serve the whole machine: their share counts toward the CPU per message too.
    cpu.pg = round(pgCpu, 1);
    cpu.redis = round(redisCpu, 1);
    const sent = ((await (await fetch(`${simUrl}/_sim/sent`)).json()) as { messages: SimSent[] }).messages;
    const bulk = sent.filter((m) => m.bizOpaqueCallbackData !== reply.id);
    const replySent = sent.find((m) => m.bizOpaqueCallbackData === reply.id);
    const last = Math.max(...bulk.map((m) => m.acceptedAtMs));
    const rejected429 = Object.values(stats?.numbers ?? {}).reduce(
      (s, n) => s + (n.rejected["130429"] ?? 0) + (n.rejected["80007"] ?? 0),
      0,
    );
    const maxPerSecond = Math.max(...Object.values(stats?.numbers ?? {}).map((n) => n.maxAcceptedPerSecond));
    const drainS = (last - started) / 1000;
    const statuses = await sql<{ status: string; n: string }>`
      select status, count(*) as n from ${sql.id(banks[0]?.schema ?? "", "messages")} group by status`.execute(
      db,
    );
    return {
      queuedS: queueMs / 1000,
      sent: bulk.length,
      drainS,
      ratio: drainS / IDEAL_S,
      replyMs: replySent ? replySent.acceptedAtMs - replyQueuedAt : Number.NaN,
      rejected429,
      maxPerSecond,
      duplicates: stats?.duplicateBizOpaqueCallbackData.length ?? -1,
      cpu,
      delayedPerSent: delayedEvents / Math.max(1, completedEvents),
      events: { delayed: delayedEvents, completed: completedEvents },
      bank1Statuses: statuses.rows.map((r) => `${r.status}:${r.n}`).join(" "),
    };
  } finally {
    for (const c of children.reverse()) await c.stop();
    await system.close();
    await dropBenchDatabase(url);
    await clearQueuePrefix(prefix);
  }
}

const runs = await repeatRuns(oneRun);
printTable(
  `dispatch: ${MESSAGES} messages over ${NUMBERS} numbers at ${PER_SECOND}/s (ideal ${IDEAL_S} s)`,
  runs.map((r, i) => ({
    run: i + 1,
    sent: r.sent,
    "drain s": round(r.drainS, 2),
    "× ideal": round(r.ratio, 3),
    "reply ms": round(r.replyMs, 0),
    "130429": r.rejected429,
    "max/s one number": r.maxPerSecond,
    duplicates: r.duplicates,
    "re-parked per sent": round(r.delayedPerSent, 1),
    "CPU s (sim/api/worker/bench/pg/redis)": `${r.cpu.sim}/${r.cpu.api}/${r.cpu.worker}/${r.cpu.bench}/${r.cpu.pg}/${r.cpu.redis}`,
  })),
);
const ratio = median(runs.map((r) => r.ratio));
const replyMs = median(runs.map((r) => r.replyMs));
const any429 = runs.some((r) => r.rejected429 > 0);
const allSent = runs.every((r) => r.sent === MESSAGES);
console.log(
  `\nmedian of runs: drain ${round(median(runs.map((r) => r.drainS)), 2)} s = ${round(ratio, 3)}× ideal (target ≤ 1.1 → ${ratio <= 1.1 ? "PASS" : "FAIL"}); ` +
    `130429: ${any429 ? "some (FAIL)" : "none (PASS)"}; all sent: ${allSent}; reply ${round(replyMs, 0)} ms (target ≤ 1000 → ${replyMs <= 1000 ? "PASS" : "FAIL"})`,
);
printCommand("npm run bench -- dispatch");
// Nothing may keep the process alive once the figures are out (BullMQ/ioredis handles).
process.exit(0);
