/**
 * Events to the bank's systems (issue 14): "a receiver answering 500 for 10 minutes and then 200 loses no
 * event", and delivery throughput.
 *
 * One process holds the API app (webhooks posted to it with `app.request`, signed as Meta signs them), the
 * BullMQ workers (every processor) and the bank's receiver (a real HTTP server on 127.0.0.1); Postgres and
 * Redis are real. One bank, in_house, with one endpoint subscribed to `message.received`.
 *
 * Part 1 — outage, on a compressed clock. Every duration of the retry policy is divided by COMPRESSION
 * (default 10): the backoff base (10 s → 1 s), its cap (6 h), the retry window (72 h), the disable period
 * (24 h); the outage (10 min → 60 s) likewise. (At 100 the outage is 6 s, shorter than this machine needs to
 * ingest 200 messages: some events would only be written after it.) The schedule is a pure function of those durations,
 * so each event meets the receiver's 500s on exactly the attempts it would meet them in real time (an event
 * written when the outage starts is refused on attempts 1–6 at 0, 10, 30, 70, 150, 310 s and accepted on
 * the 7th at 630 s ±jitter); only the receiver's and Kanal's own processing (milliseconds) are not
 * compressed, which makes the compressed run slightly harsher, not kinder. EVENTS customer messages (new
 * customers, BANKS banks in turn, each bank with one endpoint) are posted evenly over the first half of the
 * outage; then the run waits until every delivery is settled. Reported: events, deliveries written (and how
 * many while the receiver still refused), distinct webhook-ids the receiver accepted (lost = events −
 * accepted), attempts per delivery, refused requests, the endpoints' state, and the time from the outage's
 * end to the last delivery (compressed, and ×COMPRESSION).
 *
 * Part 2 — throughput: THROUGHPUT_EVENTS messages are ingested while the webhooks queue has no worker; then
 * its worker starts (concurrency 64) against a receiver that answers 204 at once, and the time until every
 * delivery is delivered gives deliveries per second (claim, sign, POST, record — end to end).
 *
 * Run: npm run bench -- bank-webhooks   (COMPRESSION=10, EVENTS=200, BANKS=5, THROUGHPUT_EVENTS=3000)
 */
import { createServer } from "node:http";
import { signWebhookBody } from "@kanal/core/channel";
import { sql } from "@kanal/db";
import { processors, type RunningWorkers, startWorkers } from "@kanal/worker";
import {
  type BenchSystem,
  clearQueuePrefix,
  dropBenchDatabase,
  freshDatabase,
  median,
  onboardBank,
  printCommand,
  printTable,
  providerClient,
  round,
  sleep,
  startBenchSystem,
  unique,
  uniqueDigits,
} from "./support";

const COMPRESSION = Number(process.env.COMPRESSION ?? 10);
const EVENTS = Number(process.env.EVENTS ?? 200);
const BANKS = Number(process.env.BANKS ?? 5);
const THROUGHPUT_EVENTS = Number(process.env.THROUGHPUT_EVENTS ?? 3_000);
const OUTAGE_MS = 600_000 / COMPRESSION;
const APP_SECRET = "bench-app-secret";

interface Receiver {
  url: string;
  /** first accepted request per webhook-id: ms timestamp */
  accepted: Map<string, number>;
  refused: number;
  requests: number;
  answer: () => number;
  close(): Promise<void>;
}

