import { sql, type Tenant } from "@kanal/db";
import { bankRef } from "../conversations/bank";
import type { OutboundRow } from "../conversations/messages";
import { notificationConversations } from "../conversations/notification-thread";
import { newId, sha256Hex } from "../kernel/crypto";
import { AppError, conflict, notFound, uniqueViolation } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";
import { type NotificationReply, notificationsDb, type RefusedItem } from "./notification-tables";
import { publicStatusSql } from "./notification-status";
import { templatePayload, writeBulkMessages } from "./send";
import { type PreparedTemplate, prepareFromRegistry, registryRows } from "./templates";

/**
 * Notifications from the bank's systems (issue 14): a template message the bank sends on its own,
 * outside the customer's 24-hour window — so only with the customer's recorded opt-in and no STOP since,
 * and only with an approved template of the bank's registry. Every notification goes through the bulk
 * lane (`send-batch` jobs, ADR 0011): the number's throughput and pair rate apply, and replies keep their
 * reserve. An `Idempotency-Key` makes a retried request return what the first one created, never a
 * second send.
 */

export interface NotificationRequest {
  customer: { externalRef: string } | { waId: string };
  template: { name: string; language: string; params?: string[] };
}

/** The most items one batch takes (API.md). */
export const MAX_BATCH_ITEMS = 10_000;
/** Customers read per statement in a batch. */
const READ_CHUNK = 1_000;

type CustomerRow = {
  id: string;
  external_ref: string | null;
  wa_id: string | null;
  opted_in_at: Date | null;
  opted_out_at: Date | null;
};

type Refusal = {
  code: "unknown_customer" | "not_opted_in" | "opted_out" | "template_not_approved" | "invalid_params";
  message: string;
  fields?: { path: string; message: string }[];
};

const refusalMessages = {
  unknown_customer: "No customer of this bank has this reference or WhatsApp id",
  not_opted_in:
    "The customer has not opted in to notifications (record it with notificationsOptIn on the customer sync)",
  opted_out:
    "The customer unsubscribed (STOP) from messages the bank sends on its own; they may opt in again with START",
} as const;

/** Why this customer may not be notified, or null when they may (recorded opt-in, no STOP since). */
function customerRefusal(customer: CustomerRow | undefined): Refusal | null {
  if (!customer?.wa_id) return { code: "unknown_customer", message: refusalMessages.unknown_customer };
  if (customer.opted_out_at !== null) return { code: "opted_out", message: refusalMessages.opted_out };
  if (customer.opted_in_at === null) return { code: "not_opted_in", message: refusalMessages.not_opted_in };
  return null;
}

const customerKey = (c: NotificationRequest["customer"]) =>
  "externalRef" in c ? `ref:${c.externalRef}` : `wa:${c.waId.replace(/\D/g, "")}`;

/** The customers the requests name, keyed like `customerKey`. */
async function customersOf(
  services: Services,
  schema: string,
  requests: readonly NotificationRequest[],
): Promise<Map<string, CustomerRow>> {
  const refs = [
    ...new Set(requests.flatMap((r) => ("externalRef" in r.customer ? [r.customer.externalRef] : []))),
  ];
  const waIds = [
    ...new Set(requests.flatMap((r) => ("waId" in r.customer ? [r.customer.waId.replace(/\D/g, "")] : []))),
  ];
  const found = new Map<string, CustomerRow>();
  const t = services.db.withSchema(schema);
  const columns = ["id", "external_ref", "wa_id", "opted_in_at", "opted_out_at"] as const;
  for (let i = 0; i < refs.length; i += READ_CHUNK) {
    const rows = await t
      .selectFrom("customers")
      .select(columns)
      .where("external_ref", "=", sql<string>`any(${refs.slice(i, i + READ_CHUNK)}::text[])`)
      .execute();
    for (const r of rows) found.set(`ref:${r.external_ref}`, r);
  }
  for (let i = 0; i < waIds.length; i += READ_CHUNK) {
    const rows = await t
      .selectFrom("customers")
      .select(columns)
      .where("wa_id", "=", sql<string>`any(${waIds.slice(i, i + READ_CHUNK)}::text[])`)
      .execute();
    for (const r of rows) found.set(`wa:${r.wa_id}`, r);
  }
  return found;
}

