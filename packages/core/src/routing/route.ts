import type { Transaction, Database } from "@kanal/db";
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
  type BankRoutingContext,
  type LoadedAgent,
  loadBankRoutingContext,
  loadRoutingAgents,
} from "./context";
import { noEffects, type RoutingEffects, runEffects } from "./effects";
import { claimAgentSlot, lockBankRouting } from "./locks";

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

async function routingFacts(
  trx: Transaction<Database>,
  schema: string,
  conversationId: string,
): Promise<RoutingFacts> {
  const row = (
    await sql<RoutingFacts>`
    select ${factsColumns(schema)}
    from ${sql.id(schema, "conversations")} c ${previousHandlerJoin(schema)}
    where c.id = ${conversationId}`.execute(trx)
  ).rows[0];
  if (!row) throw notFound("Conversation");
  return row;
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
  facts?: RoutingFacts,
): Promise<RoutingOutcome | null> {
  const { now } = options;
  const f = facts ?? (await routingFacts(trx, ctx.schema, conversation.id));
  const bankOnlyTopic = await bankOnlyTopicOf(trx, ctx.schema, f.rule_id, f.rule_version);
  const exclude = new Set(options.exclude ?? []);
  const agents: LoadedAgent[] = (await loadRoutingAgents(trx, ctx, now)).filter(
    (a) => !exclude.has(a.userId),
  );
  const advisorCodes: AdvisorCode[] = agents
    .filter((a) => a.advisorCode)
    .map((a) => ({ code: a.advisorCode ?? "", userId: a.userId }));

  let decision: RoutingDecision | null = null;
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    decision = decideRouting({
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
    if (decision.target.type === "queue") break;
    const chosenId = decision.target.userId;
    const chosen = agents.find((a) => a.userId === chosenId);
    if (await claimAgentSlot(trx, chosenId, chosen?.maxChats ?? null)) break;
    // Filled up (or went offline) since we read the snapshot: re-read them and decide again.
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
    decision = null;
  }
  if (!decision) {
    // Every attempt lost its race: leave it to the queue of the bank's side, the back-fill takes it.
    throw new Error(`routing of ${conversation.id} lost ${CLAIM_ATTEMPTS} claims in a row`);
  }
  if (options.onlyIfAgent && decision.target.type !== "agent") return null;

  const summary = routingSummary(decision, options.trigger, now);
  if (options.reasonPrefix) {
    summary.reason = `${options.reasonPrefix.en} ${String(summary.reason)}`;
    summary.reasonDe = `${options.reasonPrefix.de} ${String(summary.reasonDe)}`;
  }
  const target = decision.target;
  const sendAway =
    decision.sendAwayMessage &&
    decision.closedPeriodKey !== null &&
    conversation.away_sent_period !== decision.closedPeriodKey;
  // The conversation and its decision record in one round trip.
  const conversations = sql.id(ctx.schema, "conversations");
  const update =
    target.type === "agent"
      ? sql`update ${conversations} set status = 'open', assignee_user_id = ${target.userId},
          handled_by = ${target.handledBy}, queue = null, assigned_at = ${now},
          routing = ${JSON.stringify(summary)}::jsonb
          where id = ${conversation.id} returning id`
      : sql`update ${conversations} set status = 'queued', assignee_user_id = null,
          handled_by = ${target.handledBy}, queue = ${target.queue},
          queued_at = ${conversation.queued_at ?? now}, routing = ${JSON.stringify(summary)}::jsonb
          ${sendAway ? sql`, away_sent_period = ${decision.closedPeriodKey}` : sql``}
          where id = ${conversation.id} returning id`;
  const d = decisionColumns(summary);
  await sql`
    with updated as (${update})
    insert into ${sql.id(ctx.schema, "routing_decisions")}
      (conversation_id, mode, rule, reason, target, candidates)
    select updated.id, ${d.mode}, ${d.rule}, ${d.reason}, ${d.target}::jsonb, ${d.candidates}::jsonb
    from updated`.execute(trx);

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

/**
 * The one routing decision of a new or reopened conversation, applied in one transaction: bank lock,
 * conversation row, decision, guarded slot claim, conversation + routing_decisions rows. Idempotent:
 * a conversation that already has a decision (or is closed/gone) is skipped. Events and the away
 * message go out only after commit.
 */
export async function routeConversation(
  services: Services,
  input: RouteConversationInput,
  /** `schema`: the bank's schema when the caller knows it (saves a round trip). */
  options: { now?: Date; schema?: string } = {},
): Promise<RoutingOutcome> {
  const now = options.now ?? new Date();
  const ctx = await loadBankRoutingContext(services.db, input.tenantId, options.schema);
  const effects = noEffects();
  const skipped = (why: string): RoutingOutcome => ({
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
  const outcome = await services.db.transaction().execute(async (trx) => {
    await lockBankRouting(trx, ctx.tenant.id);
    const row = (
      await sql<
        RoutingFacts & {
          id: string;
          customer_id: string;
          status: string;
          routing: unknown;
          away_sent_period: string | null;
          queued_at: Date | null;
        }
      >`
      select c.id, c.customer_id, c.status, c.routing, c.away_sent_period, c.queued_at,
        ${factsColumns(ctx.schema)}
      from ${sql.id(ctx.schema, "conversations")} c ${previousHandlerJoin(ctx.schema)}
      where c.id = ${input.conversationId}
      for update of c`.execute(trx)
    ).rows[0];
    if (!row) return skipped("not_found");
    if (row.status !== "queued") return skipped(`already_${row.status}`);
    if (row.routing !== null) return skipped("already_routed");
    return decideAndApply(trx, ctx, row, effects, { now, trigger: input.trigger }, row);
  });
  await runEffects(services, effects);
  return outcome ?? skipped("no_decision");
}
