import { sql, type Db } from "@kanal/db";
import { dataClassLabel, forbiddenDataClasses, type Rule } from "@kanal/rules";
import { notFound } from "../kernel/errors";
import type { TenantAccess } from "../tenants/access";
import { kscMaySee, kscScopeOf } from "../tenants/ksc-scope";
import { compiledRuleBook } from "./rule-book";

const ACTION_LABELS: Record<Rule["action"]["type"], { de: string; en: string }> = {
  answer: { de: "Beantworten", en: "Answer" },
  offer_callback: { de: "Rückruf anbieten", en: "Offer a callback" },
  handover_to_advisor: { de: "An Beraterin/Berater übergeben", en: "Hand over to the advisor" },
  redirect_to_phone: { de: "An das Telefon verweisen", en: "Redirect to the phone" },
};

const HANDLING_LABELS: Record<Rule["handling"], { de: string; en: string }> = {
  bank_only: { de: "Nur Sparkasse", en: "Bank only" },
  ksc_allowed: { de: "Sparkasse und KSC", en: "Bank and contact centre" },
};

interface ConversationGuidance {
  conversationId: string;
  topic: string;
  ruleId: string;
  /** the current rule book's version (its rules apply to the next reply) */
  ruleVersion: number;
  /** the version that classified the conversation's latest inbound message */
  classifiedWithVersion: number | null;
  isDefault: boolean;
  handling: { value: Rule["handling"]; label: string; labelEn: string };
  /** the reader is a KSC agent and the topic is reserved to the bank */
  mustHandOver: boolean;
  allowedDataClasses: Array<{ id: string; label: string; labelEn: string }>;
  forbiddenDataClasses: Array<{ id: string; label: string; labelEn: string }>;
  freeTextAllowed: boolean;
  allowedSnippets: Array<{ id: string; shortcut: string; title: string }>;
  action: {
    type: Rule["action"]["type"];
    label: string;
    labelEn: string;
    phoneNumber?: string;
    reason?: string;
  };
  /** one-click "request a callback" for the agent */
  offerCallback: boolean;
  guidance: string;
  flags: string[];
}

/**
 * What the agent sees beside the chat: the conversation's topic and the rule's limits. A KSC agent only
 * gets guidance for their organisation's chats (tenants/ksc-scope) that wait in the KSC queue or are
 * assigned to them.
 */
export async function conversationGuidance(
  db: Db,
  access: TenantAccess,
  conversationId: string,
  viewerUserId: string | null,
): Promise<ConversationGuidance> {
  const conversation = await db
    .withSchema(access.schema)
    .selectFrom("conversations")
    .selectAll()
    .where("id", "=", conversationId)
    .executeTakeFirst();
  if (!conversation) throw notFound("Conversation");
  const scope = kscScopeOf(access, viewerUserId);
  if (
    scope &&
    (!kscMaySee(conversation, scope) ||
      (conversation.queue !== "ksc" && conversation.assignee_user_id !== viewerUserId))
  ) {
    throw notFound("Conversation");
  }
  // The latest classified inbound message says what the customer is asking now.
  const latest = await db
    .withSchema(access.schema)
    .selectFrom("messages")
    .select(["rule_id", "rule_version"])
    .where("conversation_id", "=", conversationId)
    .where("direction", "=", "inbound")
    .where("rule_id", "is not", null)
    .orderBy("created_at", "desc")
    .limit(1)
    .executeTakeFirst();

  const book = await compiledRuleBook(db, access.schema);
  const ruleId = conversation.rule_id ?? latest?.rule_id ?? null;
  const rule = (ruleId !== null ? book.byId.get(ruleId) : undefined) ?? book.defaultRule;
  const snippets =
    rule.allowedSnippetIds.length === 0
      ? []
      : await db
          .withSchema(access.schema)
          .selectFrom("snippets")
          .select(["id", "shortcut", "title"])
          .where("id", "in", rule.allowedSnippetIds)
          .orderBy(sql`lower(shortcut)`)
          .execute();
  const action = rule.action;
  return {
    conversationId,
    topic: rule.topic,
    ruleId: rule.id,
    ruleVersion: book.version,
    classifiedWithVersion: latest?.rule_version ?? null,
    isDefault: rule.isDefault === true,
    handling: {
      value: rule.handling,
      label: HANDLING_LABELS[rule.handling].de,
      labelEn: HANDLING_LABELS[rule.handling].en,
    },
    mustHandOver: access.via === "ksc" && rule.handling === "bank_only",
    allowedDataClasses: rule.allowedDataClasses.map((id) => ({ id, ...dataClassLabel(id) })),
    forbiddenDataClasses: forbiddenDataClasses.map((entry) => ({
      id: entry.id,
      label: entry.label,
      labelEn: entry.labelEn,
    })),
    freeTextAllowed: rule.freeTextAllowed,
    allowedSnippets: snippets,
    action: {
      type: action.type,
      label: ACTION_LABELS[action.type].de,
      labelEn: ACTION_LABELS[action.type].en,
      ...(action.type === "redirect_to_phone"
        ? { phoneNumber: action.phoneNumber, ...(action.reason ? { reason: action.reason } : {}) }
        : {}),
    },
    offerCallback: action.type === "offer_callback" || action.type === "handover_to_advisor",
    guidance: rule.guidance,
    flags: conversation.flags,
  };
}

interface TopicCount {
  ruleId: string;
  topic: string;
  /** conversations with at least one inbound message on this topic in the period */
  conversations: number;
  messages: number;
}

/**
 * The bank's "top requests": inbound messages per rule in [from, to), counted per conversation too.
 * The topic name is the one recorded on the message, so a renamed rule still reports what applied then.
 */
export async function topicCounts(
  db: Db,
  access: TenantAccess,
  period: { from: Date; to: Date },
): Promise<{ from: string; to: string; totalConversations: number; topics: TopicCount[] }> {
  const rows = await db
    .withSchema(access.schema)
    .selectFrom("messages")
    .select([
      "rule_id",
      sql<string>`max(topic)`.as("topic"),
      sql<number>`count(distinct conversation_id)::int`.as("conversations"),
      sql<number>`count(*)::int`.as("messages"),
    ])
    .where("direction", "=", "inbound")
    .where("rule_id", "is not", null)
    .where("created_at", ">=", period.from)
    .where("created_at", "<", period.to)
    .groupBy("rule_id")
    .orderBy("conversations", "desc")
    .orderBy("messages", "desc")
    .execute();
  const total = await db
    .withSchema(access.schema)
    .selectFrom("messages")
    .select(sql<number>`count(distinct conversation_id)::int`.as("n"))
    .where("direction", "=", "inbound")
    .where("created_at", ">=", period.from)
    .where("created_at", "<", period.to)
    .executeTakeFirstOrThrow();
  return {
    from: period.from.toISOString(),
    to: period.to.toISOString(),
    totalConversations: total.n,
    topics: rows.map((row) => ({
      ruleId: row.rule_id ?? "",
      topic: row.topic,
      conversations: row.conversations,
      messages: row.messages,
    })),
  };
}
