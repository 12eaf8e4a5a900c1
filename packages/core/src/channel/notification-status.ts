import { sql, type Tenant } from "@kanal/db";
import { bankRef } from "../conversations/bank";
import type { NotificationStatus } from "../kernel/domain-events";
import type { Trx } from "../kernel/executor";
import type { Changes } from "../outbox/unit-of-work";

/** A message's status as a notification's: Kanal's own steps before Meta's are all `queued`. */
export const publicStatusSql = (column: string) =>
  sql.raw(
    `(case when ${column} in ('read', 'played') then 'read' when ${column} in ('sent', 'delivered', 'failed') then ${column} else 'queued' end)`,
  );

/**
 * Mirrors the status of notifications' messages onto the notifications and tells the bank's systems
 * (`notification.status`), in the caller's transaction — the one that changed the messages' statuses, so
 * a notification's change is recorded and projected (the bank's webhook deliveries) exactly when its
 * message's is. Returns how many notifications changed.
 */
export async function mirrorNotificationStatuses(
  trx: Trx,
  tenant: Pick<Tenant, "id" | "slug" | "schema_name">,
  changes: Changes,
  messageIds: readonly string[],
): Promise<number> {
  if (messageIds.length === 0) return 0;
  const schema = tenant.schema_name;
  const bank = bankRef(tenant);
  const changed = await sql<{
    id: string;
    campaign_id: string | null;
    customer_id: string;
    conversation_id: string;
    message_id: string;
    status: NotificationStatus;
    error: { code?: number | null; title?: string | null; details?: string | null } | null;
    status_at: Date;
  }>`
    update ${sql.id(schema, "notifications")} as n
    set status = ${publicStatusSql("m.status")}, status_at = coalesce(m.status_at, now()), error = m.error
    from ${sql.id(schema, "messages")} as m
    where m.id = n.message_id and n.message_id = any(${[...messageIds]}::text[])
      and n.status is distinct from ${publicStatusSql("m.status")}
    returning n.id, n.campaign_id, n.customer_id, n.conversation_id, n.message_id, n.status, n.error,
      n.status_at`.execute(trx);
  changes.emit(
    ...changed.rows.map((n) => ({
      type: "notification.status" as const,
      bank,
      notificationId: n.id,
      campaignId: n.campaign_id,
      customerId: n.customer_id,
      conversationId: n.conversation_id,
      messageId: n.message_id,
      status: n.status,
      error:
        n.status === "failed" && n.error
          ? { code: n.error.code ?? null, title: n.error.title ?? null, details: n.error.details ?? null }
          : null,
      at: n.status_at,
    })),
  );
  return changed.rows.length;
}
