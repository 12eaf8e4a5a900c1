import { sql, type Db, type Transaction, type Database } from "@kanal/db";
import { z } from "zod";
import { customerLockKey } from "../channel/ingest";
import { pairKeys } from "../channel/limiter";
import type { WebhookPayload } from "../channel/webhook";
import { actorUserId, systemActor } from "../kernel/actor";
import { auditTenant } from "../kernel/audit";
import { conflict, invalid, notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import { forgetConversations } from "../realtime/stream";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";
import { issueFields } from "../rules/validation";

type Trx = Transaction<Database>;

const RETENTION_SETTING = "retention";
/** Longest retention we accept (ten years, the longest German commercial retention period). */
export const MAX_RETENTION_DAYS = 3650;

const retentionSchema = z.strictObject({
  days: z
    .number()
    .int("Ganze Tage angeben.")
    .min(1, "Mindestens ein Tag.")
    .max(MAX_RETENTION_DAYS, `Höchstens ${MAX_RETENTION_DAYS} Tage.`)
    .nullable(),
});
type RetentionSetting = z.infer<typeof retentionSchema>;

/** Without a setting nothing is deleted automatically: deleting a bank's records needs the bank's decision. */
export async function getRetention(
  db: Db,
  schema: string,
): Promise<RetentionSetting & { updatedAt: string | null }> {
  const row = await db
    .withSchema(schema)
    .selectFrom("settings")
    .select(["value", "updated_at"])
    .where("key", "=", RETENTION_SETTING)
    .executeTakeFirst();
  const parsed = retentionSchema.safeParse(row?.value ?? { days: null });
  return { days: parsed.success ? parsed.data.days : null, updatedAt: row?.updated_at.toISOString() ?? null };
}

export async function setRetention(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  input: RetentionSetting,
): Promise<RetentionSetting & { updatedAt: string | null }> {
  const parsed = retentionSchema.safeParse(input);
  if (!parsed.success) throw invalid("Invalid retention", issueFields(parsed.error.issues));
  const before = await getRetention(db, access.schema);
  await db.transaction().execute(async (trx) => {
    await trx
      .withSchema(access.schema)
      .insertInto("settings")
      .values({ key: RETENTION_SETTING, value: JSON.stringify(parsed.data), updated_at: new Date() })
      .onConflict((oc) =>
        oc.column("key").doUpdateSet({ value: JSON.stringify(parsed.data), updated_at: new Date() }),
      )
      .execute();
    await auditTenant(trx, access.schema, ctx.actor, {
      action: "retention.changed",
      targetType: "setting",
      targetId: RETENTION_SETTING,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      details: { before: before.days, after: parsed.data.days },
    });
  });
  return getRetention(db, access.schema);
}

interface PurgeResult {
  schema: string;
  days: number | null;
  cutoff: string | null;
  conversations: number;
  messages: number;
  /** bare WhatsApp contacts (no core-banking record) with nothing left of them, deleted */
  contacts: number;
  /** the bank's raw webhook events older than its retention, deleted */
  webhookEvents: number;
}

const PURGE_BATCH = 500;
const EVENT_PURGE_BATCH = 5_000;

/**
 * Audit details that may quote a conversation (a refused draft's masked excerpt, a callback's preferred
 * time as typed): removed when the conversation's retention ends or its customer is erased. The rest of
 * the row (who, when, which rule, which violation) stays as the bank's accountability record.
 */
const QUOTING_AUDIT_KEYS = ["excerpt", "preferredTime"];

/**
 * Removes the quoting audit details of these conversations. They were written while a conversation was
 * open, so never before its opening: the bound keeps the statement on the audit log's time index.
 */
async function redactQuotingAudit(
  trx: Trx,
  schema: string,
  conversations: readonly { id: string; opened_at: Date }[],
): Promise<void> {
  if (conversations.length === 0) return;
  const since = new Date(Math.min(...conversations.map((c) => c.opened_at.getTime())));
  await sql`
    update ${sql.id(schema, "audit_log")} set details = details - ${QUOTING_AUDIT_KEYS}::text[]
    where at >= ${since} and target_type = 'conversation'
      and target_id = any(${conversations.map((c) => c.id)}::text[])
      and details ?| ${QUOTING_AUDIT_KEYS}::text[]`.execute(trx);
}

/**
 * Deletes processed, dead and unknown-number webhook events received before `cutoff` (all banks', or one
 * bank's), in batches. Pending events are never deleted: they are messages not yet stored anywhere else.
 */
async function deleteWebhookEvents(db: Db, cutoff: Date, tenantId?: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    const result = await sql`
      delete from control.webhook_events where id in (
        select id from control.webhook_events
        where status <> 'pending' and received_at < ${cutoff}
          ${tenantId === undefined ? sql`` : sql`and tenant_id = ${tenantId}`}
        limit ${EVENT_PURGE_BATCH})`.execute(db);
    const n = Number(result.numAffectedRows ?? 0);
    deleted += n;
    if (n < EVENT_PURGE_BATCH) return deleted;
  }
}

