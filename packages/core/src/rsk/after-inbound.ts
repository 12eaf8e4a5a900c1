import { sql, type Tenant } from "@kanal/db";
import { maskForKsc, optKeyword, redirectReplyText, type Rule, sensitiveDataHintText } from "@kanal/rules";
import { systemActor } from "../actor";
import { auditTenant } from "../audit";
import { queueSystemMessage } from "../channel/send";
import { recordOptKeyword } from "../customers/opt-in";
import { publishToUsers } from "../events";
import { claimAgentSlot, lockBankRouting, releaseAgentSlot } from "../routing/locks";
import { RESERVED_TO_BANK_FLAG } from "../routing/sweep";
import type { Services } from "../services";
import { compiledRuleBook } from "./rule-book";

/** Data of the `inbound` queue job `after-inbound` (enqueued by the ingest after its commit). */
export interface AfterInboundJob {
  tenantId: string;
  conversationId: string;
  messageId: string;
  ruleId: string | null;
  ruleVersion: number | null;
  sensitiveKinds: string[];
}

export interface AfterInboundOutcome {
  hintSent: boolean;
  autoReply: boolean;
  callbackSuggested: boolean;
  handedOver: "advisor" | "bank_queue" | null;
  /** The customer wrote STOP or START and that changed their notification opt-in. */
  optChange: "opted_out" | "opted_in" | null;
}

/** Conversation flags this module sets (the UI filters on the first three). */
export const RSK_FLAGS = {
  redirected: "redirected",
  callbackSuggested: "callback_suggested",
  handedOverByRule: "handover_by_rule",
} as const;

const SYSTEM = systemActor("rsk");
const AUTO_REPLIED = (ruleId: string) => `auto_reply:${ruleId}`;
const CALLBACK_FOR = (ruleId: string) => `callback:${ruleId}`;

/**
 * Adds `marker` (and the visible flags) to the conversation unless it is there already; true only for
 * the one caller that added it. This is what makes "once per conversation and topic" hold across job
 * retries and two messages of the same topic processed at the same time.
 */
async function claimMarker(
  services: Services,
  schema: string,
  conversationId: string,
  marker: string,
  flags: readonly string[],
): Promise<boolean> {
  const all = [marker, ...flags];
  const row = await services.db
    .withSchema(schema)
    .updateTable("conversations")
    .set({
      flags: sql<string[]>`array(select distinct unnest(flags || ${sql.val(all)}::text[]) order by 1)`,
    })
    .where("id", "=", conversationId)
    .where("status", "<>", "closed")
    .where(sql<boolean>`not (${marker} = any(flags))`)
    .returning("id")
    .executeTakeFirst();
  return row !== undefined;
}

async function unclaimMarker(services: Services, schema: string, conversationId: string, marker: string) {
  await services.db
    .withSchema(schema)
    .updateTable("conversations")
    .set({ flags: sql<string[]>`array_remove(flags, ${marker})` })
    .where("id", "=", conversationId)
    .execute();
}

async function sendHint(services: Services, tenant: Tenant, job: AfterInboundJob, kinds: string[]) {
  const schema = tenant.schema_name;
  const conversation = await services.db
    .withSchema(schema)
    .selectFrom("conversations")
    .select("customer_id")
    .where("id", "=", job.conversationId)
    .executeTakeFirst();
  if (!conversation) return false;
  await auditTenant(services.db, schema, SYSTEM, {
    action: "data_protection.sensitive_data_received",
    targetType: "message",
    targetId: job.messageId,
    details: { conversationId: job.conversationId, kinds },
  });
  const claimed = await services.db
    .withSchema(schema)
    .updateTable("customers")
    .set({ sensitive_hint_sent_at: new Date() })
    .where("id", "=", conversation.customer_id)
    .where("sensitive_hint_sent_at", "is", null)
    .returning("id")
    .executeTakeFirst();
  if (!claimed) return false;
  try {
    const queued = await queueSystemMessage(services, {
      tenant,
      conversationId: job.conversationId,
      text: sensitiveDataHintText(tenant.name),
      kind: "hint",
    });
    if (queued === null) throw new Error("window closed");
    return true;
  } catch (error) {
    // Give the hint back so the retry (or the next message) sends it.
    await services.db
      .withSchema(schema)
      .updateTable("customers")
      .set({ sensitive_hint_sent_at: null })
      .where("id", "=", conversation.customer_id)
      .execute();
    throw error;
  }
}

