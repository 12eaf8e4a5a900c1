import { sql, type Tenant } from "@kanal/db";
import type { AfterInboundJob } from "@kanal/queue";
import {
  optInConfirmationText,
  optKeyword,
  optOutConfirmationText,
  redirectReplyText,
  type Rule,
  sensitiveDataHintText,
} from "@kanal/rules";
import { queueSystemMessage, writeSystemMessage } from "../channel/send";
import { bankRef, loadBankContext } from "../conversations/bank";
import { CONVERSATION_FLAGS } from "../conversations/flags";
import { handOver } from "../conversations/handover";
import { findPerson } from "../conversations/people";
import { lockConversation } from "../conversations/transitions";
import { recordOptKeyword } from "../customers/opt-in";
import { systemActor } from "../kernel/actor";
import { auditTenant } from "../kernel/audit";
import type { Trx } from "../kernel/executor";
import { type Changes, inTransaction } from "../outbox/unit-of-work";
import { autoReplyMarker, callbackMarker, hintKinds } from "../rules/follow-up-work";
import { compiledRuleBook } from "../rules/rule-book";
import type { Services } from "../services";

export interface AfterInboundOutcome {
  hintSent: boolean;
  autoReply: boolean;
  callbackSuggested: boolean;
  handedOver: "advisor" | "bank_queue" | null;
  /** The customer wrote STOP or START and that changed their notification opt-in. */
  optChange: "opted_out" | "opted_in" | null;
}

const SYSTEM = systemActor("rules");

/** A follow-up found the customer's window closed: its claim is rolled back with the transaction. */
class WindowClosed extends Error {}

/**
 * Adds `marker` (and the visible flags) to the conversation unless it is there already; true only for
 * the one caller that added it. This is what makes "once per conversation and topic" hold across job
 * retries and two messages of the same topic processed at the same time.
 */
