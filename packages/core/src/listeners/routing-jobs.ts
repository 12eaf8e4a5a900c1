import { addJob } from "@kanal/queue";
import type { DomainEvent } from "../kernel/domain-events";
import type { Services } from "../services";

/**
 * Routing jobs after a transition: a person who lost or closed a chat has a free slot, so the queues
 * they serve are drained (back-fill); a chat that went into a queue may be taken by someone available
 * now (drain). Both are hints, not obligations: the routing tick drains every queue every few seconds,
 * so a job lost with Redis delays a chat, never strands it.
 */
export function routingJobsListener(services: Services) {
  return async (events: readonly DomainEvent[]): Promise<void> => {
    const freed = new Set<string>();
    const queued = new Map<string, { tenantId: string; side: "bank" | "ksc" }>();
    for (const event of events) {
      if (event.type === "conversation.released") freed.add(event.userId);
      if (event.type === "conversation.queued")
        queued.set(`${event.bank.id}-${event.queue}`, { tenantId: event.bank.id, side: event.queue });
    }
    for (const userId of freed)
      await addJob(services.queues, "routing", "backfill", { userId }, { removeOnComplete: true });
    for (const target of queued.values())
      await addJob(services.queues, "routing", "drain-queue", target, { removeOnComplete: true });
  };
}
