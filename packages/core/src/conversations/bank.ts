import type { Tenant } from "@kanal/db";
import { sql } from "@kanal/db";
import { defaultRoutingConfig, openingState, type RoutingConfig, routingConfigSchema } from "@kanal/routing";
import type { BankRef } from "../kernel/domain-events";
import { notFound } from "../kernel/errors";
import type { Executor } from "../kernel/executor";

/** Everything about a bank the conversation verbs and the routing need besides the conversation. */
export interface BankContext {
  tenant: Tenant;
  schema: string;
  config: RoutingConfig;
  /** the KSC organisation contracted now (null: none) */
  kscOrgId: string | null;
}

export function bankRef(tenant: Pick<Tenant, "id" | "slug" | "schema_name">): BankRef {
  return { id: tenant.id, slug: tenant.slug, schema: tenant.schema_name };
}

/**
 * The stored config parsed through the schema, so settings written by an older version get the
 * defaults of fields added since. A damaged value falls back to the defaults rather than stopping
 * routing for the bank (the admin sees the defaults on GET and can save again).
 */
export function parseRoutingConfig(value: unknown): RoutingConfig {
  if (value === null || value === undefined) return defaultRoutingConfig;
  const parsed = routingConfigSchema.safeParse(value);
  return parsed.success ? parsed.data : defaultRoutingConfig;
}

export async function loadRoutingConfig(db: Executor, schema: string): Promise<RoutingConfig> {
  const row = await db
    .withSchema(schema)
    .selectFrom("settings")
    .select("value")
    .where("key", "=", "routing")
    .executeTakeFirst();
  return parseRoutingConfig(row?.value);
}

/** The bank, its KSC contract and its routing settings. */
export async function loadBankContext(db: Executor, tenantId: string): Promise<BankContext> {
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

export function bankIsOpen(ctx: BankContext, now: Date): boolean {
  return openingState(ctx.config, ctx.tenant.region, ctx.tenant.timezone, now).open;
}

export async function absentUserIds(db: Executor, schema: string, now: Date): Promise<Set<string>> {
  const result = await sql<{ user_id: string }>`
    select distinct user_id from ${sql.id(schema, "advisor_absences")}
    where starts_at <= ${now} and ends_at > ${now}`.execute(db);
  return new Set(result.rows.map((r) => r.user_id));
}
