import {
  backfillForUser,
  drainQueues,
  routeConversation,
  routingTick,
  routingTickForTenant,
} from "@kanal/core/routing";
import { defineProcessor } from "../../registry";

/**
 * The routing queue. Every job is idempotent: route-conversation skips a conversation that already has
 * a decision (or is closed), back-fill and ticks only ever move chats that are still waiting.
 */
export const routingProcessor = defineProcessor({
  queue: "routing",
  concurrency: 8,
  schedules: [{ jobName: "routing-tick", everyMs: 15_000 }],
  handlers: {
    "route-conversation": async (data, { services }) => routeConversation(services, data),
    // Someone came online, closed a chat or gained capacity: drain the queues they serve.
    backfill: async ({ userId }, { services }) => ({
      assigned: (await backfillForUser(services, userId)).length,
    }),
    "drain-queue": async (target, { services }) => ({
      assigned: (await drainQueues(services, [target])).length,
    }),
    // After a config change: closing policy and back-fill for one bank right away.
    "tick-tenant": async ({ tenantId }, { services }) => routingTickForTenant(services, tenantId),
    // Closing time, openings, missed back-fills and unanswered chats, for every bank.
    "routing-tick": async (_data, { services }) => routingTick(services),
  },
});
