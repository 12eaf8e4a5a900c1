import { sql, type Db } from "@kanal/db";
import { auditTenant } from "../kernel/audit";
import { newId } from "../kernel/crypto";
import { conflict, invalid, uniqueViolation } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { TenantAccess } from "../tenants/access";
import { notificationsAllowed, optColumns } from "./opt-in";

interface CustomerView {
  id: string;
  externalRef: string | null;
  name: string | null;
  profileName: string | null;
  waId: string | null;
  advisorUserId: string | null;
  /** Notifications the bank sends on its own: the recorded opt-in, a later STOP, and whether they may go. */
  notifications: { optedInAt: string | null; optedOutAt: string | null; allowed: boolean };
  createdAt: string;
}

type CustomerRow = {
  id: string;
  external_ref: string | null;
  name: string | null;
  profile_name: string | null;
  wa_id: string | null;
  advisor_user_id: string | null;
  opted_in_at: Date | null;
  opted_out_at: Date | null;
  created_at: Date;
};

function customerView(r: CustomerRow): CustomerView {
  return {
    id: r.id,
    externalRef: r.external_ref,
    name: r.name,
    profileName: r.profile_name,
    waId: r.wa_id,
    advisorUserId: r.advisor_user_id,
    notifications: {
      optedInAt: r.opted_in_at?.toISOString() ?? null,
      optedOutAt: r.opted_out_at?.toISOString() ?? null,
      allowed: notificationsAllowed(r),
    },
    createdAt: r.created_at.toISOString(),
  };
}

/**
 * Core banking sync: creates or updates the customer with this reference. A WhatsApp contact that wrote
 * before the sync (same wa_id, no reference yet) becomes that customer instead of a duplicate.
 * `notificationsOptIn` records the customer's opt-in (true) or opt-out (false) given elsewhere, for
 * example in online banking; left out, the recorded choice stays as it is.
 */
export async function upsertCustomer(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  externalRef: string,
  input: { name: string; waId: string; advisorUserId?: string | null; notificationsOptIn?: boolean },
): Promise<{ customer: CustomerView; created: boolean }> {
  if (input.advisorUserId) {
    const advisor = await db
      .withSchema("control")
      .selectFrom("memberships")
      .select("user_id")
      .where("tenant_id", "=", access.tenant.id)
      .where("user_id", "=", input.advisorUserId)
      .where("role", "in", ["bank_advisor", "bank_agent", "bank_admin"])
      .executeTakeFirst();
    if (!advisor)
      throw invalid("Unknown advisor", [{ path: "advisorUserId", message: "is not a person of this bank" }]);
  }
  try {
    return await db.transaction().execute(async (trx) => {
      const t = trx.withSchema(access.schema);
      const existing =
        (await t
          .selectFrom("customers")
          .selectAll()
          .where("external_ref", "=", externalRef)
          .forUpdate()
          .executeTakeFirst()) ??
        (await t
          .selectFrom("customers")
          .selectAll()
          .where("wa_id", "=", input.waId)
          .where("external_ref", "is", null)
          .forUpdate()
          .executeTakeFirst());
      const now = new Date();
      const values = {
        external_ref: externalRef,
        name: input.name,
        wa_id: input.waId,
        ...(input.advisorUserId !== undefined && { advisor_user_id: input.advisorUserId }),
        ...(input.notificationsOptIn !== undefined && optColumns(input.notificationsOptIn, now)),
        updated_at: now,
      };
      const row = existing
        ? await t
            .updateTable("customers")
            .set(values)
            .where("id", "=", existing.id)
            .returningAll()
            .executeTakeFirstOrThrow()
        : await t
            .insertInto("customers")
            .values({ id: newId("cus"), ...values })
            .returningAll()
            .executeTakeFirstOrThrow();
      await auditTenant(trx, access.schema, ctx.actor, {
        action: existing ? "customer.updated" : "customer.created",
        targetType: "customer",
        targetId: row.id,
        details: {
          externalRef,
          advisorUserId: input.advisorUserId ?? null,
          ...(input.notificationsOptIn !== undefined && { notificationsOptIn: input.notificationsOptIn }),
        },
        ip: ctx.ip,
        requestId: ctx.requestId,
      });
      return { customer: customerView(row), created: !existing };
    });
  } catch (error) {
    if (uniqueViolation(error) !== null) {
      throw conflict("waId belongs to another customer", [
        { path: "waId", message: "belongs to another customer" },
      ]);
    }
    throw error;
  }
}

/** Person search by name, phone (wa_id) or reference. */
export async function searchCustomers(
  db: Db,
  access: TenantAccess,
  q: string,
  limit = 20,
): Promise<CustomerView[]> {
  const term = q.trim();
  let query = db
    .withSchema(access.schema)
    .selectFrom("customers")
    .selectAll()
    .orderBy("updated_at", "desc")
    .limit(limit);
  if (term) {
    const like = `%${term.replaceAll("\\", "").replaceAll("%", "").replaceAll("_", "\\_").toLowerCase()}%`;
    const digits = term.replace(/\D/g, "");
    query = query.where((eb) =>
      eb.or([
        eb(sql`lower(coalesce(name, ''))`, "like", like),
        eb(sql`lower(coalesce(profile_name, ''))`, "like", like),
        eb(sql`lower(coalesce(external_ref, ''))`, "like", like),
        ...(digits.length >= 3 ? [eb("wa_id", "like", `%${digits}%`)] : []),
      ]),
    );
  }
  return (await query.execute()).map(customerView);
}
