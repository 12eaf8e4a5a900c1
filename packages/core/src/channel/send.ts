import { renderSnippet } from "@kanal/rules";
import type { Db, NewMessage, Tenant } from "@kanal/db";
import { auditTenant } from "../audit";
import { newId } from "../crypto";
import { AppError, forbidden, notFound } from "../errors";
import type { RequestContext } from "../request-context";
import { notificationsAllowed } from "../customers/opt-in";
import { checkAgentDraft, draftActorKind } from "../rsk/index";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";

export const WINDOW_MS = 24 * 3_600_000;

export type SendInput =
  | { text: string }
  | { snippetId: string }
  | { template: { name: string; language: string; params?: string[] } };

export type MessageKind = "reply" | "away" | "hint" | "auto_reply" | "notification";

/** Replies jump ahead of bulk traffic (lower number = earlier in BullMQ). */
export const PRIORITY = { reply: 1, bulk: 10 } as const;

export interface QueuedMessage {
  id: string;
  status: "queued";
  text: string | null;
  type: string;
  createdAt: string;
  warnings: { code: string; message: string }[];
}

export function windowOpen(lastInboundAt: Date | null, now = new Date()): boolean {
  return lastInboundAt !== null && now.getTime() - lastInboundAt.getTime() < WINDOW_MS;
}

function templateText(t: { name: string; language: string; params?: string[] }): string {
  return `Vorlage „${t.name}“ (${t.language})${t.params?.length ? `: ${t.params.join(" · ")}` : ""}`;
}

async function enqueueSend(
  services: Services,
  tenant: Tenant,
  messageId: string,
  priority: number,
): Promise<void> {
  await services.queues.dispatch.add(
    "send",
    { tenantId: tenant.id, messageId },
    { jobId: `send-${messageId}`, priority },
  );
}

/**
 * The agents' send verb. Checks who may write, the 24-hour window (templates excepted) and — for a
 * contracted KSC's agents — the bank's rule book, then writes the message `queued` and hands it to
 * dispatch in the same transaction: the job is only added when the row is written, and a failed
 * enqueue rolls the row back (503) instead of leaving a message nobody will send.
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
      "cu.wa_id",
      "cu.name",
      "cu.profile_name",
      "cu.last_inbound_at",
      "cu.opted_out_at",
    ])
    .where("c.id", "=", conversationId)
    .executeTakeFirst();
  if (!conversation) throw notFound("Conversation");
  const actor = ctx.actor;
  const isAssignee = actor.kind === "user" && conversation.assignee_user_id === actor.userId;
  const isBankAdmin = access.via === "member" && access.role === "bank_admin";
  if (!isAssignee && !isBankAdmin)
    throw forbidden("Only the agent handling this conversation may write to the customer");
  if (conversation.status === "closed") throw new AppError("unprocessable", "This conversation is closed");
  if (!conversation.wa_id) throw new AppError("unprocessable", "The customer has no WhatsApp id");

  let text: string;
  let snippetId: string | null = null;
  let template: { name: string; language: string; params?: string[] } | null = null;
  if ("template" in input) {
    template = input.template;
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
  const check = template
    ? null
    : await checkAgentDraft(db, {
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
  await db.transaction().execute(async (trx) => {
    const tt = trx.withSchema(access.schema);
    await tt
      .insertInto("messages")
      .values({
        id,
        conversation_id: conversationId,
        direction: "outbound",
        type: template ? "template" : "text",
        text,
        payload: template ? JSON.stringify({ template }) : null,
        status: "queued",
        author_user_id: actor.kind === "user" ? actor.userId : null,
        kind: "reply",
        snippet_id: snippetId,
        priority: "reply",
        rule_id: check?.ruleId ?? null,
        rule_version: check?.ruleVersion ?? null,
        created_at: now,
      })
      .execute();
    await tt
      .updateTable("conversations")
      .set((eb) => ({
        last_message_at: now,
        first_response_at: eb.fn.coalesce("first_response_at", eb.val(now)),
      }))
      .where("id", "=", conversationId)
      .execute();
    if (access.via === "ksc") {
      await auditTenant(trx, access.schema, actor, {
        action: "conversation.message_sent",
        targetType: "conversation",
        targetId: conversationId,
        details: { messageId: id, ruleId: check?.ruleId ?? null },
        ip: ctx.ip,
        requestId: ctx.requestId,
      });
    }
    try {
      await enqueueSend(services, access.tenant, id, PRIORITY.reply);
    } catch {
      throw new AppError(
        "unavailable",
        "Sending is unavailable right now; the message was not saved, please try again",
      );
    }
  });
  return {
    id,
    status: "queued",
    text,
    type: template ? "template" : "text",
    createdAt: now.toISOString(),
    warnings: (check?.warnings ?? []).map((w) => ({ code: w.code, message: w.message })),
  };
}

/**
 * Away messages, hints, automatic replies and notifications: no permission or rule check, same dispatch
 * path. Inside the window only (returns null when it is closed); a notification also needs the
 * customer's recorded opt-in and no STOP since (returns null otherwise).
 */
