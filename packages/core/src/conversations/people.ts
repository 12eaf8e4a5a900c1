import type { HandledBy } from "../kernel/domain-events";
import type { Executor } from "../kernel/executor";
import type { BankContext } from "./bank";

/** A person a chat can be given to by hand: staff of the bank, or an agent of its contracted KSC. */
export interface Person {
  userId: string;
  name: string;
  role: string;
  maxChats: number;
  handledBy: HandledBy;
  /** the KSC organisation of a KSC agent */
  kscOrgId: string | null;
}

function handledByOfRole(role: string): HandledBy {
  return role === "ksc_agent" ? "ksc" : role === "bank_advisor" ? "advisor" : "in_house";
}

/** A person of this bank, or an agent of its contracted KSC; null for anyone else (or a disabled account). */
export async function findPerson(db: Executor, ctx: BankContext, userId: string): Promise<Person | null> {
  const rows = await db
    .withSchema("control")
    .selectFrom("memberships as m")
    .innerJoin("users as u", "u.id", "m.user_id")
    .select(["m.user_id", "m.role", "m.max_chats", "m.tenant_id", "m.ksc_org_id", "u.name"])
    .where("m.user_id", "=", userId)
    .where("u.disabled_at", "is", null)
    .execute();
  const bank = rows.find((r) => r.tenant_id === ctx.tenant.id && r.role !== "provider_admin");
  const ksc = rows.find(
    (r) => ctx.kscOrgId !== null && r.ksc_org_id === ctx.kscOrgId && r.role === "ksc_agent",
  );
  const row = bank ?? ksc;
  if (!row) return null;
  return {
    userId: row.user_id,
    name: row.name,
    role: row.role,
    maxChats: row.max_chats,
    handledBy: handledByOfRole(row.role),
    kscOrgId: row.role === "ksc_agent" ? row.ksc_org_id : null,
  };
}