/** A request checked and ready to write. */
interface Accepted {
  index: number;
  customer: CustomerRow;
  prepared: PreparedTemplate;
  idempotencyKey: string | null;
  requestHash: string | null;
}

/** Checks requests against the bank's customers and templates: the accepted ones and the refusals. */
async function check(
  services: Services,
  schema: string,
  requests: readonly NotificationRequest[],
): Promise<{ accepted: Accepted[]; refused: (Refusal & { index: number })[] }> {
  const [customers, templates] = await Promise.all([
    customersOf(services, schema, requests),
    registryRows(
      services.db,
      schema,
      requests.map((r) => r.template),
    ),
  ]);
  const accepted: Accepted[] = [];
  const refused: (Refusal & { index: number })[] = [];
  requests.forEach((request, index) => {
    const customer = customers.get(customerKey(request.customer));
    const prepared = prepareFromRegistry(templates, request.template);
    if (!("components" in prepared)) {
      refused.push({ index, ...prepared });
      return;
    }
    const refusal = customerRefusal(customer);
    if (refusal || !customer) {
      refused.push({ index, ...(refusal as Refusal) });
      return;
    }
    accepted.push({ index, customer, prepared, idempotencyKey: null, requestHash: null });
  });
  return { accepted, refused };
}

const actorId = (ctx: RequestContext) =>
  ctx.actor.kind === "user" ? ctx.actor.userId : ctx.actor.kind === "api_key" ? ctx.actor.keyId : null;

/**
 * Writes accepted notifications in one transaction: each customer's open conversation or notification
 * thread, the template messages (`queued`, bulk lane) with their `send-batch` jobs in the outbox, and the
 * notification rows. Returns the notification ids in the order given.
 */
async function write(
  services: Services,
  tenant: Tenant,
  ctx: RequestContext,
  accepted: readonly Accepted[],
  campaign: {
    id: string;
    idempotencyKey: string | null;
    requestHash: string | null;
    items: number;
    refused: RefusedItem[];
  } | null,
): Promise<string[]> {
  const bank = bankRef(tenant);
  const now = new Date();
  return inTransaction(services, async (trx, changes) => {
    const n = notificationsDb(trx).withSchema(tenant.schema_name);
    if (campaign)
      await n
        .insertInto("campaigns")
        .values({
          id: campaign.id,
          idempotency_key: campaign.idempotencyKey,
          request_hash: campaign.requestHash,
          items: campaign.items,
          accepted: accepted.length,
          refused: JSON.stringify(campaign.refused),
          created_by: actorId(ctx),
        })
        .execute();
    if (accepted.length === 0) return [];
    const conversations = await notificationConversations(
      trx,
      bank,
      accepted.map((a) => a.customer.id),
    );
    const messages: OutboundRow[] = [];
    const notifications = accepted.map((a) => {
      const messageId = newId("msg");
      const id = newId("ntf");
      const conversationId = conversations.get(a.customer.id)?.conversationId;
      if (!conversationId) throw new Error(`no conversation for customer ${a.customer.id}`);
      messages.push({
        id: messageId,
        conversation_id: conversationId,
        type: "template",
        text: a.prepared.text,
        payload: JSON.stringify({ ...templatePayload(a.prepared, messageId), notificationId: id }),
        kind: "notification",
        priority: "bulk",
        created_at: now,
      });
      return {
        id,
        campaign_id: campaign?.id ?? null,
        customer_id: a.customer.id,
        conversation_id: conversationId,
        message_id: messageId,
        template_name: a.prepared.name,
        template_language: a.prepared.language,
        template_category: a.prepared.category,
        params: JSON.stringify(a.prepared.params),
        idempotency_key: a.idempotencyKey,
        request_hash: a.requestHash,
        created_by: actorId(ctx),
        created_at: now,
      };
    });
    await writeBulkMessages(trx, changes, tenant, messages);
    for (let i = 0; i < notifications.length; i += READ_CHUNK)
      await n
        .insertInto("notifications")
        .values(notifications.slice(i, i + READ_CHUNK))
        .execute();
    return notifications.map((x) => x.id);
  });
}

const hashOf = (value: unknown) => sha256Hex(JSON.stringify(value));

const reusedKey = () =>
  conflict("This Idempotency-Key was already used with a different request", [
    { path: "Idempotency-Key", message: "already used with a different request" },
  ]);

