import type { Database, Db, Transaction } from "@kanal/db";
import type { Trx } from "../kernel/executor";
import type { DomainEvent } from "../kernel/domain-events";
import type { Services } from "../services";
import { type OutboxEntry, type OutboxJob, relayOutbox, writeOutbox } from "./outbox";

/**
 * What one transaction produces besides its rows: domain events for the listeners and jobs for the
 * outbox. Verbs add to it; `inTransaction` writes the jobs with the rows and, only after commit, relays
 * them and hands the events to the listeners.
 */
export class Changes {
  readonly events: DomainEvent[] = [];
  readonly jobs: OutboxJob[] = [];

  emit(...events: DomainEvent[]): void {
    this.events.push(...events);
  }

  enqueue(...jobs: OutboxJob[]): void {
    this.jobs.push(...jobs);
  }
}

/**
 * Runs `fn` in one transaction of `db` (default: the shared pool), writes the jobs it asked for into the
 * outbox in that transaction, and after commit relays them and emits its events. A rolled-back
 * transaction tells nobody anything.
 */
export async function inTransaction<T>(
  services: Services,
  fn: (trx: Transaction<Database>, changes: Changes) => Promise<T>,
  db: Db = services.db,
): Promise<T> {
  const changes = new Changes();
  const { result, entries } = await db.transaction().execute(async (trx) => {
    const result = await fn(trx, changes);
    return { result, entries: await beforeCommit(services, trx, changes) };
  });
  await afterCommit(services, changes, entries);
  return result;
}

/**
 * The before-commit half of `inTransaction`, for callers that open their transaction themselves: the
 * projections' durable work, then every job into the outbox.
 */
export async function beforeCommit(services: Services, trx: Trx, changes: Changes): Promise<OutboxEntry[]> {
  changes.enqueue(...((await services.events.project(trx, changes.events)) as OutboxJob[]));
  return writeOutbox(trx, changes.jobs);
}

/** The after-commit half of `inTransaction`, for callers that open their transaction themselves. */
export async function afterCommit(
  services: Services,
  changes: Changes,
  entries: readonly OutboxEntry[],
): Promise<void> {
  await relayOutbox(services, entries);
  await services.events.emit(changes.events);
}
