import { sql, type Tenant } from "@kanal/db";
import type { OptKeyword } from "@kanal/rules";
import { systemActor } from "../kernel/actor";
import { auditTenant } from "../kernel/audit";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";

/**
 * What the bank sends on its own (notifications, reminders) needs a recorded opt-in, and "STOP" always
 * works (DOMAIN.md): an opt-in is `opted_in_at` with no `opted_out_at` after it. Conversations the
 * customer starts need none.
 */
export function notificationsAllowed(customer: {
  opted_in_at: Date | null;
  opted_out_at: Date | null;
}): boolean {
  return customer.opted_in_at !== null && customer.opted_out_at === null;
}

/** The column values that record an opt-in (it clears an earlier opt-out) or an opt-out (keeps the opt-in's date). */
export function optColumns(optedIn: boolean, now: Date) {
  return optedIn ? { opted_in_at: now, opted_out_at: null } : { opted_out_at: now };
}

const SYSTEM = systemActor("opt-in");

/**
 * A customer wrote STOP or START: records it on the customer (audited, in one transaction). A repeated
 * STOP while opted out (or START while opted in) changes nothing, so a retried job never records (or
 * confirms, which the caller does on a change) twice. Returns what changed.
 */
export async function recordOptKeyword(
  services: Services,
  tenant: Tenant,
  input: { conversationId: string; messageId: string; keyword: OptKeyword },
): Promise<"opted_out" | "opted_in" | null> {
  const schema = tenant.schema_name;
  const optedIn = input.keyword === "start";
  const changed = await inTransaction(services, async (trx, changes) => {
    const now = new Date();
    const row = await trx
      .withSchema(schema)
      .updateTable("customers")
      .set({ ...optColumns(optedIn, now), updated_at: now })
      .where(
        "id",
        "=",
        trx
          .withSchema(schema)
          .selectFrom("conversations")
          .select("customer_id")
          .where("id", "=", input.conversationId),
      )
      .where(
        optedIn
          ? sql<boolean>`(opted_in_at is null or opted_out_at is not null)`
          : sql<boolean>`opted_out_at is null`,
      )
      .returning("id")
      .executeTakeFirst();
    if (!row) return false;
    await auditTenant(trx, schema, SYSTEM, {
      action: optedIn ? "customer.opted_in" : "customer.opted_out",
      targetType: "customer",
      targetId: row.id,
      details: { via: "whatsapp", messageId: input.messageId, conversationId: input.conversationId },
    });
    changes.emit({
      type: optedIn ? "customer.opted_in" : "customer.opted_out",
      bank: { id: tenant.id, slug: tenant.slug, schema },
      customerId: row.id,
      conversationId: input.conversationId,
      messageId: input.messageId,
      via: "whatsapp",
      at: now,
    });
    return true;
  });
  if (!changed) return null;
  return optedIn ? "opted_in" : "opted_out";
}
