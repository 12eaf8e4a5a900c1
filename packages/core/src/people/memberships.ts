import type { Db } from "@kanal/db";
import type { MembershipView } from "../kernel/actor";

/** All memberships of a person with the slugs the API speaks in. */
export async function loadMemberships(db: Db, userId: string): Promise<MembershipView[]> {
  const rows = await db
    .withSchema("control")
    .selectFrom("memberships as m")
    .leftJoin("tenants as t", "t.id", "m.tenant_id")
    .leftJoin("ksc_orgs as k", "k.id", "m.ksc_org_id")
    .select([
      "m.role",
      "m.tenant_id",
      "t.slug as tenant_slug",
      "m.ksc_org_id",
      "k.slug as ksc_slug",
      "m.max_chats",
    ])
    .where("m.user_id", "=", userId)
    .execute();
  return rows.map((r) => ({
    role: r.role,
    tenantId: r.tenant_id,
    tenantSlug: r.tenant_slug,
    kscOrgId: r.ksc_org_id,
    kscOrgSlug: r.ksc_slug,
    maxChats: r.max_chats,
  }));
}
