import type { Database, Transaction } from "@kanal/db";
import { sql } from "@kanal/db";
import type { QueueSide } from "@kanal/routing";
import { auditTenant } from "../audit";
import { newId } from "../crypto";
import { AppError, conflict, invalid, notFound } from "../errors";
import type { RequestContext } from "../request-context";
import type { Services } from "../services";
import { accessConversation } from "./access";
import { absentUserIds, type BankRoutingContext, loadBankRoutingContext } from "./context";
import { noEffects, runEffects } from "./effects";
import { claimAgentSlot, lockBankRouting, releaseAgentSlot } from "./locks";
import { recordDecision } from "./route";
import { RESERVED_TO_BANK_FLAG } from "./sweep";

/** Every routing write on one conversation: the bank's routing lock first, then the row itself. */
async function lockConversation(trx: Transaction<Database>, ctx: BankRoutingContext, conversationId: string) {
  await lockBankRouting(trx, ctx.tenant.id);
  const row = await trx
    .withSchema(ctx.schema)
    .selectFrom("conversations")
    .selectAll()
    .where("id", "=", conversationId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("Conversation");
  return row;
}

export interface RoutedConversation {
  id: string;
  status: string;
  assigneeUserId: string | null;
  handledBy: string | null;
  queue: string | null;
  routing: Record<string, unknown> | null;
}

type ConversationRowLike = {
  id: string;
  status: string;
  assignee_user_id: string | null;
  handled_by: string | null;
  queue: string | null;
  routing: unknown;
};

function summaryOf(row: ConversationRowLike): RoutedConversation {
  return {
    id: row.id,
    status: row.status,
    assigneeUserId: row.assignee_user_id,
    handledBy: row.handled_by,
    queue: row.queue,
    routing: (row.routing ?? null) as Record<string, unknown> | null,
  };
}

interface Person {
  userId: string;
  name: string;
  role: string;
  maxChats: number;
  handledBy: "in_house" | "ksc" | "advisor";
}

/** A person of this bank, or an agent of its contracted KSC; null for anyone else. */
async function findPerson(
  trx: Transaction<Database> | Services["db"],
  ctx: BankRoutingContext,
  userId: string,
): Promise<Person | null> {
  const rows = await trx
    .withSchema("control")
    .selectFrom("memberships as m")
    .innerJoin("users as u", "u.id", "m.user_id")
    .select(["m.user_id", "m.role", "m.max_chats", "m.tenant_id", "m.ksc_org_id", "u.name"])
    .where("m.user_id", "=", userId)
    .where("u.disabled_at", "is", null)
    .execute();
  const bank = rows.find((r) => r.tenant_id === ctx.tenant.id && r.role !== "provider_admin");
  const ksc = rows.find(
    (r) => ctx.kscOrgId !== null && r.ksc_org_id === ctx.kscOrgId && r.role === "ksc_agent",
  );
  const row = bank ?? ksc;
  if (!row) return null;
  return {
    userId: row.user_id,
    name: row.name,
    role: row.role,
    maxChats: row.max_chats,
    handledBy: row.role === "ksc_agent" ? "ksc" : row.role === "bank_advisor" ? "advisor" : "in_house",
  };
}

const kscNotContracted = () =>
  new AppError(
    "ksc_not_contracted",
    "This bank has no contracted KSC, so nothing can be handed to a KSC queue.",
  );

export interface HandoverInput {
  toUserId?: string;
  toQueue?: QueueSide;
  note?: string;
}

/**
 * Chatübergabe: to a named person (advisor, specialist, colleague) or to the bank or KSC queue, with an
 * internal note the customer never sees. KSC agents may hand to the bank queue, to the customer's
 * advisor (or that advisor's deputy) and to their KSC colleagues; a chat a KSC agent hands to the bank
 * is reserved to the bank (it never moves back to the KSC at closing time).
 */
export async function handoverConversation(
  services: Services,
  rctx: RequestContext,
  slug: string,
  conversationId: string,
  input: HandoverInput,
): Promise<RoutedConversation> {
  if ((input.toUserId ? 1 : 0) + (input.toQueue ? 1 : 0) !== 1) {
    throw invalid("Give exactly one of toUserId or toQueue", [
      { path: "toUserId", message: "either toUserId or toQueue" },
    ]);
  }
  const {
    access,
    conversation,
    userId: actorId,
  } = await accessConversation(services, rctx, slug, conversationId, "handover");
  if (conversation.status === "closed") throw conflict("The conversation is closed");
  const ctx = await loadBankRoutingContext(services.db, access.tenant.id);
  const viaKsc = access.via === "ksc";
  if (input.toQueue === "ksc" && !ctx.kscOrgId) throw kscNotContracted();

  let target: Person | null = null;
  if (input.toUserId) {
    target = await findPerson(services.db, ctx, input.toUserId);
    if (!target)
      throw invalid("Unknown person", [
        { path: "toUserId", message: "is not a person of this bank or its KSC" },
      ]);
    if (viaKsc && target.handledBy !== "ksc") {
      const customer = await services.db
        .withSchema(ctx.schema)
        .selectFrom("customers")
        .select("advisor_user_id")
        .where("id", "=", conversation.customer_id)
        .executeTakeFirst();
      const advisorId = customer?.advisor_user_id ?? null;
      const deputy = advisorId
        ? await services.db
            .withSchema("control")
            .selectFrom("memberships")
            .select("deputy_user_id")
            .where("user_id", "=", advisorId)
            .where("tenant_id", "=", ctx.tenant.id)
            .executeTakeFirst()
        : undefined;
      if (target.userId !== advisorId && target.userId !== deputy?.deputy_user_id) {
        throw new AppError(
          "forbidden",
          "A KSC agent hands chats to the bank queue or to the customer's advisor (or their deputy), not to other bank staff",
        );
      }
    }
    const absent = await absentUserIds(services.db, ctx.schema, new Date());
    if (absent.has(target.userId)) {
      throw conflict(`${target.name} is absent; hand the chat to their deputy or to a queue`, [
        { path: "toUserId", message: "is absent" },
      ]);
    }
  }

  const effects = noEffects();
  const now = new Date();
  const updated = await services.db.transaction().execute(async (trx) => {
    const t = trx.withSchema(ctx.schema);
    const row = await lockConversation(trx, ctx, conversationId);
    if (row.status === "closed") throw conflict("The conversation is closed");
    const previous = row.assignee_user_id;
    if (target && previous === target.userId)
      throw conflict("The conversation is already assigned to this person");
    if (input.toQueue && row.status === "queued" && row.queue === input.toQueue) {
      throw conflict(`The conversation already waits in the ${input.toQueue} queue`);
    }
    // Lock order: release and claim touch agent_state rows; sort so two crossing handovers cannot deadlock.
    const rowsToTouch = [previous, target?.userId].filter((id): id is string => Boolean(id)).sort();
    await trx
      .withSchema("control")
      .selectFrom("agent_state")
      .select("user_id")
      .where("user_id", "in", rowsToTouch.length > 0 ? rowsToTouch : ["-"])
      .orderBy("user_id")
      .forUpdate()
      .execute();
    if (previous) await releaseAgentSlot(trx, previous);

    const actorName = rctx.actor.kind === "user" ? rctx.actor.name : "system";
    let reason: string;
    let reasonDe: string;
    let summaryTarget: Record<string, unknown>;
    if (target) {
      if (!(await claimAgentSlot(trx, target.userId, target.maxChats, { requireOnline: false }))) {
        throw conflict(`${target.name} already holds the maximum of ${target.maxChats} chats`, [
          { path: "toUserId", message: "is at their maximum" },
        ]);
      }
      reason = `Handed over by ${actorName} to ${target.name}.`;
      reasonDe = `Von ${actorName} an ${target.name} übergeben.`;
      summaryTarget = { type: "agent", userId: target.userId, handledBy: target.handledBy };
      await t
        .updateTable("conversations")
        .set({
          status: "open",
          assignee_user_id: target.userId,
          handled_by: target.handledBy,
          queue: null,
          assigned_at: now,
        })
        .where("id", "=", row.id)
        .execute();
    } else {
      const side = input.toQueue ?? "bank";
      const reserve = side === "bank" && viaKsc;
      reason = `Handed over by ${actorName} to the ${side === "ksc" ? "KSC" : "bank"} queue${reserve ? " (reserved to the bank)" : ""}.`;
      reasonDe = `Von ${actorName} an die ${side === "ksc" ? "KSC" : "Bank"}-Warteschlange übergeben${reserve ? " (der Bank vorbehalten)" : ""}.`;
      summaryTarget = { type: "queue", queue: side, handledBy: side === "ksc" ? "ksc" : "in_house" };
      await t
        .updateTable("conversations")
        .set({
          status: "queued",
          assignee_user_id: null,
          handled_by: side === "ksc" ? "ksc" : "in_house",
          queue: side,
          queued_at: now,
          ...(reserve && {
            flags: sql<
              string[]
            >`array_append(array_remove(flags, ${RESERVED_TO_BANK_FLAG}), ${RESERVED_TO_BANK_FLAG})`,
          }),
        })
        .where("id", "=", row.id)
        .execute();
      effects.queued.push({ tenantId: ctx.tenant.id, side });
    }
    const summary = {
      ...((row.routing ?? {}) as Record<string, unknown>),
      mode: ctx.config.mode,
      rule: target ? "handover.person" : "handover.queue",
      reason,
      reasonDe,
      target: summaryTarget,
      candidates: [],
      trigger: "handover",
      handoverBy: actorId,
      decidedAt: now.toISOString(),
    };
    const saved = await t
      .updateTable("conversations")
      .set({ routing: JSON.stringify(summary) })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordDecision(trx, ctx.schema, row.id, summary);
    if (input.note) {
      await t
        .insertInto("messages")
        .values({
          id: newId("msg"),
          conversation_id: row.id,
          direction: "internal",
          type: "note",
          text: input.note,
          status: "internal",
          author_user_id: actorId,
          kind: "handover_note",
          created_at: now,
        })
        .execute();
    }
    await auditTenant(trx, ctx.schema, rctx.actor, {
      action: "conversation.handover",
      targetType: "conversation",
      targetId: row.id,
      details: {
        from: previous,
        toUserId: input.toUserId ?? null,
        toQueue: input.toQueue ?? null,
        via: access.via,
      },
      ip: rctx.ip ?? null,
      requestId: rctx.requestId ?? null,
    });
    const eventData = {
      tenant: ctx.tenant.slug,
      tenantId: ctx.tenant.id,
      conversationId: row.id,
      handledBy: saved.handled_by,
      rule: summary.rule,
      reason,
      by: "handover",
      fromUserId: actorId,
      note: input.note ?? null,
    };
    if (target) effects.assigned.push({ userId: target.userId, data: eventData });
    if (previous && previous !== actorId)
      effects.updated.push({ userIds: [previous], data: { ...eventData, status: saved.status } });
    if (previous) effects.freed.push(previous);
    return saved;
  });
  await runEffects(services, effects);
  return summaryOf(updated);
}

/** Closing a chat frees its handler's slot, who then takes the oldest waiting chat of their queues. */
export async function closeConversation(
  services: Services,
  rctx: RequestContext,
  slug: string,
  conversationId: string,
): Promise<RoutedConversation> {
  const { access, userId } = await accessConversation(services, rctx, slug, conversationId, "close");
  const effects = noEffects();
  const closed = await services.db.transaction().execute(async (trx) => {
    const t = trx.withSchema(access.schema);
    const row = await t
      .selectFrom("conversations")
      .selectAll()
      .where("id", "=", conversationId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) throw notFound("Conversation");
    if (row.status === "closed") return row;
    const saved = await t
      .updateTable("conversations")
      .set({ status: "closed", closed_at: new Date(), closed_by: userId, queue: null })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (row.status === "open" && row.assignee_user_id) {
      await releaseAgentSlot(trx, row.assignee_user_id);
      effects.freed.push(row.assignee_user_id);
      if (row.assignee_user_id !== userId) {
        effects.updated.push({
          userIds: [row.assignee_user_id],
          data: { tenant: access.tenant.slug, conversationId: row.id, status: "closed", closedBy: userId },
        });
      }
    }
    await auditTenant(trx, access.schema, rctx.actor, {
      action: "conversation.closed",
      targetType: "conversation",
      targetId: row.id,
      details: { assignee: row.assignee_user_id, wasStatus: row.status },
      ip: rctx.ip ?? null,
      requestId: rctx.requestId ?? null,
    });
    return saved;
  });
  await runEffects(services, effects);
  return summaryOf(closed);
}

/** Takes a waiting chat by hand (the "take from queue" button): exactly one person wins a race. */
export async function takeConversation(
  services: Services,
  rctx: RequestContext,
  slug: string,
  conversationId: string,
): Promise<RoutedConversation> {
  const { access, userId } = await accessConversation(services, rctx, slug, conversationId, "take");
  const ctx = await loadBankRoutingContext(services.db, access.tenant.id);
  const person = await findPerson(services.db, ctx, userId);
  if (!person) throw notFound("Conversation");
  const effects = noEffects();
  const now = new Date();
  const taken = await services.db.transaction().execute(async (trx) => {
    const t = trx.withSchema(ctx.schema);
    const row = await lockConversation(trx, ctx, conversationId);
    if (row.status !== "queued") throw conflict("Somebody already took this conversation");
    if (person.handledBy === "ksc" && row.queue !== "ksc") throw notFound("Conversation");
    if (!(await claimAgentSlot(trx, userId, person.maxChats, { requireOnline: false }))) {
      throw conflict(`You already hold your maximum of ${person.maxChats} chats`);
    }
    const reason = `Taken from the ${row.queue === "ksc" ? "KSC" : "bank"} queue by ${person.name}.`;
    const reasonDe = `Von ${person.name} aus der ${row.queue === "ksc" ? "KSC" : "Bank"}-Warteschlange übernommen.`;
    const summary = {
      ...((row.routing ?? {}) as Record<string, unknown>),
      mode: ctx.config.mode,
      rule: "queue.taken",
      reason,
      reasonDe,
      target: { type: "agent", userId, handledBy: person.handledBy },
      trigger: "take",
      decidedAt: now.toISOString(),
    };
    const saved = await t
      .updateTable("conversations")
      .set({
        status: "open",
        assignee_user_id: userId,
        handled_by: person.handledBy,
        queue: null,
        assigned_at: now,
        routing: JSON.stringify(summary),
      })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordDecision(trx, ctx.schema, row.id, summary);
    effects.assigned.push({
      userId,
      data: {
        tenant: ctx.tenant.slug,
        tenantId: ctx.tenant.id,
        conversationId: row.id,
        handledBy: person.handledBy,
        rule: "queue.taken",
        reason,
        by: "take",
      },
    });
    return saved;
  });
  await runEffects(services, effects);
  return summaryOf(taken);
}

export interface CallbackView {
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
  const row = await services.db.transaction().execute(async (trx) => {
    const saved = await trx
      .withSchema(access.schema)
      .insertInto("callbacks")
      .values({
        id,
        conversation_id: conversation.id,
        note: input.note,
        preferred_time: input.preferredTime ?? null,
        created_by: userId,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await auditTenant(trx, access.schema, rctx.actor, {
      action: "callback.requested",
      targetType: "conversation",
      targetId: conversation.id,
      details: { callbackId: id, preferredTime: input.preferredTime ?? null },
      ip: rctx.ip ?? null,
      requestId: rctx.requestId ?? null,
    });
    return saved;
  });
  return {
    id: row.id,
    conversationId: row.conversation_id,
    note: row.note,
    preferredTime: row.preferred_time,
    status: row.status,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
  };
}

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
