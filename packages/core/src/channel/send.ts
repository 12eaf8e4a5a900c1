import type { Tenant } from "@kanal/db";
import { renderSnippet } from "@kanal/rules";
import { bankRef } from "../conversations/bank";
import { appendOutbound, type OutboundRow } from "../conversations/messages";
import { windowOpen } from "../conversations/window";
import { notificationsAllowed } from "../customers/opt-in";
import { auditTenant } from "../kernel/audit";
import { newId } from "../kernel/crypto";
import { AppError, forbidden, notFound } from "../kernel/errors";
import type { Trx } from "../kernel/executor";
import type { RequestContext } from "../kernel/request-context";
import { outboxJob } from "../outbox/outbox";
import { type Changes, inTransaction } from "../outbox/unit-of-work";
import { checkAgentDraft, draftActorKind, maskForStorage } from "../rules/guard";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";
import { kscMaySee, kscScopeOf } from "../tenants/ksc-scope";
import { PRIORITY } from "@kanal/queue";
import { answerCodeOf, type PreparedTemplate, prepareTemplate } from "./templates";

type SendInput =
  | { text: string }
  | { snippetId: string }
  | { template: { name: string; language: string; params?: string[] } };

type MessageKind = "reply" | "away" | "hint" | "auto_reply" | "notification";

interface QueuedMessage {
  id: string;
  status: "queued";
  text: string | null;
  type: string;
  createdAt: string;
  warnings: { code: string; message: string }[];
}

/** The text a template's parameters are checked as against the rule book (the template's own text is Meta-approved). */
function templateText(t: { name: string; language: string; params?: string[] }): string {
  return `Vorlage „${t.name}“ (${t.language})${t.params?.length ? `: ${t.params.join(" · ")}` : ""}`;
}

/** The dispatch job of one queued message, written to the outbox with it (relayed after commit). */
function sendJob(tenant: Pick<Tenant, "id">, messageId: string, lane: "reply" | "bulk") {
  return outboxJob(
    "dispatch",
    "send",
    { tenantId: tenant.id, messageId },
    { jobId: `send-${messageId}`, priority: PRIORITY[lane] },
  );
}

/**
 * The agents' send verb. Checks who may write, the 24-hour window (templates excepted) and the bank's
 * rule book — for free text, snippets and templates with their parameters alike — then writes the message
 * `queued` (its text through the data-protection guard) with its dispatch job in the outbox, one
 * transaction: the job exists only once the row has committed, and a committed row always gets its job.
 */