async function startReceiver(answer: () => number): Promise<Receiver> {
  const state: Receiver = {
    url: "",
    accepted: new Map(),
    refused: 0,
    requests: 0,
    answer,
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      state.requests++;
      const status = state.answer();
      const id = String(req.headers["webhook-id"]);
      if (status < 300) {
        if (!state.accepted.has(id)) state.accepted.set(id, Date.now());
      } else state.refused++;
      res.writeHead(status).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  state.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/kanal`;
  state.close = () => new Promise((resolve) => server.close(() => resolve()));
  return state;
}

function inboundBody(phoneNumberId: string, waId: string): string {
  return JSON.stringify({
    object: "whatsapp_business_account",
    entry: [
      {
        id: "102290129340398",
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "4989123456", phone_number_id: phoneNumberId },
              contacts: [{ profile: { name: "Erika Musterfrau" }, wa_id: waId }],
              messages: [
                {
                  from: waId,
                  id: `wamid.${unique("w")}${uniqueDigits(8)}`,
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  type: "text",
                  text: {
                    body: "Guten Tag, bitte rufen Sie mich wegen meiner Karte 4111 1111 1111 1111 an.",
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  });
}

async function postInbound(system: BenchSystem, phoneNumberId: string): Promise<void> {
  const body = inboundBody(phoneNumberId, uniqueDigits(12));
  const res = await system.app.request("/webhooks/whatsapp", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": signWebhookBody(Buffer.from(body), APP_SECRET),
    },
    body,
  });
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
}

async function bankWithEndpoint(system: BenchSystem, url: string) {
  const provider = await providerClient(system);
  const bank = await onboardBank(provider);
  const { BenchClient } = await import("./support");
  const admin = new BenchClient(system.app);
  await admin.post("/v1/auth/login", { email: bank.adminEmail, password: "correct-horse-battery" });
  const res = await admin.post<{ endpoint: { id: string } }>(`/v1/tenants/${bank.slug}/webhook-endpoints`, {
    url,
    events: ["message.received"],
  });
  if (res.status !== 201) throw new Error(`endpoint: ${res.status} ${JSON.stringify(res.body)}`);
  return { bank, endpointId: res.body.endpoint.id };
}

async function deliveryCounts(system: BenchSystem, schema: string) {
  const rows = await sql<{ status: string; n: number; max_attempts: number }>`
    select status, count(*)::int as n, max(attempts)::int as max_attempts
    from ${sql.id(schema, "webhook_deliveries")} group by status`.execute(system.services.db);
  const of = (s: string) => rows.rows.find((r) => r.status === s)?.n ?? 0;
  return {
    pending: of("pending"),
    delivered: of("delivered"),
    failed: of("failed"),
    total: rows.rows.reduce((a, r) => a + r.n, 0),
  };
}

async function waitSettled(system: BenchSystem, schema: string, expected: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await deliveryCounts(system, schema);
    if (counts.total >= expected && counts.pending === 0) return counts;
    if (Date.now() > deadline) return counts;
    await sleep(50);
  }
}

async function outage(databaseUrl: string, prefix: string) {
  let outageEnds = Number.POSITIVE_INFINITY;
  const receiver = await startReceiver(() => (Date.now() < outageEnds ? 500 : 200));
  const scale = (ms: number) => String(Math.max(1, Math.round(ms / COMPRESSION)));
  const system = await startBenchSystem(databaseUrl, prefix, {
    WHATSAPP_APP_SECRET: APP_SECRET,
    BANK_WEBHOOK_BACKOFF_BASE_MS: scale(10_000),
    BANK_WEBHOOK_BACKOFF_MAX_MS: scale(6 * 3_600_000),
    BANK_WEBHOOK_RETRY_HOURS: String(72 / COMPRESSION),
    BANK_WEBHOOK_DISABLE_AFTER_HOURS: String(24 / COMPRESSION),
  });
  let workers: RunningWorkers | null = null;
  try {
    workers = await startWorkers(system.services, processors, { schedule: false });
    const banks = [];
    for (let i = 0; i < BANKS; i++) banks.push(await bankWithEndpoint(system, receiver.url));
    const started = Date.now();
    outageEnds = started + OUTAGE_MS;
    // The events are posted during the first half of the outage, so each meets at least 5 (real) minutes
    // of refusals; the first ones meet all 10.
    for (let i = 0; i < EVENTS; i++) {
      const due = started + (i * OUTAGE_MS) / 2 / EVENTS;
      if (due > Date.now()) await sleep(due - Date.now());
      await postInbound(system, (banks[i % banks.length] as (typeof banks)[number]).bank.phoneNumberId);
    }
    const deadline = Date.now() + Math.max(60_000, OUTAGE_MS * 5);
    const rows: { attempts: number; created_at: Date; status: string; enabled: boolean }[] = [];
    for (;;) {
      rows.length = 0;
      for (const { bank, endpointId } of banks) {
        const r = await sql<{ attempts: number; created_at: Date; status: string; enabled: boolean }>`
          select d.attempts, d.created_at, d.status, e.enabled
          from ${sql.id(bank.schema, "webhook_deliveries")} d
          join ${sql.id(bank.schema, "webhook_endpoints")} e on e.id = d.endpoint_id
          where e.id = ${endpointId}`.execute(system.services.db);
        rows.push(...r.rows);
      }
      if ((rows.length >= EVENTS && rows.every((r) => r.status !== "pending")) || Date.now() > deadline)
        break;
      await sleep(100);
    }
    const count = (status: string) => rows.filter((r) => r.status === status).length;
    const writtenInOutage = rows.filter((r) => r.created_at.getTime() < outageEnds).length;
    const lastWritten = Math.max(...rows.map((r) => r.created_at.getTime()));
    const lastAccepted = Math.max(...receiver.accepted.values());
    const perDelivery = rows.map((r) => r.attempts).sort((a, b) => a - b);
    printTable(
      `Part 1 — receiver answers 500 for ${OUTAGE_MS / 1000} s (= 10 min ÷ ${COMPRESSION}), then 200`,
      [
        {
          events: EVENTS,
          banks: BANKS,
          "deliveries written": rows.length,
          "… during the outage": writtenInOutage,
          "last written (s into outage)": round((lastWritten - started) / 1000, 2),
          delivered: count("delivered"),
          failed: count("failed"),
          pending: count("pending"),
          "accepted (distinct ids)": receiver.accepted.size,
          lost: EVENTS - receiver.accepted.size,
          "refused (500)": receiver.refused,
          "attempts min / median / max": `${perDelivery[0]} / ${median(perDelivery)} / ${perDelivery.at(-1)}`,
          "endpoints enabled": rows.every((r) => r.enabled),
          "last delivery after outage (s)": round((lastAccepted - outageEnds) / 1000, 2),
          "… in real time (min)": round(((lastAccepted - outageEnds) * COMPRESSION) / 60_000, 1),
        },
      ],
    );
    return EVENTS - receiver.accepted.size;
  } finally {
    await workers?.close();
    await system.close();
    await receiver.close();
  }
}

async function throughput(databaseUrl: string, prefix: string) {
  const receiver = await startReceiver(() => 204);
  const system = await startBenchSystem(databaseUrl, prefix, { WHATSAPP_APP_SECRET: APP_SECRET });
  let ingest: RunningWorkers | null = null;
  let deliver: RunningWorkers | null = null;
  try {
    ingest = await startWorkers(
      system.services,
      processors.filter((p) => p.queue !== "webhooks"),
      { schedule: false },
    );
    const { bank } = await bankWithEndpoint(system, receiver.url);
    for (let i = 0; i < THROUGHPUT_EVENTS; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, THROUGHPUT_EVENTS - i) }, () =>
          postInbound(system, bank.phoneNumberId),
        ),
      );
    for (;;) {
      if ((await deliveryCounts(system, bank.schema)).total >= THROUGHPUT_EVENTS) break;
      await sleep(100);
    }
    // The ingest's own follow-ups (routing, away messages) would compete for the two cores: stop them.
    await ingest.close();
    ingest = null;
    const started = performance.now();
    const cpu = process.cpuUsage();
    deliver = await startWorkers(
      system.services,
      processors.filter((p) => p.queue === "webhooks"),
      { schedule: false },
    );
    const counts = await waitSettled(system, bank.schema, THROUGHPUT_EVENTS, 300_000);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    printTable("Part 2 — delivery throughput (one worker process, concurrency 64, receiver answers 204)", [
      {
        deliveries: counts.delivered,
        seconds: round(seconds, 2),
        "deliveries/s": round(counts.delivered / seconds, 0),
        "receiver requests": receiver.requests,
        "this process: CPU ms per delivery": round(
          (used.user + used.system) / 1000 / Math.max(1, counts.delivered),
          2,
        ),
      },
    ]);
  } finally {
    await deliver?.close();
    await ingest?.close();
    await system.close();
    await receiver.close();
  }
}

const prefix = `kanal-bench-webhooks-${unique("")}`;
const databaseUrl = await freshDatabase("bank_webhooks");
printCommand("npm run bench -- bank-webhooks");
let lost = 0;
try {
  lost = await outage(databaseUrl, `${prefix}-a`);
  await throughput(databaseUrl, `${prefix}-b`);
} finally {
  await clearQueuePrefix(`${prefix}-a`);
  await clearQueuePrefix(`${prefix}-b`);
  await dropBenchDatabase(databaseUrl);
}
if (lost > 0) {
  console.error(`${lost} events lost`);
  process.exit(1);
}
process.exit(0);
