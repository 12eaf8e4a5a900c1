import { createHmac, timingSafeEqual } from "node:crypto";
import type { MaskFinding } from "@kanal/rules";
import { poolOf, sql, type Db } from "@kanal/db";
import { MAX_EVENTS_PER_JOB, type ProcessEventsJob, type Queues } from "@kanal/queue";
import { maskForStorage } from "../rules/guard";

/** `X-Hub-Signature-256: sha256=<hex>` over the raw bytes, compared in constant time. */
export function verifyWebhookSignature(raw: Buffer, header: string | undefined, appSecret: string): boolean {
  if (!header?.startsWith("sha256=")) return false;
  const presented = Buffer.from(header.slice(7), "hex");
  const expected = createHmac("sha256", appSecret).update(raw).digest();
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

export function signWebhookBody(raw: string | Buffer, appSecret: string): string {
  return `sha256=${createHmac("sha256", appSecret).update(raw).digest("hex")}`;
}

interface WebhookMessage {
  text?: { body?: string };
  image?: { caption?: string };
  document?: { caption?: string; filename?: string };
  location?: { name?: string; address?: string };
  video?: { caption?: string };
  button?: { text?: string };
  interactive?: { button_reply?: { title?: string }; list_reply?: { title?: string; description?: string } };
}

export interface WebhookPayload {
  object?: string;
  entry?: {
    id?: string;
    changes?: {
      field?: string;
      value?: {
        metadata?: { phone_number_id?: string; display_phone_number?: string };
        contacts?: { wa_id?: string; profile?: { name?: string } }[];
        messages?: (WebhookMessage & Record<string, unknown>)[];
        statuses?: Record<string, unknown>[];
      };
    }[];
  }[];
}

/**
 * The customers' WhatsApp ids a payload names — senders, contacts and status recipients — recorded on the
 * processed event so that erasure finds a customer's raw events.
 */
export function waIdsOf(payload: WebhookPayload): string[] {
  const ids = new Set<string>();
  for (const entry of payload.entry ?? []) {
    for (const change of entry.changes ?? []) {
      const value = change.value;
      for (const contact of value?.contacts ?? []) if (contact.wa_id) ids.add(String(contact.wa_id));
      for (const message of value?.messages ?? []) if (message.from) ids.add(String(message.from));
      for (const status of value?.statuses ?? [])
        if (status.recipient_id) ids.add(String(status.recipient_id));
    }
  }
  return [...ids];
}

/** The kinds of sensitive data masked out of one message (card_number, pin, tan, password, cvc …). */
function findingKinds(findings: MaskFinding[]): string[] {
  return [...new Set(findings.map((f) => (f.kind === "secret" ? f.secretType : f.kind)))];
}

/**
 * Card numbers and secrets in customer texts are masked before the event is stored, so the clear
 * number never reaches Postgres or Redis — not even in the raw event log. Ids and metadata stay intact.
 * What was masked is noted on the message (`kanal_masked`), so the ingest can still send the customer
 * the one-time hint although it only ever sees the masked text.
 */
export function maskWebhookPayload(payload: WebhookPayload): WebhookPayload {
  maskInPlace(payload);
  return payload;
}

/** Masks the payload in place; true when anything was masked. */
function maskInPlace(payload: WebhookPayload): boolean {
  let changed = false;
  for (const entry of payload.entry ?? []) {
    for (const change of entry.changes ?? []) {
      // A profile name is typed by the customer too.
      for (const contact of change.value?.contacts ?? []) {
        if (contact.profile?.name === undefined) continue;
        const masked = maskForStorage(contact.profile.name);
        if (masked.findings.length > 0) {
          contact.profile.name = masked.text;
          changed = true;
        }
      }
      for (const m of change.value?.messages ?? []) {
        const findings: MaskFinding[] = [];
        const mask = (s: string | undefined) => {
          if (s === undefined) return s;
          const result = maskForStorage(s);
          findings.push(...result.findings);
          return result.text;
        };
        if (m.text) m.text.body = mask(m.text.body);
        for (const media of [m.image, m.document, m.video]) if (media) media.caption = mask(media.caption);
        // A filename is typed by the customer like a caption ("Kreditkarte 4111 1111 1111 1111.pdf").
        if (m.document) m.document.filename = mask(m.document.filename);
        if (m.location) {
          m.location.name = mask(m.location.name);
          m.location.address = mask(m.location.address);
        }
        if (m.button) m.button.text = mask(m.button.text);
        if (m.interactive?.button_reply)
          m.interactive.button_reply.title = mask(m.interactive.button_reply.title);
        if (m.interactive?.list_reply) {
          m.interactive.list_reply.title = mask(m.interactive.list_reply.title);
          m.interactive.list_reply.description = mask(m.interactive.list_reply.description);
        }
        if (findings.length > 0) {
          const earlier = Array.isArray(m.kanal_masked) ? (m.kanal_masked as string[]) : [];
          m.kanal_masked = [...new Set([...earlier, ...findingKinds(findings)])];
          changed = true;
        }
      }
    }
  }
  return changed;
}

export type StoredWebhook = { id: string; status: "pending" | "dead"; receivedAt: Date };

type WebhookRow = { body: string; status: "pending" | "dead"; error: string | null };

/**
 * The row to store for one webhook POST (already signature-checked). Malformed JSON becomes a dead
 * letter, still stored. The raw bytes are kept as they came unless masking changed a customer text —
 * then the masked payload is stored instead, so a clear card number never reaches Postgres.
 */
function webhookRow(raw: string): WebhookRow {
  try {
    const parsed = JSON.parse(raw) as WebhookPayload;
    if (typeof parsed !== "object" || parsed === null || !Array.isArray(parsed.entry))
      throw new Error("no entry array");
    return { body: maskedOrNull(parsed) ?? raw, status: "pending", error: null };
  } catch (e) {
    // Unparseable: keep it for inspection, masked as plain text, and never retry it.
    return {
      body: maskForStorage(raw).text,
      status: "dead",
      error: `malformed: ${(e as Error).message}`.slice(0, 300),
    };
  }
}

/** The masked payload as JSON when masking found something, otherwise null (store the raw bytes). */
function maskedOrNull(parsed: WebhookPayload): string | null {
  return maskInPlace(parsed) ? JSON.stringify(parsed) : null;
}

/**
 * Group commit for the webhook hot path: concurrent POSTs are stored with one multi-row INSERT (one
 * round trip, one commit) instead of one each. A request waits for nothing extra — whatever arrives
 * while a batch is being written forms the next batch — and is answered only after its own row has
 * committed. A failed batch fails every request in it (Meta retries them), so nothing is acknowledged
 * unstored. One batch is under way at a time by default: more in flight made the batches smaller, so
 * the round trips and commits per webhook went up (docs/BENCHMARKS.md §3, ADR 0010).
 */
export class WebhookStore {
  private queue: { row: WebhookRow; resolve: (s: StoredWebhook) => void; reject: (e: Error) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly db: Db,
    /** Called with each batch's stored pending events (to hand them to the worker). */
    private readonly onStored: (events: Pick<StoredWebhook, "id" | "receivedAt">[]) => void,
    private readonly options: { maxBatch?: number; maxInFlight?: number } = {},
  ) {}

  store(raw: string): Promise<StoredWebhook> {
    const row = webhookRow(raw);
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < (this.options.maxInFlight ?? 1)) {
      const batch = this.queue.splice(0, this.options.maxBatch ?? 500);
      this.inFlight++;
      void this.write(batch);
    }
  }

  private async write(batch: typeof this.queue): Promise<void> {
    let rows: InsertedWebhook[] | null = null;
    try {
      const parameters: (string | null)[] = [];
      for (const b of batch) parameters.push(b.row.body, b.row.status, b.row.error);
      // One named statement per batch size, its text built once and prepared once per connection: the
      // query builder's compile and Postgres' parse and plan of a fresh statement per batch were the
      // larger part of this path's cost (ADR 0010).
      rows = (
        await poolOf(this.db).query<InsertedWebhook>({
          name: `kanal_webhook_insert_${batch.length}`,
          text: insertStatement(batch.length),
          values: parameters,
        })
      ).rows;
    } catch (error) {
      for (const b of batch) b.reject(error as Error);
    } finally {
      // The next batch goes out before this one's requests are answered (a socket write each), not after.
      this.inFlight--;
      this.pump();
    }
    if (rows === null) return;
    // What is handed on is decided by each returned row's own status, not by its position; the
    // position (VALUES order, which Postgres keeps) only names the id in a request's answer and log.
    const pending: Pick<StoredWebhook, "id" | "receivedAt">[] = [];
    for (const r of rows) if (r.status === "pending") pending.push({ id: r.id, receivedAt: r.received_at });
    this.onStored(pending);
    batch.forEach((b, i) => {
      const row = rows?.[i];
      if (row) b.resolve({ id: row.id, status: b.row.status, receivedAt: row.received_at });
      else b.reject(new Error("webhook batch insert returned fewer rows than it was given"));
    });
  }
}

