import type { Db, Tenant } from "@kanal/db";
import { hashPassword } from "../auth/passwords";
import { type Actor, actorUserId } from "../kernel/actor";
import { auditControl, auditTenant } from "../kernel/audit";
import { newId } from "../kernel/crypto";
import { conflict, notFound, uniqueViolation } from "../kernel/errors";
import type { Trx } from "../kernel/executor";
import type { RequestContext } from "../kernel/request-context";
import { requireProvider, type TenantAccess } from "../tenants/access";
import { checkSlug } from "../tenants/onboard";

export async function createKscOrg(db: Db, ctx: RequestContext, input: { slug: string; name: string }) {
  requireProvider(ctx.actor);
  checkSlug(input.slug);
  try {
    return await db.transaction().execute(async (trx) => {
      const org = await trx
        .withSchema("control")
        .insertInto("ksc_orgs")
        .values({ id: newId("ksc"), slug: input.slug, name: input.name })
        .returningAll()
        .executeTakeFirstOrThrow();
      await auditControl(trx, ctx.actor, {
        action: "ksc_org.created",
        targetType: "ksc_org",
        targetId: org.id,
        ip: ctx.ip,
        requestId: ctx.requestId,
      });
      return org;
    });
  } catch (error) {
    if (uniqueViolation(error) !== null)
      throw conflict("slug is already taken", [{ path: "slug", message: "is already taken" }]);
    throw error;
  }
}

export async function listKscOrgs(db: Db, ctx: RequestContext) {
  requireProvider(ctx.actor);
  const orgs = await db.withSchema("control").selectFrom("ksc_orgs").selectAll().orderBy("slug").execute();
  const contracts = await db
    .withSchema("control")
    .selectFrom("ksc_contracts as c")
    .innerJoin("tenants as t", "t.id", "c.tenant_id")
    .select(["c.ksc_org_id", "t.slug"])
    .execute();
  const agents = await db
    .withSchema("control")
    .selectFrom("memberships as m")
    .innerJoin("users as u", "u.id", "m.user_id")
    .select(["m.ksc_org_id", "u.id", "u.email", "u.name", "m.max_chats"])
    .where("m.role", "=", "ksc_agent")
    .execute();
  return orgs.map((o) => ({
    id: o.id,
    slug: o.slug,
    name: o.name,
    banks: contracts.filter((c) => c.ksc_org_id === o.id).map((c) => c.slug),
    agents: agents
      .filter((a) => a.ksc_org_id === o.id)
      .map((a) => ({ id: a.id, email: a.email, name: a.name, maxChats: a.max_chats })),
  }));
}

export async function findKscOrg(db: Db, slug: string) {
  const org = await db
    .withSchema("control")
    .selectFrom("ksc_orgs")
    .selectAll()
    .where("slug", "=", slug)
    .executeTakeFirst();
  if (!org) throw notFound("KSC organisation");
  return org;
}

export async function addKscAgent(
  db: Db,
  ctx: RequestContext,
  orgSlug: string,
  input: { email: string; name: string; password: string; maxChats?: number },
) {
  requireProvider(ctx.actor);
  const org = await findKscOrg(db, orgSlug);
  const passwordHash = await hashPassword(input.password);
  try {
    return await db.transaction().execute(async (trx) => {
      const user = await trx
        .withSchema("control")
        .insertInto("users")
        .values({ id: newId("usr"), email: input.email, name: input.name, password_hash: passwordHash })
        .returning(["id", "email", "name"])
        .executeTakeFirstOrThrow();
      await trx
        .withSchema("control")
        .insertInto("memberships")
        .values({
          id: newId("mem"),
          user_id: user.id,
          role: "ksc_agent",
          tenant_id: null,
          ksc_org_id: org.id,
          max_chats: input.maxChats ?? 5,
          deputy_user_id: null,
          advisor_code: null,
        })
        .execute();
      await trx
        .withSchema("control")
        .insertInto("agent_state")
        .values({ user_id: user.id, presence_changed_at: new Date() })
        .execute();
      await auditControl(trx, ctx.actor, {
        action: "ksc_agent.created",
        targetType: "user",
        targetId: user.id,
        details: { org: org.slug },
        ip: ctx.ip,
        requestId: ctx.requestId,
      });
      return { ...user, kscOrg: org.slug, maxChats: input.maxChats ?? 5 };
    });
  } catch (error) {
    if (uniqueViolation(error) !== null)
      throw conflict("email already has an account", [{ path: "email", message: "already has an account" }]);
    throw error;
  }
}

