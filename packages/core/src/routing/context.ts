import { type RawBuilder, sql } from "@kanal/db";
import type { RoutingAgent } from "@kanal/routing";
import type { BankContext } from "../conversations/bank";
import type { Executor } from "../kernel/executor";

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
export async function loadRoutingAgents(db: Executor, ctx: BankContext, now: Date): Promise<LoadedAgent[]> {
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
