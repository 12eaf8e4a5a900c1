/**
 * Load generator for bench/webhook-ingest.ts, run in its own process: CONNECTIONS keep-alive connections,
 * each sending the next pre-signed single-message webhook as soon as the previous one is answered,
 * for DURATION_MS. Prints one JSON line: counts, latencies (ms) and the wamids that were acknowledged.
 */
import http from "node:http";
import { signWebhookBody } from "@kanal/core";

const url = new URL(process.env.TARGET_URL ?? "http://127.0.0.1:3000/webhooks/whatsapp");
if (url.hostname !== "127.0.0.1") throw new Error("the load generator only targets 127.0.0.1");
const connections = Number(process.env.CONNECTIONS ?? 32);
const durationMs = Number(process.env.DURATION_MS ?? 10_000);
const warmupMs = Number(process.env.WARMUP_MS ?? 2_000);
const secret = process.env.WHATSAPP_APP_SECRET ?? "bench-app-secret";
const phoneNumberId = process.env.PHONE_NUMBER_ID ?? "106540352242922";
const runTag = process.env.RUN_TAG ?? "r";
const maxRequests = Number(process.env.MAX_REQUESTS ?? 200_000);

function body(i: number) {
  const waId = `49170${String(i % 5000).padStart(7, "0")}`;
  const raw = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [
      {
        id: "102290129340398",
        changes: [
          {
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "4989123456", phone_number_id: phoneNumberId },
              contacts: [{ profile: { name: "Sheena Nelson" }, wa_id: waId }],
              messages: [
                {
                  from: waId,
                  id: `wamid.bench.${runTag}.${i}`,
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  type: "text",
                  text: { body: "Guten Tag, ich möchte meine Adresse ändern. Wie geht das bitte?" },
                },
              ],
            },
            field: "messages",
          },
        ],
      },
    ],
  });
  return {
    raw: Buffer.from(raw),
    signature: signWebhookBody(raw, secret),
    wamid: `wamid.bench.${runTag}.${i}`,
  };
}

// Signed ahead of time, so signing does not compete with the API for the CPU during the measurement.
const estimate = Math.min(maxRequests, Math.ceil(((durationMs + warmupMs) / 1000) * 6_000));
const bodies = Array.from({ length: estimate }, (_, i) => body(i));
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });

let next = 0;
const latencies: number[] = [];
const acked: string[] = [];
let errors = 0;
let non200 = 0;
let measured = 0;
let warmupAcked = 0;
const start = performance.now();
const measureFrom = start + warmupMs;
const end = measureFrom + durationMs;

function send(item: (typeof bodies)[number]): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": item.raw.length,
          "x-hub-signature-256": item.signature,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", () => resolve(0));
    req.end(item.raw);
  });
}

async function connection() {
  while (performance.now() < end && next < bodies.length) {
    const item = bodies[next++];
    if (!item) break;
    const t0 = performance.now();
    const status = await send(item);
    const t1 = performance.now();
    if (status === 200) acked.push(item.wamid);
    else if (status === 0) errors++;
    else non200++;
    if (t0 >= measureFrom && t1 <= end) {
      latencies.push(t1 - t0);
      if (status === 200) measured++;
    } else if (status === 200) warmupAcked++;
  }
}

await Promise.all(Array.from({ length: connections }, connection));
agent.destroy();
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN;
process.stdout.write(
  `${JSON.stringify({
    connections,
    durationMs,
    measuredAcked: measured,
    perSecond: measured / (durationMs / 1000),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: latencies.at(-1) ?? NaN,
    errors,
    non200,
    exhausted: next >= bodies.length,
    totalAcked: acked.length,
    warmupAcked,
    acked,
  })}\n`,
);
