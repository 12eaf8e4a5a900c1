import type { Actor } from "../kernel/actor";
import type { QueueSide } from "../kernel/domain-events";
import { AppError, conflict, invalid } from "../kernel/errors";
import type { Trx } from "../kernel/executor";
import type { RequestContext } from "../kernel/request-context";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";
import { accessConversation } from "./access";
import { absentUserIds, type BankContext, bankRef, loadBankContext } from "./bank";
import { CONVERSATION_FLAGS } from "./flags";
import { findPerson, type Person } from "./people";
import {
  assign,
  type ConversationState,
  type DecisionRecord,
  enqueue,
  lockConversation,
  type TransitionResult,
} from "./transitions";

type HandoverTarget = { person: Person; requireOnline: boolean } | { queue: QueueSide };

interface HandOverOptions {
  by: "handover" | "rule";
  actor: Actor;
  /** the person handing over (null: the rule book) */
  byUserId: string | null;
  note?: string | null;
  /** the chat leaves the KSC for the bank: it must not go back at closing time */
  reserveToBank: boolean;
  /** what to record as the decision's rule and reason (default: a person's handover) */
  explain: { rule: string; reason: string; reasonDe: string; details?: Record<string, unknown> };
  audit: Record<string, unknown>;
  ip?: string | null;
  requestId?: string | null;
  now: Date;
}

/**
 * Chatübergabe, the one implementation: to a named person or to a queue, by a person (the handover
 * route) or by the rule book (a topic that needs the advisor). Runs in the caller's transaction on a
 * locked row. Returns null when the person could not take it (only with `requireOnline`, the rule's
 * "straight to the advisor if they are free"); nothing was written then.
 */
export async function handOver(
  trx: Trx,
  ctx: BankContext,
  c: ConversationState,
  target: HandoverTarget,
  o: HandOverOptions,
): Promise<TransitionResult | null> {
  const bank = bankRef(ctx.tenant);
  const decision: DecisionRecord = {
    ...((c.routing ?? {}) as Record<string, unknown>),
    mode: ctx.config.mode,
    rule: o.explain.rule,
    reason: o.explain.reason,
    reasonDe: o.explain.reasonDe,
    target:
      "person" in target
        ? { type: "agent", userId: target.person.userId, handledBy: target.person.handledBy }
        : { type: "queue", queue: target.queue, handledBy: target.queue === "ksc" ? "ksc" : "in_house" },
    candidates: [],
    trigger: o.by === "rule" ? "rule" : "handover",
    handoverBy: o.byUserId,
    decidedAt: o.now.toISOString(),
    ...o.explain.details,
  };
  const common = {
    decision,
    byUserId: o.byUserId,
    note: o.note ? { text: o.note, authorUserId: o.byUserId, kind: "handover_note" as const } : null,
    addFlags: [
      ...(o.reserveToBank ? [CONVERSATION_FLAGS.reservedToBank] : []),
      ...(o.by === "rule" ? [CONVERSATION_FLAGS.handedOverByRule] : []),
    ],
    audit: {
      actor: o.actor,
      action: "conversation.handover",
      details: o.audit,
      ip: o.ip ?? null,
      requestId: o.requestId ?? null,
    },
    releaseAs: "handed_over" as const,
    now: o.now,
  };
  if ("person" in target) {
    return assign(trx, bank, c, {
      ...common,
      userId: target.person.userId,
      handledBy: target.person.handledBy,
      kscOrgId: target.person.kscOrgId,
      maxChats: target.person.maxChats,
      requireOnline: target.requireOnline,
      by: o.by,
    });
  }
  return enqueue(trx, bank, c, {
    ...common,
    queue: target.queue,
    handledBy: target.queue === "ksc" ? "ksc" : "in_house",
    kscOrgId: target.queue === "ksc" ? ctx.kscOrgId : null,
    by: o.by === "rule" ? "rule" : "handover",
    resetQueuedAt: true,
  });
}

const kscNotContracted = () =>
  new AppError(
    "ksc_not_contracted",
    "This bank has no contracted KSC, so nothing can be handed to a KSC queue.",
  );

