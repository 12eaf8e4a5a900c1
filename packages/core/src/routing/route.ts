import type { Database, Tenant, Transaction } from "@kanal/db";
import { sql } from "@kanal/db";
import {
  type AdvisorCode,
  decideRouting,
  type HandledBy,
  type QueueSide,
  type RoutingCandidate,
  type RoutingDecision,
} from "@kanal/routing";
import { notFound } from "../errors";
import { compiledRuleBook } from "../rsk/rule-book";
import type { Services } from "../services";
import {
  type AgentJson,
  type BankRoutingContext,
  type LoadedAgent,
  parseRoutingConfig,
  routingAgentsJson,
  toLoadedAgents,
} from "./context";
import { noEffects, type RoutingEffects, runEffects } from "./effects";
import { claimAgentSlotSql, lockBankRouting } from "./locks";

export type RoutingTrigger = "new" | "reopen" | "unanswered" | "requeue";

export interface RouteConversationInput {
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
export function routingSummary(
  decision: Pick<RoutingDecision, "mode" | "rule" | "reason" | "reasonDe" | "candidates" | "target"> &
    Partial<Pick<RoutingDecision, "nextOpening" | "closedPeriodKey" | "addressedAdvisor" | "opening">>,
  trigger: string,
  now: Date,
): Record<string, unknown> {
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

/** The routing_decisions columns of a decision summary (besides the conversation). */
function decisionColumns(summary: Record<string, unknown>) {
  return {
    mode: String(summary.mode),
    rule: String(summary.rule),
    reason: String(summary.reason),
    target: JSON.stringify(summary.target ?? {}),
    candidates: JSON.stringify(summary.candidates ?? []),
  };
}

export async function recordDecision(
  trx: Transaction<Database>,
  schema: string,
  conversationId: string,
  summary: Record<string, unknown>,
): Promise<void> {
  await trx
    .withSchema(schema)
    .insertInto("routing_decisions")
    .values({ conversation_id: conversationId, ...decisionColumns(summary) })
    .execute();
}

export interface DecideAndApplyOptions {
  now: Date;
  trigger: string;
  /** People who must not get the chat (e.g. the agent who left it unanswered). */
  exclude?: readonly string[];
  /** Only apply the decision when it gives the chat to a person (unanswered reassignment). */
  onlyIfAgent?: boolean;
  /** Prefix for the stored reason, e.g. why the chat is routed again. */
  reasonPrefix?: { en: string; de: string };
}

/**
 * Decides and applies inside the caller's transaction, which must already hold the bank lock and the
 * conversation row. Returns null when `onlyIfAgent` and nobody could take the chat.
 */
/** The conversation's topic when the bank's current rule book reserves it to the bank, else null. */
async function bankOnlyTopicOf(
  trx: Transaction<Database>,
  schema: string,
  ruleId: string | null,
  version: number | null,
): Promise<string | null> {
  if (!ruleId) return null;
  const rule = (await compiledRuleBook(trx, schema, version ?? undefined)).byId.get(ruleId);
  return rule?.handling === "bank_only" ? rule.topic : null;
}

/** What a decision needs about the customer and the conversation besides the people. */
export interface RoutingFacts {
  advisor_user_id: string | null;
  previous_user_id: string | null;
  previous_closed_at: Date | null;
  first_text: string | null;
  in_house: string | number;
  rule_id: string | null;
  rule_version: number | null;
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
export interface RoutingSnapshot {
  facts: RoutingFacts;
  agents: LoadedAgent[];
}

/** Facts and people of a conversation of a bank whose context is loaded (one round trip). */
async function routingSnapshot(
  trx: Transaction<Database>,
  ctx: BankRoutingContext,
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
 * Applies a decision in one round trip: for an agent, the guarded slot claim (ADR 0005: the updated
 * agent_state row stays locked until commit, a concurrent claim waits and re-checks the guard), and only
 * if it succeeded the conversation and its routing_decisions row. False when the claim failed (nothing
 * was written then).
 */
async function applyDecision(
  trx: Transaction<Database>,
  schema: string,
  conversation: { id: string; queued_at: Date | null },
  decision: RoutingDecision,
  summary: Record<string, unknown>,
  sendAway: boolean,
  now: Date,
  chosen: LoadedAgent | undefined,
): Promise<boolean> {
  const target = decision.target;
  const conversations = sql.id(schema, "conversations");
  const routing = JSON.stringify(summary);
  const step =
    target.type === "agent"
      ? sql`claim as (${claimAgentSlotSql(target.userId, chosen?.maxChats ?? null)}),
        updated as (update ${conversations} set status = 'open', assignee_user_id = ${target.userId},
          handled_by = ${target.handledBy}, queue = null, assigned_at = ${now}, routing = ${routing}::jsonb
          where id = ${conversation.id} and exists (select 1 from claim) returning id)`
      : sql`updated as (update ${conversations} set status = 'queued', assignee_user_id = null,
          handled_by = ${target.handledBy}, queue = ${target.queue},
          queued_at = ${conversation.queued_at ?? now}, routing = ${routing}::jsonb
          ${sendAway ? sql`, away_sent_period = ${decision.closedPeriodKey}` : sql``}
          where id = ${conversation.id} returning id)`;
  const d = decisionColumns(summary);
  const result = await sql<{ applied: boolean }>`
    with ${step},
    decided as (
      insert into ${sql.id(schema, "routing_decisions")} (conversation_id, mode, rule, reason, target, candidates)
      select updated.id, ${d.mode}, ${d.rule}, ${d.reason}, ${d.target}::jsonb, ${d.candidates}::jsonb
      from updated)
    select exists (select 1 from updated) as applied`.execute(trx);
  return result.rows[0]?.applied === true;
}

export async function decideAndApply(
  trx: Transaction<Database>,
  ctx: BankRoutingContext,
  conversation: {
    id: string;
    customer_id: string;
    away_sent_period: string | null;
    queued_at: Date | null;
  },
  effects: RoutingEffects,
  options: DecideAndApplyOptions,
  /** Read together with the conversation row by a caller that locks it anyway (one round trip less). */
  snapshot?: RoutingSnapshot,
): Promise<RoutingOutcome | null> {
  const { now } = options;
  const { facts: f, agents: everyone } = snapshot ?? (await routingSnapshot(trx, ctx, conversation.id, now));
  const bankOnlyTopic = await bankOnlyTopicOf(trx, ctx.schema, f.rule_id, f.rule_version);
  const exclude = new Set(options.exclude ?? []);
  const agents: LoadedAgent[] = everyone.filter((a) => !exclude.has(a.userId));
  const advisorCodes: AdvisorCode[] = agents
    .filter((a) => a.advisorCode)
    .map((a) => ({ code: a.advisorCode ?? "", userId: a.userId }));

  let decision: RoutingDecision | null = null;
  let summary: Record<string, unknown> = {};
  let sendAway = false;
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS && !decision; attempt++) {
    const candidate = decideRouting({
      config: ctx.config,
      bank: { region: ctx.tenant.region, timezone: ctx.tenant.timezone },
      now,
      kscContracted: ctx.kscOrgId !== null,
      agents,
      inHouseActiveCount: Number(f.in_house),
      conversation: {
        isNew: options.trigger !== "reopen",
        previousHandler:
          f.previous_user_id && f.previous_closed_at
            ? { userId: f.previous_user_id, closedAt: f.previous_closed_at }
            : null,
      },
      customer: { advisorUserId: f.advisor_user_id },
      firstMessageText: f.first_text,
      advisorCodes,
      bankOnlyTopic,
    });
    if (options.onlyIfAgent && candidate.target.type !== "agent") return null;
    summary = routingSummary(candidate, options.trigger, now);
    if (options.reasonPrefix) {
      summary.reason = `${options.reasonPrefix.en} ${String(summary.reason)}`;
      summary.reasonDe = `${options.reasonPrefix.de} ${String(summary.reasonDe)}`;
    }
    sendAway =
      candidate.sendAwayMessage &&
      candidate.closedPeriodKey !== null &&
      conversation.away_sent_period !== candidate.closedPeriodKey;
    const target = candidate.target;
    const chosen = target.type === "agent" ? agents.find((a) => a.userId === target.userId) : undefined;
    if (await applyDecision(trx, ctx.schema, conversation, candidate, summary, sendAway, now, chosen)) {
      decision = candidate;
      break;
    }
    if (target.type !== "agent") break;
    // Filled up (or went offline) since we read the snapshot: re-read them and decide again.
    const chosenId = target.userId;
    const fresh = await trx
      .withSchema("control")
      .selectFrom("agent_state")
      .select(["presence", "open_count", "last_assigned_at"])
      .where("user_id", "=", chosenId)
      .executeTakeFirst();
    if (chosen) {
      chosen.presence = fresh?.presence ?? "offline";
      chosen.openCount = Math.max(fresh?.open_count ?? 0, chosen.maxChats ?? 0);
      chosen.lastAssignedAt = fresh?.last_assigned_at ?? chosen.lastAssignedAt;
    }
  }
  if (!decision) {
    // Every attempt lost its race: leave it to the queue of the bank's side, the back-fill takes it.
    throw new Error(`routing of ${conversation.id} lost ${CLAIM_ATTEMPTS} claims in a row`);
  }
  const target = decision.target;

  const eventData = {
    tenant: ctx.tenant.slug,
    tenantId: ctx.tenant.id,
    conversationId: conversation.id,
    handledBy: target.handledBy,
    rule: decision.rule,
    reason: summary.reason,
    by: "routing",
  };
  if (target.type === "agent") effects.assigned.push({ userId: target.userId, data: eventData });
  if (sendAway) {
    effects.away.push({
      tenant: ctx.tenant,
      conversationId: conversation.id,
      template: ctx.config.awayMessage,
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
    reason: String(summary.reason),
  };
}

type RoutedRow = RoutingFacts & {
  id: string;
  customer_id: string;
  status: string;
  routing: unknown;
  away_sent_period: string | null;
  queued_at: Date | null;
  agents: AgentJson[];
  ksc_org_id: string | null;
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
 * service-hours region; a second claims the chosen agent's slot and applies the decision. Events and the
 * away message are collected in `effects`, for the caller to run after commit.
 */
export async function routeLockedConversation(
  trx: Transaction<Database>,
  tenant: Tenant,
  input: RouteConversationInput,
  effects: RoutingEffects,
  now: Date,
): Promise<RoutingOutcome> {
  const schema = tenant.schema_name;
  const row = (
    await sql<RoutedRow>`
    select c.id, c.customer_id, c.status, c.routing, c.away_sent_period, c.queued_at,
      ${factsColumns(schema)},
      t.region, t.timezone, k.ksc_org_id,
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
  const { agents, ksc_org_id, routing_settings, region, timezone, ...facts } = row;
  const ctx: BankRoutingContext = {
    tenant: { ...tenant, region, timezone },
    schema,
    config: parseRoutingConfig(routing_settings),
    kscOrgId: ksc_org_id,
  };
  const outcome = await decideAndApply(
    trx,
    ctx,
    row,
    effects,
    { now, trigger: input.trigger },
    {
      facts,
      agents: toLoadedAgents(agents),
    },
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
  const effects = noEffects();
  const outcome = await services.db.transaction().execute(async (trx) => {
    await lockBankRouting(trx, tenant.id);
    return routeLockedConversation(trx, tenant, input, effects, now);
  });
  await runEffects(services, effects);
  return outcome;
}