async function autoReply(services: Services, tenant: Tenant, job: AfterInboundJob, rule: Rule) {
  const text = redirectReplyText(rule, tenant.name);
  if (text === null) return false;
  const marker = AUTO_REPLIED(rule.id);
  if (!(await claimMarker(services, tenant.schema_name, job.conversationId, marker, [RSK_FLAGS.redirected])))
    return false;
  try {
    const queued = await queueSystemMessage(services, {
      tenant,
      conversationId: job.conversationId,
      text,
      kind: "auto_reply",
    });
    if (queued === null) throw new Error("window closed");
  } catch (error) {
    await unclaimMarker(services, tenant.schema_name, job.conversationId, marker);
    throw error;
  }
  await auditTenant(services.db, tenant.schema_name, SYSTEM, {
    action: "rules.auto_reply",
    targetType: "conversation",
    targetId: job.conversationId,
    details: { ruleId: rule.id, topic: rule.topic, ruleVersion: job.ruleVersion, action: rule.action.type },
  });
  return true;
}

async function suggestCallback(services: Services, tenant: Tenant, job: AfterInboundJob, rule: Rule) {
  const marker = CALLBACK_FOR(rule.id);
  if (
    !(await claimMarker(services, tenant.schema_name, job.conversationId, marker, [
      RSK_FLAGS.callbackSuggested,
    ]))
  )
    return false;
  const conversation = await services.db
    .withSchema(tenant.schema_name)
    .selectFrom("conversations")
    .select("assignee_user_id")
    .where("id", "=", job.conversationId)
    .executeTakeFirst();
  if (conversation?.assignee_user_id) {
    await publishToUsers(services.redis, [conversation.assignee_user_id], "conversation.updated", {
      tenant: tenant.slug,
      tenantId: tenant.id,
      conversationId: job.conversationId,
      suggestion: "offer_callback",
      ruleId: rule.id,
      topic: rule.topic,
    });
  }
  return true;
}

/** What the handover rule looks at before it takes any lock. */
export interface ConversationGlance {
  status: string;
  handled_by: string | null;
  queue: string | null;
}

/**
 * A topic the rule sends to the advisor, in a chat the KSC handles: the chat moves to the bank (reserved
 * to it, like a KSC agent's own handover) and goes straight to the customer's advisor when they are online
 * with a free slot; otherwise it waits in the bank queue with the advisor preselected. Same lock order as
 * the routing verbs: bank lock → conversation row → agent_state rows.
 */