interface HandoverInput {
  toUserId?: string;
  toQueue?: QueueSide;
  note?: string;
}

export interface RoutedConversation {
  id: string;
  status: string;
  assigneeUserId: string | null;
  handledBy: string | null;
  queue: string | null;
  routing: Record<string, unknown> | null;
}

/** Checks what only a person's handover has to check: who may receive it, absences, the KSC's limits. */
async function checkTarget(
  services: Services,
  ctx: BankContext,
  viaKsc: boolean,
  customerId: string,
  toUserId: string,
): Promise<Person> {
  const target = await findPerson(services.db, ctx, toUserId);
  if (!target)
    throw invalid("Unknown person", [
      { path: "toUserId", message: "is not a person of this bank or its KSC" },
    ]);
  if (viaKsc && target.handledBy !== "ksc") {
    const customer = await services.db
      .withSchema(ctx.schema)
      .selectFrom("customers")
      .select("advisor_user_id")
      .where("id", "=", customerId)
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
  return target;
}

/**
 * Chatübergabe by a person: to a named person (advisor, specialist, colleague) or to the bank or KSC
 * queue, with an internal note the customer never sees. KSC agents may hand to the bank queue, to the
 * customer's advisor (or that advisor's deputy) and to their KSC colleagues; a chat a KSC agent hands
 * to the bank is reserved to the bank (it never moves back to the KSC at closing time).
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
  const ctx = await loadBankContext(services.db, access.tenant.id);
  const viaKsc = access.via === "ksc";
  if (input.toQueue === "ksc" && !ctx.kscOrgId) throw kscNotContracted();
  const person = input.toUserId
    ? await checkTarget(services, ctx, viaKsc, conversation.customer_id, input.toUserId)
    : null;
  const actorName = rctx.actor.kind === "user" ? rctx.actor.name : "system";
  const side = input.toQueue ?? "bank";
  const reserve = !person && side === "bank" && viaKsc;
  const explain = person
    ? {
        rule: "handover.person",
        reason: `Handed over by ${actorName} to ${person.name}.`,
        reasonDe: `Von ${actorName} an ${person.name} übergeben.`,
      }
    : {
        rule: "handover.queue",
        reason: `Handed over by ${actorName} to the ${side === "ksc" ? "KSC" : "bank"} queue${reserve ? " (reserved to the bank)" : ""}.`,
        reasonDe: `Von ${actorName} an die ${side === "ksc" ? "KSC" : "Bank"}-Warteschlange übergeben${reserve ? " (der Bank vorbehalten)" : ""}.`,
      };
  return inTransaction(services, async (trx, changes) => {
    const row = await lockConversation(trx, bankRef(ctx.tenant), conversationId);
    if (row.status === "closed") throw conflict("The conversation is closed");
    if (input.toQueue && row.status === "queued" && row.queue === input.toQueue) {
      throw conflict(`The conversation already waits in the ${input.toQueue} queue`);
    }
    const result = await handOver(
      trx,
      ctx,
      row,
      person ? { person, requireOnline: false } : { queue: side },
      {
        by: "handover",
        actor: rctx.actor,
        byUserId: actorId,
        note: input.note ?? null,
        reserveToBank: reserve,
        explain,
        audit: {
          from: row.assignee_user_id,
          toUserId: input.toUserId ?? null,
          toQueue: input.toQueue ?? null,
          via: access.via,
        },
        ip: rctx.ip ?? null,
        requestId: rctx.requestId ?? null,
        now: new Date(),
      },
    );
    if (!result) {
      throw conflict(
        `${person?.name ?? "This person"} already holds the maximum of ${person?.maxChats} chats`,
        [{ path: "toUserId", message: "is at their maximum" }],
      );
    }
    changes.emit(...result.events);
    return routedOf(row.id, result);
  });
}

/** What the conversation verbs answer: where the chat is after a transition. */
export function routedOf(id: string, result: TransitionResult): RoutedConversation {
  return {
    id,
    status: result.status,
    assigneeUserId: result.assigneeUserId,
    handledBy: result.handledBy,
    queue: result.queue,
    routing: result.routing,
  };
}
