import type { Redis } from "ioredis";
import type { Db, Role } from "@kanal/db";
import { auditTenant } from "../kernel/audit";
import { hashPassword } from "../auth/passwords";
import { closeUserStreams } from "../auth/sessions";
import { newId } from "../kernel/crypto";
import { conflict, invalid, notFound, uniqueViolation } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { TenantAccess } from "../tenants/access";

type BankRole = Extract<Role, "bank_admin" | "bank_agent" | "bank_advisor">;

interface BankUserView {
  id: string;
  email: string;
  name: string;
  role: Role;
  maxChats: number;
  deputyUserId: string | null;
  advisorCode: string | null;
  disabled: boolean;
  presence: string;
}

export async function listBankUsers(db: Db, access: TenantAccess): Promise<BankUserView[]> {
  const rows = await db
    .withSchema("control")
    .selectFrom("memberships as m")
    .innerJoin("users as u", "u.id", "m.user_id")
    .leftJoin("agent_state as s", "s.user_id", "u.id")
    .select([
      "u.id",
      "u.email",
      "u.name",
      "u.disabled_at",
      "m.role",
      "m.max_chats",
      "m.deputy_user_id",
      "m.advisor_code",
      "s.presence",
    ])
    .where("m.tenant_id", "=", access.tenant.id)
    .orderBy("u.name")
    .execute();
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    name: r.name,
    role: r.role,
    maxChats: r.max_chats,
    deputyUserId: r.deputy_user_id,
    advisorCode: r.advisor_code,
    disabled: r.disabled_at !== null,
    presence: r.presence ?? "offline",
  }));
}

async function assertDeputyInTenant(
  db: Db,
  access: TenantAccess,
  deputyUserId: string | null | undefined,
  self?: string,
) {
  if (!deputyUserId) return;
  if (deputyUserId === self)
    throw invalid("An advisor cannot be their own deputy", [
      { path: "deputyUserId", message: "must be another person" },
    ]);
  const found = await db
    .withSchema("control")
    .selectFrom("memberships")
    .select("user_id")
    .where("tenant_id", "=", access.tenant.id)
    .where("user_id", "=", deputyUserId)
    .executeTakeFirst();
  if (!found)
    throw invalid("Unknown deputy", [{ path: "deputyUserId", message: "is not a person of this bank" }]);
}

function mapUserConflict(error: unknown): never {
  const constraint = uniqueViolation(error);
  if (constraint === "memberships_advisor_code")
    throw conflict("advisorCode is already used", [{ path: "advisorCode", message: "is already used" }]);
  if (constraint !== null)
    throw conflict("email already has an account", [{ path: "email", message: "already has an account" }]);
  throw error;
}

export async function createBankUser(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  input: {
    email: string;
    name: string;
    role: BankRole;
    password: string;
    maxChats?: number;
    deputyUserId?: string | null;
    advisorCode?: string | null;
  },
): Promise<BankUserView> {
  await assertDeputyInTenant(db, access, input.deputyUserId);
  const passwordHash = await hashPassword(input.password);
  const id = newId("usr");
  try {
    await db.transaction().execute(async (trx) => {
      await trx
        .withSchema("control")
        .insertInto("users")
        .values({ id, email: input.email, name: input.name, password_hash: passwordHash })
        .execute();
      await trx
        .withSchema("control")
        .insertInto("memberships")
        .values({
          id: newId("mem"),
          user_id: id,
          role: input.role,
          tenant_id: access.tenant.id,
          ksc_org_id: null,
          max_chats: input.maxChats ?? 5,
          deputy_user_id: input.deputyUserId ?? null,
          advisor_code: input.advisorCode ?? null,
        })
        .execute();
      await trx
        .withSchema("control")
        .insertInto("agent_state")
        .values({ user_id: id, presence_changed_at: new Date() })
        .execute();
      await auditTenant(trx, access.schema, ctx.actor, {
        action: "user.created",
        targetType: "user",
        targetId: id,
        details: {
          email: input.email,
          role: input.role,
          maxChats: input.maxChats ?? 5,
          advisorCode: input.advisorCode ?? null,
        },
        ip: ctx.ip,
        requestId: ctx.requestId,
      });
    });
  } catch (error) {
    mapUserConflict(error);
  }
  const created = (await listBankUsers(db, access)).find((u) => u.id === id);
  if (!created) throw notFound("User");
  return created;
}

/**
 * Changes a person of the bank. Disabling them or setting a new password deletes their sessions, and
 * after commit every API process closes their open event streams.
 */
export async function updateBankUser(
  deps: { db: Db; redis: Redis; config: { QUEUE_PREFIX: string } },
  ctx: RequestContext,
  access: TenantAccess,
  userId: string,
  patch: {
    name?: string;
    role?: BankRole;
    password?: string;
    maxChats?: number;
    deputyUserId?: string | null;
    advisorCode?: string | null;
    disabled?: boolean;
  },
): Promise<BankUserView> {
  const { db } = deps;
  const existing = (await listBankUsers(db, access)).find((u) => u.id === userId);
  if (!existing) throw notFound("User");
  await assertDeputyInTenant(db, access, patch.deputyUserId, userId);
  const passwordHash = patch.password ? await hashPassword(patch.password) : undefined;
  try {
    await db.transaction().execute(async (trx) => {
      const userSet = {
        ...(patch.name !== undefined && { name: patch.name }),
        ...(passwordHash && { password_hash: passwordHash }),
        ...(patch.disabled !== undefined && { disabled_at: patch.disabled ? new Date() : null }),
      };
      if (Object.keys(userSet).length > 0) {
        await trx.withSchema("control").updateTable("users").set(userSet).where("id", "=", userId).execute();
      }
      const memberSet = {
        ...(patch.role !== undefined && { role: patch.role }),
        ...(patch.maxChats !== undefined && { max_chats: patch.maxChats }),
        ...(patch.deputyUserId !== undefined && { deputy_user_id: patch.deputyUserId }),
        ...(patch.advisorCode !== undefined && { advisor_code: patch.advisorCode }),
      };
      if (Object.keys(memberSet).length > 0) {
        await trx
          .withSchema("control")
          .updateTable("memberships")
          .set(memberSet)
          .where("user_id", "=", userId)
          .where("tenant_id", "=", access.tenant.id)
          .execute();
      }
      if (patch.disabled || passwordHash) {
        await trx.withSchema("control").deleteFrom("sessions").where("user_id", "=", userId).execute();
      }
      const { password: _omit, ...auditable } = patch;
      await auditTenant(trx, access.schema, ctx.actor, {
        action: "user.updated",
        targetType: "user",
        targetId: userId,
        details: { ...auditable, ...(passwordHash && { passwordChanged: true }) },
        ip: ctx.ip,
        requestId: ctx.requestId,
      });
    });
  } catch (error) {
    mapUserConflict(error);
  }
  if (patch.disabled || passwordHash) await closeUserStreams(deps, userId);
  const updated = (await listBankUsers(db, access)).find((u) => u.id === userId);
  if (!updated) throw notFound("User");
  return updated;
}
