import { sql, type Tenant } from "@kanal/db";
import { redirectReplyText } from "@kanal/rules";
import { bankRef, loadBankContext } from "../conversations/bank";
import { CONVERSATION_FLAGS } from "../conversations/flags";
import { handOver } from "../conversations/handover";
import { appendToNotificationConversation } from "../conversations/notification-thread";
import type { InboundMessageInput, ReceivedMessage } from "../conversations/receive";
import { lockConversation } from "../conversations/transitions";
import { systemActor } from "../kernel/actor";
import type { Trx } from "../kernel/executor";
import type { Changes } from "../outbox/unit-of-work";
import { compiledRuleBook } from "../rules/rule-book";
import { writeSystemMessage } from "./send";
import { answerCodeOf } from "./templates";

/**
 * A customer's answer to a notification (issue 14's card alert, "Kreditkartenwecker"): a quick-reply
 * button of the template message (`type: "button"`, `context.id` = the notification's wamid, the payload
 * Kanal gave the button) or an interactive button reply. "Das war ich" only records the answer; "Das war
 * ich nicht" (`card_tx_not_me`) reaches the bank at once: a chat routed to the bank whatever the mode, the
 * card-blocking hotline as the answer, and `notification.reply` for the bank's systems.
 */

/** The answers that need the bank at once. */
const ESCALATING_ANSWERS = new Set(["card_tx_not_me"]);
/** The topic of the chat a card alert's "not me" opens (bank only). */
const CARD_ALERT_TOPIC = "Kartenumsatz nicht erkannt";

const PAYLOAD = /^kanal:(msg_[A-Za-z0-9]+):([a-z0-9_]{1,40})$/;

export interface NotificationAnswer {
  notificationId: string;
  campaignId: string | null;
  customerId: string;
  /** the conversation the notification went to */
  notificationConversationId: string;
  /** the customer's open conversation, if any */
  openConversationId: string | null;
  code: string;
  text: string | null;
  payload: string | null;
  escalate: boolean;
  /** the answer recorded before (a second tap) */
  previousCode: string | null;
}

/**
 * Whether this inbound message answers one of the customer's notifications, and with which answer. Only
 * button replies are looked at (one indexed lookup); the notification must be this customer's, so a
 * payload naming somebody else's message finds nothing.
 */
export async function notificationAnswerOf(
  trx: Trx,
  schema: string,
  waId: string,
  message: InboundMessageInput,
): Promise<NotificationAnswer | null> {
  if (message.type !== "button" && message.type !== "interactive") return null;
  const raw = message.type === "button" ? message.payload.payload : message.payload.replyId;
  const payload = typeof raw === "string" ? raw : null;
  const parsed = payload ? PAYLOAD.exec(payload) : null;
  const messageId = parsed?.[1] ?? null;
  if (!messageId && !message.contextWamid) return null;
  const table = (name: string) => sql.id(schema, name);
  const row = (
    await sql<{
      id: string;
      campaign_id: string | null;
      customer_id: string;
      conversation_id: string;
      message_id: string;
      quick_replies: { index: number; text: string; code: string }[] | null;
      previous_code: string | null;
      open_conversation_id: string | null;
    }>`
    select n.id, n.campaign_id, n.customer_id, n.conversation_id, n.message_id,
      m.payload->'template'->'quickReplies' as quick_replies, n.reply->>'code' as previous_code,
      (select c.id from ${table("conversations")} c where c.customer_id = n.customer_id and c.status <> 'closed')
        as open_conversation_id
    from ${table("messages")} m
    join ${table("notifications")} n on n.message_id = m.id
    join ${table("customers")} cu on cu.id = n.customer_id
    where cu.wa_id = ${waId}
      and (m.id = ${messageId} or m.wamid = ${message.contextWamid})
    limit 1`.execute(trx)
  ).rows[0];
  if (!row) return null;
  const text = message.text;
  // Our own payload names the answer; otherwise (an older client, an interactive reply) the button's text.
  const code =
    parsed && parsed[1] === row.message_id
      ? (parsed[2] as string)
      : (row.quick_replies?.find((b) => b.text.trim().toLowerCase() === (text ?? "").trim().toLowerCase())
          ?.code ?? answerCodeOf({ index: -1, text: text ?? "" }));
  return {
    notificationId: row.id,
    campaignId: row.campaign_id,
    customerId: row.customer_id,
    notificationConversationId: row.conversation_id,
    openConversationId: row.open_conversation_id,
    code,
    text,
    payload,
    escalate: ESCALATING_ANSWERS.has(code),
    previousCode: row.previous_code,
  };
}

/** An answer that needs nobody, with no chat open: stored in the notification's conversation, nothing opened. */
export async function recordOnlyAnswer(
  trx: Trx,
  tenant: Tenant,
  contact: { waId: string; profileName: string | null },
  message: InboundMessageInput,
  answer: NotificationAnswer,
  changes: Changes,
): Promise<boolean> {
  const bank = bankRef(tenant);
  const messageId = await appendToNotificationConversation(
    trx,
    bank,
    contact,
    message,
    answer.notificationConversationId,
  );
  if (!messageId) return false;
  await recordAnswer(
    trx,
    tenant,
    answer,
    { conversationId: answer.notificationConversationId, messageId, at: message.sentAt },
    false,
    changes,
  );
  return true;
}

