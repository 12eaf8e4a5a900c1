/**
 * Notifications through the HTTP API (issue 14): 10,000 notifications over 20 numbers limited to 80 msg/s
 * each — one batch of 500 per bank, `POST /v1/tenants/:t/notifications/batch` with the bank's API key —
 * and a reply written by the bank meanwhile.
 *
 * Processes: the WhatsApp simulator, one API process (the batches and the reply arrive over HTTP; it also
 * receives the simulator's signed status webhooks) and one worker process (all processors) — bundled as in
 * production (bench/run.ts builds them), real Postgres and Redis. This process onboards 20 banks through
 * `POST /v1/tenants`, seeds the "kartenumsatz" template at each bank's WABA in the simulator and syncs the
 * registry (`POST …/templates/sync`), creates an API key with the `notifications` scope per bank, and
 * seeds 500 customers per bank with a recorded opt-in and no conversation (every notification opens the
 * customer's notification thread), plus one customer with an open chat for the reply.
 *
 * Timed: (1) acceptance — the 20 batches posted at once while the dispatch queue is paused (each answer
 * 202 with 500 accepted); (2) the drain — from resuming the queue to the simulator's acceptance of the
 * last notification, the figure the 1.1 × limit-bound target applies to (as in bench/dispatch.ts; limit
 * bound 10,000 / (20 × 80/s) = 6.25 s); (3) end to end, from the first POST to the last send (acceptance
 * plus drain, for the record). 2 s into the drain the bank's admin answers the customer with the open chat
 * (`POST …/conversations/:id/messages`, the reply lane); its latency is from the POST to the simulator's
 * acceptance. Then it waits (≤ 30 s) until every campaign counts all its notifications delivered.
 *
 * Run: npm run bench -- notifications     (BENCH_RUNS=3, BENCH_MESSAGES=10000, BENCH_NUMBERS=20)
 */
import { randomBytes } from "node:crypto";
import { QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { QUEUE_NAMES } from "@kanal/queue";
import {
  BenchClient,
  clearQueuePrefix,
  cpuByCommand,
  cpuDelta,
  cpuSeconds,
  dropBenchDatabase,
  freePort,
  freshDatabase,
  median,
  onboardBank,
  PASSWORD,
  printCommand,
  printTable,
  providerClient,
  REDIS_URL,
  repeatRuns,
  round,
  sleep,
  spawnService,
  startBenchSystem,
  tenantBody,
  unique,
  uniqueDigits,
  waitForHttp,
} from "./support";

const NUMBERS = Number(process.env.BENCH_NUMBERS ?? 20);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10_000);
const PER_SECOND = 80;
const PER_NUMBER = Math.ceil(MESSAGES / NUMBERS);
const IDEAL_S = MESSAGES / (NUMBERS * PER_SECOND);
const DRAIN_LIMIT_MS = 90_000;
const SETTLE_LIMIT_MS = 30_000;
const APP_SECRET = "bench-app-secret";

interface SimSent {
  phoneNumberId: string;
  acceptedAtMs: number;
  type: string;
  bizOpaqueCallbackData?: string;
}
interface SimStats {
  numbers: Record<
    string,
    { accepted: number; rejected: Record<string, number>; maxAcceptedPerSecond: number }
  >;
  duplicateBizOpaqueCallbackData: unknown[];
}

interface Bank {
  slug: string;
  tenantId: string;
  schema: string;
  phoneNumberId: string;
  wabaId: string;
  key: string;
  admin: BenchClient;
  replyConversationId: string;
}