export async function sendMessage(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  conversationId: string,
  input: SendInput,
): Promise<QueuedMessage> {
  const { db } = services;
  const t = db.withSchema(access.schema);
  const conversation = await t
    .selectFrom("conversations as c")
    .innerJoin("customers as cu", "cu.id", "c.customer_id")
    .select([
      "c.id",
      "c.status",
      "c.assignee_user_id",
      "c.rule_id",
      "c.ksc_org_id",
      "c.handled_by",
      "c.queue",
      "cu.wa_id",
      "cu.name",
      "cu.profile_name",
      "cu.last_inbound_at",
      "cu.opted_out_at",
    ])
    .where("c.id", "=", conversationId)
    .executeTakeFirst();
  const actor = ctx.actor;
  // A KSC agent learns nothing about a chat outside their organisation's scope, not even that it exists.
  const scope = kscScopeOf(access, actor.kind === "user" ? actor.userId : null);
  if (!conversation || (scope && !kscMaySee(conversation, scope))) throw notFound("Conversation");
  const isAssignee = actor.kind === "user" && conversation.assignee_user_id === actor.userId;
  const isBankAdmin = access.via === "member" && access.role === "bank_admin";
  if (!isAssignee && !isBankAdmin)
    throw forbidden("Only the agent handling this conversation may write to the customer");
  if (conversation.status === "closed") throw new AppError("unprocessable", "This conversation is closed");
  if (!conversation.wa_id) throw new AppError("unprocessable", "The customer has no WhatsApp id");

  let text: string;
  let snippetId: string | null = null;
  let template: { name: string; language: string; params?: string[] } | null = null;
  let prepared: PreparedTemplate | null = null;
  if ("template" in input) {
    template = input.template;
    // Only an approved template of the bank's registry, with exactly its parameters (422 / 400 otherwise).
    prepared = await prepareTemplate(db, access.schema, template);
    text = templateText(template);
  } else if ("snippetId" in input) {
    const snippet = await t
      .selectFrom("snippets")
      .selectAll()
      .where("id", "=", input.snippetId)
      .executeTakeFirst();
    if (!snippet)
      throw new AppError("invalid_request", "Unknown snippet", {
        fields: [{ path: "snippetId", message: "does not exist" }],
      });
    snippetId = snippet.id;
    text = renderSnippet(snippet.body, {
      customer: { name: conversation.name ?? conversation.profile_name },
      agent: { name: actor.kind === "user" ? actor.name : null },
      bank: { name: access.tenant.name },
    });
  } else {
    text = input.text;
  }
  const windowIsOpen = windowOpen(conversation.last_inbound_at);
  if (!template && !windowIsOpen) {
    throw new AppError(
      "window_closed",
      "The customer's last message is more than 24 hours old: only a template message may be sent",
    );
  }
  // After the window a template is the bank writing first: the customer's STOP always wins.
  if (template && !windowIsOpen && conversation.opted_out_at !== null) {
    throw new AppError(
      "opted_out",
      "The customer unsubscribed (STOP) from messages the bank sends on its own; wait until they write again",
    );
  }
  // Templates pass the same check as free text: the bank-only topic, the free-text ban for the KSC and
  // the forbidden-data check apply to their parameters as much as to a typed reply.
  const check = await checkAgentDraft(db, {
    schema: access.schema,
    conversationId,
    ruleId: conversation.rule_id,
    text,
    snippetId,
    actorKind: draftActorKind(access),
    ctx,
  });

  const id = newId("msg");
  const now = new Date();
  const bank = bankRef(access.tenant);
  const stored = maskForStorage(prepared?.text ?? text).text;
  await inTransaction(services, async (trx, changes) => {
    await appendOutbound(
      trx,
      bank,
      [
        {
          id,
          conversation_id: conversationId,
          type: template ? "template" : "text",
          text: prepared?.text ?? text,
          payload: prepared ? JSON.stringify(templatePayload(prepared, id)) : null,
          author_user_id: actor.kind === "user" ? actor.userId : null,
          kind: "reply",
          snippet_id: snippetId,
          priority: "reply",
          rule_id: check.ruleId,
          rule_version: check.ruleVersion,
          created_at: now,
        },
      ],
      { reply: { conversationId, at: now } },
    );
    if (access.via === "ksc") {
      await auditTenant(trx, access.schema, actor, {
        action: "conversation.message_sent",
        targetType: "conversation",
        targetId: conversationId,
        details: { messageId: id, ruleId: check.ruleId },
        ip: ctx.ip,
        requestId: ctx.requestId,
      });
    }
    changes.enqueue(sendJob(access.tenant, id, "reply"));
  });
  return {
    id,
    status: "queued",
    text: stored,
    type: template ? "template" : "text",
    createdAt: now.toISOString(),
    warnings: check.warnings.map((w) => ({ code: w.code, message: w.message })),
  };
}

/**
 * A message Kanal writes itself (away message, hint, automatic reply, opt-in confirmation, a bank's
 * notification), inside the caller's transaction: no permission or rule check, the same dispatch path.
 * Inside the window only (returns null when it is closed); a notification also needs the customer's
 * recorded opt-in and no STOP since (returns null otherwise).
 */
export async function writeSystemMessage(
  trx: Trx,
  changes: Changes,
  input: { tenant: Tenant; conversationId: string; text: string; kind: Exclude<MessageKind, "reply"> },
): Promise<{ id: string } | null> {
  const row = await trx
    .withSchema(input.tenant.schema_name)
    .selectFrom("conversations as c")
    .innerJoin("customers as cu", "cu.id", "c.customer_id")
    .select(["cu.last_inbound_at", "cu.opted_in_at", "cu.opted_out_at"])
    .where("c.id", "=", input.conversationId)
    .executeTakeFirst();
  if (!row || !windowOpen(row.last_inbound_at)) return null;
  if (input.kind === "notification" && !notificationsAllowed(row)) return null;
  // Notifications the bank sends on its own are bulk traffic: they never hold up a conversational reply.
  const lane = input.kind === "notification" ? "bulk" : "reply";
  const id = newId("msg");
  await appendOutbound(trx, bankRef(input.tenant), [
    {
      id,
      conversation_id: input.conversationId,
      type: "text",
      text: input.text,
      kind: input.kind,
      priority: lane,
      created_at: new Date(),
    },
  ]);
  changes.enqueue(sendJob(input.tenant, id, lane));
  return { id };
}

/** writeSystemMessage in a transaction of its own. */
export async function queueSystemMessage(
  services: Services,
  input: { tenant: Tenant; conversationId: string; text: string; kind: Exclude<MessageKind, "reply"> },
): Promise<{ id: string } | null> {
  return inTransaction(services, (trx, changes) => writeSystemMessage(trx, changes, input));
}