async function recordAnswer(
  trx: Trx,
  tenant: Tenant,
  answer: NotificationAnswer,
  stored: { conversationId: string; messageId: string; at: Date },
  escalated: boolean,
  changes: Changes,
): Promise<void> {
  const reply = {
    code: answer.code,
    text: answer.text,
    payload: answer.payload,
    messageId: stored.messageId,
    at: stored.at.toISOString(),
  };
  await sql`update ${sql.id(tenant.schema_name, "notifications")}
    set reply = ${JSON.stringify(reply)}::jsonb, replied_at = ${stored.at}
    where id = ${answer.notificationId}`.execute(trx);
  changes.emit({
    type: "notification.reply",
    bank: bankRef(tenant),
    notificationId: answer.notificationId,
    campaignId: answer.campaignId,
    customerId: answer.customerId,
    conversationId: stored.conversationId,
    messageId: stored.messageId,
    answer: { code: answer.code, text: answer.text, payload: answer.payload },
    escalated,
    at: stored.at,
  });
}

/** Marks a conversation as the card alert's: its topic, and the bank's alone (routing, closing time). */
async function markForBank(trx: Trx, schema: string, conversationId: string): Promise<void> {
  const flags = [CONVERSATION_FLAGS.bankOnlyTopic, CONVERSATION_FLAGS.reservedToBank];
  await sql`update ${sql.id(schema, "conversations")}
    set topic = coalesce(topic, ${CARD_ALERT_TOPIC}),
      flags = (select array_agg(distinct f) from unnest(flags || ${flags}::text[]) as f)
    where id = ${conversationId}`.execute(trx);
}

/** The answer with the card-blocking hotline: the bank's own rule for it (its wording), else the default's. */
async function hotlineText(trx: Trx, tenant: Tenant): Promise<string> {
  const book = await compiledRuleBook(trx, tenant.schema_name);
  const rule = [...book.byId.values()].find(
    (r) => r.action.type === "redirect_to_phone" && r.action.phoneNumber.replace(/\s/g, "") === "116116",
  );
  const redirect =
    (rule && redirectReplyText(rule, tenant.name)) ??
    `Bitte lassen Sie Ihre Karte sofort über den Sperr-Notruf 116 116 sperren – kostenfrei und rund um die Uhr erreichbar, aus dem Ausland unter +49 116 116. Ihre ${tenant.name}`;
  return `Danke für Ihre Rückmeldung: Sie erkennen diesen Kartenumsatz nicht. Eine Mitarbeiterin oder ein Mitarbeiter der ${tenant.name} meldet sich hier im Chat. ${redirect}`;
}

/**
 * After the answer's message was stored by the ingest (`receiveMessage`, in the customer's transaction,
 * before routing): record the answer, and for "not me" mark the chat as the bank's — a new chat is then
 * routed to the bank by the ingest whatever the mode; a chat the KSC holds or waits for is handed to the
 * bank's queue — and answer with the hotline (once per notification).
 */
export async function handleNotificationAnswer(
  trx: Trx,
  tenant: Tenant,
  received: ReceivedMessage,
  message: InboundMessageInput,
  answer: NotificationAnswer,
  changes: Changes,
  now: Date,
): Promise<void> {
  const stored = {
    conversationId: received.conversationId,
    messageId: received.messageId,
    at: message.sentAt,
  };
  if (!answer.escalate) {
    await recordAnswer(trx, tenant, answer, stored, false, changes);
    return;
  }
  const schema = tenant.schema_name;
  // An existing chat is locked first (the bank's routing lock, then the row: ADR 0005's order); a new one
  // is this transaction's own until commit.
  const row = received.newConversation
    ? null
    : await lockConversation(trx, bankRef(tenant), received.conversationId);
  await markForBank(trx, schema, received.conversationId);
  if (row && row.status !== "closed" && (row.handled_by === "ksc" || row.queue === "ksc")) {
    const ctx = await loadBankContext(trx, tenant.id);
    const result = await handOver(
      trx,
      ctx,
      row,
      { queue: "bank" },
      {
        by: "rule",
        actor: systemActor("card-alert"),
        byUserId: null,
        note: "Kartenumsatz nicht erkannt: der Kunde hat auf die Kartenumsatz-Benachrichtigung mit „Das war ich nicht“ geantwortet.",
        reserveToBank: true,
        explain: {
          rule: "notification.card_not_me",
          reason: `The customer does not recognise a card transaction (notification ${answer.notificationId}): the bank handles it`,
          reasonDe: `Der Kunde erkennt einen Kartenumsatz nicht (Benachrichtigung ${answer.notificationId}): die Bank übernimmt`,
        },
        audit: { notificationId: answer.notificationId, answer: answer.code },
        now,
      },
    );
    if (result) changes.emit(...result.events);
  }
  if (answer.previousCode !== answer.code)
    await writeSystemMessage(trx, changes, {
      tenant,
      conversationId: received.conversationId,
      text: await hotlineText(trx, tenant),
      kind: "auto_reply",
    });
  await recordAnswer(trx, tenant, answer, stored, true, changes);
}