/**
 * The platform-wide period for raw webhook events (`WEBHOOK_EVENT_RETENTION_DAYS`): whatever bank they
 * belong to, they are kept this many days after receipt once processed — long enough to investigate an
 * intake problem, never as a second copy of the conversations. Returns how many were deleted.
 */
export async function purgeWebhookEvents(db: Db, days: number, now = new Date()): Promise<number> {
  return deleteWebhookEvents(db, new Date(now.getTime() - days * 86_400_000));
}

/**
 * Deletes the bank's closed conversations (messages, media, callbacks and routing decisions cascade) whose
 * closing is older than the retention period. Open and queued conversations are never touched, however
 * old. Batches keep locks short; each batch commits with its own audit row counting what it deleted.
 */
export async function purgeExpiredConversations(
  db: Db,
  schema: string,
  now = new Date(),
): Promise<PurgeResult> {
  const { days } = await getRetention(db, schema);
  if (days === null)
    return { schema, days, cutoff: null, conversations: 0, messages: 0, contacts: 0, webhookEvents: 0 };
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  let conversations = 0;
  let messages = 0;
  for (;;) {
    const batch = await db.transaction().execute(async (trx) => {
      const ids = await trx
        .withSchema(schema)
        .selectFrom("conversations")
        .select(["id", "opened_at"])
        .where("status", "=", "closed")
        .where("closed_at", "<", cutoff)
        .orderBy("closed_at")
        .limit(PURGE_BATCH)
        .forUpdate()
        .skipLocked()
        .execute();
      if (ids.length === 0) return { conversations: 0, messages: 0 };
      const idList = ids.map((row) => row.id);
      const counted = await trx
        .withSchema(schema)
        .selectFrom("messages")
        .select(sql<number>`count(*)::int`.as("n"))
        .where("conversation_id", "in", idList)
        .executeTakeFirstOrThrow();
      await redactQuotingAudit(trx, schema, ids);
      const deleted = await trx
        .withSchema(schema)
        .deleteFrom("conversations")
        .where("id", "in", idList)
        .executeTakeFirst();
      const result = { conversations: Number(deleted.numDeletedRows), messages: counted.n };
      await auditTenant(trx, schema, systemActor("retention"), {
        action: "retention.purged",
        targetType: "conversations",
        details: { ...result, days, cutoff: cutoff.toISOString() },
      });
      return result;
    });
    conversations += batch.conversations;
    messages += batch.messages;
    if (batch.conversations < PURGE_BATCH) break;
  }
  const contacts = await purgeBareContacts(db, schema, cutoff, days);
  // The bank's raw webhook events age with the same period (a bank retention shorter than the platform's
  // applies to them too).
  const tenant = await db
    .withSchema("control")
    .selectFrom("tenants")
    .select("id")
    .where("schema_name", "=", schema)
    .executeTakeFirst();
  const webhookEvents = tenant ? await deleteWebhookEvents(db, cutoff, tenant.id) : 0;
  return { schema, days, cutoff: cutoff.toISOString(), conversations, messages, contacts, webhookEvents };
}