/**
 * Messages per `send-batch` job at most. One job per bank's campaign keeps one job per number draining
 * it chunk by chunk (`SEND_CHUNK`), instead of many jobs of one number waking for the same free slots.
 */
const NOTIFICATION_BATCH_SIZE = 500;
/** Conversations read per statement when many notifications are checked at once. */
const READ_CHUNK = 1_000;

interface NotificationInput {
  conversationId: string;
  text: string;
}

/**
 * The bank's bulk notifications (the bulk lane), many at once: the same rule as `writeSystemMessage`
 * (inside the customer's 24-hour window and with their opt-in only; others are returned as skipped), the
 * rows written `queued` and their `send-batch` jobs (up to `NOTIFICATION_BATCH_SIZE` messages each, one
 * bank, so one number) written to the outbox in the same transaction. Dispatch then takes a batch's
 * slots, claims and sends in a few round trips instead of a few per message.
 */
export async function queueNotifications(
  services: Services,
  input: { tenant: Tenant; notifications: readonly NotificationInput[]; batchSize?: number },
): Promise<{ queued: { conversationId: string; id: string }[]; skipped: string[] }> {
  const { db } = services;
  const { tenant } = input;
  const batchSize = Math.max(
    1,
    Math.min(input.batchSize ?? NOTIFICATION_BATCH_SIZE, NOTIFICATION_BATCH_SIZE),
  );
  const conversationIds = [...new Set(input.notifications.map((n) => n.conversationId))];
  if (conversationIds.length === 0) return { queued: [], skipped: [] };
  const recipients = new Map<
    string,
    { last_inbound_at: Date | null; opted_in_at: Date | null; opted_out_at: Date | null }
  >();
  for (let i = 0; i < conversationIds.length; i += READ_CHUNK) {
    const rows = await db
      .withSchema(tenant.schema_name)
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select(["c.id", "cu.last_inbound_at", "cu.opted_in_at", "cu.opted_out_at"])
      .where("c.id", "in", conversationIds.slice(i, i + READ_CHUNK))
      .execute();
    for (const r of rows) recipients.set(r.id, r);
  }
  const now = new Date();
  const queued: { conversationId: string; id: string }[] = [];
  const skipped: string[] = [];
  const rows: OutboundRow[] = [];
  for (const n of input.notifications) {
    const recipient = recipients.get(n.conversationId);
    if (!recipient || !windowOpen(recipient.last_inbound_at, now) || !notificationsAllowed(recipient)) {
      skipped.push(n.conversationId);
      continue;
    }
    const id = newId("msg");
    queued.push({ conversationId: n.conversationId, id });
    rows.push({
      id,
      conversation_id: n.conversationId,
      type: "text",
      text: n.text,
      kind: "notification",
      priority: "bulk",
      created_at: now,
    });
  }
  if (rows.length === 0) return { queued, skipped };
  await inTransaction(services, (trx, changes) => writeBulkMessages(trx, changes, tenant, rows, batchSize));
  return { queued, skipped };
}

/**
 * Writes bulk-lane messages `queued` (through the guard, `appendOutbound`) and their `send-batch` jobs —
 * up to `NOTIFICATION_BATCH_SIZE` messages each, one bank, so one number — into the outbox, in the
 * caller's transaction: the bank's notifications, one or ten thousand.
 */
export async function writeBulkMessages(
  trx: Trx,
  changes: Changes,
  tenant: Pick<Tenant, "id" | "slug" | "schema_name">,
  rows: readonly OutboundRow[],
  batchSize = NOTIFICATION_BATCH_SIZE,
): Promise<void> {
  await appendOutbound(trx, bankRef(tenant), rows);
  for (let i = 0; i < rows.length; i += batchSize) {
    const messageIds = rows.slice(i, i + batchSize).map((r) => r.id);
    changes.enqueue(
      outboxJob(
        "dispatch",
        "send-batch",
        { tenantId: tenant.id, messageIds },
        { jobId: `batch-${messageIds[0]}`, priority: PRIORITY.bulk },
      ),
    );
  }
}

/** The stored payload of a template message: what dispatch sends (Meta's components) and the answers it offers. */
export function templatePayload(prepared: PreparedTemplate, messageId: string) {
  return {
    template: {
      name: prepared.name,
      language: prepared.language,
      category: prepared.category,
      params: prepared.params,
      components: prepared.components(messageId),
      quickReplies: prepared.quickReplies.map((b) => ({
        index: b.index,
        text: b.text,
        code: answerCodeOf(b),
      })),
    },
  };
}
