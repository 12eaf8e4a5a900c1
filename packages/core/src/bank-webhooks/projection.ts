import type { BankWebhookEvent } from "@kanal/contracts/webhooks";
import { sql } from "@kanal/db";
import { newId } from "../kernel/crypto";
import type { BankRef, DomainEvent } from "../kernel/domain-events";
import type { DomainEventProjection, ProjectedJob } from "../kernel/event-bus";
import type { Trx } from "../kernel/executor";
import { maskJsonForStorage, viewJson } from "../rules/guard";
import type { Services } from "../services";
import { subscriptionsOf } from "./subscriptions";

/** The message statuses the bank's systems are told about (Kanal's own steps before Meta's are not). */
const REPORTED_STATUSES = new Set(["sent", "delivered", "read", "failed"]);

/** The webhook event a domain event becomes, or null when the bank's systems are not told about it. */
function webhookTypeOf(event: DomainEvent): BankWebhookEvent | null {
  switch (event.type) {
    case "message.received":
    case "conversation.assigned":
    case "conversation.closed":
    case "callback.requested":
    case "customer.opted_out":
    case "customer.opted_in":
    case "notification.status":
    case "notification.reply":
      return event.type;
    case "message.status":
      return REPORTED_STATUSES.has(event.status) ? "message.status" : null;
    default:
      return null;
  }
}

type Wanted = { event: DomainEvent; type: BankWebhookEvent; endpointIds: string[] };

interface CustomerRow {
  id: string;
  wa_id: string | null;
  external_ref: string | null;
  name: string | null;
}

const customerView = (c: CustomerRow | undefined) =>
  c ? { id: c.id, waId: c.wa_id, externalRef: c.external_ref, name: c.name } : null;

/** What the payloads of one bank's events need, read in the committing transaction (one statement per kind). */
async function loadFacts(trx: Trx, schema: string, wanted: readonly Wanted[]) {
  const conversationIds = new Set<string>();
  const customerIds = new Set<string>();
  const messageIds = new Set<string>();
  const callbackIds = new Set<string>();
  const userIds = new Set<string>();
  for (const { event } of wanted) {
    if ("conversationId" in event && event.conversationId) conversationIds.add(event.conversationId);
    if (
      event.type === "customer.opted_in" ||
      event.type === "customer.opted_out" ||
      event.type === "notification.status" ||
      event.type === "notification.reply"
    )
      customerIds.add(event.customerId);
    if (event.type === "message.received" || event.type === "message.status") messageIds.add(event.messageId);
    if (event.type === "callback.requested") callbackIds.add(event.callbackId);
    if (event.type === "callback.requested" && event.byUserId) userIds.add(event.byUserId);
    if (event.type === "conversation.assigned") userIds.add(event.userId);
    if (event.type === "conversation.closed") {
      if (event.byUserId) userIds.add(event.byUserId);
      if (event.assigneeUserId) userIds.add(event.assigneeUserId);
    }
  }
  const t = trx.withSchema(schema);
  const customerColumns = [
    "cu.id",
    "cu.wa_id",
    "cu.external_ref",
    sql<string | null>`coalesce(cu.name, cu.profile_name)`.as("name"),
  ] as const;
  const [conversations, customers, messages, callbacks, users] = await Promise.all([
    conversationIds.size === 0
      ? []
      : t
          .selectFrom("conversations as c")
          .innerJoin("customers as cu", "cu.id", "c.customer_id")
          .select(["c.id as conversation_id", "c.topic", ...customerColumns])
          .where("c.id", "=", sql<string>`any(${[...conversationIds]}::text[])`)
          .execute(),
    customerIds.size === 0
      ? []
      : t
          .selectFrom("customers as cu")
          .select(customerColumns)
          .where("cu.id", "=", sql<string>`any(${[...customerIds]}::text[])`)
          .execute(),
    messageIds.size === 0
      ? []
      : t
          .selectFrom("messages")
          .select(["id", "direction", "type", "text", "media", "status", "error", "created_at", "status_at"])
          .where("id", "=", sql<string>`any(${[...messageIds]}::text[])`)
          .execute(),
    callbackIds.size === 0
      ? []
      : t
          .selectFrom("callbacks")
          .select(["id", "note", "preferred_time", "created_at"])
          .where("id", "=", sql<string>`any(${[...callbackIds]}::text[])`)
          .execute(),
    userIds.size === 0
      ? []
      : trx
          .withSchema("control")
          .selectFrom("users")
          .select(["id", "name"])
          .where("id", "=", sql<string>`any(${[...userIds]}::text[])`)
          .execute(),
  ]);
  return {
    conversations: new Map(conversations.map((c) => [c.conversation_id, c])),
    customers: new Map(customers.map((c) => [c.id, c])),
    messages: new Map(messages.map((m) => [m.id, m])),
    callbacks: new Map(callbacks.map((c) => [c.id, c])),
    users: new Map(users.map((u) => [u.id, u])),
  };
}

