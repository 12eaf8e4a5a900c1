import type { DomainEvent, DomainEventBus } from "./domain-events";
import type { Trx } from "./executor";

type DomainEventListener = (events: readonly DomainEvent[]) => Promise<void>;

/** A job a projection wants written to the outbox (the outbox's own job type, seen from the kernel). */
export interface ProjectedJob {
  queue: "inbound" | "dispatch" | "routing" | "maintenance" | "billing" | "webhooks";
  name: string;
  data: Record<string, unknown>;
  opts?: { jobId?: string; priority?: number; delay?: number };
}

/**
 * A projection turns a transaction's events into durable work INSIDE that transaction — rows it writes
 * itself and outbox jobs it returns — for effects that must happen at least once (events delivered to a
 * bank's systems), where an after-commit listener could be lost with the process.
 */
export type DomainEventProjection = (trx: Trx, events: readonly DomainEvent[]) => Promise<ProjectedJob[]>;

/**
 * The process's listeners for committed domain events, in registration order. A listener that fails is
 * logged and the others still run: the transaction has committed, and each effect has its own recovery
 * (the routing tick, the outbox sweeper, the console's refetch on reconnect).
 */
export class EventBus implements DomainEventBus {
  private readonly listeners: { name: string; listener: DomainEventListener }[] = [];
  private readonly projections: { name: string; projection: DomainEventProjection }[] = [];

  constructor(private readonly onError: (listener: string, error: Error) => void) {}

  register(name: string, listener: DomainEventListener): void {
    this.listeners.push({ name, listener });
  }

  registerProjection(name: string, projection: DomainEventProjection): void {
    this.projections.push({ name, projection });
  }

  /** Runs every projection in the committing transaction; a failing projection fails the transaction. */
  async project(trx: Trx, events: readonly DomainEvent[]): Promise<ProjectedJob[]> {
    if (events.length === 0 || this.projections.length === 0) return [];
    const jobs: ProjectedJob[] = [];
    for (const { projection } of this.projections) jobs.push(...(await projection(trx, events)));
    return jobs;
  }

  async emit(events: readonly DomainEvent[]): Promise<void> {
    if (events.length === 0) return;
    for (const { name, listener } of this.listeners) {
      try {
        await listener(events);
      } catch (error) {
        this.onError(name, error as Error);
      }
    }
  }
}