/**
 * The bank's contracted organisation, its contract row locked for a change (null: none). The caller
 * holds the bank's routing lock (conversations/contract.ts).
 */
export async function lockedKscContract(trx: Trx, tenantId: string) {
  const contract = await trx
    .withSchema("control")
    .selectFrom("ksc_contracts")
    .select("ksc_org_id")
    .where("tenant_id", "=", tenantId)
    .forUpdate()
    .executeTakeFirst();
  if (!contract) return null;
  return trx
    .withSchema("control")
    .selectFrom("ksc_orgs")
    .select(["id", "slug"])
    .where("id", "=", contract.ksc_org_id)
    .executeTakeFirstOrThrow();
}

/** Ends the bank's open contract period (if any). */
async function endPeriod(trx: Trx, tenantId: string, actor: Actor, now: Date) {
  await trx
    .withSchema("control")
    .updateTable("ksc_contract_history")
    .set({ ended_at: now, ended_by: actorUserId(actor) })
    .where("tenant_id", "=", tenantId)
    .where("ended_at", "is", null)
    .execute();
}

/**
 * The bookkeeping of a new contract, in the caller's transaction: the contract row (one per bank), the
 * end of the previous contract period and the start of this one. The verb around it, which also moves
 * the previous organisation's chats, is `contractKsc` in conversations/contract.ts.
 */
export async function recordKscContract(
  trx: Trx,
  tenantId: string,
  orgId: string,
  actor: Actor,
  now: Date,
): Promise<void> {
  await trx
    .withSchema("control")
    .insertInto("ksc_contracts")
    .values({ tenant_id: tenantId, ksc_org_id: orgId })
    .onConflict((oc) => oc.column("tenant_id").doUpdateSet({ ksc_org_id: orgId }))
    .execute();
  await endPeriod(trx, tenantId, actor, now);
  await trx
    .withSchema("control")
    .insertInto("ksc_contract_history")
    .values({
      id: newId("kch"),
      tenant_id: tenantId,
      ksc_org_id: orgId,
      started_at: now,
      started_by: actorUserId(actor),
    })
    .execute();
}

/** The bookkeeping of an ended contract: the contract row goes, its period ends. */
export async function recordKscContractEnd(
  trx: Trx,
  tenantId: string,
  actor: Actor,
  now: Date,
): Promise<void> {
  await trx.withSchema("control").deleteFrom("ksc_contracts").where("tenant_id", "=", tenantId).execute();
  await endPeriod(trx, tenantId, actor, now);
}

/** A contract change audited on both sides: in the bank's log and in the provider's. */
export async function auditKscContract(
  trx: Trx,
  ctx: RequestContext,
  tenant: Pick<Tenant, "id" | "schema_name">,
  entry: { action: string; targetId: string; details: Record<string, unknown> },
): Promise<void> {
  const full = { ...entry, targetType: "ksc_org", ip: ctx.ip, requestId: ctx.requestId };
  await auditTenant(trx, tenant.schema_name, ctx.actor, full);
  await auditControl(trx, ctx.actor, { ...full, tenantId: tenant.id });
}

interface KscContractPeriod {
  kscOrg: string;
  name: string;
  startedAt: string;
  endedAt: string | null;
}

/**
 * The bank's KSC now and every contract period, newest first: which contact centre could read the bank's
 * chats, and when. For the provider and the bank's own admins (the caller resolved the access).
 */
export async function kscContractHistory(db: Db, access: TenantAccess) {
  const rows = await db
    .withSchema("control")
    .selectFrom("ksc_contract_history as h")
    .innerJoin("ksc_orgs as o", "o.id", "h.ksc_org_id")
    .select(["o.slug", "o.name", "h.started_at", "h.ended_at"])
    .where("h.tenant_id", "=", access.tenant.id)
    .orderBy("h.started_at", "desc")
    .orderBy("h.id", "desc")
    .execute();
  const history: KscContractPeriod[] = rows.map((r) => ({
    kscOrg: r.slug,
    name: r.name,
    startedAt: r.started_at.toISOString(),
    endedAt: r.ended_at?.toISOString() ?? null,
  }));
  const open = history.find((p) => p.endedAt === null);
  return {
    current: open ? { kscOrg: open.kscOrg, name: open.name, since: open.startedAt } : null,
    history,
  };
}