/**
 * A contact that exists only because its number wrote on WhatsApp (no core-banking record), whose
 * conversations retention has deleted and who has not written since the cutoff, is deleted too: its name
 * and number would otherwise outlive everything they belonged to. A standing notification opt-in keeps
 * it (the consent record is needed while it holds). Rows an ingest holds are skipped, and a contact that
 * wrote meanwhile fails the re-checked `last_inbound_at`, so a new conversation is never cascaded away.
 */
async function purgeBareContacts(db: Db, schema: string, cutoff: Date, days: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const customers = sql.id(schema, "customers");
    const gone = await sql<{ id: string }>`
      delete from ${customers} where id in (
        select cu.id from ${customers} cu
        where cu.external_ref is null and cu.created_at < ${cutoff}
          and (cu.last_inbound_at is null or cu.last_inbound_at < ${cutoff})
          and not (cu.opted_in_at is not null and (cu.opted_out_at is null or cu.opted_out_at < cu.opted_in_at))
          and not exists (select 1 from ${sql.id(schema, "conversations")} c where c.customer_id = cu.id)
        for update skip locked)
      returning id`.execute(trx);
    if (gone.rows.length > 0)
      await auditTenant(trx, schema, systemActor("retention"), {
        action: "retention.purged_contacts",
        targetType: "customers",
        details: { contacts: gone.rows.length, days, cutoff: cutoff.toISOString() },
      });
    return gone.rows.length;
  });
}

/** The maintenance job: every active bank, one after the other (a failing bank does not stop the rest). */
export async function purgeAllTenants(
  db: Db,
  onError: (schema: string, error: unknown) => void = () => undefined,
): Promise<PurgeResult[]> {
  const tenants = await db
    .withSchema("control")
    .selectFrom("tenants")
    .select("schema_name")
    .where("status", "=", "active")
    .orderBy("schema_name")
    .execute();
  const results: PurgeResult[] = [];
  for (const tenant of tenants) {
    try {
      results.push(await purgeExpiredConversations(db, tenant.schema_name));
    } catch (error) {
      onError(tenant.schema_name, error);
    }
  }
  return results;
}

async function findCustomer(db: Db, schema: string, idOrRef: string) {
  const customer = await db
    .withSchema(schema)
    .selectFrom("customers")
    .selectAll()
    .where((eb) => eb.or([eb("id", "=", idOrRef), eb("external_ref", "=", idOrRef)]))
    .orderBy(sql`id = ${idOrRef}`, "desc")
    .executeTakeFirst();
  if (!customer) throw notFound("Customer");
  return customer;
}

const iso = (value: Date | null | undefined): string | null => (value ? value.toISOString() : null);

/**
 * Art. 15 GDPR access request: everything the bank's schema holds about one customer, as JSON. Media
 * bytes are listed, not embedded (they are fetched separately). The export itself is audited.
 */
