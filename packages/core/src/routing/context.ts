import type { Database, Db, Tenant, Transaction } from "@kanal/db";
import { sql } from "@kanal/db";
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
function parseRoutingConfig(value: unknown): RoutingConfig {
  if (value === null || value === undefined) return defaultRoutingConfig;
  const parsed = routingConfigSchema.safeParse(value);
  return parsed.success ? parsed.data : defaultRoutingConfig;
}

/**
 * The bank, its KSC contract and its routing settings. A caller that already knows the bank's schema
 * (the ingest does) gets all three in one round trip; otherwise the schema is looked up first.
 */
export async function loadBankRoutingContext(
  db: Executor,
  tenantId: string,
  knownSchema?: string,
): Promise<BankRoutingContext> {
  const row = await db
    .withSchema("control")
    .selectFrom("tenants as t")
    .leftJoin("ksc_contracts as k", "k.tenant_id", "t.id")
    .selectAll("t")
    .select("k.ksc_org_id")
    .$if(knownSchema !== undefined, (q) =>
      q.select(
        sql<unknown>`(select value from ${sql.id(knownSchema ?? "", "settings")} where key = 'routing')`.as(
          "routing_settings",
        ),
      ),
    )
    .where("t.id", "=", tenantId)
    .$if(knownSchema !== undefined, (q) => q.where("t.schema_name", "=", knownSchema ?? ""))
    .executeTakeFirst();
  if (!row) throw notFound("Tenant");
  const { ksc_org_id, ...rest } = row;
  const { routing_settings, ...tenant } = rest as typeof rest & { routing_settings?: unknown };
  return {
    tenant,
    schema: tenant.schema_name,
    config:
      knownSchema !== undefined
        ? parseRoutingConfig(routing_settings)
        : await loadRoutingConfig(db, tenant.schema_name),
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
 * and absences from the bank's schema. Disabled accounts are never candidates.
 */
export async function loadRoutingAgents(
  db: Executor,
  ctx: BankRoutingContext,
  now: Date,
): Promise<LoadedAgent[]> {
  const rows = await db
    .withSchema("control")
    .selectFrom("memberships as m")
    .innerJoin("users as u", "u.id", "m.user_id")
    .leftJoin("agent_state as s", "s.user_id", "m.user_id")
    .select([
      "m.user_id",
      "m.role",
      "m.max_chats",
      "m.deputy_user_id",
      "m.advisor_code",
      "u.name",
      "s.presence",
      "s.open_count",
      "s.last_assigned_at",
      sql<boolean>`exists (select 1 from ${sql.id(ctx.schema, "advisor_absences")} a
        where a.user_id = m.user_id and a.starts_at <= ${now} and a.ends_at > ${now})`.as("absent"),
    ])
    .where("u.disabled_at", "is", null)
    .where((eb) =>
      eb.or([
        eb.and([
          eb("m.tenant_id", "=", ctx.tenant.id),
          eb("m.role", "in", ["bank_admin", "bank_agent", "bank_advisor"]),
        ]),
        ...(ctx.kscOrgId
          ? [eb.and([eb("m.ksc_org_id", "=", ctx.kscOrgId), eb("m.role", "=", "ksc_agent")])]
          : []),
      ]),
    )
    .orderBy("m.user_id")
    .execute();
  return rows.map((r) => ({
    userId: r.user_id,
    kind: r.role === "ksc_agent" ? "ksc" : r.role === "bank_advisor" ? "advisor" : "bank",
    presence: r.presence ?? "offline",
    openCount: r.open_count ?? 0,
    maxChats: r.max_chats,
    lastAssignedAt: r.last_assigned_at ?? null,
    absent: r.absent,
    deputyUserId: r.deputy_user_id,
    name: r.name,
    advisorCode: r.advisor_code,
  }));
}

export async function absentUserIds(db: Executor, schema: string, now: Date): Promise<Set<string>> {
  const result = await sql<{ user_id: string }>`
    select distinct user_id from ${sql.id(schema, "advisor_absences")}
    where starts_at <= ${now} and ends_at > ${now}`.execute(db);
  return new Set(result.rows.map((r) => r.user_id));
}
