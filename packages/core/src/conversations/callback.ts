import { auditTenant } from "../kernel/audit";
import { newId } from "../kernel/crypto";
import type { RequestContext } from "../kernel/request-context";
import { inTransaction } from "../outbox/unit-of-work";
import { maskedOrNull, maskForStorage, viewerOf, viewText } from "../rules/guard";
import type { Services } from "../services";
import { accessConversation } from "./access";
import { bankRef } from "./bank";

interface CallbackView {
  id: string;
  conversationId: string;
  note: string;
  preferredTime: string | null;
  status: string;
  createdBy: string | null;
  createdAt: string;
}

/** Rückruf: a callback request for the bank, e.g. when the KSC may not answer a question itself. */
export async function requestCallback(
  services: Services,
  rctx: RequestContext,
  slug: string,
  conversationId: string,
  input: { note: string; preferredTime?: string | null },
): Promise<CallbackView> {
  const { access, conversation, userId } = await accessConversation(
    services,
    rctx,
    slug,
    conversationId,
    "callback",
  );
  const id = newId("cb");
  const row = await inTransaction(services, async (trx, changes) => {
    const saved = await trx
      .withSchema(access.schema)
      .insertInto("callbacks")
      .values({
        id,
        conversation_id: conversation.id,
        note: maskForStorage(input.note).text,
        preferred_time: maskedOrNull(input.preferredTime),
        created_by: userId,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await auditTenant(trx, access.schema, rctx.actor, {
      action: "callback.requested",
      targetType: "conversation",
      targetId: conversation.id,
      details: { callbackId: id, preferredTime: maskedOrNull(input.preferredTime) },
      ip: rctx.ip ?? null,
      requestId: rctx.requestId ?? null,
    });
    changes.emit({
      type: "callback.requested",
      bank: bankRef(access.tenant),
      conversationId: conversation.id,
      callbackId: id,
      byUserId: userId,
    });
    return saved;
  });
  return {
    id: row.id,
    conversationId: row.conversation_id,
    note: viewText(row.note, viewerOf(access)),
    preferredTime: viewText(row.preferred_time, viewerOf(access)),
    status: row.status,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
  };
}