type Facts = Awaited<ReturnType<typeof loadFacts>>;

/** The event's `data` (before masking) and the rows it is about, or null when those are gone. */
function dataOf(
  event: DomainEvent,
  facts: Facts,
  now: Date,
): {
  data: Record<string, unknown>;
  at: Date;
  conversationId: string | null;
  customerId: string | null;
} | null {
  const person = (id: string | null) => (id ? { id, name: facts.users.get(id)?.name ?? null } : null);
  const conversation = "conversationId" in event && event.conversationId ? event.conversationId : null;
  const c = conversation ? facts.conversations.get(conversation) : undefined;
  const about = { conversationId: conversation, customer: customerView(c) };
  const subject = { conversationId: conversation, customerId: c?.id ?? null };
  switch (event.type) {
    case "message.received": {
      const m = facts.messages.get(event.messageId);
      if (!m || !c) return null;
      const media = m.media as { mimeType?: string | null; filename?: string | null } | null;
      return {
        ...subject,
        at: m.created_at,
        data: {
          ...about,
          message: {
            id: m.id,
            type: m.type,
            text: m.text,
            ...(media && { media: { mimeType: media.mimeType ?? null, filename: media.filename ?? null } }),
            receivedAt: m.created_at.toISOString(),
          },
          topic: c.topic,
        },
      };
    }
    case "message.status": {
      const m = facts.messages.get(event.messageId);
      if (!m || !c) return null;
      const error = m.error as { code?: number | null; title?: string | null } | null;
      const at = m.status_at ?? now;
      return {
        ...subject,
        at,
        data: {
          ...about,
          message: {
            id: m.id,
            status: event.status,
            at: at.toISOString(),
            error:
              event.status === "failed" && error
                ? { code: error.code ?? null, title: error.title ?? null }
                : null,
          },
        },
      };
    }
    case "conversation.assigned":
      if (!c) return null;
      return {
        ...subject,
        at: now,
        data: {
          ...about,
          assignee: person(event.userId),
          handledBy: event.handledBy,
          by: event.by,
          rule: event.rule,
          reason: event.reason,
          fromUserId: event.fromUserId,
        },
      };
    case "conversation.closed":
      if (!c) return null;
      return {
        ...subject,
        at: event.closedAt,
        data: {
          ...about,
          closedAt: event.closedAt.toISOString(),
          closedBy: person(event.byUserId),
          assignee: person(event.assigneeUserId),
          handledBy: event.handledBy,
        },
      };
    case "callback.requested": {
      const cb = facts.callbacks.get(event.callbackId);
      if (!cb || !c) return null;
      return {
        ...subject,
        at: cb.created_at,
        data: {
          ...about,
          callback: {
            id: cb.id,
            note: cb.note,
            preferredTime: cb.preferred_time,
            requestedBy: person(event.byUserId),
            requestedAt: cb.created_at.toISOString(),
          },
        },
      };
    }
    case "customer.opted_in":
    case "customer.opted_out": {
      const customer = facts.customers.get(event.customerId);
      if (!customer) return null;
      return {
        conversationId: conversation,
        customerId: customer.id,
        at: event.at,
        data: {
          customer: customerView(customer),
          conversationId: conversation,
          messageId: event.messageId,
          via: event.via,
          at: event.at.toISOString(),
        },
      };
    }
    case "notification.status":
    case "notification.reply": {
      const customer = facts.customers.get(event.customerId);
      if (!customer) return null;
      const common = {
        notificationId: event.notificationId,
        campaignId: event.campaignId,
        customer: customerView(customer),
        conversationId: conversation,
        messageId: event.messageId,
      };
      return {
        conversationId: conversation,
        customerId: customer.id,
        at: event.at,
        data:
          event.type === "notification.status"
            ? { ...common, status: event.status, error: event.error, at: event.at.toISOString() }
            : { ...common, answer: event.answer, escalated: event.escalated, at: event.at.toISOString() },
      };
    }
    default:
      return null;
  }
}