export async function queueSystemMessage(
  services: Services,
  input: { tenant: Tenant; conversationId: string; text: string; kind: Exclude<MessageKind, "reply"> },
): Promise<{ id: string } | null> {
  const { db } = services;
  const row = await db
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
  await db.transaction().execute(async (trx) => {
    await trx
      .withSchema(input.tenant.schema_name)
      .insertInto("messages")
      .values({
        id,
        conversation_id: input.conversationId,
        direction: "outbound",
        type: "text",
        text: input.text,
        status: "queued",
        kind: input.kind,
        priority: lane,
        created_at: new Date(),
      })
      .execute();
    await enqueueSend(services, input.tenant, id, PRIORITY[lane]);
  });
  return { id };
}

/**
 * Messages per `send-batch` job at most. One job per bank's campaign keeps one job per number draining
 * it chunk by chunk (`SEND_CHUNK`), instead of many jobs of one number waking for the same free slots.
 */
export const NOTIFICATION_BATCH_SIZE = 500;
/** Rows per INSERT statement when many notifications are written at once. */
const INSERT_CHUNK = 1_000;

export interface NotificationInput {
  conversationId: string;
  text: string;
}

/**
 * The bank's bulk notifications (the bulk lane), many at once: the same rule as `queueSystemMessage`
 * (inside the customer's 24-hour window only; others are returned as skipped), the rows written
 * `queued` and their `send-batch` jobs (up to `NOTIFICATION_BATCH_SIZE` messages each, one bank, so one
 * number) added in the same transaction — a failed enqueue rolls every row back (503). Dispatch then
 * takes a batch's slots, claims and sends in a few round trips instead of a few per message.
 */
export async function queueNotifications(
  services: Services,
  input: { tenant: Tenant; notifications: readonly NotificationInput[]; batchSize?: number },
): Promise<{ queued: { conversationId: string; id: string }[]; skipped: string[] }> {
  const { db } = services;
  const { tenant } = input;
  const batchSize = Math.max(1, Math.min(input.batchSize ?? NOTIFICATION_BATCH_SIZE, 500));
  const conversationIds = [...new Set(input.notifications.map((n) => n.conversationId))];
  if (conversationIds.length === 0) return { queued: [], skipped: [] };
  const recipients = new Map<
    string,
    { last_inbound_at: Date | null; opted_in_at: Date | null; opted_out_at: Date | null }
  >();
  for (let i = 0; i < conversationIds.length; i += INSERT_CHUNK) {
    const rows = await db
      .withSchema(tenant.schema_name)
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select(["c.id", "cu.last_inbound_at", "cu.opted_in_at", "cu.opted_out_at"])
      .where("c.id", "in", conversationIds.slice(i, i + INSERT_CHUNK))
      .execute();
    for (const r of rows) recipients.set(r.id, r);
  }
  const now = new Date();
  const queued: { conversationId: string; id: string }[] = [];
  const skipped: string[] = [];
  const rows: NewMessage[] = [];
  for (const n of input.notifications) {
    const recipient = recipients.get(n.conversationId);
    // The same rules as queueSystemMessage: the window, and the customer's recorded opt-in.
    if (!recipient || !windowOpen(recipient.last_inbound_at, now) || !notificationsAllowed(recipient)) {
      skipped.push(n.conversationId);
      continue;
    }
    const id = newId("msg");
    queued.push({ conversationId: n.conversationId, id });
    rows.push({
      id,
      conversation_id: n.conversationId,
      direction: "outbound",
      type: "text",
      text: n.text,
      status: "queued",
      kind: "notification",
      priority: "bulk",
      created_at: now,
    });
  }
  if (rows.length === 0) return { queued, skipped };
  await db.transaction().execute(async (trx) => {
    const tt = trx.withSchema(tenant.schema_name);
    for (let i = 0; i < rows.length; i += INSERT_CHUNK)
      await tt
        .insertInto("messages")
        .values(rows.slice(i, i + INSERT_CHUNK))
        .execute();
    const jobs = [];
    for (let i = 0; i < queued.length; i += batchSize) {
      const messageIds = queued.slice(i, i + batchSize).map((q) => q.id);
      jobs.push({
        name: "send-batch",
        data: { tenantId: tenant.id, messageIds },
        opts: { jobId: `batch-${messageIds[0]}`, priority: PRIORITY.bulk },
      });
    }
    try {
      await services.queues.dispatch.addBulk(jobs);
    } catch {
      throw new AppError(
        "unavailable",
        "Sending is unavailable right now; the notifications were not saved, please try again",
      );
    }
  });
  return { queued, skipped };
}

export async function findMessage(db: Db, schema: string, messageId: string) {
  return db
    .withSchema(schema)
    .selectFrom("messages")
    .selectAll()
    .where("id", "=", messageId)
    .executeTakeFirst();
}
