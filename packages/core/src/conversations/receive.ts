import { type RawBuilder, sql } from "@kanal/db";
import type { Rule } from "@kanal/rules";
import { newId } from "../kernel/crypto";
import type { BankRef } from "../kernel/domain-events";
import type { Trx } from "../kernel/executor";
import { maskedOrNull, maskJsonForStorage } from "../rules/guard";
import { maskAndClassifyInbound } from "../rules/rule-book";
import { bankRoutingLockSql } from "./locks";

/** A customer's message as the channel describes it: a text to show and search, and its type's details. */
export interface InboundMessageInput {
  wamid: string;
  type: string;
  text: string | null;
  payload: Record<string, unknown>;
  media: {
    mediaId: string | null;
    mimeType: string | null;
    sha256: string | null;
    filename: string | null;
  } | null;
  contextWamid: string | null;
  sentAt: Date;
  /** kinds of sensitive data the channel masked before storage (card_number, pin …) */
  maskedKinds: string[];
}

export interface ReceivedMessage {
  conversationId: string;
  messageId: string;
  newConversation: boolean;
  /** who holds an existing conversation (null: it waits) */
  assigneeUserId: string | null;
  /** an existing conversation is the KSC's (held by it or waiting in its queue) */
  kscSide: boolean;
  /** an existing conversation's flags (the rule book's once-per-topic markers among them) */
  flags: string[];
  customerName: string | null;
  ruleId: string | null;
  ruleVersion: number | null;
  ruleAction: Rule["action"]["type"] | null;
  /** the stored (masked) text */
  text: string | null;
  sensitiveKinds: string[];
  hasMedia: boolean;
}

interface ReceiveOptions {
  /** Take the bank's routing lock with the insert (the caller routes a new conversation next; ADR 0005 lock order). */
  lockBankForRouting: boolean;
  /** A statement of the caller's (a `name as (…)` CTE) to run in the same round trip as the insert. */
  alongside?: RawBuilder<unknown>;
}

/**
 * Open/append, the first verb of the state machine: stores one customer message exactly once (dedup on
 * wamid; the caller's transaction holds the customer's lock), upserts the customer, masks and classifies
 * the text, and appends it to the customer's open conversation or opens a new one, waiting for its
 * routing decision. Texts, captions and filenames pass the data-protection guard before storage.
 * Returns null for a duplicate. Two round trips (plus one for media), as the ingest's hot path needs.
 */