async function oneRun(run: number) {
  const prefix = `kanal-bench-notifications-${run}`;
  await clearQueuePrefix(prefix);
  const url = await freshDatabase("notifications");
  const [apiPort, simPort] = [await freePort(), await freePort()];
  const simUrl = `http://127.0.0.1:${simPort}`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
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
      KANAL_WEBHOOK_URL: `${apiUrl}/webhooks/whatsapp`,
      WHATSAPP_APP_SECRET: APP_SECRET,
      SIM_STATUS_DELAY_MS: process.env.SIM_STATUS_DELAY_MS ?? "300",
      SIM_STATUS_BATCH_MS: process.env.SIM_STATUS_BATCH_MS ?? "100",
    }),
    spawnService("api", "apps/api/src/main.ts", { ...env, PORT: String(apiPort) }),
  ];
  const sim = async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${simUrl}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json" },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`simulator ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  try {
    await waitForHttp(`${simUrl}/_sim/stats`);
    await waitForHttp(`${apiUrl}/healthz`);

    // ---- set-up (not timed) --------------------------------------------------------------------
    const provider = await providerClient(system);
    const { db, queues } = system.services;
    const banks: Bank[] = [];
    const now = new Date();
    for (let i = 0; i < NUMBERS; i++) {
      const wabaId = uniqueDigits(15);
      const onboarded = await onboardBank(provider, {
        whatsapp: { ...tenantBody(unique("bank-")).whatsapp, wabaId },
      });
      const slug = onboarded.slug;
      await sim("/_sim/templates", {
        wabaId,
        name: "kartenumsatz",
        category: "UTILITY",
        body: "Kreditkartenwecker: Ihre Karte {{1}} wurde am {{2}} für {{3}} bei {{4}} eingesetzt. Waren Sie das?",
        footer: "Ihre Sparkasse",
        quickReplies: ["Das war ich", "Das war ich nicht"],
        notify: false,
      });
      const admin = new BenchClient(system.app);
      await admin.login(onboarded.adminEmail, PASSWORD);
      const synced = await admin.post<{ synced: number }>(`/v1/tenants/${slug}/templates/sync`);
      if (synced.status !== 200 || synced.body.synced !== 1)
        throw new Error(`template sync: ${synced.status} ${JSON.stringify(synced.body)}`);
      const key = await admin.post<{ apiKey: { key: string } }>(`/v1/tenants/${slug}/api-keys`, {
        name: "Kernbank",
        scopes: ["notifications"],
      });
      if (key.status !== 201) throw new Error(`api key: ${key.status} ${JSON.stringify(key.body)}`);
      // 500 customers with a recorded opt-in and no chat, and one with an open chat for the reply.
      const t = db.withSchema(onboarded.schema);
      const customers = Array.from({ length: PER_NUMBER + 1 }, (_, c) => ({
        id: `cus_${i}_${c}`,
        external_ref: `K${String(c).padStart(6, "0")}`,
        wa_id: `4917${String(i).padStart(3, "0")}${String(c).padStart(6, "0")}`,
        name: `Kunde ${c}`,
        opted_in_at: now,
        last_inbound_at: c === PER_NUMBER ? now : null,
      }));
      for (let c = 0; c < customers.length; c += 500)
        await t
          .insertInto("customers")
          .values(customers.slice(c, c + 500))
          .execute();
      const replyConversationId = `conv_reply_${i}`;
      await t
        .insertInto("conversations")
        .values({
          id: replyConversationId,
          customer_id: `cus_${i}_${PER_NUMBER}`,
          status: "open",
          last_inbound_at: now,
        })
        .execute();
      banks.push({
        ...onboarded,
        wabaId,
        key: key.body.apiKey.key,
        admin,
        replyConversationId,
      });
    }
    const simConfig = await fetch(`${simUrl}/_sim/config`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        enforceWindow: false,
        sendRead: false,
        throughput: Object.fromEntries(banks.map((b) => [b.phoneNumberId, PER_SECOND])),
      }),
    });
    if (!simConfig.ok) throw new Error(`simulator config: ${simConfig.status}`);
    const worker = spawnService("worker", "apps/worker/src/main.ts", env);
    children.push(worker);
    await sleep(3_000); // the worker connects and its queues are ready
    await queues.dispatch.pause();

    // ---- (1) acceptance: 20 batches over HTTP at once, dispatch paused ------------------------
    const card = (c: number) => ({
      customer: { externalRef: `K${String(c).padStart(6, "0")}` },
      template: {
        name: "kartenumsatz",
        language: "de",
        params: [`…${String(1000 + (c % 9000))}`, "02.12.2026", `${(c % 500) + 1},90 €`, "Tankstelle Nord"],
      },
    });
    const postStarted = Date.now();
    const accepted = await Promise.all(
      banks.map(async (bank) => {
        const started = performance.now();
        const res = await fetch(`${apiUrl}/v1/tenants/${bank.slug}/notifications/batch`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${bank.key}`,
            "idempotency-key": `bench-${randomBytes(6).toString("hex")}`,
          },
          body: JSON.stringify({ items: Array.from({ length: PER_NUMBER }, (_, c) => card(c)) }),
        });
        const body = (await res.json()) as {
          campaign?: { id: string; accepted: number };
          refused?: unknown[];
        };
        if (res.status !== 202 || body.campaign?.accepted !== PER_NUMBER)
          throw new Error(`batch: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
        return { ms: performance.now() - started, campaignId: body.campaign.id, bank };
      }),
    );
    const acceptS = (Date.now() - postStarted) / 1000;

    // ---- (2) the drain ---------------------------------------------------------------------------
    const eventsConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const events = new QueueEvents(QUEUE_NAMES.dispatch, { connection: eventsConnection, prefix });
    await events.waitUntilReady();
    let delayedEvents = 0;
    let completedEvents = 0;
    events.on("delayed", () => delayedEvents++);
    events.on("completed", () => completedEvents++);
    const cpuBefore = children.map((c) => cpuSeconds(c.child.pid));
    const pgBefore = cpuByCommand("postgres");
    const redisBefore = cpuByCommand("redis-server");
    const started = Date.now();
    await queues.dispatch.resume();
    await sleep(2_000);
    const first = banks[0] as Bank;
    const replyQueuedAt = Date.now();
    const reply = await fetch(
      `${apiUrl}/v1/tenants/${first.slug}/conversations/${first.replyConversationId}/messages`,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          origin: apiUrl,
          cookie: first.admin.cookie ?? "",
        },
        body: JSON.stringify({ text: "Danke für Ihre Nachricht, wir melden uns gleich." }),
      },
    );
    const replyBody = (await reply.json()) as { message?: { id: string } };
    if (reply.status !== 202 || !replyBody.message)
      throw new Error(`reply: ${reply.status} ${JSON.stringify(replyBody)}`);
    let stats: SimStats | null = null;
    const total = () => Object.values(stats?.numbers ?? {}).reduce((s, n) => s + n.accepted, 0);
    while (Date.now() - started < DRAIN_LIMIT_MS) {
      stats = await sim<SimStats>("/_sim/stats");
      if (total() >= MESSAGES + 1) break;
      await sleep(100);
    }
    const cpuAfter = children.map((c) => cpuSeconds(c.child.pid));
    const pgCpu = cpuDelta(pgBefore, cpuByCommand("postgres"));
    const redisCpu = cpuDelta(redisBefore, cpuByCommand("redis-server"));
    await events.close();
    eventsConnection.disconnect();
    const cpu = Object.fromEntries(
      children.map((c, i) => [c.name, round((cpuAfter[i] ?? 0) - (cpuBefore[i] ?? 0), 1)]),
    );
    cpu.pg = round(pgCpu, 1);
    cpu.redis = round(redisCpu, 1);
    const sent = (await sim<{ messages: SimSent[] }>("/_sim/sent")).messages;
    const notifications = sent.filter((m) => m.type === "template");
    const replySent = sent.find((m) => m.bizOpaqueCallbackData === replyBody.message?.id);
    const last = Math.max(...notifications.map((m) => m.acceptedAtMs));
    const drainS = (last - started) / 1000;
    if (process.env.BENCH_DEBUG) {
      const byNumber = new Map<string, number[]>();
      for (const m of notifications)
        byNumber.set(m.phoneNumberId, [...(byNumber.get(m.phoneNumberId) ?? []), m.acceptedAtMs]);
      for (const [n, times] of byNumber) {
        times.sort((a, b) => a - b);
        const perSecond = Array.from(
          { length: 12 },
          (_, k) => times.filter((t) => t >= started + k * 1000 && t < started + (k + 1) * 1000).length,
        );
        console.log(
          n,
          ((times[0] ?? 0) - started) / 1000,
          ((times.at(-1) ?? 0) - started) / 1000,
          perSecond.join(","),
        );
      }
    }
    const rejected429 = Object.values(stats?.numbers ?? {}).reduce(
      (s, n) => s + (n.rejected["130429"] ?? 0) + (n.rejected["80007"] ?? 0),
      0,
    );
    const maxPerSecond = Math.max(...Object.values(stats?.numbers ?? {}).map((n) => n.maxAcceptedPerSecond));

    // ---- (3) the statuses come back: every campaign counts its notifications delivered --------------
    const settleStarted = Date.now();
    let settled = false;
    while (Date.now() - settleStarted < SETTLE_LIMIT_MS && !settled) {
      const counts = await Promise.all(
        accepted.map(async ({ campaignId, bank }) => {
          const res = await fetch(`${apiUrl}/v1/tenants/${bank.slug}/campaigns/${campaignId}`, {
            headers: { authorization: `Bearer ${bank.key}` },
          });
          return ((await res.json()) as { campaign: { counts: { delivered: number } } }).campaign.counts
            .delivered;
        }),
      );
      settled = counts.every((n) => n === PER_NUMBER);
      if (!settled) await sleep(250);
    }
    return {
      acceptS,
      batchMs: median(accepted.map((a) => a.ms)),
      sent: notifications.length,
      drainS,
      ratio: drainS / IDEAL_S,
      endToEndS: (last - postStarted) / 1000,
      replyMs: replySent ? replySent.acceptedAtMs - replyQueuedAt : Number.NaN,
      rejected429,
      maxPerSecond,
      duplicates: stats?.duplicateBizOpaqueCallbackData.length ?? -1,
      settledS: settled ? (Date.now() - last) / 1000 : Number.NaN,
      cpu,
      delayedPerSent: delayedEvents / Math.max(1, completedEvents),
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
  `notifications: ${MESSAGES} over ${NUMBERS} numbers at ${PER_SECOND}/s through the HTTP API (ideal drain ${IDEAL_S} s)`,
  runs.map((r, i) => ({
    run: i + 1,
    [`${NUMBERS} batches accepted s`]: round(r.acceptS, 2),
    "batch p50 ms": round(r.batchMs, 0),
    sent: r.sent,
    "drain s": round(r.drainS, 2),
    "× ideal": round(r.ratio, 3),
    "end to end s": round(r.endToEndS, 2),
    "reply ms": round(r.replyMs, 0),
    "130429": r.rejected429,
    "max/s one number": r.maxPerSecond,
    duplicates: r.duplicates,
    "all delivered +s": round(r.settledS, 1),
    "CPU s (sim/api/worker/pg/redis)": `${r.cpu.sim}/${r.cpu.api}/${r.cpu.worker}/${r.cpu.pg}/${r.cpu.redis}`,
  })),
);
const ratio = median(runs.map((r) => r.ratio));
const replyMs = median(runs.map((r) => r.replyMs));
const any429 = runs.some((r) => r.rejected429 > 0);
const allSent = runs.every((r) => r.sent === MESSAGES && r.duplicates === 0);
console.log(
  `\nmedian of runs: ${NUMBERS} batches accepted in ${round(median(runs.map((r) => r.acceptS)), 2)} s; drain ${round(median(runs.map((r) => r.drainS)), 2)} s = ${round(ratio, 3)}× ideal (target ≤ 1.1 → ${ratio <= 1.1 ? "PASS" : "FAIL"}); ` +
    `130429: ${any429 ? "some (FAIL)" : "none (PASS)"}; all sent once: ${allSent}; reply ${round(replyMs, 0)} ms (target < 1000 → ${replyMs < 1000 ? "PASS" : "FAIL"})`,
);
printCommand("npm run bench -- notifications");
process.exit(0);
