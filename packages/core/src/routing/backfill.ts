import { QUEUE_STAFF_ROLES } from "@kanal/contracts/roles";
import { sql } from "@kanal/db";
import { compareByLoad, type QueueSide } from "@kanal/routing";
import { type BankContext, bankIsOpen, bankRef, loadBankContext } from "../conversations/bank";
import { lockBankRouting } from "../conversations/locks";
import { assign, type ConversationState } from "../conversations/transitions";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";
import { loadRoutingAgents } from "./context";

interface QueueTarget {
  tenantId: string;
  side: QueueSide;
}

interface BackfillAssignmentResult {
  tenantId: string;
  conversationId: string;
  userId: string;
  side: QueueSide;
}

/** Safety bound per call; the periodic tick picks up anything left. */
const MAX_STEPS = 500;

/**
 * One back-fill step: the oldest waiting chat of a bank's queue goes to the least-loaded available
 * person of that side (ties: longest waiting). Bank agents only serve their bank's queue inside
 * service hours. `SKIP LOCKED` lets a chat that someone is taking by hand right now be passed over
 * instead of waited for. Returns null when nothing was assigned.
 */
export async function backfillStep(
  services: Services,
  ctx: BankContext,
  side: QueueSide,
  options: { now?: Date; onlyUserId?: string } = {},
): Promise<BackfillAssignmentResult | null> {
  const now = options.now ?? new Date();
  if (side === "bank" && !bankIsOpen(ctx, now)) return null;
  if (side === "ksc" && !ctx.kscOrgId) return null;
  const bank = bankRef(ctx.tenant);
  return inTransaction(services, async (trx, changes) => {
    await lockBankRouting(trx, ctx.tenant.id);
    const waiting = (await trx
      .withSchema(ctx.schema)
      .selectFrom("conversations")
      .selectAll()
      .where("status", "=", "queued")
      .where("queue", "=", side)
      .where("routing", "is not", null)
      .orderBy("queued_at")
      .orderBy("id")
      .limit(1)
      .forUpdate()
      .skipLocked()
      .executeTakeFirst()) as ConversationState | undefined;
    if (!waiting) return null;
    const kind = side === "ksc" ? "ksc" : "bank";
    const pool = (await loadRoutingAgents(trx, ctx, now))
      .filter((a) => a.kind === kind && !a.absent && a.presence === "online")
      .filter((a) => a.maxChats === null || a.openCount < a.maxChats)
      .filter((a) => !options.onlyUserId || a.userId === options.onlyUserId)
      .sort(compareByLoad);
    const queuedFor = waiting.queued_at
      ? Math.round((now.getTime() - waiting.queued_at.getTime()) / 1000)
      : 0;
    const previous = (waiting.routing ?? {}) as Record<string, unknown>;
    const handledBy = side === "ksc" ? "ksc" : "in_house";
    for (const agent of pool) {
      const label = side === "ksc" ? "KSC" : "bank";
      const result = await assign(trx, bank, waiting, {
        userId: agent.userId,
        handledBy,
        kscOrgId: side === "ksc" ? ctx.kscOrgId : null,
        maxChats: agent.maxChats,
        requireOnline: true,
        by: "backfill",
        byUserId: null,
        decision: {
          ...previous,
          mode: String(previous.mode ?? ctx.config.mode),
          rule: "queue.backfill",
          reason: `Taken from the ${label} queue after ${queuedFor} s: ${agent.userId} became available and is the least-loaded eligible person (${agent.openCount} open chats).`,
          reasonDe: `Aus der ${side === "ksc" ? "KSC" : "Bank"}-Warteschlange nach ${queuedFor} s: ${agent.userId} wurde verfügbar und ist die am wenigsten ausgelastete zuständige Person (${agent.openCount} offene Chats).`,
          target: { type: "agent", userId: agent.userId, handledBy },
          candidates: [],
          queuedRule: previous.rule ?? null,
          queuedReason: previous.reason ?? null,
          trigger: "backfill",
          decidedAt: now.toISOString(),
        },
        now,
      });
      if (!result) continue;
      changes.emit(...result.events);
      return { tenantId: ctx.tenant.id, conversationId: waiting.id, userId: agent.userId, side };
    }
    return null;
  });
}

async function oldestQueuedAt(services: Services, schema: string, side: QueueSide): Promise<Date | null> {
  const row = await services.db
    .withSchema(schema)
    .selectFrom("conversations")
    .select(sql<Date | null>`min(queued_at)`.as("oldest"))
    .where("status", "=", "queued")
    .where("queue", "=", side)
    .where("routing", "is not", null)
    .executeTakeFirst();
  return row?.oldest ?? null;
}

/**
 * Drains several queues oldest first across all of them (a KSC agent's queues span banks): each
 * step serves the queue whose head waited longest, until nobody available is left for any of them.
 */
export async function drainQueues(
  services: Services,
  targets: readonly QueueTarget[],
  options: { now?: Date; onlyUserId?: string } = {},
): Promise<BackfillAssignmentResult[]> {
  const contexts = new Map<string, BankContext>();
  for (const target of targets) {
    if (!contexts.has(target.tenantId)) {
      contexts.set(target.tenantId, await loadBankContext(services.db, target.tenantId));
    }
  }
  let live = [...targets];
  const done: BackfillAssignmentResult[] = [];
  for (let step = 0; step < MAX_STEPS && live.length > 0; step++) {
    const heads = await Promise.all(
      live.map(async (target) => {
        const ctx = contexts.get(target.tenantId);
        return { target, oldest: ctx ? await oldestQueuedAt(services, ctx.schema, target.side) : null };
      }),
    );
    const waiting = heads.filter((h) => h.oldest !== null);
    if (waiting.length === 0) break;
    waiting.sort((a, b) => (a.oldest?.getTime() ?? 0) - (b.oldest?.getTime() ?? 0));
    const head = waiting[0];
    if (!head) break;
    const ctx = contexts.get(head.target.tenantId);
    if (!ctx) break;
    const assigned = await backfillStep(services, ctx, head.target.side, options);
    if (assigned) {
      done.push(assigned);
      live = waiting.map((h) => h.target);
    } else {
      // Nobody can serve this queue now; keep going with the others.
      live = waiting.map((h) => h.target).filter((t) => t !== head.target);
    }
  }
  return done;
}

/** The queues a person may be served from: their banks' queues (agents, admins) and their KSC's banks. */
async function queuesOfUser(services: Services, userId: string): Promise<QueueTarget[]> {
  const memberships = await services.db
    .withSchema("control")
    .selectFrom("memberships")
    .select(["role", "tenant_id", "ksc_org_id"])
    .where("user_id", "=", userId)
    .execute();
  const targets: QueueTarget[] = [];
  for (const m of memberships) {
    if (m.tenant_id && (QUEUE_STAFF_ROLES as readonly string[]).includes(m.role)) {
      targets.push({ tenantId: m.tenant_id, side: "bank" });
    }
    if (m.ksc_org_id && m.role === "ksc_agent") {
      const contracts = await services.db
        .withSchema("control")
        .selectFrom("ksc_contracts")
        .select("tenant_id")
        .where("ksc_org_id", "=", m.ksc_org_id)
        .execute();
      for (const c of contracts) targets.push({ tenantId: c.tenant_id, side: "ksc" });
    }
  }
  return targets;
}

/** Someone came online or freed a slot: the queues they serve are drained, oldest first across banks. */
export async function backfillForUser(
  services: Services,
  userId: string,
  options: { now?: Date } = {},
): Promise<BackfillAssignmentResult[]> {
  return drainQueues(services, await queuesOfUser(services, userId), options);
}
