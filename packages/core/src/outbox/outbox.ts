import type { JobsOptions } from "bullmq";
import { type Database, type Db, sql, type Transaction } from "@kanal/db";
import type { JobData, JobName, QueueKey } from "@kanal/queue";
import type { Services } from "../services";

/**
 * The transactional outbox (ADR 0013), the outbound twin of the webhook intake: a transaction that wants
 * a job run writes it into `control.outbox` together with its own rows; right after commit the writer
 * relays it to BullMQ and deletes the row; whatever a crash or a Redis outage kept from being relayed,
 * the worker's sweeper relays later. So a job exists only for committed rows (dispatch never waits for a
 * transaction), and a committed row always gets its job. Jobs are idempotent and carry a `jobId`, so a
 * row relayed twice (relay and sweeper racing) runs once or finds its work done.
 */
export interface OutboxJob {
  queue: QueueKey;
  name: string;
  /** ids only, never a message text */
  data: Record<string, unknown>;
  opts?: Pick<JobsOptions, "jobId" | "priority" | "delay">;
}

/** An outbox job whose name and payload type-check against the job catalogue of @kanal/queue. */
export function outboxJob<Q extends QueueKey, N extends JobName<Q>>(
  queue: Q,
  name: N,
  data: JobData<Q, N>,
  opts?: OutboxJob["opts"],
): OutboxJob {
  return { queue, name, data: data as Record<string, unknown>, ...(opts && { opts }) };
}

export interface OutboxEntry extends OutboxJob {
  id: string;
}

/** Writes jobs in the caller's transaction (one statement for all of them). */
export async function writeOutbox(
  trx: Transaction<Database>,
  jobs: readonly OutboxJob[],
): Promise<OutboxEntry[]> {
  if (jobs.length === 0) return [];
  const rows = await sql<{ id: string }>`
    insert into control.outbox (queue, name, data, opts)
    select * from unnest(${jobs.map((j) => j.queue)}::text[], ${jobs.map((j) => j.name)}::text[],
      ${jobs.map((j) => JSON.stringify(j.data))}::jsonb[], ${jobs.map((j) => JSON.stringify(j.opts ?? {}))}::jsonb[])
    returning id`.execute(trx);
  return rows.rows.map((row, i) => ({ ...(jobs[i] as OutboxJob), id: String(row.id) }));
}

async function addJobs(services: Services, entries: readonly OutboxJob[]): Promise<void> {
  const byQueue = new Map<QueueKey, OutboxJob[]>();
  for (const entry of entries) byQueue.set(entry.queue, [...(byQueue.get(entry.queue) ?? []), entry]);
  for (const [queue, jobs] of byQueue) {
    await services.queues[queue].addBulk(
      jobs.map((j) => ({ name: j.name, data: j.data, opts: j.opts ?? {} })),
    );
  }
}

/**
 * After commit: hands the entries to BullMQ and deletes their rows. Never throws — the transaction has
 * committed, and a row that could not be relayed or deleted is the sweeper's.
 */
export async function relayOutbox(services: Services, entries: readonly OutboxEntry[]): Promise<void> {
  if (entries.length === 0) return;
  try {
    await addJobs(services, entries);
    await services.db
      .withSchema("control")
      .deleteFrom("outbox")
      .where("id", "=", sql<string>`any(${entries.map((e) => e.id)}::bigint[])`)
      .execute();
  } catch (error) {
    services.logger.warn(
      { jobs: entries.length, err: (error as Error).message },
      "outbox relay failed; the sweeper relays these jobs",
    );
  }
}

/**
 * Relays rows older than `olderThanMs` (their writer's relay failed or never ran). Each row is locked,
 * added to BullMQ and deleted in one transaction, so a failed add leaves it for the next sweep and two
 * sweepers never take the same row. Returns how many rows were relayed.
 */
export async function sweepOutbox(
  services: Services,
  options: { olderThanMs?: number; limit?: number } = {},
): Promise<number> {
  const olderThan = new Date(Date.now() - (options.olderThanMs ?? 5_000));
  return relayOldest(services.db, services, olderThan, options.limit ?? 500);
}

async function relayOldest(db: Db, services: Services, olderThan: Date, limit: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .withSchema("control")
      .selectFrom("outbox")
      .selectAll()
      .where("created_at", "<", olderThan)
      .orderBy("id")
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
    if (rows.length === 0) return 0;
    await addJobs(
      services,
      rows.map((r) => ({
        queue: r.queue as QueueKey,
        name: r.name,
        data: r.data,
        opts: r.opts as OutboxJob["opts"],
      })),
    );
    await trx
      .withSchema("control")
      .deleteFrom("outbox")
      .where(
        "id",
        "in",
        rows.map((r) => r.id),
      )
      .execute();
    return rows.length;
  });
}
