import { sql } from "@kanal/db";
import { newId } from "../kernel/crypto";
import type { BankRef } from "../kernel/domain-events";
import type { Trx } from "../kernel/executor";
import { maskedOrNull, maskJsonForStorage } from "../rules/guard";
import { CONVERSATION_FLAGS } from "./flags";
import type { InboundMessageInput } from "./receive";

/** The topic the console shows on a customer's notification thread. */
const THREAD_TOPIC = "Benachrichtigungen";

/**
 * Where each customer's notification goes: their open (or queued) conversation, so whoever holds the
 * chat sees what the bank sent; without one, their notification thread — a closed conversation flagged
 * `notifications`, one per customer (a unique index), that no agent holds and the console shows in the
 * customer's history. Threads are created here when missing; a thread is never routed, opened or billed,
 * and its `closed_at` moves with each notification, so retention counts from the latest one.
 */
export async function notificationConversations(
  trx: Trx,
  bank: BankRef,
  customerIds: readonly string[],
): Promise<Map<string, { conversationId: string; thread: boolean }>> {
  const table = sql.id(bank.schema, "conversations");
  const ids = [...new Set(customerIds)];
  const found = new Map<string, { conversationId: string; thread: boolean }>();
  if (ids.length === 0) return found;
  const open = await sql<{ id: string; customer_id: string }>`
    select id, customer_id from ${table} where customer_id = any(${ids}::text[]) and status <> 'closed'`.execute(
    trx,
  );
  for (const r of open.rows) found.set(r.customer_id, { conversationId: r.id, thread: false });
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0) {
    const flag = CONVERSATION_FLAGS.notifications;
    await sql`
      insert into ${table} (id, customer_id, status, opened_at, closed_at, last_message_at, topic, flags)
      select v.id, v.customer_id, 'closed', now(), now(), now(), ${THREAD_TOPIC}, array[${flag}]::text[]
      from unnest(${missing.map(() => newId("conv"))}::text[], ${missing}::text[]) as v(id, customer_id)
      on conflict (customer_id) where flags @> array['notifications']::text[] do nothing`.execute(trx);
    // A thread ages from its last notification (retention purges closed conversations by closed_at).
    const threads = await sql<{ id: string; customer_id: string }>`
      update ${table} set last_message_at = now(), closed_at = now()
      where customer_id = any(${missing}::text[]) and flags @> array[${flag}]::text[]
      returning id, customer_id`.execute(trx);
    for (const r of threads.rows) found.set(r.customer_id, { conversationId: r.id, thread: true });
  }
  return found;
}

/**
 * A customer's answer to a notification that needs nobody (a quick reply that only records the answer),
 * appended to the conversation the notification went to without opening or routing it: stored once
 * (dedup on wamid; the caller holds the customer's lock), masked like every inbound text, and the
 * customer's 24-hour window renewed. Returns the message id, or null for a duplicate.
 */
export async function appendToNotificationConversation(
  trx: Trx,
  bank: BankRef,
  contact: { waId: string; profileName: string | null },
  message: InboundMessageInput,
  conversationId: string,
): Promise<string | null> {
  const table = (name: string) => sql.id(bank.schema, name);
  const id = newId("msg");
  const { sentAt } = message;
  const row = (
    await sql<{ id: string }>`
    with customer as (
      update ${table("customers")} set last_inbound_at = greatest(coalesce(last_inbound_at, ${sentAt}), ${sentAt}),
        profile_name = coalesce(${contact.profileName}, profile_name), updated_at = now()
      where wa_id = ${contact.waId} returning id
    ), conv as (
      update ${table("conversations")} set last_inbound_at = ${sentAt}, last_message_at = ${sentAt},
        closed_at = case when status = 'closed' then greatest(closed_at, ${sentAt}) else closed_at end
      where id = ${conversationId} and customer_id = (select id from customer) returning id
    )
    insert into ${table("messages")} (id, conversation_id, direction, type, text, payload, wamid, context_wamid,
      status, kind, created_at)
    select ${id}, conv.id, 'inbound', ${message.type}, ${maskedOrNull(message.text)},
      ${JSON.stringify(maskJsonForStorage(message.payload))}::jsonb, ${message.wamid}, ${message.contextWamid},
      'received', 'customer', ${sentAt}
    from conv
    on conflict (wamid) do nothing
    returning id`.execute(trx)
  ).rows[0];
  return row?.id ?? null;
}
