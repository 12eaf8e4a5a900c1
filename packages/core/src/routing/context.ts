import type { Database, Db, Tenant, Transaction } from "@kanal/db";
import { type RawBuilder, sql } from "@kanal/db";
import {
  defaultRoutingConfig,
  openingState,
  type RoutingAgent,
  type RoutingConfig,
  routingConfigSchema,
} from "@kanal/routing";
import { notFound } from "../errors";

export type Executor = Db | Transaction<Database>;

/** Everything about a bank the routing layer needs besides the conversation. */
export interface BankRoutingContext {
  tenant: Tenant;
  schema: string;
  config: RoutingConfig;
  kscOrgId: string | null;
}

/**
 * The stored config parsed through the schema, so settings written by an older version get the
 * defaults of fields added since. A damaged row falls back to the defaults rather than stopping
 * routing for the bank (the admin sees the defaults on GET and can save again).
 */
export async function loadRoutingConfig(db: Executor, schema: string): Promise<RoutingConfig> {
  const row = await db
    .withSchema(schema)
    .selectFrom("settings")
    .select("value")
    .where("key", "=", "routing")
    .executeTakeFirst();
  return parseRoutingConfig(row?.value);
}

/** The stored routing settings parsed (see loadRoutingConfig); a damaged value gives the defaults. */
export function parseRoutingConfig(value: unknown): RoutingConfig {
  if (value === null || value === undefined) return defaultRoutingConfig;
  const parsed = routingConfigSchema.safeParse(value);
  return parsed.success ? parsed.data : defaultRoutingConfig;
}

/** The bank, its KSC contract and its routing settings. */
export async function loadBankRoutingContext(db: Executor, tenantId: string): Promise<BankRoutingContext> {
  const row = await db
    .withSchema("control")
    .selectFrom("tenants as t")
    .leftJoin("ksc_contracts as k", "k.tenant_id", "t.id")
    .selectAll("t")
    .select("k.ksc_org_id")
    .where("t.id", "=", tenantId)
    .executeTakeFirst();
  if (!row) throw notFound("Tenant");
  const { ksc_org_id, ...tenant } = row;
  return {
    tenant,
    schema: tenant.schema_name,
    config: await loadRoutingConfig(db, tenant.schema_name),
    kscOrgId: ksc_org_id ?? null,
  };
}

export function bankIsOpen(ctx: BankRoutingContext, now: Date): boolean {
  return openingState(ctx.config, ctx.tenant.region, ctx.tenant.timezone, now).open;
}

/** A routing agent plus what the transactional layer needs to claim a slot for them. */
export interface LoadedAgent extends RoutingAgent {
  name: string;
  advisorCode: string | null;
}

/**
 * The bank's people (agents and admins as "bank", advisors as "advisor") and the contracted KSC's
 * agents, with presence and load from control.agent_state (a KSC agent's load spans every bank)
 * and absences from the bank's schema, as one JSON array: a scalar subquery, so a routing statement
 * can carry it beside the conversation's facts (one round trip). `tenantId` and `kscOrgId` are SQL
 * expressions (a parameter, or a column of the surrounding query). Disabled accounts are never candidates.
 */
export function routingAgentsJson(
  schema: string,
  tenantId: RawBuilder<unknown>,
  kscOrgId: RawBuilder<unknown>,
  now: Date,
) {
  return sql<AgentJson[]>`(select coalesce(json_agg(json_build_object(
      'user_id', m.user_id, 'role', m.role, 'max_chats', m.max_chats, 'deputy_user_id', m.deputy_user_id,
      'advisor_code', m.advisor_code, 'name', u.name, 'presence', s.presence, 'open_count', s.open_count,
      'last_assigned_at', s.last_assigned_at,
      'absent', exists (select 1 from ${sql.id(schema, "advisor_absences")} a
        where a.user_id = m.user_id and a.starts_at <= ${now} and a.ends_at > ${now})
    ) order by m.user_id), '[]'::json)
    from control.memberships m
    join control.users u on u.id = m.user_id
    left join control.agent_state s on s.user_id = m.user_id
    where u.disabled_at is null
      and ((m.tenant_id = ${tenantId} and m.role in ('bank_admin', 'bank_agent', 'bank_advisor'))
        or (m.ksc_org_id = ${kscOrgId} and m.role = 'ksc_agent')))`;
}

/** One element of routingAgentsJson (timestamps arrive as JSON strings). */
export interface AgentJson {
  user_id: string;
  role: string;
  max_chats: number | null;
  deputy_user_id: string | null;
  advisor_code: string | null;
  name: string;
  presence: string | null;
  open_count: number | null;
  last_assigned_at: string | null;
  absent: boolean;
}

export function toLoadedAgents(rows: readonly AgentJson[]): LoadedAgent[] {
  return rows.map((r) => ({
    userId: r.user_id,
    kind: r.role === "ksc_agent" ? "ksc" : r.role === "bank_advisor" ? "advisor" : "bank",
    presence: (r.presence ?? "offline") as LoadedAgent["presence"],
    openCount: r.open_count ?? 0,
    maxChats: r.max_chats,
    lastAssignedAt: r.last_assigned_at ? new Date(r.last_assigned_at) : null,
    absent: r.absent,
    deputyUserId: r.deputy_user_id,
    name: r.name,
    advisorCode: r.advisor_code,
  }));
}

/** The people routingAgentsJson describes, for a bank whose context is loaded. */
export async function loadRoutingAgents(
  db: Executor,
  ctx: BankRoutingContext,
  now: Date,
): Promise<LoadedAgent[]> {
  const row = (
    await sql<{ agents: AgentJson[] }>`select ${routingAgentsJson(
      ctx.schema,
      sql`${ctx.tenant.id}`,
      sql`${ctx.kscOrgId}::text`,
      now,
    )} as agents`.execute(db)
  ).rows[0];
  return toLoadedAgents(row?.agents ?? []);
}

export async function absentUserIds(db: Executor, schema: string, now: Date): Promise<Set<string>> {
  const result = await sql<{ user_id: string }>`
    select distinct user_id from ${sql.id(schema, "advisor_absences")}
    where starts_at <= ${now} and ends_at > ${now}`.execute(db);
  return new Set(result.rows.map((r) => r.user_id));
}