async function handOverToAdvisor(
  services: Services,
  tenant: Tenant,
  job: AfterInboundJob,
  rule: Rule,
  known: ConversationGlance | null,
): Promise<AfterInboundOutcome["handedOver"]> {
  const schema = tenant.schema_name;
  const now = new Date();
  // Most such chats are the bank's own already: see that without taking the bank's routing lock.
  const glance =
    known ??
    (await services.db
      .withSchema(schema)
      .selectFrom("conversations")
      .select(["status", "handled_by", "queue"])
      .where("id", "=", job.conversationId)
      .executeTakeFirst());
  if (!glance || glance.status === "closed" || (glance.handled_by !== "ksc" && glance.queue !== "ksc"))
    return null;
  const result = await services.db.transaction().execute(async (trx) => {
    await lockBankRouting(trx, tenant.id);
    const t = trx.withSchema(schema);
    const row = await t
      .selectFrom("conversations")
      .selectAll()
      .where("id", "=", job.conversationId)
      .forUpdate()
      .executeTakeFirst();
    if (!row || row.status === "closed") return null;
    if (row.handled_by !== "ksc" && row.queue !== "ksc") return null;
    const customer = await t
      .selectFrom("customers")
      .select("advisor_user_id")
      .where("id", "=", row.customer_id)
      .executeTakeFirst();
    const advisorId = customer?.advisor_user_id ?? null;
    const previous = row.assignee_user_id;
    const touched = [previous, advisorId].filter((id): id is string => Boolean(id)).sort();
    if (touched.length > 0) {
      await trx
        .withSchema("control")
        .selectFrom("agent_state")
        .select("user_id")
        .where("user_id", "in", touched)
        .orderBy("user_id")
        .forUpdate()
        .execute();
    }
    if (previous) await releaseAgentSlot(trx, previous);
    let advisorMax: number | null = null;
    if (advisorId) {
      const membership = await trx
        .withSchema("control")
        .selectFrom("memberships")
        .select("max_chats")
        .where("user_id", "=", advisorId)
        .where("tenant_id", "=", tenant.id)
        .executeTakeFirst();
      advisorMax = membership?.max_chats ?? null;
    }
    const toAdvisor =
      advisorId !== null && advisorMax !== null && (await claimAgentSlot(trx, advisorId, advisorMax));
    const reason = `Rule "${rule.topic}" requires the advisor; moved from the KSC to the bank${toAdvisor ? " and assigned to the advisor" : " queue with the advisor preselected"}.`;
    const reasonDe = `Regel „${rule.topic}“ verlangt die Beraterin/den Berater: vom KSC an die Sparkasse übergeben${toAdvisor ? " und der Beraterin/dem Berater zugewiesen" : " (Warteschlange, Berater/in vorausgewählt)"}.`;
    const target = toAdvisor
      ? { type: "agent", userId: advisorId, handledBy: "advisor" }
      : { type: "queue", queue: "bank", handledBy: "in_house", preselectedAdvisorUserId: advisorId };
    const summary = {
      ...((row.routing ?? {}) as Record<string, unknown>),
      rule: "rsk.handover_to_advisor",
      reason,
      reasonDe,
      target,
      candidates: [],
      trigger: "rule",
      ruleId: rule.id,
      ruleVersion: job.ruleVersion,
      preselectedAdvisorUserId: advisorId,
      decidedAt: now.toISOString(),
    };
    const flags = sql<
      string[]
    >`array(select distinct unnest(flags || ${sql.val([RESERVED_TO_BANK_FLAG, RSK_FLAGS.handedOverByRule])}::text[]) order by 1)`;
    await t
      .updateTable("conversations")
      .set(
        toAdvisor
          ? {
              status: "open",
              assignee_user_id: advisorId,
              handled_by: "advisor",
              queue: null,
              assigned_at: now,
              flags,
              routing: JSON.stringify(summary),
            }
          : {
              status: "queued",
              assignee_user_id: null,
              handled_by: "in_house",
              queue: "bank",
              queued_at: now,
              flags,
              routing: JSON.stringify(summary),
            },
      )
      .where("id", "=", row.id)
      .execute();
    await t
      .insertInto("routing_decisions")
      .values({
        conversation_id: row.id,
        mode: String((row.routing as { mode?: unknown } | null)?.mode ?? "rule"),
        rule: summary.rule,
        reason,
        target: JSON.stringify(target),
        candidates: JSON.stringify([]),
      })
      .execute();
    await auditTenant(trx, schema, SYSTEM, {
      action: "conversation.handover",
      targetType: "conversation",
      targetId: row.id,
      details: {
        from: previous,
        toUserId: toAdvisor ? advisorId : null,
        toQueue: toAdvisor ? null : "bank",
        via: "rule",
        ruleId: rule.id,
        ruleVersion: job.ruleVersion,
      },
    });
    return { previous, advisorId, toAdvisor };
  });
  if (result === null) return null;
  const data = {
    tenant: tenant.slug,
    tenantId: tenant.id,
    conversationId: job.conversationId,
    rule: "rsk.handover_to_advisor",
    by: "rule",
    ruleId: rule.id,
    topic: rule.topic,
  };
  if (result.previous) {
    await publishToUsers(services.redis, [result.previous], "conversation.updated", {
      ...data,
      status: "handed_over",
    });
    await services.queues.routing.add("backfill", { userId: result.previous }, { removeOnComplete: true });
  }
  if (result.toAdvisor && result.advisorId) {
    await publishToUsers(services.redis, [result.advisorId], "conversation.assigned", {
      ...data,
      handledBy: "advisor",
    });
    return "advisor";
  }
  if (result.advisorId) {
    await publishToUsers(services.redis, [result.advisorId], "conversation.updated", {
      ...data,
      preselected: true,
    });
  }
  await services.queues.routing.add(
    "drain-queue",
    { tenantId: tenant.id, side: "bank" },
    { removeOnComplete: true },
  );
  return "bank_queue";
}

