import type { Db } from "@kanal/db";
import { auditControl, auditTenant } from "../kernel/audit";
import { hashPassword } from "../auth/passwords";
import { newId } from "../kernel/crypto";
import { conflict, notFound, uniqueViolation } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import { requireProvider } from "../tenants/access";
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

/** Contracts a KSC organisation to a bank (replacing an earlier contract); audited on both sides. */
export async function contractKsc(db: Db, ctx: RequestContext, tenantSlug: string, orgSlug: string) {
  requireProvider(ctx.actor);
  const tenant = await db
    .withSchema("control")
    .selectFrom("tenants")
    .selectAll()
    .where("slug", "=", tenantSlug)
    .executeTakeFirst();
  if (!tenant) throw notFound("Tenant");
  const org = await findKscOrg(db, orgSlug);
  await db.transaction().execute(async (trx) => {
    await trx
      .withSchema("control")
      .insertInto("ksc_contracts")
      .values({ tenant_id: tenant.id, ksc_org_id: org.id })
      .onConflict((oc) => oc.column("tenant_id").doUpdateSet({ ksc_org_id: org.id }))
      .execute();
    const entry = {
      action: "ksc.contracted",
      targetType: "ksc_org",
      targetId: org.id,
      details: { kscOrg: org.slug },
      ip: ctx.ip,
      requestId: ctx.requestId,
    };
    await auditTenant(trx, tenant.schema_name, ctx.actor, entry);
    await auditControl(trx, ctx.actor, { ...entry, tenantId: tenant.id });
  });
  return { tenant: tenant.slug, kscOrg: org.slug };
}