export async function receiveMessage(
  trx: Trx,
  bank: BankRef,
  contact: { waId: string; profileName: string | null },
  message: InboundMessageInput,
  options: ReceiveOptions,
): Promise<ReceivedMessage | null> {
  const schema = bank.schema;
  const table = (name: string) => sql.id(schema, name);
  const { wamid, sentAt } = message;
  // One round trip: is it a duplicate, the customer (upserted unless it is), their open conversation and
  // the current rule-book version.
  const found = (
    await sql<{
      seen: boolean;
      customer_id: string | null;
      name: string | null;
      profile_name: string | null;
      conversation_id: string | null;
      assignee_user_id: string | null;
      handled_by: string | null;
      queue: string | null;
      flags: string[] | null;
      topic: string | null;
      rule_version: number | null;
    }>`
    with seen as (select id from ${table("messages")} where wamid = ${wamid}),
    customer as (
      insert into ${table("customers")} as cu (id, wa_id, profile_name, last_inbound_at, updated_at)
      select ${newId("cus")}, ${contact.waId}, ${contact.profileName}, ${sentAt}, now()
      where not exists (select 1 from seen)
      on conflict (wa_id) do update set
        profile_name = coalesce(excluded.profile_name, cu.profile_name),
        last_inbound_at = greatest(cu.last_inbound_at, excluded.last_inbound_at),
        updated_at = excluded.updated_at
      returning id, name, profile_name
    )
    select exists (select 1 from seen) as seen,
      customer.id as customer_id, customer.name, customer.profile_name,
      c.id as conversation_id, c.assignee_user_id, c.handled_by, c.queue, c.flags, c.topic,
      (select max(version) from ${table("rule_book_versions")}) as rule_version
    from (select 1) as one
    left join customer on true
    left join ${table("conversations")} c on c.customer_id = customer.id and c.status <> 'closed'`.execute(
      trx,
    )
  ).rows[0];
  if (!found || found.seen || !found.customer_id) return null;

  const masked = message.text
    ? await maskAndClassifyInbound(trx, schema, message.text, found.rule_version ?? undefined)
    : null;
  const text = masked?.text ?? null;
  const classifiedTopic = masked && !masked.classification.isDefault ? masked.classification.topic : null;
  const ruleId = masked?.classification.ruleId ?? null;
  const newConversation = !found.conversation_id;
  const conversationId = found.conversation_id ?? newId("conv");
  // The conversation (opened, or brought up to date) and the message, again in one round trip.
  const conversationStep = newConversation
    ? sql`insert into ${table("conversations")}
        (id, customer_id, status, queued_at, opened_at, last_inbound_at, last_message_at, topic, rule_id)
        values (${conversationId}, ${found.customer_id}, 'queued', now(), now(), ${sentAt}, ${sentAt},
          ${classifiedTopic}, ${ruleId})
        returning id`
    : // A conversation takes the topic of its first message that has one.
      !found.topic && classifiedTopic
      ? sql`update ${table("conversations")} set last_inbound_at = ${sentAt}, last_message_at = ${sentAt},
          topic = ${classifiedTopic}, rule_id = ${ruleId}
          where id = ${conversationId} returning id`
      : sql`update ${table("conversations")} set last_inbound_at = ${sentAt}, last_message_at = ${sentAt}
          where id = ${conversationId} returning id`;
  const messageId = newId("msg");
  const media = message.media ? { ...message.media, filename: maskedOrNull(message.media.filename) } : null;
  const inserted = (
    await sql<{ id: string }>`
    with conv as (${conversationStep}) ${options.alongside ? sql`, ${options.alongside}` : sql``}
    insert into ${table("messages")} (id, conversation_id, direction, type, text, payload, media, wamid,
      context_wamid, status, kind, topic, rule_id, rule_version, created_at)
    select ${messageId}, conv.id, 'inbound', ${message.type}, ${text},
      ${JSON.stringify(maskJsonForStorage(message.payload))}::jsonb, ${media ? JSON.stringify(media) : null}::jsonb,
      ${wamid}, ${message.contextWamid}, 'received', 'customer',
      ${masked?.classification.topic ?? null}, ${ruleId}, ${masked?.classification.version ?? null}, ${sentAt}
    from conv ${
      newConversation && options.lockBankForRouting
        ? sql`cross join (select ${bankRoutingLockSql(bank.id)}) as bank_lock`
        : sql``
    }
    on conflict (wamid) do nothing
    returning id`.execute(trx)
  ).rows[0];
  if (!inserted) return null;
  if (media?.mediaId) {
    await trx
      .withSchema(schema)
      .insertInto("media")
      .values({
        id: newId("med"),
        message_id: messageId,
        media_id: media.mediaId,
        mime_type: media.mimeType,
        filename: media.filename,
        sha256: media.sha256,
      })
      .execute();
  }
  return {
    conversationId,
    messageId,
    newConversation,
    assigneeUserId: found.assignee_user_id,
    kscSide: found.handled_by === "ksc" || found.queue === "ksc",
    flags: found.flags ?? [],
    customerName: found.name ?? found.profile_name,
    ruleId,
    ruleVersion: masked?.classification.version ?? null,
    ruleAction: masked?.classification.action ?? null,
    text,
    sensitiveKinds: [...new Set([...(masked?.sensitiveKinds ?? []), ...message.maskedKinds])],
    hasMedia: Boolean(media?.mediaId),
  };
}