type InsertedWebhook = { id: string; received_at: Date; status: string };

const insertStatements: string[] = [];

/** `insert … values ($1, $2, $3), ($4, $5, $6) … returning …` for `rows` rows (cached per size). */
function insertStatement(rows: number): string {
  let statement = insertStatements[rows];
  if (statement === undefined) {
    const values = Array.from({ length: rows }, (_, i) => `($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`);
    statement = `insert into control.webhook_events (body, status, error) values ${values.join(", ")} returning id, received_at, status`;
    insertStatements[rows] = statement;
  }
  return statement;
}

/** Job ids carry the receipt time too: event ids restart with a new database, Redis may remember old jobs. */
const eventJobId = (id: string, receivedAt: Date) => `evt-${id}-${receivedAt.getTime()}`;

/**
 * Enqueues every stored event that was never processed (Redis was down when it arrived, or its job was
 * lost). Safe to run any time: processing is idempotent and a processed event is skipped.
 */
export async function sweepPendingWebhooks(
  db: Db,
  queues: Queues,
  options: { olderThanSeconds?: number; limit?: number } = {},
): Promise<number> {
  const rows = await db
    .withSchema("control")
    .selectFrom("webhook_events")
    .select(["id", "received_at"])
    .where("status", "=", "pending")
    .where(sql<boolean>`received_at < now() - make_interval(secs => ${options.olderThanSeconds ?? 10})`)
    .orderBy("id")
    .limit(options.limit ?? 1_000)
    .execute();
  for (const row of rows) {
    await queues.inbound.add(
      "process-event",
      { eventId: String(row.id) },
      { jobId: `${eventJobId(String(row.id), row.received_at)}-sweep-${Date.now()}` },
    );
  }
  if (rows.length > 0) {
    await db
      .withSchema("control")
      .updateTable("webhook_events")
      .set({ enqueued_at: new Date() })
      .where(
        "id",
        "in",
        rows.map((r) => String(r.id)),
      )
      .execute();
  }
  return rows.length;
}

