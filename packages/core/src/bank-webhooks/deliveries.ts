import { sql } from "@kanal/db";
import { auditTenant } from "../kernel/audit";
import { conflict, invalid, notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import { outboxJob } from "../outbox/outbox";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";

export interface DeliveryView {
  /** also the `webhook-id` header: stable across retries and resends, the receiver's deduplication key */
  id: string;
  eventId: string;
  eventType: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  createdAt: string;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: string | null;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  created_at: Date;
  last_attempt_at: Date | null;
  next_attempt_at: Date;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
}

const COLUMNS = [
  "id",
  "event_id",
  "event_type",
  "status",
  "attempts",
  "created_at",
  "last_attempt_at",
  "next_attempt_at",
  "last_status_code",
  "last_error",
  "delivered_at",
] as const;

function view(row: DeliveryRow): DeliveryView {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attempts: row.attempts,
    createdAt: row.created_at.toISOString(),
    lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
    nextAttemptAt: row.status === "pending" ? row.next_attempt_at.toISOString() : null,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: row.delivered_at?.toISOString() ?? null,
  };
}

async function endpointExists(services: Services, access: TenantAccess, endpointId: string) {
  const row = await services.db
    .withSchema(access.schema)
    .selectFrom("webhook_endpoints")
    .select(["id", "enabled"])
    .where("id", "=", endpointId)
    .executeTakeFirst();
  if (!row) throw notFound("Webhook endpoint");
  return row;
}

const encodeCursor = (row: DeliveryRow) =>
  Buffer.from(`${row.created_at.toISOString()}|${row.id}`).toString("base64url");

function decodeCursor(cursor: string): { at: Date; id: string } {
  const [at, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const date = new Date(at ?? "");
  if (!id || Number.isNaN(date.getTime()))
    throw invalid("Invalid cursor", [{ path: "cursor", message: "Ungültiger Cursor." }]);
  return { at: date, id };
}

/** An endpoint's deliveries, newest first, a page at a time (`nextCursor` until the oldest). */
export async function listDeliveries(
  services: Services,
  access: TenantAccess,
  endpointId: string,
  query: {
    status?: DeliveryView["status"] | undefined;
    limit?: number | undefined;
    cursor?: string | undefined;
  },
): Promise<{ deliveries: DeliveryView[]; nextCursor: string | null }> {
  await endpointExists(services, access, endpointId);
  const limit = Math.min(Math.max(query.limit ?? 50, 1), 200);
  const after = query.cursor ? decodeCursor(query.cursor) : null;
  let q = services.db
    .withSchema(access.schema)
    .selectFrom("webhook_deliveries")
    .select(COLUMNS)
    .where("endpoint_id", "=", endpointId)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(limit + 1);
  if (query.status) q = q.where("status", "=", query.status);
  if (after) q = q.where(sql<boolean>`(created_at, id) < (${after.at}, ${after.id})`);
  const rows = (await q.execute()) as DeliveryRow[];
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { deliveries: page.map(view), nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

/** One delivery with its payload (as sent, masked) and every attempt. */
export async function getDelivery(
  services: Services,
  access: TenantAccess,
  endpointId: string,
  deliveryId: string,
) {
  const t = services.db.withSchema(access.schema);
  const row = await t
    .selectFrom("webhook_deliveries")
    .select([...COLUMNS, "payload"])
    .where("id", "=", deliveryId)
    .where("endpoint_id", "=", endpointId)
    .executeTakeFirst();
  if (!row) throw notFound("Delivery");
  const attempts = await t
    .selectFrom("webhook_delivery_attempts")
    .select(["attempt", "started_at", "duration_ms", "status_code", "outcome", "error", "response_excerpt"])
    .where("delivery_id", "=", deliveryId)
    .orderBy("attempt")
    .execute();
  return {
    ...view(row as DeliveryRow),
    payload: row.payload,
    attemptLog: attempts.map((a) => ({
      attempt: a.attempt,
      at: a.started_at.toISOString(),
      durationMs: a.duration_ms,
      statusCode: a.status_code,
      outcome: a.outcome,
      error: a.error,
      responseExcerpt: a.response_excerpt,
    })),
  };
}

/**
 * Sends a delivery again (after the bank's receiver lost it, or once it works again after Kanal gave
 * up): with the same `webhook-id`, so a receiver that has it already can tell, and with a fresh retry
 * window. Refused while the endpoint is disabled (enable it first: that resumes its pending deliveries).
 */
export async function resendDelivery(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  endpointId: string,
  deliveryId: string,
): Promise<DeliveryView> {
  const endpoint = await endpointExists(services, access, endpointId);
  if (!endpoint.enabled) throw conflict("The endpoint is disabled; enable it first");
  const row = await inTransaction(services, async (trx, changes) => {
    const now = new Date();
    const updated = await trx
      .withSchema(access.schema)
      .updateTable("webhook_deliveries")
      .set({
        status: "pending",
        next_attempt_at: now,
        retry_until: new Date(now.getTime() + services.config.BANK_WEBHOOK_RETRY_HOURS * 3_600_000),
        delivered_at: null,
      })
      .where("id", "=", deliveryId)
      .where("endpoint_id", "=", endpointId)
      .returning(COLUMNS)
      .executeTakeFirst();
    if (!updated) throw notFound("Delivery");
    const attempt = updated.attempts + 1;
    // Its own job id: a delayed job for the same attempt may be waiting; whichever runs first makes it.
    changes.enqueue(
      outboxJob(
        "webhooks",
        "deliver-webhook",
        { tenantId: access.tenant.id, deliveryId, attempt },
        { jobId: `${deliveryId}-${attempt}-resend-${now.getTime()}` },
      ),
    );
    await auditTenant(trx, access.schema, ctx.actor, {
      action: "webhook_delivery.resent",
      targetType: "webhook_delivery",
      targetId: deliveryId,
      details: { endpointId, eventType: updated.event_type },
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
    });
    return updated as DeliveryRow;
  });
  return view(row);
}
