import type { Db, Role, Tenant } from "@kanal/db";
import type { Actor, MembershipView } from "../kernel/actor";
import { AppError, forbidden, notFound } from "../kernel/errors";

export interface TenantAccess {
  tenant: Tenant;
  schema: string;
  via: "member" | "ksc" | "provider" | "api_key";
  role: Role | null;
  membership: MembershipView | null;
}

interface TenantRequirement {
  /** Roles of the bank (or ksc_agent for a contracted KSC) that may use this. */
  roles?: readonly Role[];
  /** API-key scope that may use this. */
  scope?: string;
  /** Provider admins may use this (tenant metadata, never customers' conversations). */
  provider?: boolean;
}

export async function findTenantBySlug(db: Db, slug: string): Promise<Tenant | undefined> {
  return db
    .withSchema("control")
    .selectFrom("tenants")
    .selectAll()
    .where("slug", "=", slug)
    .executeTakeFirst();
}

async function contractedKscOrgId(db: Db, tenantId: string): Promise<string | null> {
  const row = await db
    .withSchema("control")
    .selectFrom("ksc_contracts")
    .select("ksc_org_id")
    .where("tenant_id", "=", tenantId)
    .executeTakeFirst();
  return row?.ksc_org_id ?? null;
}

/**
 * Resolves `:tenant` for an actor. Anyone without a relation to the bank gets 404 (its existence is not
 * revealed); someone who belongs to the bank but lacks the role gets 403.
 */
export async function resolveTenant(
  db: Db,
  actor: Actor,
  slug: string,
  need: TenantRequirement,
): Promise<TenantAccess> {
  const tenant = await findTenantBySlug(db, slug);
  if (!tenant) throw notFound("Tenant");
  const base = { tenant, schema: tenant.schema_name };

  if (actor.kind === "api_key") {
    if (actor.tenantId !== tenant.id) throw notFound("Tenant");
    if (!need.scope || !actor.scopes.includes(need.scope)) {
      throw forbidden(`This API key lacks the scope ${need.scope ?? "for this route"}`);
    }
    return { ...base, via: "api_key", role: null, membership: null };
  }
  if (actor.kind === "system") return { ...base, via: "provider", role: null, membership: null };

  const member = actor.memberships.find((m) => m.tenantId === tenant.id);
  if (member) {
    if (need.roles?.includes(member.role))
      return { ...base, via: "member", role: member.role, membership: member };
    throw forbidden();
  }
  const kscMemberships = actor.memberships.filter((m) => m.role === "ksc_agent" && m.kscOrgId);
  if (kscMemberships.length > 0) {
    const contracted = await contractedKscOrgId(db, tenant.id);
    const ksc = kscMemberships.find((m) => m.kscOrgId === contracted);
    if (ksc) {
      if (need.roles?.includes("ksc_agent"))
        return { ...base, via: "ksc", role: "ksc_agent", membership: ksc };
      throw forbidden();
    }
  }
  if (need.provider && actor.memberships.some((m) => m.role === "provider_admin")) {
    return { ...base, via: "provider", role: "provider_admin", membership: null };
  }
  throw notFound("Tenant");
}

export function requireProvider(actor: Actor): void {
  if (actor.kind !== "user" || !actor.memberships.some((m) => m.role === "provider_admin")) {
    throw new AppError("forbidden", "Only provider administrators may do this");
  }
}
