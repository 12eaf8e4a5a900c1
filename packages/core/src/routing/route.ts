import type { Tenant } from "@kanal/db";
import { sql } from "@kanal/db";
import {
  type AdvisorCode,
  decideRouting,
  type HandledBy,
  type QueueSide,
  type RoutingCandidate,
  type RoutingDecision,
} from "@kanal/routing";
import { type BankContext, bankRef, parseRoutingConfig } from "../conversations/bank";
import { CONVERSATION_FLAGS } from "../conversations/flags";
import { lockBankRouting } from "../conversations/locks";
import { assign, type ConversationState, type DecisionRecord, enqueue } from "../conversations/transitions";
import type { DomainEvent } from "../kernel/domain-events";
import { notFound } from "../kernel/errors";
import type { Trx } from "../kernel/executor";
import { type Changes, inTransaction } from "../outbox/unit-of-work";
import { compiledRuleBook } from "../rules/rule-book";
import type { Services } from "../services";
import { type AgentJson, type LoadedAgent, routingAgentsJson, toLoadedAgents } from "./context";

type RoutingTrigger = "new" | "reopen" | "unanswered" | "requeue";

interface RouteConversationInput {
  tenantId: string;
  conversationId: string;
  trigger: RoutingTrigger | string;
}

export interface RoutingOutcome {
  status: "assigned" | "queued" | "skipped";
  conversationId: string;
  tenantId: string;
  assigneeUserId: string | null;
  queue: QueueSide | null;
  handledBy: HandledBy | null;
  rule: string | null;
  reason: string | null;
  /** Why nothing was done (already routed, closed, unknown). */
  skipped?: string;
}

/** More candidates than this and offline KSC agents are left out of the stored explanation. */
const MAX_STORED_CANDIDATES = 40;
/** A chosen agent can fill up between the snapshot and the claim; re-decide this often at most. */
const CLAIM_ATTEMPTS = 5;

/** The JSON stored in conversations.routing and shown on the conversation (`routing.reason`). */
function routingSummary(
  decision: Pick<RoutingDecision, "mode" | "rule" | "reason" | "reasonDe" | "candidates" | "target"> &
    Partial<Pick<RoutingDecision, "nextOpening" | "closedPeriodKey" | "addressedAdvisor" | "opening">>,
  trigger: string,
  now: Date,
): DecisionRecord {
  return {
    mode: decision.mode,
    rule: decision.rule,
    reason: decision.reason,
    reasonDe: decision.reasonDe,
    target: decision.target,
    candidates: trimCandidates(decision.candidates),
    trigger,
    decidedAt: now.toISOString(),
    nextOpening: decision.nextOpening?.toISOString() ?? null,
    closedPeriodKey: decision.closedPeriodKey ?? null,
    addressedAdvisor: decision.addressedAdvisor ?? null,
    opening: decision.opening
      ? {
          open: decision.opening.open,
          reason: decision.opening.reason,
          holidayName: decision.opening.holidayName ?? null,
        }
      : null,
  };
}

function trimCandidates(candidates: readonly RoutingCandidate[]): RoutingCandidate[] {
  if (candidates.length <= MAX_STORED_CANDIDATES) return [...candidates];
  return candidates.filter((c) => c.eligible || c.kind !== "ksc" || !/^offline/.test(c.why));
}

interface DecideAndApplyOptions {
  now: Date;
  trigger: string;
  /** People who must not get the chat (e.g. the agent who left it unanswered). */
  exclude?: readonly string[];
  /** Only apply the decision when it gives the chat to a person (unanswered reassignment). */
  onlyIfAgent?: boolean;
  /** Prefix for the stored reason, e.g. why the chat is routed again. */
  reasonPrefix?: { en: string; de: string };
  /** The holder before a reopen (the conversation itself), instead of the customer's last closed one. */
  previousHandler?: { userId: string; closedAt: Date } | null;
}