/**
 * Events to the bank's systems, made durable in the transaction that produced them (ADR 0013's
 * projection): for each event a bank's enabled endpoints subscribe to, one delivery row per endpoint
 * with its payload built now — from the rows as this transaction leaves them, masked by the guard with
 * the bank as viewer — and one `deliver-webhook` outbox job per delivery. A committed event therefore
 * always gets its deliveries, and a rolled-back one never does. Banks without endpoints cost a lookup in
 * the process's cache.
 */
export function bankWebhookProjection(services: Services): DomainEventProjection {
  return async (trx, events) => {
    const byBank = new Map<
      string,
      { bank: BankRef; events: { event: DomainEvent; type: BankWebhookEvent }[] }
    >();
    for (const event of events) {
      const type = webhookTypeOf(event);
      if (!type) continue;
      const entry = byBank.get(event.bank.schema) ?? { bank: event.bank, events: [] };
      entry.events.push({ event, type });
      byBank.set(event.bank.schema, entry);
    }
    const jobs: ProjectedJob[] = [];
    for (const { bank, events: candidates } of byBank.values()) {
      const subscriptions = await subscriptionsOf(services, trx, bank.schema);
      if (subscriptions.length === 0) continue;
      const wanted = candidates
        .map(({ event, type }) => ({
          event,
          type,
          endpointIds: subscriptions.filter((s) => s.events.has(type)).map((s) => s.endpointId),
        }))
        .filter((w) => w.endpointIds.length > 0);
      if (wanted.length === 0) continue;
      jobs.push(...(await writeDeliveries(services, trx, bank, wanted)));
    }
    return jobs;
  };
}

async function writeDeliveries(
  services: Services,
  trx: Trx,
  bank: BankRef,
  wanted: readonly Wanted[],
): Promise<ProjectedJob[]> {
  const now = new Date();
  const facts = await loadFacts(trx, bank.schema, wanted);
  const rows: {
    id: string;
    endpointId: string;
    eventId: string;
    type: string;
    payload: string;
    customerId: string | null;
    conversationId: string | null;
  }[] = [];
  for (const w of wanted) {
    const built = dataOf(w.event, facts, now);
    if (!built) continue;
    const eventId = newId("evt");
    // The guard, as for every text that leaves storage: masked for storage (card numbers, secrets), then
    // as the bank itself may see it.
    const data = viewJson(maskJsonForStorage({ bank: bank.slug, eventId, ...built.data }), "bank");
    const payload = JSON.stringify({ type: w.type, timestamp: built.at.toISOString(), data });
    for (const endpointId of w.endpointIds)
      rows.push({
        id: newId("whd"),
        endpointId,
        eventId,
        type: w.type,
        payload,
        customerId: built.customerId,
        conversationId: built.conversationId,
      });
  }
  if (rows.length === 0) return [];
  const retryUntil = new Date(now.getTime() + services.config.BANK_WEBHOOK_RETRY_HOURS * 3_600_000);
  const column = <K extends keyof (typeof rows)[number]>(key: K) => rows.map((r) => r[key]);
  // Only endpoints still enabled as this transaction sees them (the cache may be a few seconds old).
  const inserted = await sql<{ id: string }>`
    insert into ${sql.id(bank.schema, "webhook_deliveries")}
      (id, endpoint_id, event_id, event_type, payload, customer_id, conversation_id, next_attempt_at, retry_until)
    select v.id, v.endpoint_id, v.event_id, v.event_type, v.payload, v.customer_id, v.conversation_id,
      ${now}, ${retryUntil}
    from unnest(${column("id")}::text[], ${column("endpointId")}::text[], ${column("eventId")}::text[],
        ${column("type")}::text[], ${column("payload")}::jsonb[], ${column("customerId")}::text[],
        ${column("conversationId")}::text[])
      as v(id, endpoint_id, event_id, event_type, payload, customer_id, conversation_id)
    join ${sql.id(bank.schema, "webhook_endpoints")} e on e.id = v.endpoint_id and e.enabled
    returning id`.execute(trx);
  return inserted.rows.map((r) => deliveryJob(bank.id, r.id, 1));
}

/** The job that makes attempt `attempt` of a delivery (its id makes a second relay of it a no-op). */
export function deliveryJob(
  tenantId: string,
  deliveryId: string,
  attempt: number,
  delayMs = 0,
): ProjectedJob {
  return {
    queue: "webhooks",
    name: "deliver-webhook",
    data: { tenantId, deliveryId, attempt },
    opts: { jobId: `${deliveryId}-${attempt}`, ...(delayMs > 0 && { delay: delayMs }) },
  };
}