export async function exportCustomer(db: Db, ctx: RequestContext, access: TenantAccess, idOrRef: string) {
  const customer = await findCustomer(db, access.schema, idOrRef);
  const conversations = await db
    .withSchema(access.schema)
    .selectFrom("conversations")
    .selectAll()
    .where("customer_id", "=", customer.id)
    .orderBy("opened_at")
    .execute();
  const conversationIds = conversations.map((conversation) => conversation.id);
  const messages = conversationIds.length
    ? await db
        .withSchema(access.schema)
        .selectFrom("messages")
        .select([
          "id",
          "conversation_id",
          "direction",
          "type",
          "text",
          "media",
          "status",
          "kind",
          "topic",
          "rule_id",
          "rule_version",
          "author_user_id",
          "created_at",
        ])
        .where("conversation_id", "in", conversationIds)
        .orderBy("created_at")
        .execute()
    : [];
  const callbacks = conversationIds.length
    ? await db
        .withSchema(access.schema)
        .selectFrom("callbacks")
        .selectAll()
        .where("conversation_id", "in", conversationIds)
        .orderBy("created_at")
        .execute()
    : [];
  const exportedAt = new Date();
  await auditTenant(db, access.schema, ctx.actor, {
    action: "customer.exported",
    targetType: "customer",
    targetId: customer.id,
    ip: ctx.ip ?? null,
    requestId: ctx.requestId ?? null,
    details: { conversations: conversations.length, messages: messages.length },
  });
  return {
    exportedAt: exportedAt.toISOString(),
    bank: { id: access.tenant.id, name: access.tenant.name },
    customer: {
      id: customer.id,
      externalRef: customer.external_ref,
      name: customer.name,
      profileName: customer.profile_name,
      waId: customer.wa_id,
      advisorUserId: customer.advisor_user_id,
      optedInAt: iso(customer.opted_in_at),
      optedOutAt: iso(customer.opted_out_at),
      sensitiveHintSentAt: iso(customer.sensitive_hint_sent_at),
      createdAt: iso(customer.created_at),
      updatedAt: iso(customer.updated_at),
    },
    conversations: conversations.map((conversation) => ({
      id: conversation.id,
      status: conversation.status,
      topic: conversation.topic,
      ruleId: conversation.rule_id,
      flags: conversation.flags,
      openedAt: iso(conversation.opened_at),
      closedAt: iso(conversation.closed_at),
      messages: messages
        .filter((message) => message.conversation_id === conversation.id)
        .map((message) => ({
          id: message.id,
          direction: message.direction,
          type: message.type,
          text: message.text,
          media: message.media,
          status: message.status,
          kind: message.kind,
          topic: message.topic,
          ruleId: message.rule_id,
          ruleVersion: message.rule_version,
          authorUserId: message.author_user_id,
          createdAt: iso(message.created_at),
        })),
      callbacks: callbacks
        .filter((callback) => callback.conversation_id === conversation.id)
        .map((callback) => ({
          id: callback.id,
          note: callback.note,
          preferredTime: callback.preferred_time,
          status: callback.status,
          createdAt: iso(callback.created_at),
        })),
    })),
  };
}

/**
 * Art. 17 GDPR erasure: deletes the customer and, by cascade, every conversation, message, media file,
 * callback and routing decision; in the same transaction the raw webhook events that name the customer
 * (the bank's processed ones by their recorded subjects, and unprocessed ones of the bank's number by
 * their text) and the quoting audit details of those conversations. Refused while a conversation is still
 * open or queued (an agent is working on it; close it first), and while a message of the customer is
 * still being received (it is about to open a chat). The audit row keeps counts and the ids, never the
 * content. After commit, the customer's traces in Redis go: the agents' event-stream entries of these
 * conversations and the send limiter's keys of the customer's number (both also expire by themselves
 * should Redis be unreachable now; see docs/DATA-INVENTORY.md).
 */