/**
 * `POST /v1/tenants/:tenant/notifications`. With an `Idempotency-Key` the same key returns the
 * notification the first request created (even while two requests race: the key is unique per bank),
 * and the same key with another body is a conflict. Refusals (422) are not stored: a retry is checked
 * again.
 */
export async function sendNotification(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  request: NotificationRequest,
  idempotencyKey: string | null,
): Promise<{ notification: NotificationView; created: boolean }> {
  const requestHash = idempotencyKey ? hashOf(request) : null;
  const existing = async () => {
    if (!idempotencyKey) return null;
    const row = await notificationsDb(services.db)
      .withSchema(access.schema)
      .selectFrom("notifications")
      .select(["id", "request_hash"])
      .where("idempotency_key", "=", idempotencyKey)
      .executeTakeFirst();
    if (!row) return null;
    if (row.request_hash !== requestHash) throw reusedKey();
    return { notification: await notificationDetail(services, access, row.id), created: false };
  };
  const earlier = await existing();
  if (earlier) return earlier;
  const { accepted, refused } = await check(services, access.schema, [request]);
  const refusal = refused[0];
  if (refusal) {
    if (refusal.code === "invalid_params")
      throw new AppError("invalid_request", refusal.message, { fields: refusal.fields });
    throw new AppError(refusal.code, refusal.message);
  }
  const one = accepted[0] as Accepted;
  try {
    const [id] = await write(services, access.tenant, ctx, [{ ...one, idempotencyKey, requestHash }], null);
    return { notification: await notificationDetail(services, access, id as string), created: true };
  } catch (error) {
    // The same key raced in: the other request's notification is the answer (and was sent once).
    if (idempotencyKey && uniqueViolation(error) === "notifications_idempotency") {
      const raced = await existing();
      if (raced) return raced;
    }
    throw error;
  }
}

/**
 * `POST /v1/tenants/:tenant/notifications/batch`: up to 10,000 notifications as one campaign. Every item
 * is checked like a single notification; refused items are answered per index (and kept with the
 * campaign), accepted ones written in one transaction with their `send-batch` jobs. With an
 * `Idempotency-Key` the same key returns the same campaign and refusals.
 */
export async function sendNotificationBatch(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  items: readonly NotificationRequest[],
  idempotencyKey: string | null,
): Promise<{ campaign: CampaignView; refused: RefusedItem[]; created: boolean }> {
  const requestHash = idempotencyKey ? hashOf(items) : null;
  const existing = async () => {
    if (!idempotencyKey) return null;
    const row = await notificationsDb(services.db)
      .withSchema(access.schema)
      .selectFrom("campaigns")
      .select(["id", "request_hash", "refused"])
      .where("idempotency_key", "=", idempotencyKey)
      .executeTakeFirst();
    if (!row) return null;
    if (row.request_hash !== requestHash) throw reusedKey();
    return { campaign: await campaignDetail(services, access, row.id), refused: row.refused, created: false };
  };
  const earlier = await existing();
  if (earlier) return earlier;
  const { accepted, refused } = await check(services, access.schema, items);
  const refusedItems = refused.map((r) => ({ index: r.index, code: r.code, message: r.message }));
  const id = newId("cmp");
  try {
    await write(services, access.tenant, ctx, accepted, {
      id,
      idempotencyKey,
      requestHash,
      items: items.length,
      refused: refusedItems,
    });
  } catch (error) {
    if (idempotencyKey && uniqueViolation(error) === "campaigns_idempotency") {
      const raced = await existing();
      if (raced) return raced;
    }
    throw error;
  }
  return { campaign: await campaignDetail(services, access, id), refused: refusedItems, created: true };
}

type NotificationError = { code: number | null; title: string | null; details: string | null };

export interface NotificationView {
  id: string;
  status: string;
  campaignId: string | null;
  customer: { id: string; externalRef: string | null; waId: string | null };
  template: { name: string; language: string; category: string | null; params: string[] };
  conversationId: string;
  messageId: string;
  error: NotificationError | null;
  reply: (Omit<NotificationReply, "messageId"> & { messageId: string }) | null;
  createdAt: string;
  statusAt: string | null;
}