async function claimMarker(
  trx: Trx,
  schema: string,
  conversationId: string,
  marker: string,
  flags: readonly string[],
): Promise<boolean> {
  const all = [marker, ...flags];
  const row = await trx
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

/**
 * A claim and the system message it stands for, in one transaction: committed together, or (window
 * closed, or a failure) neither — so the next message or the job's retry can try again.
 */
async function claimAndWrite(
  services: Services,
  claim: (trx: Trx) => Promise<boolean>,
  write: (trx: Trx, changes: Changes) => Promise<{ id: string } | null>,
): Promise<boolean> {
  try {
    return await inTransaction(services, async (trx, changes) => {
      if (!(await claim(trx))) return false;
      if ((await write(trx, changes)) === null) throw new WindowClosed();
      return true;
    });
  } catch (error) {
    if (error instanceof WindowClosed) return false;
    throw error;
  }
}

async function sendHint(services: Services, tenant: Tenant, job: AfterInboundJob, kinds: string[]) {
  const schema = tenant.schema_name;
  await auditTenant(services.db, schema, SYSTEM, {
    action: "data_protection.sensitive_data_received",
    targetType: "message",
    targetId: job.messageId,
    details: { conversationId: job.conversationId, kinds },
  });
  return claimAndWrite(
    services,
    async (trx) =>
      (await trx
        .withSchema(schema)
        .updateTable("customers")
        .set({ sensitive_hint_sent_at: new Date() })
        .where(
          "id",
          "=",
          trx
            .withSchema(schema)
            .selectFrom("conversations")
            .select("customer_id")
            .where("id", "=", job.conversationId),
        )
        .where("sensitive_hint_sent_at", "is", null)
        .returning("id")
        .executeTakeFirst()) !== undefined,
    (trx, changes) =>
      writeSystemMessage(trx, changes, {
        tenant,
        conversationId: job.conversationId,
        text: sensitiveDataHintText(tenant.name),
        kind: "hint",
      }),
  );
}

async function autoReply(services: Services, tenant: Tenant, job: AfterInboundJob, rule: Rule) {
  const text = redirectReplyText(rule, tenant.name);
  if (text === null) return false;
  const schema = tenant.schema_name;
  return claimAndWrite(
    services,
    (trx) =>
      claimMarker(trx, schema, job.conversationId, autoReplyMarker(rule.id), [CONVERSATION_FLAGS.redirected]),
    async (trx, changes) => {
      const queued = await writeSystemMessage(trx, changes, {
        tenant,
        conversationId: job.conversationId,
        text,
        kind: "auto_reply",
      });
      if (queued)
        await auditTenant(trx, schema, SYSTEM, {
          action: "rules.auto_reply",
          targetType: "conversation",
          targetId: job.conversationId,
          details: {
            ruleId: rule.id,
            topic: rule.topic,
            ruleVersion: job.ruleVersion,
            action: rule.action.type,
          },
        });
      return queued;
    },
  );
}

async function suggestCallback(services: Services, tenant: Tenant, job: AfterInboundJob, rule: Rule) {
  const schema = tenant.schema_name;
  return inTransaction(services, async (trx, changes) => {
    const claimed = await claimMarker(trx, schema, job.conversationId, callbackMarker(rule.id), [
      CONVERSATION_FLAGS.callbackSuggested,
    ]);
    if (!claimed) return false;
    const conversation = await trx
      .withSchema(schema)
      .selectFrom("conversations")
      .select(["assignee_user_id", "handled_by"])
      .where("id", "=", job.conversationId)
      .executeTakeFirst();
    if (conversation?.assignee_user_id) {
      changes.emit({
        type: "conversation.suggested",
        bank: bankRef(tenant),
        conversationId: job.conversationId,
        userId: conversation.assignee_user_id,
        viewer: conversation.handled_by === "ksc" ? "ksc" : "bank",
        change: "callback_suggested",
        status: "open",
        topic: rule.topic,
        reason: null,
      });
    }
    return true;
  });
}

/**
 * A topic the rule sends to the advisor, in a chat the KSC handles: the chat moves to the bank (reserved
 * to it, like a KSC agent's own handover) through the one handover verb — straight to the customer's
 * advisor when they are online with a free slot, otherwise into the bank queue with the advisor
 * preselected (and told).
 */
async function handOverToAdvisor(
  services: Services,
  tenant: Tenant,
  job: AfterInboundJob,
  rule: Rule,
): Promise<AfterInboundOutcome["handedOver"]> {
  const schema = tenant.schema_name;
  // Most such chats are the bank's own already: see that without taking the bank's routing lock.
  const glance = await services.db
    .withSchema(schema)
    .selectFrom("conversations as c")
    .innerJoin("customers as cu", "cu.id", "c.customer_id")
    .select(["c.status", "c.handled_by", "c.queue", "cu.advisor_user_id"])
    .where("c.id", "=", job.conversationId)
    .executeTakeFirst();
  if (!glance || glance.status === "closed" || (glance.handled_by !== "ksc" && glance.queue !== "ksc"))
    return null;
  const ctx = await loadBankContext(services.db, tenant.id);
  const advisor = glance.advisor_user_id ? await findPerson(services.db, ctx, glance.advisor_user_id) : null;
  const now = new Date();
  return inTransaction(services, async (trx, changes) => {
    const row = await lockConversation(trx, bankRef(tenant), job.conversationId);
    if (row.status === "closed" || (row.handled_by !== "ksc" && row.queue !== "ksc")) return null;
    const options = (toAdvisor: boolean) => ({
      by: "rule" as const,
      actor: SYSTEM,
      byUserId: null,
      reserveToBank: true,
      explain: {
        rule: "rsk.handover_to_advisor",
        reason: `Rule "${rule.topic}" requires the advisor; moved from the KSC to the bank${toAdvisor ? " and assigned to the advisor" : " queue with the advisor preselected"}.`,
        reasonDe: `Regel „${rule.topic}“ verlangt die Beraterin/den Berater: vom KSC an die Sparkasse übergeben${toAdvisor ? " und der Beraterin/dem Berater zugewiesen" : " (Warteschlange, Berater/in vorausgewählt)"}.`,
        details: {
          ruleId: rule.id,
          ruleVersion: job.ruleVersion,
          preselectedAdvisorUserId: advisor?.userId ?? null,
        },
      },
      audit: {
        from: row.assignee_user_id,
        toUserId: toAdvisor ? (advisor?.userId ?? null) : null,
        toQueue: toAdvisor ? null : "bank",
        via: "rule",
        ruleId: rule.id,
        ruleVersion: job.ruleVersion,
      },
      now,
    });
    const toAdvisor = advisor
      ? await handOver(trx, ctx, row, { person: advisor, requireOnline: true }, options(true))
      : null;
    if (toAdvisor) {
      changes.emit(...toAdvisor.events);
      return "advisor";
    }
    const queued = await handOver(trx, ctx, row, { queue: "bank" }, options(false));
    if (queued) changes.emit(...queued.events);
    if (advisor) {
      changes.emit({
        type: "conversation.suggested",
        bank: bankRef(tenant),
        conversationId: row.id,
        userId: advisor.userId,
        viewer: "bank",
        change: "advisor_preselected",
        status: "queued",
        topic: rule.topic,
        reason: queued?.routing.reason ?? null,
      });
    }
    return "bank_queue";
  });
}

/**
 * The rule book's follow-ups of a stored customer message (the `after-inbound` job, written to the
 * outbox with the message): the one-time hint about sensitive data, STOP/START, and the rule's action
 * (automatic reply, callback suggestion, handover to the advisor). Idempotent: every effect is claimed
 * in the transaction that performs it, so a retried job does nothing twice.
 */
export async function handleAfterInbound(
  services: Services,
  job: AfterInboundJob,
): Promise<AfterInboundOutcome> {
  const outcome: AfterInboundOutcome = {
    hintSent: false,
    autoReply: false,
    callbackSuggested: false,
    handedOver: null,
    optChange: null,
  };
  const tenant = await services.db
    .withSchema("control")
    .selectFrom("tenants")
    .selectAll()
    .where("id", "=", job.tenantId)
    .executeTakeFirst();
  if (!tenant) return outcome;
  const message = await services.db
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
    if (outcome.optChange) {
      // The customer's choice is recorded, which is what counts; the confirmation follows it.
      await queueSystemMessage(services, {
        tenant,
        conversationId: job.conversationId,
        text:
          outcome.optChange === "opted_in"
            ? optInConfirmationText(tenant.name)
            : optOutConfirmationText(tenant.name),
        kind: "auto_reply",
      });
    }
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
      outcome.handedOver = await handOverToAdvisor(services, tenant, job, rule);
      break;
    case "answer":
      break;
  }
  return outcome;
}
