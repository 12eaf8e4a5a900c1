import type { RequestContext } from "../kernel/request-context";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";
import { accessConversation } from "./access";
import { bankRef } from "./bank";
import type { RoutedConversation } from "./handover";
import { close, lockConversation } from "./transitions";

/** Closing a chat frees its handler's slot, who then takes the oldest waiting chat of their queues. */
export async function closeConversation(
  services: Services,
  rctx: RequestContext,
  slug: string,
  conversationId: string,
): Promise<RoutedConversation> {
  const { access, userId } = await accessConversation(services, rctx, slug, conversationId, "close");
  const bank = bankRef(access.tenant);
  return inTransaction(services, async (trx, changes) => {
    // Closing only lowers a load: the row lock is enough, no bank lock.
    const row = await lockConversation(trx, bank, conversationId, { bankLock: false });
    const closed = await close(trx, bank, row, {
      byUserId: userId,
      now: new Date(),
      audit: {
        actor: rctx.actor,
        action: "conversation.closed",
        details: { assignee: row.assignee_user_id, wasStatus: row.status },
        ip: rctx.ip ?? null,
        requestId: rctx.requestId ?? null,
      },
    });
    changes.emit(...closed.events);
    return {
      id: row.id,
      status: "closed",
      assigneeUserId: row.assignee_user_id,
      handledBy: row.handled_by,
      queue: closed.changed ? null : row.queue,
      routing: (row.routing ?? null) as Record<string, unknown> | null,
    };
  });
}