const MASKED_CARD = /\*{4} \*{4} \*{4} \d{4}/;
const MASKED_SECRET = /(?<![*\w])\*{4}(?![*\w])/;

/**
 * The webhook payload is masked before it is even stored, so the ingest may see masked text and report no
 * findings; the masks themselves tell that the customer sent a card number or a secret.
 */
export function sensitiveKindsInMaskedText(text: string): string[] {
  const kinds: string[] = [];
  if (MASKED_CARD.test(text)) kinds.push("card_number");
  if (MASKED_SECRET.test(text.replace(/\*{4} \*{4} \*{4} \d{4}/g, ""))) kinds.push("secret");
  return kinds;
}

/**
 * The kinds of sensitive data the customer's hint is about. Card numbers and secrets were masked by the
 * ingest (sensitiveKinds); IBANs and account numbers are stored for the bank but still deserve the hint.
 */
export function hintKinds(text: string | null, sensitiveKinds: readonly string[]): string[] {
  const extra = text
    ? maskForKsc(text).findings.flatMap((finding) =>
        finding.kind === "iban" || finding.kind === "account_number" ? [finding.kind] : [],
      )
    : [];
  return [...new Set([...sensitiveKinds, ...extra, ...sensitiveKindsInMaskedText(text ?? "")])];
}

/**
 * Whether `after-inbound` has anything to do for a message: a hint to send, a rule action other than
 * answering, or a STOP/START to record. Most messages have none; the ingest then enqueues no job at all.
 */
export function afterInboundHasWork(
  text: string | null,
  sensitiveKinds: readonly string[],
  ruleAction: Rule["action"]["type"] | null,
): boolean {
  return (
    (ruleAction !== null && ruleAction !== "answer") ||
    hintKinds(text, sensitiveKinds).length > 0 ||
    optKeyword(text) !== null
  );
}

/**
 * After an inbound message is stored: the one-time hint about sensitive data, the rule's action
 * (automatic reply, callback suggestion, handover). Idempotent: every effect is claimed by an atomic
 * update before it happens, so a retried job does nothing twice.
 */
export async function handleAfterInbound(
  services: Services,
  job: AfterInboundJob,
  /**
   * The ingest, running this right after storing the message, already has the tenant and the text, and
   * for a conversation it routed, its status, side and queue as committed.
   */
  known?: { tenant: Tenant; text: string | null; conversation?: ConversationGlance | null },
): Promise<AfterInboundOutcome> {
  const outcome: AfterInboundOutcome = {
    hintSent: false,
    autoReply: false,
    callbackSuggested: false,
    handedOver: null,
    optChange: null,
  };
  const tenant =
    known?.tenant ??
    (await services.db
      .withSchema("control")
      .selectFrom("tenants")
      .selectAll()
      .where("id", "=", job.tenantId)
      .executeTakeFirst());
  if (!tenant) return outcome;
  const message = known
    ? { text: known.text }
    : await services.db
        .withSchema(tenant.schema_name)
        .selectFrom("messages")
        .select(["text"])
        .where("id", "=", job.messageId)
        .executeTakeFirst();
  if (!message) return outcome; // erased or purged meanwhile

  const kinds = hintKinds(message.text, job.sensitiveKinds);
  if (kinds.length > 0) outcome.hintSent = await sendHint(services, tenant, job, kinds);
  const keyword = optKeyword(message.text);
  if (keyword) {
    outcome.optChange = await recordOptKeyword(services, tenant, {
      conversationId: job.conversationId,
      messageId: job.messageId,
      keyword,
    });
  }

  if (job.ruleId === null) return outcome;
  const book = await compiledRuleBook(services.db, tenant.schema_name, job.ruleVersion ?? undefined);
  const rule = book.byId.get(job.ruleId);
  if (!rule) return outcome;
  switch (rule.action.type) {
    case "redirect_to_phone":
      outcome.autoReply = await autoReply(services, tenant, job, rule);
      break;
    case "offer_callback":
      outcome.callbackSuggested = await suggestCallback(services, tenant, job, rule);
      break;
    case "handover_to_advisor":
      outcome.handedOver = await handOverToAdvisor(services, tenant, job, rule, known?.conversation ?? null);
      break;
    case "answer":
      break;
  }
  return outcome;
}