/**
 * One `process-events` job per at most `MAX_EVENTS_PER_JOB` events, in the order given. The job id is
 * that of the batch's first event plus the batch's size: an event is handed to the relay once, so no two
 * different batches share it, and a re-add of the same batch is deduplicated by BullMQ.
 */
export function eventBatchJobs(events: Pick<StoredWebhook, "id" | "receivedAt">[]) {
  const jobs: { name: "process-events"; data: ProcessEventsJob; opts: { jobId: string } }[] = [];
  for (let start = 0; start < events.length; start += MAX_EVENTS_PER_JOB) {
    const chunk = events.slice(start, start + MAX_EVENTS_PER_JOB);
    const first = chunk[0] as Pick<StoredWebhook, "id" | "receivedAt">;
    jobs.push({
      name: "process-events",
      data: { eventIds: chunk.map((event) => event.id) },
      opts: { jobId: `evts-${first.id}-${first.receivedAt.getTime()}-${chunk.length}` },
    });
  }
  return jobs;
}

/**
 * Hands stored events to BullMQ in batches: one `addBulk` per few milliseconds, and one
 * `process-events` job per ≤ 100 events instead of one job per webhook (a job costs the API and Redis
 * more than an event in it). An event waits at most `delayMs` plus the `addBulk` under way, one `addBulk`
 * is under way at a time, and whatever arrives meanwhile forms the next batch — so under load the
 * batches grow instead of the calls and jobs, while at low rates a job holds the one or two events of a
 * few milliseconds. The row in Postgres stays
 * the source of truth: whatever a crash or a Redis outage keeps from being enqueued, the sweeper enqueues
 * later.
 */
export class WebhookRelay {
  private pending: Pick<StoredWebhook, "id" | "receivedAt">[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private readonly delayMs: number;
  private readonly maxBatch: number;

  constructor(
    private readonly queues: Queues,
    private readonly onError: (error: Error, count: number) => void,
    options: { delayMs?: number; maxBatch?: number } = {},
  ) {
    this.delayMs = options.delayMs ?? 3;
    this.maxBatch = options.maxBatch ?? 500;
  }

  push(event: Pick<StoredWebhook, "id" | "receivedAt">): void {
    this.pending.push(event);
    if (!this.sending) this.schedule(); // else: scheduled when the batch under way is done
  }

  /** Sends what is pending now (after the batch under way, if any); resolves when it is sent. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.sending) await this.sending;
    const batch = this.pending.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    this.sending = this.send(batch);
    try {
      await this.sending;
    } finally {
      this.sending = null;
    }
    this.schedule();
  }

  /** Sends everything pending, batch after batch, until nothing is left (at shutdown). */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.sending) await this.flush();
  }

  private schedule(): void {
    if (this.pending.length >= this.maxBatch) void this.flush();
    else if (this.pending.length > 0) this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
  }

  private async send(batch: Pick<StoredWebhook, "id" | "receivedAt">[]): Promise<void> {
    try {
      await this.queues.inbound.addBulk(eventBatchJobs(batch));
    } catch (error) {
      this.onError(error as Error, batch.length);
    }
  }
}
