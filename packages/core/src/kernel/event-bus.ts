import type { DomainEvent, DomainEventBus } from "./domain-events";

type DomainEventListener = (events: readonly DomainEvent[]) => Promise<void>;

/**
 * The process's listeners for committed domain events, in registration order. A listener that fails is
 * logged and the others still run: the transaction has committed, and each effect has its own recovery
 * (the routing tick, the outbox sweeper, the console's refetch on reconnect).
 */
export class EventBus implements DomainEventBus {
  private readonly listeners: { name: string; listener: DomainEventListener }[] = [];

  constructor(private readonly onError: (listener: string, error: Error) => void) {}

  register(name: string, listener: DomainEventListener): void {
    this.listeners.push({ name, listener });
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