export async function eraseCustomer(
  services: Pick<Services, "db" | "redis" | "config" | "logger">,
  ctx: RequestContext,
  access: TenantAccess,
  idOrRef: string,
) {
  const { db } = services;
  const schema = access.schema;
  const erased = await db.transaction().execute(async (trx) => {
    const byIdOrRef = () =>
      trx
        .withSchema(schema)
        .selectFrom("customers")
        .select(["id", "external_ref", "wa_id"])
        .where((eb) => eb.or([eb("id", "=", idOrRef), eb("external_ref", "=", idOrRef)]))
        .orderBy(sql`id = ${idOrRef}`, "desc");
    const found = await byIdOrRef().executeTakeFirst();
    if (!found) throw notFound("Customer");
    // The ingest's lock of this customer first (its lock order: customer lock, then rows): a message being
    // stored right now commits before we look, and is then an open chat that refuses the erasure.
    if (found.wa_id)
      await sql`select pg_advisory_xact_lock(hashtextextended(${customerLockKey(schema, found.wa_id)}, 0))`.execute(
        trx,
      );
    const customer = await byIdOrRef().forUpdate().executeTakeFirst();
    if (!customer) throw notFound("Customer");
    const conversations = await trx
      .withSchema(schema)
      .selectFrom("conversations")
      .select(["id", "status", "opened_at", "assignee_user_id", "closed_by", "ksc_org_id"])
      .where("customer_id", "=", customer.id)
      .forUpdate()
      .execute();
    if (conversations.some((conversation) => conversation.status !== "closed")) {
      throw conflict("The customer has an open conversation; close it before erasing", [
        { path: "id", message: "Der Kunde hat einen offenen Chat. Bitte zuerst schließen." },
      ]);
    }
    const numbers = (
      await trx
        .withSchema("control")
        .selectFrom("whatsapp_numbers")
        .select("phone_number_id")
        .where("tenant_id", "=", access.tenant.id)
        .execute()
    ).map((row) => row.phone_number_id);
    // As stored, and as Meta writes it (digits only) in webhooks and the limiter's keys.
    const waIds = customer.wa_id
      ? [...new Set([customer.wa_id, customer.wa_id.replace(/\D/g, "")])].filter((id) => id.length > 0)
      : [];
    const webhookEvents = await eraseWebhookEvents(trx, access.tenant.id, numbers, waIds);
    const ids = conversations.map((conversation) => conversation.id);
    const people = await peopleWhoSaw(trx, schema, access.tenant.id, conversations);
    const counted = ids.length
      ? await trx
          .withSchema(schema)
          .selectFrom("messages")
          .select(sql<number>`count(*)::int`.as("n"))
          .where("conversation_id", "in", ids)
          .executeTakeFirstOrThrow()
      : { n: 0 };
    await redactQuotingAudit(trx, schema, conversations);
    await trx.withSchema(schema).deleteFrom("customers").where("id", "=", customer.id).execute();
    const result = { customerId: customer.id, conversations: ids.length, messages: counted.n };
    await auditTenant(trx, schema, ctx.actor, {
      action: "customer.erased",
      targetType: "customer",
      targetId: customer.id,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      details: {
        ...result,
        webhookEvents,
        externalRef: customer.external_ref,
        erasedBy: actorUserId(ctx.actor),
      },
    });
    return { result, conversationIds: ids, people, numbers, waIds };
  });
  await eraseFromRedis(services, erased).catch((error: Error) =>
    // The database is erased; what Redis still holds expires by itself (streams in a day, limiter keys in
    // about a minute). Ids only in the log.
    services.logger.warn(
      { customerId: erased.result.customerId, err: error.message },
      "erasure: Redis copies not removed now; they expire by themselves",
    ),
  );
  return erased.result;
}

/**
 * Deletes the raw webhook events that name the customer for this bank: processed ones recorded as the
 * bank's, and — by their text, since nothing is recorded on them yet — unprocessed ones (pending, dead,
 * several banks') that carry the bank's number and the customer's number. A pending event with a message
 * from the customer refuses the erasure: it is a chat about to open (deleting it would drop the
 * customer's message unanswered; processing it after the erasure would bring the customer back). A pending
 * event with only statuses for the customer is deleted: it would change nothing once the messages are gone.
 */
