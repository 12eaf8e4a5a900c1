import { auditTenant } from "../kernel/audit";
import { AppError, conflict, invalid, notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { Services } from "../services";
import { accessConversation } from "./access";
import type { RoutedConversation } from "./handover";

/**
 * Personensuche result: the WhatsApp contact of this chat is the customer record `customerId`. The
 * record takes over the contact's WhatsApp identity and conversations; the bare contact row goes.
 */
export async function linkConversationCustomer(
  services: Services,
  rctx: RequestContext,
  slug: string,
  conversationId: string,
  customerId: string,
): Promise<RoutedConversation & { customerId: string }> {
  const { access, conversation } = await accessConversation(
    services,
    rctx,
    slug,
    conversationId,
    "link_customer",
  );
  if (access.via === "ksc")
    throw new AppError("forbidden", "Only the bank's staff link chats to customer records");
  if (conversation.customer_id === customerId) return { ...summaryOf(conversation), customerId };
  const saved = await services.db.transaction().execute(async (trx) => {
    const t = trx.withSchema(access.schema);
    const contact = await t
      .selectFrom("customers")
      .selectAll()
      .where("id", "=", conversation.customer_id)
      .forUpdate()
      .executeTakeFirst();
    const record = await t
      .selectFrom("customers")
      .selectAll()
      .where("id", "=", customerId)
      .forUpdate()
      .executeTakeFirst();
    if (!record)
      throw invalid("Unknown customer", [{ path: "customerId", message: "is not a customer of this bank" }]);
    if (!contact) throw notFound("Conversation");
    if (record.wa_id && contact.wa_id && record.wa_id !== contact.wa_id) {
      throw conflict("That customer record already belongs to another WhatsApp number", [
        { path: "customerId", message: "has another WhatsApp number" },
      ]);
    }
    const recordOpen = await t
      .selectFrom("conversations")
      .select("id")
      .where("customer_id", "=", record.id)
      .where("status", "<>", "closed")
      .executeTakeFirst();
    if (recordOpen && conversation.status !== "closed") {
      throw conflict("That customer already has an open conversation");
    }
    await t
      .updateTable("conversations")
      .set({ customer_id: record.id })
      .where("customer_id", "=", contact.id)
      .execute();
    await t.updateTable("customers").set({ wa_id: null }).where("id", "=", contact.id).execute();
    await t
      .updateTable("customers")
      .set({
        wa_id: contact.wa_id ?? record.wa_id,
        profile_name: record.profile_name ?? contact.profile_name,
        opted_in_at: record.opted_in_at ?? contact.opted_in_at,
        updated_at: new Date(),
      })
      .where("id", "=", record.id)
      .execute();
    // The bare contact only existed because this number wrote before it was known; nothing refers to it now.
    if (!contact.external_ref) await t.deleteFrom("customers").where("id", "=", contact.id).execute();
    await auditTenant(trx, access.schema, rctx.actor, {
      action: "conversation.customer_linked",
      targetType: "conversation",
      targetId: conversation.id,
      details: { from: contact.id, to: record.id },
      ip: rctx.ip ?? null,
      requestId: rctx.requestId ?? null,
    });
    return t
      .selectFrom("conversations")
      .selectAll()
      .where("id", "=", conversation.id)
      .executeTakeFirstOrThrow();
  });
  return { ...summaryOf(saved), customerId: saved.customer_id };
}

function summaryOf(row: {
  id: string;
  status: string;
  assignee_user_id: string | null;
  handled_by: string | null;
  queue: string | null;
  routing: unknown;
}): RoutedConversation {
  return {
    id: row.id,
    status: row.status,
    assigneeUserId: row.assignee_user_id,
    handledBy: row.handled_by,
    queue: row.queue,
    routing: (row.routing ?? null) as Record<string, unknown> | null,
  };
}
