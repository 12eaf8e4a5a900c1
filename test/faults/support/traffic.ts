import http from "node:http";
import { signWebhookBody } from "@kanal/core/channel";

/** One signed webhook, one customer message, and what became of its deliveries. */
export interface Delivery {
  wamid: string;
  bank: number;
  body: Buffer;
  signature: string;
  /** HTTP status of each attempt (0: no answer — refused, reset or timed out). */
  attempts: number[];
}

export const acknowledged = (d: Delivery) => d.attempts.includes(200);
export const acknowledgedFirst = (d: Delivery) => d.attempts[0] === 200;

export interface CustomerBank {
  phoneNumberId: string;
  customers: string[];
}

/**
 * Meta's side of the intake: signed single-message webhooks at a fixed rate whatever the answers (an
 * open loop — a down API does not slow Meta down), over kept-alive connections; an answer other than
 * 200, or none, is a delivery Meta retries later (`redeliver`).
 */
export class WebhookSender {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private next = 0;

  constructor(
    private readonly apiUrl: string,
    private readonly appSecret: string,
    private readonly banks: CustomerBank[],
  ) {}

  private build(tag: string): Delivery {
    const i = this.next++;
    const bank = i % this.banks.length;
    const target = this.banks[bank] as CustomerBank;
    const waId = target.customers[Math.floor(i / this.banks.length) % target.customers.length] as string;
    const wamid = `wamid.fault.${tag}.${i}`;
    const raw = JSON.stringify({
      object: "whatsapp_business_account",
      entry: [
        {
          id: "102290129340398",
          changes: [
            {
              field: "messages",
              value: {
                messaging_product: "whatsapp",
                metadata: { display_phone_number: "4989123456", phone_number_id: target.phoneNumberId },
                contacts: [{ profile: { name: `Kunde ${waId.slice(-4)}` }, wa_id: waId }],
                messages: [
                  {
                    from: waId,
                    id: wamid,
                    timestamp: String(Math.floor(Date.now() / 1000)),
                    type: "text",
                    text: { body: `Hallo, ich habe noch eine Frage (${i})` },
                  },
                ],
              },
            },
          ],
        },
      ],
    });
    return {
      wamid,
      bank,
      body: Buffer.from(raw),
      signature: signWebhookBody(raw, this.appSecret),
      attempts: [],
    };
  }

  /** One attempt; records its status on the delivery. */
  deliver(delivery: Delivery, timeoutMs = 10_000): Promise<number> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (status: number) => {
        if (settled) return;
        settled = true;
        delivery.attempts.push(status);
        resolve(status);
      };
      const url = new URL("/webhooks/whatsapp", this.apiUrl);
      const req = http.request(
        url,
        {
          method: "POST",
          agent: this.agent,
          headers: {
            "content-type": "application/json",
            "content-length": delivery.body.length,
            "x-hub-signature-256": delivery.signature,
          },
          timeout: timeoutMs,
        },
        (res) => {
          res.resume();
          res.on("end", () => done(res.statusCode ?? 0));
          res.on("error", () => done(0));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => done(0));
      req.end(delivery.body);
    });
  }

  /**
   * `perSecond` webhooks for `durationMs`; `at(ms)` hooks run at their offsets meanwhile (the fault).
   * Resolves when every delivery has its first answer.
   */
  async run(
    tag: string,
    perSecond: number,
    durationMs: number,
    at: { ms: number; action: () => Promise<void> }[] = [],
  ): Promise<{ deliveries: Delivery[]; actions: Promise<void>[] }> {
    const deliveries: Delivery[] = [];
    const answers: Promise<number>[] = [];
    const started = performance.now();
    const pending = [...at].sort((a, b) => a.ms - b.ms);
    const actions: Promise<void>[] = [];
    const total = Math.round((durationMs / 1000) * perSecond);
    for (;;) {
      const elapsed = performance.now() - started;
      while (pending[0] && pending[0].ms <= elapsed)
        actions.push((pending.shift() as (typeof at)[0]).action());
      if (deliveries.length >= total) break;
      const due = Math.min(total, Math.floor((elapsed / 1000) * perSecond));
      while (deliveries.length < due) {
        const delivery = this.build(tag);
        deliveries.push(delivery);
        answers.push(this.deliver(delivery));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(answers);
    return { deliveries, actions };
  }

  /** Meta's retries: every delivery without a 200 is sent again (the same body) until it gets one. */
  async redeliver(deliveries: Delivery[], timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let redelivered = 0;
    let pause = 250;
    for (;;) {
      const missing = deliveries.filter((d) => !acknowledged(d));
      if (missing.length === 0) return redelivered;
      if (Date.now() > deadline) throw new Error(`${missing.length} webhooks never acknowledged`);
      redelivered += missing.length;
      // A few at a time, as Meta spreads its retries.
      for (let i = 0; i < missing.length; i += 50)
        await Promise.all(missing.slice(i, i + 50).map((d) => this.deliver(d)));
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 2_000);
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A cookie-keeping JSON client of the real API over HTTP (sessions survive API restarts: they are in Postgres). */
export class ApiClient {
  cookie: string | null = null;

  constructor(private readonly baseUrl: string) {}

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.cookie) headers.cookie = this.cookie;
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const setCookie = res.headers.get("set-cookie");
    if (setCookie?.startsWith("kanal_session=")) this.cookie = setCookie.split(";")[0] ?? null;
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed as T };
  }

  async ok<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    expect = 200,
  ): Promise<T> {
    const res = await this.request<T>(method, path, body);
    if (res.status !== expect)
      throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    return res.body;
  }
}

export interface AgentSession {
  userId: string;
  bankSlug: string;
  client: ApiClient;
}

/**
 * Agents at work: each tick every agent answers one of the chats assigned to them, through the API. A
 * 202 is a reply the API accepted — it must reach the customer exactly once. A request that got no
 * answer (API down) may or may not have been stored; the database says which.
 */
export class Repliers {
  readonly accepted = new Set<string>();
  readonly refused = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly agents: AgentSession[]) {}

  start(everyMs = 500): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      void Promise.all(this.agents.map((agent) => this.replyOnce(agent))).finally(() => {
        this.busy = false;
      });
    }, everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
  }

  private count(status: number): void {
    this.refused.set(status, (this.refused.get(status) ?? 0) + 1);
  }

  private async replyOnce(agent: AgentSession): Promise<void> {
    try {
      const list = await agent.client.request<{
        conversations?: { id: string; assigneeUserId: string | null }[];
      }>("GET", `/v1/tenants/${agent.bankSlug}/conversations?status=open`);
      const mine = (list.body.conversations ?? []).filter((c) => c.assigneeUserId === agent.userId);
      const chat = mine[Math.floor(Math.random() * mine.length)];
      if (!chat) return;
      const res = await agent.client.request<{ message?: { id: string } }>(
        "POST",
        `/v1/tenants/${agent.bankSlug}/conversations/${chat.id}/messages`,
        { text: "Vielen Dank für Ihre Nachricht, wir kümmern uns darum." },
      );
      if (res.status === 202 && res.body.message?.id) this.accepted.add(res.body.message.id);
      else this.count(res.status);
    } catch {
      this.count(0);
    }
  }
}