async function eraseWebhookEvents(trx: Trx, tenantId: string, numbers: string[], waIds: string[]) {
  if (waIds.length === 0) return 0;
  const byRecord = await sql`
    delete from control.webhook_events
    where wa_ids && ${waIds}::text[] and tenant_id = ${tenantId}`.execute(trx);
  let deleted = Number(byRecord.numAffectedRows ?? 0);
  const customerPatterns = waIds.map((waId) => `%"${waId}"%`);
  const numberPatterns = numbers.map((number) => `%"${number}"%`);
  if (numberPatterns.length === 0) return deleted;
  const loose = await sql<{ id: string; status: string; body: string }>`
    select id, status, body from control.webhook_events
    where tenant_id is null and body like any(${customerPatterns}::text[])
      and body like any(${numberPatterns}::text[])
    for update`.execute(trx);
  for (const row of loose.rows) {
    if (row.status === "pending" && carriesMessageFrom(row.body, numbers, waIds)) {
      throw conflict("A message from the customer is still being received; erase once it has arrived", [
        {
          path: "id",
          message: "Eine Nachricht des Kunden wird gerade empfangen. Bitte gleich erneut versuchen.",
        },
      ]);
    }
  }
  if (loose.rows.length > 0) {
    const gone = await sql`
      delete from control.webhook_events where id = any(${loose.rows.map((r) => r.id)}::bigint[])`.execute(
      trx,
    );
    deleted += Number(gone.numAffectedRows ?? 0);
  }
  return deleted;
}

function carriesMessageFrom(body: string, numbers: string[], waIds: string[]): boolean {
  try {
    const payload = JSON.parse(body) as WebhookPayload;
    return (payload.entry ?? []).some((entry) =>
      (entry.changes ?? []).some(
        (change) =>
          numbers.includes(change.value?.metadata?.phone_number_id ?? "") &&
          (change.value?.messages ?? []).some((message) => waIds.includes(String(message.from ?? ""))),
      ),
    );
  } catch {
    return false;
  }
}

/**
 * Whose event streams may name these conversations: the bank's people, the KSC organisations' agents
 * (the one contracted now and any recorded on the conversations), and everyone the conversations name
 * (assignee, closer, authors, routing targets) in case they have left since.
 */
async function peopleWhoSaw(
  trx: Trx,
  schema: string,
  tenantId: string,
  conversations: {
    id: string;
    assignee_user_id: string | null;
    closed_by: string | null;
    ksc_org_id: string | null;
  }[],
): Promise<string[]> {
  const ids = conversations.map((c) => c.id);
  const orgs = conversations.flatMap((c) => (c.ksc_org_id ? [c.ksc_org_id] : []));
  const members = await sql<{ user_id: string }>`
    select user_id from control.memberships
    where tenant_id = ${tenantId}
      or ksc_org_id in (select ksc_org_id from control.ksc_contracts where tenant_id = ${tenantId})
      or ksc_org_id = any(${orgs}::text[])`.execute(trx);
  const named = ids.length
    ? await sql<{ user_id: string | null }>`
        select author_user_id as user_id from ${sql.id(schema, "messages")} where conversation_id = any(${ids}::text[])
        union
        select target->>'userId' from ${sql.id(schema, "routing_decisions")} where conversation_id = any(${ids}::text[])`.execute(
        trx,
      )
    : { rows: [] };
  const users = new Set<string>();
  for (const row of [...members.rows, ...named.rows]) if (row.user_id) users.add(row.user_id);
  for (const c of conversations) {
    if (c.assignee_user_id) users.add(c.assignee_user_id);
    if (c.closed_by) users.add(c.closed_by);
  }
  return [...users];
}

/** The customer's traces in Redis: stream entries naming the erased conversations, the limiter's keys. */
async function eraseFromRedis(
  services: Pick<Services, "redis" | "config">,
  erased: { conversationIds: string[]; people: string[]; numbers: string[]; waIds: string[] },
): Promise<void> {
  const keys = erased.numbers.flatMap((number) =>
    erased.waIds.flatMap((waId) => pairKeys(services.config.QUEUE_PREFIX, number, waId)),
  );
  if (keys.length > 0) await services.redis.del(...keys);
  await forgetConversations(
    services.redis,
    services.config.QUEUE_PREFIX,
    erased.people,
    erased.conversationIds,
  );
}
