import type { Db } from "@kanal/db";
import { hashPassword } from "../auth/passwords";
import { newId } from "../kernel/crypto";

/** Creates a provider admin; used at start-up (from PROVIDER_ADMIN_*) when no provider admin exists yet. */
export async function createProviderAdmin(
  db: Db,
  input: { email: string; name: string; password: string },
): Promise<string> {
  const id = newId("usr");
  const passwordHash = await hashPassword(input.password);
  await db.transaction().execute(async (trx) => {
    const control = trx.withSchema("control");
    await control
      .insertInto("users")
      .values({ id, email: input.email, name: input.name, password_hash: passwordHash })
      .execute();
    await control
      .insertInto("memberships")
      .values({
        id: newId("mem"),
        user_id: id,
        role: "provider_admin",
        tenant_id: null,
        ksc_org_id: null,
        deputy_user_id: null,
        advisor_code: null,
      })
      .execute();
  });
  return id;
}

export async function ensureProviderAdmin(
  db: Db,
  input: { email: string; password: string },
): Promise<{ created: boolean }> {
  const existing = await db
    .withSchema("control")
    .selectFrom("memberships")
    .select("id")
    .where("role", "=", "provider_admin")
    .executeTakeFirst();
  if (existing) return { created: false };
  await createProviderAdmin(db, { email: input.email, name: "Provider admin", password: input.password });
  return { created: true };
}
