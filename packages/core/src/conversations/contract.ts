import { sql, type Tenant } from "@kanal/db";
import type { Actor } from "../kernel/actor";
import type { DomainEvent } from "../kernel/domain-events";
import { notFound } from "../kernel/errors";
import type { Trx } from "../kernel/executor";
import type { RequestContext } from "../kernel/request-context";
import { inTransaction } from "../outbox/unit-of-work";
import {
  auditKscContract,
  findKscOrg,
  lockedKscContract,
  recordKscContract,
  recordKscContractEnd,
} from "../people/ksc";
import type { Services } from "../services";
import { findTenantBySlug, requireProvider } from "../tenants/access";
import { bankRef, loadRoutingConfig } from "./bank";
import { lockBankRouting } from "./locks";
import { type ConversationState, enqueue } from "./transitions";

/**
 * Contracts a KSC organisation to a bank (PUT /v1/tenants/:tenant/ksc), replacing an earlier contract.
 * One transaction: the contract row and the contract periods (people/ksc.ts), the previous
 * organisation's chats moved to the new one (below), and the audit on both sides; the chats' events
 * after commit. Contracting the organisation already contracted changes nothing.
 */
export async function contractKsc(
  services: Services,
  ctx: RequestContext,
  tenantSlug: string,
  orgSlug: string,
): Promise<{ tenant: string; kscOrg: string }> {
  requireProvider(ctx.actor);
  const tenant = await findTenantBySlug(services.db, tenantSlug);
  if (!tenant) throw notFound("Tenant");
  const org = await findKscOrg(services.db, orgSlug);
  const now = new Date();
  await inTransaction(services, async (trx, changes) => {
    // The bank's routing lock first (ADR 0005): no routing, back-fill or take of this bank runs while
    // its KSC changes, and two changes of one bank run one after the other.
    await lockBankRouting(trx, tenant.id);
    const previous = await lockedKscContract(trx, tenant.id);
    if (previous?.id === org.id) return;
    await recordKscContract(trx, tenant.id, org.id, ctx.actor, now);
    const moved = await moveChatsAtContractChange(trx, tenant, {
      from: previous,
      to: { id: org.id, slug: org.slug },
      actor: ctx.actor,
      ip: ctx.ip,
      requestId: ctx.requestId,
      now,
    });
    changes.emit(...moved.events);
    await auditKscContract(trx, ctx, tenant, {
      action: "ksc.contracted",
      targetId: org.id,
      details: {
        kscOrg: org.slug,
        previousKscOrg: previous?.slug ?? null,
        movedWaiting: moved.waiting,
        movedHeld: moved.held,
      },
    });
  });
  return { tenant: tenant.slug, kscOrg: org.slug };
}

/**
 * Ends the bank's KSC contract (DELETE /v1/tenants/:tenant/ksc): the contract row goes, its period ends,
 * and the organisation's chats of the bank go to the bank's queue, handled in-house from now on; audited
 * on both sides. not_found when no KSC is contracted.
 */
export async function endKscContract(services: Services, ctx: RequestContext, tenantSlug: string) {
  requireProvider(ctx.actor);
  const tenant = await findTenantBySlug(services.db, tenantSlug);
  if (!tenant) throw notFound("Tenant");
  const now = new Date();
  return inTransaction(services, async (trx, changes) => {
    await lockBankRouting(trx, tenant.id);
    const previous = await lockedKscContract(trx, tenant.id);
    if (!previous) throw notFound("KSC contract");
    await recordKscContractEnd(trx, tenant.id, ctx.actor, now);
    const moved = await moveChatsAtContractChange(trx, tenant, {
      from: previous,
      to: null,
      actor: ctx.actor,
      ip: ctx.ip,
      requestId: ctx.requestId,
      now,
    });
    changes.emit(...moved.events);
    await auditKscContract(trx, ctx, tenant, {
      action: "ksc.contract_ended",
      targetId: previous.id,
      details: { kscOrg: previous.slug, movedWaiting: moved.waiting, movedHeld: moved.held },
    });
    return {
      tenant: tenant.slug,
      kscOrg: previous.slug,
      endedAt: now.toISOString(),
      moved: { waiting: moved.waiting, held: moved.held },
    };
  });
}

interface KscOrgRef {
  id: string;
  slug: string;
}

interface ContractChange {
  /** the organisation contracted until now (null: none) */
  from: KscOrgRef | null;
  /** the organisation contracted from now on (null: the contract ended) */
  to: KscOrgRef | null;
  actor: Actor;
  ip?: string | null;
  requestId?: string | null;
  now: Date;
}