/** The conversation's topic when the bank's current rule book reserves it to the bank, else null. */
async function bankOnlyTopicOf(
  trx: Trx,
  schema: string,
  ruleId: string | null,
  version: number | null,
): Promise<string | null> {
  if (!ruleId) return null;
  const rule = (await compiledRuleBook(trx, schema, version ?? undefined)).byId.get(ruleId);
  return rule?.handling === "bank_only" ? rule.topic : null;
}

/** What a decision needs about the customer and the conversation besides the people. */
interface RoutingFacts {
  advisor_user_id: string | null;
  previous_user_id: string | null;
  previous_closed_at: Date | null;
  first_text: string | null;
  in_house: string | number;
  rule_id: string | null;
  rule_version: number | null;
  topic: string | null;
}

/**
 * The select list of RoutingFacts for conversation `c` of `schema`: the customer's advisor, their last
 * handler (joined laterally as `p`), the first inbound text, the bank's in-house load, the
 * conversation's rule and the current rule-book version.
 */
function factsColumns(schema: string) {
  const table = (name: string) => sql.id(schema, name);
  return sql`
    (select advisor_user_id from ${table("customers")} where id = c.customer_id) as advisor_user_id,
    p.assignee_user_id as previous_user_id,
    p.closed_at as previous_closed_at,
    (select text from ${table("messages")}
      where conversation_id = c.id and direction = 'inbound' order by created_at limit 1) as first_text,
    (select count(*) from ${table("conversations")}
      where status in ('open', 'queued') and handled_by = 'in_house' and id <> c.id) as in_house,
    c.rule_id,
    c.topic,
    (select max(version) from ${table("rule_book_versions")}) as rule_version`;
}

function previousHandlerJoin(schema: string) {
  return sql`left join lateral (
      select assignee_user_id, closed_at from ${sql.id(schema, "conversations")}
      where customer_id = c.customer_id and status = 'closed'
        and assignee_user_id is not null and closed_at is not null
      order by closed_at desc limit 1
    ) p on true`;
}

/** What one routing statement reads besides the conversation row: the facts and the people. */
interface RoutingSnapshot {
  facts: RoutingFacts;
  agents: LoadedAgent[];
}

/** Facts and people of a conversation of a bank whose context is loaded (one round trip). */
async function routingSnapshot(
  trx: Trx,
  ctx: BankContext,
  conversationId: string,
  now: Date,
): Promise<RoutingSnapshot> {
  const row = (
    await sql<RoutingFacts & { agents: AgentJson[] }>`
    select ${factsColumns(ctx.schema)},
      ${routingAgentsJson(ctx.schema, sql`${ctx.tenant.id}`, sql`${ctx.kscOrgId}::text`, now)} as agents
    from ${sql.id(ctx.schema, "conversations")} c ${previousHandlerJoin(ctx.schema)}
    where c.id = ${conversationId}`.execute(trx)
  ).rows[0];
  if (!row) throw notFound("Conversation");
  const { agents, ...facts } = row;
  return { facts, agents: toLoadedAgents(agents) };
}

/**
 * Decides and applies inside the caller's transaction, which must already hold the bank lock and the
 * conversation row: the pure decision (@kanal/routing), then `assign` or `enqueue`. A chosen agent can
 * fill up between the snapshot and the claim; then their state is re-read and the decision made again.
 * Returns null when `onlyIfAgent` and nobody could take the chat.
 */