/** `GET /v1/tenants/:tenant/notifications/:id`: the status as the message has it now, Meta's reason when it failed, the answer. */
export async function notificationDetail(
  services: Services,
  access: TenantAccess,
  id: string,
): Promise<NotificationView> {
  const row = await notificationsDb(services.db)
    .withSchema(access.schema)
    .selectFrom("notifications as n")
    .innerJoin("messages as m", "m.id", "n.message_id")
    .innerJoin("customers as cu", "cu.id", "n.customer_id")
    .select([
      "n.id",
      "n.campaign_id",
      "n.customer_id",
      "cu.external_ref",
      "cu.wa_id",
      "n.template_name",
      "n.template_language",
      "n.template_category",
      "n.params",
      "n.conversation_id",
      "n.message_id",
      "n.reply",
      "n.created_at",
      "m.error",
      "m.status_at",
      sql<string>`${publicStatusSql("m.status")}`.as("status"),
    ])
    .where("n.id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound("Notification");
  const error = row.error as { code?: number | null; title?: string | null; details?: string | null } | null;
  return {
    id: row.id,
    status: row.status,
    campaignId: row.campaign_id,
    customer: { id: row.customer_id, externalRef: row.external_ref, waId: row.wa_id },
    template: {
      name: row.template_name,
      language: row.template_language,
      category: row.template_category,
      params: row.params,
    },
    conversationId: row.conversation_id,
    messageId: row.message_id,
    error:
      row.status === "failed" && error
        ? { code: error.code ?? null, title: error.title ?? null, details: error.details ?? null }
        : null,
    reply: row.reply,
    createdAt: row.created_at.toISOString(),
    statusAt: row.status_at?.toISOString() ?? null,
  };
}

const STATUS_KEYS = ["queued", "sent", "delivered", "read", "failed"] as const;

export interface CampaignView {
  id: string;
  items: number;
  accepted: number;
  refused: number;
  counts: Record<(typeof STATUS_KEYS)[number], number>;
  failures: { code: number | null; title: string | null; count: number }[];
  replies: { code: string; count: number }[];
  createdAt: string;
}

/**
 * `GET /v1/tenants/:tenant/campaigns/:id`: how many of its notifications are at which status (as their
 * messages have it now), the failures grouped by Meta's reason, and the answers by code.
 */
export async function campaignDetail(
  services: Services,
  access: TenantAccess,
  id: string,
): Promise<CampaignView> {
  const db = notificationsDb(services.db).withSchema(access.schema);
  const campaign = await db
    .selectFrom("campaigns")
    .select(["id", "items", "accepted", "refused", "created_at"])
    .where("id", "=", id)
    .executeTakeFirst();
  if (!campaign) throw notFound("Campaign");
  const schema = access.schema;
  const rows = (
    await sql<{
      status: string;
      code: number | null;
      title: string | null;
      reply: string | null;
      count: string;
    }>`
      select ${publicStatusSql("m.status")} as status,
        case when m.status = 'failed' then (m.error->>'code')::int end as code,
        case when m.status = 'failed' then m.error->>'title' end as title,
        n.reply->>'code' as reply,
        count(*) as count
      from ${sql.id(schema, "notifications")} n
      join ${sql.id(schema, "messages")} m on m.id = n.message_id
      where n.campaign_id = ${id}
      group by 1, 2, 3, 4`.execute(services.db)
  ).rows;
  const counts = Object.fromEntries(STATUS_KEYS.map((k) => [k, 0])) as CampaignView["counts"];
  const failures = new Map<string, CampaignView["failures"][number]>();
  const replies = new Map<string, number>();
  for (const r of rows) {
    const count = Number(r.count);
    counts[r.status as keyof typeof counts] += count;
    if (r.status === "failed") {
      const key = `${r.code}|${r.title}`;
      const entry = failures.get(key) ?? { code: r.code, title: r.title, count: 0 };
      entry.count += count;
      failures.set(key, entry);
    }
    if (r.reply) replies.set(r.reply, (replies.get(r.reply) ?? 0) + count);
  }
  return {
    id: campaign.id,
    items: campaign.items,
    accepted: campaign.accepted,
    refused: campaign.refused.length,
    counts,
    failures: [...failures.values()].sort((a, b) => b.count - a.count),
    replies: [...replies].map(([code, count]) => ({ code, count })),
    createdAt: campaign.created_at.toISOString(),
  };
}
