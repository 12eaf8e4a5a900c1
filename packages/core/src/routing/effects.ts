import type { Tenant } from "@kanal/db";
import { publishToUsers } from "../events";
import type { Services } from "../services";
import { sendAwayMessage } from "./away";

/**
 * What a routing transaction wants the world to know, done only AFTER it committed: an agent must
 * never be told about a chat that a rolled-back transaction did not give them.
 */
export interface RoutingEffects {
  assigned: { userId: string; data: Record<string, unknown> }[];
  updated: { userIds: string[]; data: Record<string, unknown> }[];
  away: { tenant: Tenant; conversationId: string; template: string; nextOpening: Date | null }[];
  /** People who gave a slot back and may take from a queue now. */
  freed: string[];
  /** Queues that got a chat and may be drained by someone available. */
  queued: { tenantId: string; side: "bank" | "ksc" }[];
}

export const noEffects = (): RoutingEffects => ({
  assigned: [],
  updated: [],
  away: [],
  freed: [],
  queued: [],
});

export async function runEffects(services: Services, effects: RoutingEffects): Promise<void> {
  for (const a of effects.assigned) {
    await publishToUsers(services.redis, [a.userId], "conversation.assigned", a.data);
  }
  for (const u of effects.updated) {
    await publishToUsers(services.redis, u.userIds, "conversation.updated", u.data);
  }
  for (const away of effects.away) {
    try {
      await sendAwayMessage(services, away.tenant, away.conversationId, away.template, away.nextOpening);
    } catch (error) {
      // The period is recorded; a failed enqueue is logged rather than sending twice later.
      services.logger.error(
        { conversationId: away.conversationId, err: (error as Error).message },
        "away message could not be queued",
      );
    }
  }
  for (const userId of new Set(effects.freed)) {
    await services.queues.routing.add("backfill", { userId }, { removeOnComplete: true });
  }
  const seen = new Set<string>();
  for (const q of effects.queued) {
    const key = `${q.tenantId}-${q.side}`;
    if (seen.has(key)) continue;
    seen.add(key);
    await services.queues.routing.add("drain-queue", q, { removeOnComplete: true });
  }
}