export async function decideAndApply(
  trx: Trx,
  ctx: BankContext,
  conversation: ConversationState,
  changes: Changes,
  options: DecideAndApplyOptions,
  /** Read together with the conversation row by a caller that locks it anyway (one round trip less). */
  snapshot?: RoutingSnapshot,
): Promise<RoutingOutcome | null> {
  const { now } = options;
  const bank = bankRef(ctx.tenant);
  const { facts: f, agents: everyone } = snapshot ?? (await routingSnapshot(trx, ctx, conversation.id, now));
  // A topic the rule book reserves to the bank, or one the conversation was opened for (a card alert's
  // "not me"): either keeps the chat with the bank whatever the mode.
  const bankOnlyTopic =
    (await bankOnlyTopicOf(trx, ctx.schema, f.rule_id, f.rule_version)) ??
    (conversation.flags.includes(CONVERSATION_FLAGS.bankOnlyTopic) ? (f.topic ?? "bank only") : null);
  const exclude = new Set(options.exclude ?? []);
  const agents: LoadedAgent[] = everyone.filter((a) => !exclude.has(a.userId));
  const advisorCodes: AdvisorCode[] = agents
    .filter((a) => a.advisorCode)
    .map((a) => ({ code: a.advisorCode ?? "", userId: a.userId }));
  const previousHandler =
    options.previousHandler ??
    (f.previous_user_id && f.previous_closed_at
      ? { userId: f.previous_user_id, closedAt: f.previous_closed_at }
      : null);

  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const decision = decideRouting({
      config: ctx.config,
      bank: { region: ctx.tenant.region, timezone: ctx.tenant.timezone },
      now,
      kscContracted: ctx.kscOrgId !== null,
      agents,
      inHouseActiveCount: Number(f.in_house),
      conversation: { isNew: options.trigger !== "reopen", previousHandler },
      customer: { advisorUserId: f.advisor_user_id },
      firstMessageText: f.first_text,
      advisorCodes,
      bankOnlyTopic,
    });
    const target = decision.target;
    if (options.onlyIfAgent && target.type !== "agent") return null;
    const record = routingSummary(decision, options.trigger, now);
    if (options.reasonPrefix) {
      record.reason = `${options.reasonPrefix.en} ${record.reason}`;
      record.reasonDe = `${options.reasonPrefix.de} ${record.reasonDe}`;
    }
    const kscOrgId = target.handledBy === "ksc" ? ctx.kscOrgId : null;
    const common = { decision: record, byUserId: null, releaseAs: "reassigned" as const, now };
    let events: DomainEvent[];
    if (target.type === "agent") {
      const chosen = agents.find((a) => a.userId === target.userId);
      const result = await assign(trx, bank, conversation, {
        ...common,
        userId: target.userId,
        handledBy: target.handledBy,
        kscOrgId,
        maxChats: chosen?.maxChats ?? null,
        requireOnline: true,
        by: "routing",
      });
      if (!result) {
        // Filled up (or went offline) since the snapshot: re-read them and decide again.
        const fresh = await trx
          .withSchema("control")
          .selectFrom("agent_state")
          .select(["presence", "open_count", "last_assigned_at"])
          .where("user_id", "=", target.userId)
          .executeTakeFirst();
        if (chosen) {
          chosen.presence = fresh?.presence ?? "offline";
          chosen.openCount = Math.max(fresh?.open_count ?? 0, chosen.maxChats ?? 0);
          chosen.lastAssignedAt = fresh?.last_assigned_at ?? chosen.lastAssignedAt;
        }
        continue;
      }
      events = result.events;
    } else {
      events = (
        await enqueue(trx, bank, conversation, {
          ...common,
          queue: target.queue,
          handledBy: target.handledBy,
          kscOrgId,
          by: "routing",
          resetQueuedAt: false,
        })
      ).events;
    }
    changes.emit(...events);
    if (
      decision.sendAwayMessage &&
      decision.closedPeriodKey !== null &&
      conversation.away_sent_period !== decision.closedPeriodKey
    ) {
      changes.emit({
        type: "conversation.away_due",
        bank,
        conversationId: conversation.id,
        periodKey: decision.closedPeriodKey,
        nextOpening: decision.nextOpening,
      });
    }
    return {
      status: target.type === "agent" ? "assigned" : "queued",
      conversationId: conversation.id,
      tenantId: ctx.tenant.id,
      assigneeUserId: target.type === "agent" ? target.userId : null,
      queue: target.type === "queue" ? target.queue : null,
      handledBy: target.handledBy,
      rule: decision.rule,
      reason: record.reason,
    };
  }
  // Every attempt lost its race: the conversation stays unrouted and the routing tick routes it.
  throw new Error(`routing of ${conversation.id} lost ${CLAIM_ATTEMPTS} claims in a row`);
}

