import { decideAtClosing, openingState } from "@kanal/routing";
import { type BankContext, bankRef, loadBankContext } from "../conversations/bank";
import { CONVERSATION_FLAGS } from "../conversations/flags";
import { lockBankRouting } from "../conversations/locks";
import { type ConversationState, enqueue, lockConversation } from "../conversations/transitions";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";
import { drainQueues } from "./backfill";
import { decideAndApply, routeConversation } from "./route";

/**
 * The edge of service hours, applied whenever the bank is closed (the tick runs it every few seconds, so
 * it does not depend on a job firing at the exact minute): chats still waiting in the bank queue move to
 * the KSC queue (queuedAtClosing), open chats stay with their handler unless openAtClosing says
 * otherwise; chats that stay waiting get the away message once per closed period. Idempotent.
 */
export async function applyClosingPolicy(
  services: Services,
  ctx: BankContext,
  now: Date = new Date(),
): Promise<{ moved: number; awaySent: number }> {
  const opening = openingState(ctx.config, ctx.tenant.region, ctx.tenant.timezone, now);
  if (opening.open) return { moved: 0, awaySent: 0 };
  const bank = bankRef(ctx.tenant);
  return inTransaction(services, async (trx, changes) => {
    await lockBankRouting(trx, ctx.tenant.id);
    const t = trx.withSchema(ctx.schema);
    const queued = (await t
      .selectFrom("conversations")
      .selectAll()
      .where("status", "=", "queued")
      .where("queue", "=", "bank")
      .where("routing", "is not", null)
      .forUpdate()
      .skipLocked()
      .execute()) as ConversationState[];
    const open =
      ctx.config.openAtClosing === "to_ksc"
        ? ((await t
            .selectFrom("conversations")
            .selectAll()
            .where("status", "=", "open")
            .where("handled_by", "=", "in_house")
            .forUpdate()
            .skipLocked()
            .execute()) as ConversationState[])
        : [];
    if (queued.length === 0 && open.length === 0) return { moved: 0, awaySent: 0 };
    const decision = decideAtClosing({
      config: ctx.config,
      bank: { region: ctx.tenant.region, timezone: ctx.tenant.timezone },
      kscContracted: ctx.kscOrgId !== null,
      now,
      queued: queued.map((q) => ({
        conversationId: q.id,
        queuedAt: q.queued_at ?? now,
        reservedToBank: q.flags.includes(CONVERSATION_FLAGS.reservedToBank),
      })),
      open: open.flatMap((o) =>
        o.assignee_user_id && o.handled_by
          ? [{ conversationId: o.id, assigneeUserId: o.assignee_user_id, handledBy: o.handled_by }]
          : [],
      ),
    });
    let moved = 0;
    let awaySent = 0;
    const rows = new Map<string, ConversationState>([...queued, ...open].map((r) => [r.id, r]));
    for (const action of decision.actions) {
      const row = rows.get(action.conversationId);
      if (!row) continue;
      if (action.action === "move_to_ksc_queue") {
        const result = await enqueue(trx, bank, row, {
          queue: "ksc",
          handledBy: "ksc",
          kscOrgId: ctx.kscOrgId,
          by: "closing",
          byUserId: null,
          // A chat somebody held starts waiting now; one that already waited keeps its place.
          resetQueuedAt: row.status === "open",
          releaseAs: "requeued",
          decision: {
            ...((row.routing ?? {}) as Record<string, unknown>),
            mode: ctx.config.mode,
            rule: action.rule,
            reason: action.reason,
            reasonDe: action.reasonDe,
            target: { type: "queue", queue: "ksc", handledBy: "ksc" },
            candidates: [],
            trigger: "closing",
            decidedAt: now.toISOString(),
            nextOpening: decision.nextOpening?.toISOString() ?? null,
          },
          now,
        });
        changes.emit(...result.events);
        moved++;
      } else if (
        action.sendAwayMessage &&
        decision.closedPeriodKey &&
        row.away_sent_period !== decision.closedPeriodKey
      ) {
        // Claimed by the away-message listener, which sends it once per closed period.
        changes.emit({
          type: "conversation.away_due",
          bank,
          conversationId: row.id,
          periodKey: decision.closedPeriodKey,
          nextOpening: decision.nextOpening,
        });
        awaySent++;
      }
    }
    return { moved, awaySent };
  });
}

class NoBetterHandler extends Error {}

/**
 * Optional (unansweredReassignMinutes): a chat assigned to someone who has not written in it for that
 * long is routed again without them, but only when someone else can take it now — moving it back into
 * a queue would make the customer wait longer, not shorter. Advisors' chats are left alone.
 */
