import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { Webhook } from "standardwebhooks";

/** One request the receiver got. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  /** what the receiver answered (null: it let the request time out) */
  answered: number | null;
  /** when it answered */
  answeredAt: number | null;
}

/** What the receiver does with a request: answer a status after a delay, or never answer (hang). */
export type Behaviour = (request: { path: string; id: string; nth: number; body: string }) => {
  status: number | "hang";
  delayMs?: number;
};

/**
 * A bank's webhook receiver, a real HTTP server: its behaviour per request decides whether it refuses
 * (5xx), lets the request time out, or answers late (so answers come back out of order). It records
 * every request, and accepts (deduplicates) each webhook-id once, as a bank's receiver should.
 */
export class TestReceiver {
  readonly requests: Received[] = [];
  /** first accepted request per webhook-id (a receiver's dedup table) */
  readonly accepted = new Map<string, Received>();
  private readonly perId = new Map<string, number>();
  private server: Server | null = null;
  private readonly hanging = new Set<() => void>();
  port = 0;

  constructor(public behaviour: Behaviour = () => ({ status: 200 })) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const id = String(req.headers["webhook-id"] ?? "");
        const nth = (this.perId.get(id) ?? 0) + 1;
        this.perId.set(id, nth);
        const path = req.url ?? "/";
        const decision = this.behaviour({ path, id, nth, body });
        const record: Received = {
          path,
          headers: req.headers,
          body,
          at: Date.now(),
          answered: null,
          answeredAt: null,
        };
        this.requests.push(record);
        if (decision.status === "hang") {
          const end = () => res.destroy();
          this.hanging.add(end);
          res.on("close", () => this.hanging.delete(end));
          return;
        }
        const status = decision.status;
        setTimeout(() => {
          record.answered = status;
          record.answeredAt = Date.now();
          if (status >= 200 && status < 300 && !this.accepted.has(`${path} ${id}`))
            this.accepted.set(`${path} ${id}`, record);
          res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "nope");
        }, decision.delayMs ?? 0);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.port = typeof address === "object" && address ? address.port : 0;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The accepted (deduplicated) deliveries to one path, parsed. */
  acceptedAt(path: string): { id: string; type: string; data: Record<string, unknown>; raw: Received }[] {
    return [...this.accepted.values()]
      .filter((r) => r.path === path)
      .map((r) => {
        const body = JSON.parse(r.body) as { type: string; data: Record<string, unknown> };
        return { id: String(r.headers["webhook-id"]), type: body.type, data: body.data, raw: r };
      });
  }

  async close(): Promise<void> {
    for (const end of this.hanging) end();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** Verifies a request as a bank would, with the standardwebhooks library; throws when it does not verify. */
export function verify(secret: string, request: Received): unknown {
  return new Webhook(secret).verify(request.body, {
    "webhook-id": String(request.headers["webhook-id"]),
    "webhook-timestamp": String(request.headers["webhook-timestamp"]),
    "webhook-signature": String(request.headers["webhook-signature"]),
  });
}
