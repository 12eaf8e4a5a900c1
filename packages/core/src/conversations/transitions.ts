import { sql } from "@kanal/db";
import type { Actor } from "../kernel/actor";
import { auditTenant } from "../kernel/audit";
import { newId } from "../kernel/crypto";
import type {
  AssignedBy,
  BankRef,
  DomainEvent,
  HandledBy,
  QueueSide,
  QueuedBy,
  ReleaseChange,
  Viewer,
} from "../kernel/domain-events";
import { conflict, notFound } from "../kernel/errors";
import type { Trx } from "../kernel/executor";
import { maskForStorage } from "../rules/guard";
import { claimAgentSlotSql, lockBankRouting } from "./locks";

/**
 * The state machine of a conversation (ADR 0013): the only code that changes who holds a chat, which
 * queue it waits in, and whether it is open. Each verb runs in the caller's transaction on a row the
 * caller locked (`lockConversation`), checks that the transition is allowed, writes the conversation,
 * its routing_decisions row, the slot counts in control.agent_state, the audit row and the internal
 * note, and returns the domain events the caller emits after commit. Routing, back-fill, handover by
 * a person or by a rule, taking from a queue, the closing policy and reassignment all call these.
 *
 *   (new) ──open──▶ queued ──assign──▶ open ──close──▶ closed ──reopen──▶ queued
 *                    ▲  │                │  ▲
 *                    │  └───assign───────┘  │ assign (handover, take, reassign)
 *                    └──enqueue (handover, closing, rule)
 */

type ConversationStatus = "queued" | "open" | "closed";

/** The columns of a locked conversation the verbs read. */
export interface ConversationState {
  id: string;
  customer_id: string;
  status: ConversationStatus;
  assignee_user_id: string | null;
  handled_by: HandledBy | null;
  queue: QueueSide | null;
  queued_at: Date | null;
  routing: unknown;
  flags: string[];
  away_sent_period: string | null;
  ksc_org_id: string | null;
  closed_at: Date | null;
}

const STATE_COLUMNS = [
  "id",
  "customer_id",
  "status",
  "assignee_user_id",
  "handled_by",
  "queue",
  "queued_at",
  "routing",
  "flags",
  "away_sent_period",
  "ksc_org_id",
  "closed_at",
] as const;

/**
 * Locks a conversation for a transition: the bank's routing lock first (every write that can raise a
 * bank's load is serialised by it, ADR 0005), then the row. `bankLock: false` for transitions that only
 * lower a load (closing). Throws not_found.
 */