async function reassignUnanswered(
  services: Services,
  ctx: BankContext,
  now: Date = new Date(),
): Promise<string[]> {
  const minutes = ctx.config.unansweredReassignMinutes;
  if (minutes === null) return [];
  const cutoff = new Date(now.getTime() - minutes * 60_000);
  const overdue = await services.db
    .withSchema(ctx.schema)
    .selectFrom("conversations as c")
    .select(["c.id", "c.assignee_user_id"])
    .where("c.status", "=", "open")
    .where("c.handled_by", "in", ["in_house", "ksc"])
    .where("c.assigned_at", "<", cutoff)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom("messages as m")
            .select("m.id")
            .whereRef("m.conversation_id", "=", "c.id")
            .where("m.direction", "=", "outbound")
            .whereRef("m.author_user_id", "=", "c.assignee_user_id")
            .whereRef("m.created_at", ">=", "c.assigned_at"),
        ),
      ),
    )
    .limit(100)
    .execute();
  const moved: string[] = [];
  for (const candidate of overdue) {
    try {
      await inTransaction(services, async (trx, changes) => {
        const conversation = await lockConversation(trx, bankRef(ctx.tenant), candidate.id);
        const previous = conversation.assignee_user_id;
        if (conversation.status !== "open" || !previous || previous !== candidate.assignee_user_id) {
          throw new NoBetterHandler();
        }
        const outcome = await decideAndApply(trx, ctx, conversation, changes, {
          now,
          trigger: "unanswered",
          exclude: [previous],
          onlyIfAgent: true,
          reasonPrefix: {
            en: `Reassigned: ${previous} had not answered ${minutes} min after assignment.`,
            de: `Neu zugewiesen: ${previous} hatte ${minutes} Min. nach Zuweisung nicht geantwortet.`,
          },
        });
        if (!outcome) throw new NoBetterHandler();
      });
      moved.push(candidate.id);
    } catch (error) {
      if (!(error instanceof NoBetterHandler)) throw error;
    }
  }
  return moved;
}

/** The periodic routing duty of one bank: closing policy, queue back-fill, unanswered reassignment. */
/** A conversation still without a routing decision this long after it was opened is routed by the tick. */
const UNROUTED_AFTER_MS = 30_000;

/**
 * The safety net under routing-in-the-ingest: a new conversation whose routing failed and whose
 * routing job could not be queued either (Redis away at that moment) is routed here.
 */
async function routeUnrouted(services: Services, ctx: BankContext, now: Date): Promise<number> {
  const stale = await services.db
    .withSchema(ctx.schema)
    .selectFrom("conversations")
    .select("id")
    .where("status", "=", "queued")
    .where("routing", "is", null)
    .where("queued_at", "<", new Date(now.getTime() - UNROUTED_AFTER_MS))
    .orderBy("queued_at")
    .limit(100)
    .execute();
  let routed = 0;
  for (const { id } of stale) {
    const outcome = await routeConversation(
      services,
      { tenantId: ctx.tenant.id, conversationId: id, trigger: "new" },
      { now, tenant: ctx.tenant },
    );
    if (outcome.status !== "skipped") routed++;
  }
  return routed;
}

export async function routingTickForTenant(services: Services, tenantId: string, now: Date = new Date()) {
  const ctx = await loadBankContext(services.db, tenantId);
  const unrouted = await routeUnrouted(services, ctx, now);
  const closing = await applyClosingPolicy(services, ctx, now);
  const backfilled = await drainQueues(
    services,
    [
      { tenantId, side: "bank" },
      { tenantId, side: "ksc" },
    ],
    { now },
  );
  const reassigned = await reassignUnanswered(services, ctx, now);
  return { ...closing, unrouted, backfilled: backfilled.length, reassigned: reassigned.length };
}

/** Every active bank, one after the other (cheap when nothing waits: two indexed reads per bank). */
export async function routingTick(services: Services, now: Date = new Date()) {
  const tenants = await services.db
    .withSchema("control")
    .selectFrom("tenants")
    .select("id")
    .where("status", "=", "active")
    .execute();
  let moved = 0;
  let backfilled = 0;
  let reassigned = 0;
  for (const { id } of tenants) {
    try {
      const r = await routingTickForTenant(services, id, now);
      moved += r.moved;
      backfilled += r.backfilled;
      reassigned += r.reassigned;
    } catch (error) {
      // One bank's broken schema must not stop the others' routing.
      services.logger.error({ tenantId: id, err: (error as Error).message }, "routing tick failed");
    }
  }
  return { tenants: tenants.length, moved, backfilled, reassigned };
}
