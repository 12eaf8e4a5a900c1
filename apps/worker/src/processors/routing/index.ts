import {
  backfillForUser,
  drainQueues,
  routeConversation,
  routingTick,
  routingTickForTenant,
} from "@kanal/core";
import type { Processor } from "../../registry";

interface RouteJob {
  tenantId: string;
  conversationId: string;
  trigger?: string;
}

function requireString(data: Record<string, unknown>, key: string): string {
  const value = data[key];
  if (typeof value !== "string" || value.length === 0) throw new Error(`job data lacks ${key}`);
  return value;
}

/**
 * The routing queue. Every job is idempotent: route-conversation skips a conversation that already has
 * a decision (or is closed), back-fill and ticks only ever move chats that are still waiting.
 */
export const routingProcessor: Processor = {
  queue: "routing",
  concurrency: 8,
  schedules: [{ jobName: "routing-tick", everyMs: 15_000 }],
  handlers: {
    "route-conversation": async (job, { services }) => {
      const data = job.data as RouteJob;
      return routeConversation(services, {
        tenantId: requireString(job.data, "tenantId"),
        conversationId: requireString(job.data, "conversationId"),
        trigger: data.trigger ?? "new",
      });
    },
    // Someone came online, closed a chat or gained capacity: drain the queues they serve.
    backfill: async (job, { services }) => {
      const assigned = await backfillForUser(services, requireString(job.data, "userId"));
      return { assigned: assigned.length };
    },
    "drain-queue": async (job, { services }) => {
      const side = job.data.side === "ksc" ? "ksc" : "bank";
      const assigned = await drainQueues(services, [{ tenantId: requireString(job.data, "tenantId"), side }]);
      return { assigned: assigned.length };
    },
    // After a config change: closing policy and back-fill for one bank right away.
    "tick-tenant": async (job, { services }) =>
      routingTickForTenant(services, requireString(job.data, "tenantId")),
    // Closing time, openings, missed back-fills and unanswered chats, for every bank.
    "routing-tick": async (_job, { services }) => routingTick(services),
  },
};