type RoutedRow = RoutingFacts &
  ConversationState & {
    agents: AgentJson[];
    contracted_ksc_org_id: string | null;
    routing_settings: unknown;
    region: Tenant["region"];
    timezone: string;
  };

const skippedOutcome = (input: RouteConversationInput, why: string): RoutingOutcome => ({
  status: "skipped",
  conversationId: input.conversationId,
  tenantId: input.tenantId,
  assigneeUserId: null,
  queue: null,
  handledBy: null,
  rule: null,
  reason: null,
  skipped: why,
});

/**
 * Routes a queued conversation inside the caller's transaction, which must already hold the bank lock
 * (routeConversation takes it; the ingest takes it while inserting the conversation). One statement reads
 * the conversation row (locked), its facts, the people, the bank's KSC contract, routing settings and
 * service-hours region; a second claims the chosen agent's slot and applies the decision. Events go to
 * `changes`, for the caller to emit after commit.
 */
export async function routeLockedConversation(
  trx: Trx,
  tenant: Tenant,
  input: RouteConversationInput,
  changes: Changes,
  now: Date,
  options: Pick<DecideAndApplyOptions, "previousHandler"> = {},
): Promise<RoutingOutcome> {
  const schema = tenant.schema_name;
  const row = (
    await sql<RoutedRow>`
    select c.id, c.customer_id, c.status, c.assignee_user_id, c.handled_by, c.queue, c.queued_at, c.routing,
      c.flags, c.away_sent_period, c.ksc_org_id, c.closed_at,
      ${factsColumns(schema)},
      t.region, t.timezone, k.ksc_org_id as contracted_ksc_org_id,
      (select value from ${sql.id(schema, "settings")} where key = 'routing') as routing_settings,
      ${routingAgentsJson(schema, sql`t.id`, sql`k.ksc_org_id`, now)} as agents
    from ${sql.id(schema, "conversations")} c ${previousHandlerJoin(schema)}
    join control.tenants t on t.id = ${tenant.id}
    left join control.ksc_contracts k on k.tenant_id = t.id
    where c.id = ${input.conversationId}
    for update of c`.execute(trx)
  ).rows[0];
  if (!row) return skippedOutcome(input, "not_found");
  if (row.status !== "queued") return skippedOutcome(input, `already_${row.status}`);
  if (row.routing !== null) return skippedOutcome(input, "already_routed");
  const { agents, contracted_ksc_org_id, routing_settings, region, timezone } = row;
  const ctx: BankContext = {
    tenant: { ...tenant, region, timezone },
    schema,
    config: parseRoutingConfig(routing_settings),
    kscOrgId: contracted_ksc_org_id,
  };
  const outcome = await decideAndApply(
    trx,
    ctx,
    row,
    changes,
    { now, trigger: input.trigger, ...options },
    { facts: row, agents: toLoadedAgents(agents) },
  );
  return outcome ?? skippedOutcome(input, "no_decision");
}

/**
 * The one routing decision of a new or reopened conversation, applied in one transaction: bank lock,
 * conversation row, decision, guarded slot claim, conversation + routing_decisions rows. Idempotent:
 * a conversation that already has a decision (or is closed/gone) is skipped. Events and the away
 * message go out only after commit.
 */
export async function routeConversation(
  services: Services,
  input: RouteConversationInput,
  /** `tenant`: the bank's row when the caller has it (saves a round trip). */
  options: { now?: Date; tenant?: Tenant } = {},
): Promise<RoutingOutcome> {
  const now = options.now ?? new Date();
  const tenant =
    options.tenant ??
    (await services.db
      .withSchema("control")
      .selectFrom("tenants")
      .selectAll()
      .where("id", "=", input.tenantId)
      .executeTakeFirst());
  if (!tenant) throw notFound("Tenant");
  return inTransaction(services, async (trx, changes) => {
    await lockBankRouting(trx, tenant.id);
    return routeLockedConversation(trx, tenant, input, changes, now);
  });
}