export async function lockConversation(
  trx: Trx,
  bank: BankRef,
  conversationId: string,
  options: { bankLock?: boolean } = {},
): Promise<ConversationState> {
  if (options.bankLock !== false) await lockBankRouting(trx, bank.id);
  const row = await trx
    .withSchema(bank.schema)
    .selectFrom("conversations")
    .select(STATE_COLUMNS)
    .where("id", "=", conversationId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("Conversation");
  return row as ConversationState;
}

/** The JSON kept in conversations.routing and shown as the conversation's `routing` (why it is where it is). */
export interface DecisionRecord {
  mode: string;
  rule: string;
  reason: string;
  reasonDe: string;
  target: Record<string, unknown>;
  candidates: unknown[];
  trigger: string;
  decidedAt: string;
  [detail: string]: unknown;
}

/** An internal note written with a transition (handover note); masked for storage like any message text. */
interface NoteInput {
  text: string;
  authorUserId: string | null;
  kind: "handover_note";
}

interface AuditInput {
  actor: Actor;
  action: string;
  details: Record<string, unknown>;
  ip?: string | null;
  requestId?: string | null;
}

interface CommonInput {
  decision: DecisionRecord;
  /** The person who acted (null: the system). A holder is not notified of their own action. */
  byUserId: string | null;
  note?: NoteInput | null;
  addFlags?: readonly string[];
  audit?: AuditInput | null;
  /** What the previous holder is told it was, when somebody held the chat. */
  releaseAs?: ReleaseChange;
  now: Date;
}

interface AssignInput extends CommonInput {
  userId: string;
  handledBy: HandledBy;
  /** the KSC organisation now handling it; null leaves the last one recorded (the bank took it over) */
  kscOrgId: string | null;
  maxChats: number | null;
  /** automatic routing only gives chats to people online; a person named by hand may be offline */
  requireOnline: boolean;
  by: AssignedBy;
}

interface EnqueueInput extends CommonInput {
  queue: QueueSide;
  handledBy: HandledBy;
  /** the KSC organisation whose queue it waits in; null leaves the last one recorded */
  kscOrgId: string | null;
  by: QueuedBy;
  /** Waiting starts now (the chat was with somebody, or moves to another side); else it keeps its place. */
  resetQueuedAt: boolean;
}

export interface TransitionResult {
  events: DomainEvent[];
  status: ConversationStatus;
  assigneeUserId: string | null;
  handledBy: HandledBy | null;
  queue: QueueSide | null;
  routing: DecisionRecord;
}

const viewerOfHandler = (handledBy: HandledBy | null): Viewer => (handledBy === "ksc" ? "ksc" : "bank");

function flagsSql(add: readonly string[] | undefined) {
  if (!add || add.length === 0) return sql``;
  return sql`, flags = array(select distinct unnest(flags || ${sql.val([...add])}::text[]) order by 1)`;
}

function noteSql(bank: BankRef, note: NoteInput | null | undefined, now: Date) {
  if (!note) return sql``;
  return sql`, noted as (
    insert into ${sql.id(bank.schema, "messages")}
      (id, conversation_id, direction, type, text, status, author_user_id, kind, created_at)
    select ${newId("msg")}, updated.id, 'internal', 'note', ${maskForStorage(note.text).text}, 'internal',
      ${note.authorUserId}, ${note.kind}, ${now}
    from updated)`;
}

function decisionSql(bank: BankRef, d: DecisionRecord) {
  return sql`decided as (
    insert into ${sql.id(bank.schema, "routing_decisions")} (conversation_id, mode, rule, reason, target, candidates)
    select updated.id, ${d.mode}, ${d.rule}, ${d.reason}, ${JSON.stringify(d.target)}::jsonb,
      ${JSON.stringify(d.candidates)}::jsonb
    from updated)`;
}

/** Two agent_state rows change in one transition: lock them in user-id order so crossing handovers never deadlock. */
async function lockAgentRows(trx: Trx, userIds: readonly (string | null)[]): Promise<void> {
  const ids = [...new Set(userIds.filter((id): id is string => id !== null))].sort();
  if (ids.length < 2) return;
  await trx
    .withSchema("control")
    .selectFrom("agent_state")
    .select("user_id")
    .where("user_id", "in", ids)
    .orderBy("user_id")
    .forUpdate()
    .execute();
}

function releasedEvent(
  bank: BankRef,
  c: ConversationState,
  input: CommonInput,
  after: { status: ConversationStatus; assigneeUserId: string | null; queue: QueueSide | null },
  change: ReleaseChange,
): DomainEvent[] {
  if (!c.assignee_user_id || c.status !== "open") return [];
  return [
    {
      type: "conversation.released",
      bank,
      conversationId: c.id,
      userId: c.assignee_user_id,
      viewer: viewerOfHandler(c.handled_by),
      change: input.releaseAs ?? change,
      byUserId: input.byUserId,
      status: after.status,
      assigneeUserId: after.assigneeUserId,
      queue: after.queue,
      reason: input.decision.reason,
      note: input.note ? maskForStorage(input.note.text).text : null,
      topic: null,
    },
  ];
}

async function writeAudit(
  trx: Trx,
  bank: BankRef,
  conversationId: string,
  audit: AuditInput | null | undefined,
) {
  if (!audit) return;
  await auditTenant(trx, bank.schema, audit.actor, {
    action: audit.action,
    targetType: "conversation",
    targetId: conversationId,
    details: audit.details,
    ip: audit.ip ?? null,
    requestId: audit.requestId ?? null,
  });
}

/**
 * Gives the chat to a person: claims one of their slots (guarded by their maximum and, for automatic
 * routing, their presence; the updated agent_state row stays locked until commit, ADR 0005), releases
 * the previous holder's slot, and writes the conversation, the decision and the note — one statement.
 * Returns null when the claim failed (the person filled up or went offline): nothing was written.
 */
export async function assign(
  trx: Trx,
  bank: BankRef,
  c: ConversationState,
  input: AssignInput,
): Promise<TransitionResult | null> {
  if (c.status === "closed") throw conflict("The conversation is closed");
  if (c.status === "open" && c.assignee_user_id === input.userId)
    throw conflict("The conversation is already assigned to this person");
  const previous = c.status === "open" ? c.assignee_user_id : null;
  if (!input.requireOnline) {
    // A person named by hand may never have been online, and so have no row yet.
    await trx
      .withSchema("control")
      .insertInto("agent_state")
      .values({ user_id: input.userId, presence_changed_at: input.now })
      .onConflict((oc) => oc.column("user_id").doNothing())
      .execute();
  }
  await lockAgentRows(trx, [previous, input.userId]);
  const conversations = sql.id(bank.schema, "conversations");
  const result = await sql<{ applied: boolean }>`
    with claim as (${claimAgentSlotSql(input.userId, input.maxChats, {
      requireOnline: input.requireOnline,
      ...(input.handledBy === "ksc" && {
        contractedTo: { tenantId: bank.id, kscOrgId: input.kscOrgId ?? "" },
      }),
    })}),
    ${
      previous
        ? sql`released as (update control.agent_state set open_count = greatest(open_count - 1, 0)
            where user_id = ${previous} and exists (select 1 from claim) returning user_id),`
        : sql``
    }
    updated as (
      update ${conversations} set status = 'open', assignee_user_id = ${input.userId},
        handled_by = ${input.handledBy}, ksc_org_id = coalesce(${input.kscOrgId}, ksc_org_id), queue = null,
        assigned_at = ${input.now}, routing = ${JSON.stringify(input.decision)}::jsonb ${flagsSql(input.addFlags)}
      where id = ${c.id} and exists (select 1 from claim) returning id),
    ${decisionSql(bank, input.decision)} ${noteSql(bank, input.note, input.now)}
    select exists (select 1 from updated) as applied`.execute(trx);
  if (result.rows[0]?.applied !== true) return null;
  await writeAudit(trx, bank, c.id, input.audit);
  const after = { status: "open" as const, assigneeUserId: input.userId, queue: null };
  return {
    events: [
      {
        type: "conversation.assigned",
        bank,
        conversationId: c.id,
        userId: input.userId,
        handledBy: input.handledBy,
        kscOrgId: input.kscOrgId,
        by: input.by,
        rule: input.decision.rule,
        reason: input.decision.reason,
        fromUserId: input.by === "handover" ? input.byUserId : null,
        note: input.note ? maskForStorage(input.note.text).text : null,
      },
      ...releasedEvent(bank, c, input, after, input.by === "handover" ? "handed_over" : "reassigned"),
    ],
    ...after,
    handledBy: input.handledBy,
    routing: input.decision,
  };
}

/**
 * Puts the chat into the bank's or the KSC's queue: releases the holder's slot, and writes the
 * conversation, the decision and the note — one statement. The queue's drain (a listener) gives it to
 * the next person available.
 */
export async function enqueue(
  trx: Trx,
  bank: BankRef,
  c: ConversationState,
  input: EnqueueInput,
): Promise<TransitionResult> {
  if (c.status === "closed") throw conflict("The conversation is closed");
  const previous = c.status === "open" ? c.assignee_user_id : null;
  const conversations = sql.id(bank.schema, "conversations");
  await sql`
    with ${
      previous
        ? sql`released as (update control.agent_state set open_count = greatest(open_count - 1, 0)
            where user_id = ${previous} returning user_id),`
        : sql``
    }
    updated as (
      update ${conversations} set status = 'queued', assignee_user_id = null, handled_by = ${input.handledBy},
        ksc_org_id = ${
          // The KSC queue belongs to the organisation contracted when this commits, whatever the caller read.
          input.queue === "ksc"
            ? sql`coalesce((select k.ksc_org_id from control.ksc_contracts k where k.tenant_id = ${bank.id}), ${input.kscOrgId}, ksc_org_id)`
            : sql`coalesce(${input.kscOrgId}, ksc_org_id)`
        }, queue = ${input.queue},
        queued_at = ${input.resetQueuedAt ? sql`${input.now}` : sql`coalesce(queued_at, ${input.now})`},
        routing = ${JSON.stringify(input.decision)}::jsonb ${flagsSql(input.addFlags)}
      where id = ${c.id} returning id),
    ${decisionSql(bank, input.decision)} ${noteSql(bank, input.note, input.now)}
    select 1`.execute(trx);
  await writeAudit(trx, bank, c.id, input.audit);
  const after = { status: "queued" as const, assigneeUserId: null, queue: input.queue };
  return {
    events: [
      { type: "conversation.queued", bank, conversationId: c.id, queue: input.queue, by: input.by },
      ...releasedEvent(bank, c, input, after, "requeued"),
    ],
    ...after,
    handledBy: input.handledBy,
    routing: input.decision,
  };
}

/** Closes the chat and gives its holder's slot back. Idempotent: closing a closed chat changes nothing. */
export async function close(
  trx: Trx,
  bank: BankRef,
  c: ConversationState,
  input: { byUserId: string | null; audit?: AuditInput | null; now: Date },
): Promise<{ events: DomainEvent[]; changed: boolean }> {
  if (c.status === "closed") return { events: [], changed: false };
  const previous = c.status === "open" ? c.assignee_user_id : null;
  await sql`
    with ${
      previous
        ? sql`released as (update control.agent_state set open_count = greatest(open_count - 1, 0)
            where user_id = ${previous} returning user_id),`
        : sql``
    }
    updated as (update ${sql.id(bank.schema, "conversations")} set status = 'closed', closed_at = ${input.now},
      closed_by = ${input.byUserId}, queue = null where id = ${c.id} returning id)
    select 1`.execute(trx);
  await writeAudit(trx, bank, c.id, input.audit);
  const events: DomainEvent[] = previous
    ? [
        {
          type: "conversation.released",
          bank,
          conversationId: c.id,
          userId: previous,
          viewer: viewerOfHandler(c.handled_by),
          change: "closed",
          byUserId: input.byUserId,
          status: "closed",
          assigneeUserId: null,
          queue: null,
          reason: null,
          note: null,
          topic: null,
        },
      ]
    : [];
  events.push({
    type: "conversation.closed",
    bank,
    conversationId: c.id,
    customerId: c.customer_id,
    byUserId: input.byUserId,
    assigneeUserId: previous,
    handledBy: c.handled_by,
    closedAt: input.now,
  });
  return { events, changed: true };
}

/**
 * Reopens a closed chat: it waits, without a routing decision, for the one the caller makes in the same
 * transaction (routing's `reopenConversation`, which prefers the previous holder inside the reopen
 * window). Refused while the customer has another open conversation.
 */
export async function reopen(
  trx: Trx,
  bank: BankRef,
  c: ConversationState,
  input: { audit?: AuditInput | null; now: Date },
): Promise<void> {
  if (c.status !== "closed") throw conflict("Only a closed conversation can be reopened");
  const other = await trx
    .withSchema(bank.schema)
    .selectFrom("conversations")
    .select("id")
    .where("customer_id", "=", c.customer_id)
    .where("status", "<>", "closed")
    .executeTakeFirst();
  if (other)
    throw conflict("The customer already has an open conversation", [{ path: "id", message: other.id }]);
  await trx
    .withSchema(bank.schema)
    .updateTable("conversations")
    .set({
      status: "queued",
      assignee_user_id: null,
      queue: null,
      queued_at: input.now,
      routing: null,
      closed_at: null,
      closed_by: null,
    })
    .where("id", "=", c.id)
    .execute();
  await writeAudit(trx, bank, c.id, input.audit);
}
