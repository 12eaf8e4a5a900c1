import type { QueueSide, RoutingAgent } from "./types";
import { compareByLoad, personAvailability } from "./types";

export interface QueueEntry {
  conversationId: string;
  queue: QueueSide;
  queuedAt: Date;
}

export interface BackfillOptions {
  /** Bank agents take from the bank queue only inside service hours (default true). */
  bankOpen?: boolean;
}

function queueFor(agent: RoutingAgent, options: BackfillOptions): QueueSide | null {
  if (agent.kind === "ksc") return "ksc";
  // Advisors receive only chats addressed to them, which never wait in a side queue.
  if (agent.kind === "advisor") return null;
  return (options.bankOpen ?? true) ? "bank" : null;
}

function freeSlots(agent: RoutingAgent): number {
  if (!personAvailability(agent).available) return 0;
  return agent.maxChats === null ? Number.POSITIVE_INFINITY : agent.maxChats - agent.openCount;
}

function oldestFirst(entries: readonly QueueEntry[]): QueueEntry[] {
  // Copy before sorting; equal timestamps keep their given order (Array.prototype.sort is stable).
  return [...entries].sort((a, b) => a.queuedAt.getTime() - b.queuedAt.getTime());
}

/**
 * An agent became available (came online or freed capacity): the waiting conversations of their
 * side they take now, oldest first, up to their free capacity.
 */
export function selectForBackfill(
  entries: readonly QueueEntry[],
  agent: RoutingAgent,
  options: BackfillOptions = {},
): QueueEntry[] {
  const queue = queueFor(agent, options);
  if (!queue) return [];
  const slots = freeSlots(agent);
  if (slots <= 0) return [];
  return oldestFirst(entries.filter((entry) => entry.queue === queue)).slice(0, slots);
}

export interface BackfillAssignment {
  conversationId: string;
  userId: string;
  queue: QueueSide;
}

/**
 * Drains queues across several available agents: each waiting conversation, oldest first,
 * goes to the least-loaded eligible agent of its side (loads update as chats are handed out).
 */
export function planBackfill(
  entries: readonly QueueEntry[],
  agents: readonly RoutingAgent[],
  options: BackfillOptions = {},
): BackfillAssignment[] {
  const working = agents
    .filter((agent) => queueFor(agent, options) !== null && freeSlots(agent) > 0)
    .map((agent) => ({ ...agent }));
  const assignments: BackfillAssignment[] = [];
  // Stand-in timestamps later than any real one, so a just-served agent loses ties (stays pure).
  let sequence = Math.max(0, ...working.map((agent) => agent.lastAssignedAt?.getTime() ?? 0));
  for (const entry of oldestFirst(entries)) {
    const next = working
      .filter((agent) => queueFor(agent, options) === entry.queue && freeSlots(agent) > 0)
      .sort(compareByLoad)[0];
    if (!next) continue;
    assignments.push({ conversationId: entry.conversationId, userId: next.userId, queue: entry.queue });
    next.openCount += 1;
    sequence += 1;
    next.lastAssignedAt = new Date(sequence);
  }
  return assignments;
}