interface ContractMoves {
  events: DomainEvent[];
  /** chats that waited in the KSC queue */
  waiting: number;
  /** chats an agent of the previous organisation held */
  held: number;
}

/**
 * What a change of a bank's KSC does to the chats of the previous organisation, in the caller's
 * transaction (the one that changes the contract, so no request sees the new contract with the old
 * organisation still holding chats). The customer must be served, and the previous organisation must
 * lose every chat of the bank:
 * - chats waiting in the KSC queue move to the new organisation's queue (keeping their place), or to the
 *   bank's queue when the contract ended;
 * - chats open with an agent of the previous organisation go back into the new organisation's queue
 *   (or the bank's), through `enqueue`: the agent's slot is released and they are told.
 * Holds the bank's routing lock (ADR 0005; the verbs above took it before reading the contract), so no
 * routing, back-fill or take of this bank runs in between. Held chats are moved in the order of their
 * holders' ids, the order every transition locks agent_state rows in. The caller emits the returned
 * events after commit.
 */
async function moveChatsAtContractChange(
  trx: Trx,
  tenant: Tenant,
  change: ContractChange,
): Promise<ContractMoves> {
  await lockBankRouting(trx, tenant.id);
  const bank = bankRef(tenant);
  const t = trx.withSchema(tenant.schema_name);
  const waiting = (await t
    .selectFrom("conversations")
    .selectAll()
    .where("status", "=", "queued")
    .where("queue", "=", "ksc")
    .orderBy("queued_at")
    .orderBy("id")
    .forUpdate()
    .execute()) as ConversationState[];
  // Every open KSC chat not held by an agent of the new organisation (with the contract ended: all).
  const to = change.to;
  const held = (await t
    .selectFrom("conversations as c")
    .selectAll("c")
    .where("c.status", "=", "open")
    .where("c.handled_by", "=", "ksc")
    .$if(to !== null, (q) =>
      q.where(
        sql<boolean>`not exists (select 1 from control.memberships m where m.user_id = c.assignee_user_id
          and m.role = 'ksc_agent' and m.ksc_org_id = ${to?.id ?? null})`,
      ),
    )
    .orderBy("c.assignee_user_id")
    .orderBy("c.id")
    .forUpdate()
    .execute()) as ConversationState[];
  if (waiting.length === 0 && held.length === 0) return { events: [], waiting: 0, held: 0 };

  const { mode } = await loadRoutingConfig(trx, tenant.schema_name);
  const queue = to ? ("ksc" as const) : ("bank" as const);
  const rule = to ? "ksc.contract_changed" : "ksc.contract_ended";
  const from = change.from?.slug ?? null;
  const reason = to
    ? `The bank's KSC changed${from ? ` from ${from}` : ""} to ${to.slug}; the chat waits in the new KSC's queue.`
    : `The bank's contract with the KSC ${from ?? ""} ended; the chat waits in the bank's queue.`;
  const reasonDe = to
    ? `Das KSC der Sparkasse wurde${from ? ` von ${from}` : ""} zu ${to.slug} gewechselt; der Chat wartet in der Warteschlange des neuen KSC.`
    : `Der Vertrag der Sparkasse mit dem KSC ${from ?? ""} endete; der Chat wartet in der Bank-Warteschlange.`;
  const events: DomainEvent[] = [];
  for (const row of [...waiting, ...held]) {
    const result = await enqueue(trx, bank, row, {
      queue,
      handledBy: to ? "ksc" : "in_house",
      // the new organisation's queue; with the contract ended the last organisation stays recorded
      kscOrgId: to?.id ?? null,
      by: "contract",
      byUserId: change.actor.kind === "user" ? change.actor.userId : null,
      // A chat somebody held starts waiting now; one that already waited keeps its place.
      resetQueuedAt: row.status === "open",
      releaseAs: "requeued",
      decision: {
        ...((row.routing ?? {}) as Record<string, unknown>),
        mode,
        rule,
        reason,
        reasonDe,
        target: { type: "queue", queue, handledBy: to ? "ksc" : "in_house" },
        candidates: [],
        trigger: "contract",
        decidedAt: change.now.toISOString(),
        fromKscOrg: from,
        toKscOrg: to?.slug ?? null,
      },
      audit: {
        actor: change.actor,
        action: "conversation.moved_by_ksc_contract",
        details: {
          fromKscOrg: from,
          toKscOrg: to?.slug ?? null,
          from: row.status === "open" ? row.assignee_user_id : null,
          toQueue: queue,
        },
        ip: change.ip ?? null,
        requestId: change.requestId ?? null,
      },
      now: change.now,
    });
    events.push(...result.events);
  }
  return { events, waiting: waiting.length, held: held.length };
}
