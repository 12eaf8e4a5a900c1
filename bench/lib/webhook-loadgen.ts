/**
 * Load generator for bench/webhook-ingest.ts, run in its own process: CONNECTIONS keep-alive HTTP/1.1
 * connections, each sending the next pre-signed single-message webhook as soon as the previous one is answered,
 * for DURATION_MS. Prints one JSON line: counts, latencies (ms) and the wamids that were acknowledged.
 */
import net from "node:net";
import { signWebhookBody } from "@kanal/core/channel";

const url = new URL(process.env.TARGET_URL ?? "http://127.0.0.1:3000/webhooks/whatsapp");
if (url.hostname !== "127.0.0.1") throw new Error("the load generator only targets 127.0.0.1");
const connections = Number(process.env.CONNECTIONS ?? 32);
const durationMs = Number(process.env.DURATION_MS ?? 10_000);
const warmupMs = Number(process.env.WARMUP_MS ?? 2_000);
const secret = process.env.WHATSAPP_APP_SECRET ?? "bench-app-secret";
const phoneNumberId = process.env.PHONE_NUMBER_ID ?? "106540352242922";
const runTag = process.env.RUN_TAG ?? "r";
const maxRequests = Number(process.env.MAX_REQUESTS ?? 400_000);

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
// Each request is built as its full HTTP/1.1 bytes (request line, headers, signed body) up front.
const estimate = Math.min(maxRequests, Math.ceil(((durationMs + warmupMs) / 1000) * 25_000));
const bodies = Array.from({ length: estimate }, (_, i) => {
  const item = body(i);
  const head =
    `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${item.raw.length}\r\nX-Hub-Signature-256: ${item.signature}\r\n` +
    "Connection: keep-alive\r\n\r\n";
  return { request: Buffer.concat([Buffer.from(head, "latin1"), item.raw]), wamid: item.wamid };
});

let next = 0;
const latencies: number[] = [];
const acked: string[] = [];
let errors = 0;
let non200 = 0;
let measured = 0;
let warmupAcked = 0;
const start = performance.now();
const cpuAtStart = process.cpuUsage();
const measureFrom = start + warmupMs;
const end = measureFrom + durationMs;

const HEADER_END = Buffer.from("\r\n\r\n");
const CHUNKED_END = Buffer.from("\r\n0\r\n\r\n");

/**
 * One keep-alive HTTP/1.1 connection with one request in flight at a time (a closed loop, like a Meta
 * delivery connection). A plain socket instead of `node:http`'s client: the same bytes on the wire and a
 * full read of each response (status line, headers, a body by Content-Length or chunked), for a
 * fraction of the client's CPU — which shares the two cores with the API under test.
 */
class Connection {
  private socket: net.Socket | null = null;
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: ((status: number) => void) | null = null;

  private connect(): net.Socket {
    const socket = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    socket.on("data", (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.parse();
    });
    const fail = () => {
      if (this.socket === socket) this.socket = null;
      this.buffered = Buffer.alloc(0);
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.(0);
    };
    socket.on("error", fail);
    socket.on("close", fail);
    return socket;
  }

  /** Resolves with the response's status once the whole response has been read (0 on a broken socket). */
  send(request: Buffer): Promise<number> {
    this.socket ??= this.connect();
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket?.write(request);
    });
  }

  private parse(): void {
    const headerEnd = this.buffered.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.buffered.toString("latin1", 0, headerEnd);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    let total: number;
    if (length?.[1] !== undefined) {
      total = headerEnd + 4 + Number(length[1]);
      if (this.buffered.length < total) return;
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const last = this.buffered.indexOf(CHUNKED_END, headerEnd);
      if (last < 0) return;
      total = last + CHUNKED_END.length;
    } else {
      // Neither length nor chunks: not a response this client can delimit on a kept-alive connection.
      this.socket?.destroy();
      return;
    }
    this.buffered = this.buffered.subarray(total);
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.(Number.isInteger(status) ? status : 0);
    if (/\r\nconnection:\s*close/i.test(head)) this.socket?.destroy();
  }

  close(): void {
    this.socket?.destroy();
  }
}

async function connection() {
  const conn = new Connection();
  while (performance.now() < end && next < bodies.length) {
    const item = bodies[next++];
    if (!item) break;
    const t0 = performance.now();
    const status = await conn.send(item.request);
    const t1 = performance.now();
    if (status === 200) acked.push(item.wamid);
    else if (status === 0) errors++;
    else non200++;
    if (t0 >= measureFrom && t1 <= end) {
      latencies.push(t1 - t0);
      if (status === 200) measured++;
    } else if (status === 200) warmupAcked++;
  }
  conn.close();
}

await Promise.all(Array.from({ length: connections }, connection));
const cpu = process.cpuUsage(cpuAtStart);
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
    /** This process's own CPU over warm-up and measurement (it shares the cores with the API). */
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    acked,
  })}\n`,
);
