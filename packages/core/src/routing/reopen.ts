import { accessConversation } from "../conversations/access";
import { bankRef, loadBankContext } from "../conversations/bank";
import type { RoutedConversation } from "../conversations/handover";
import { lockConversation, reopen } from "../conversations/transitions";
import { AppError } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";
import { routeLockedConversation } from "./route";

/**
 * Reopens a chat closed too early, for the bank's staff: it is routed again at once, and inside the
 * bank's reopen window its previous holder gets it back when they are online and still eligible.
 */
export async function reopenConversation(
  services: Services,
  rctx: RequestContext,
  slug: string,
  conversationId: string,
): Promise<RoutedConversation> {
  const { access } = await accessConversation(services, rctx, slug, conversationId, "reopen");
  if (access.via === "ksc") throw new AppError("forbidden", "Only the bank's staff reopen conversations");
  const ctx = await loadBankContext(services.db, access.tenant.id);
  const bank = bankRef(ctx.tenant);
  const now = new Date();
  return inTransaction(services, async (trx, changes) => {
    const row = await lockConversation(trx, bank, conversationId);
    const previous =
      row.assignee_user_id && row.closed_at
        ? { userId: row.assignee_user_id, closedAt: row.closed_at }
        : null;
    await reopen(trx, bank, row, {
      now,
      audit: {
        actor: rctx.actor,
        action: "conversation.reopened",
        details: { previousAssignee: row.assignee_user_id },
        ip: rctx.ip ?? null,
        requestId: rctx.requestId ?? null,
      },
    });
    await routeLockedConversation(
      trx,
      ctx.tenant,
      { tenantId: ctx.tenant.id, conversationId, trigger: "reopen" },
      changes,
      now,
      { previousHandler: previous },
    );
    const saved = await trx
      .withSchema(ctx.schema)
      .selectFrom("conversations")
      .select(["id", "status", "assignee_user_id", "handled_by", "queue", "routing"])
      .where("id", "=", conversationId)
      .executeTakeFirstOrThrow();
    return {
      id: saved.id,
      status: saved.status,
      assigneeUserId: saved.assignee_user_id,
      handledBy: saved.handled_by,
      queue: saved.queue,
      routing: saved.routing,
    };
  });
}
