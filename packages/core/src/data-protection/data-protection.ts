import { sql, type Db } from "@kanal/db";
import { z } from "zod";
import { actorUserId, systemActor } from "../kernel/actor";
import { auditTenant } from "../kernel/audit";
import { conflict, invalid, notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { TenantAccess } from "../tenants/access";
import { issueFields } from "../rules/validation";

export const RETENTION_SETTING = "retention";
/** Longest retention we accept (ten years, the longest German commercial retention period). */
export const MAX_RETENTION_DAYS = 3650;

export const retentionSchema = z.strictObject({
  days: z
    .number()
    .int("Ganze Tage angeben.")
    .min(1, "Mindestens ein Tag.")
    .max(MAX_RETENTION_DAYS, `Höchstens ${MAX_RETENTION_DAYS} Tage.`)
    .nullable(),
});
export type RetentionSetting = z.infer<typeof retentionSchema>;

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

export interface PurgeResult {
  schema: string;
  days: number | null;
  cutoff: string | null;
  conversations: number;
  messages: number;
}

const PURGE_BATCH = 500;

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
  if (days === null) return { schema, days, cutoff: null, conversations: 0, messages: 0 };
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  let conversations = 0;
  let messages = 0;
  for (;;) {
    const batch = await db.transaction().execute(async (trx) => {
      const ids = await trx
        .withSchema(schema)
        .selectFrom("conversations")
        .select("id")
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
  return { schema, days, cutoff: cutoff.toISOString(), conversations, messages };
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
 * callback and routing decision. Refused while a conversation is still open or queued (an agent is
 * working on it; close it first). The audit row keeps counts and the ids, never the content.
 */
export async function eraseCustomer(db: Db, ctx: RequestContext, access: TenantAccess, idOrRef: string) {
  return db.transaction().execute(async (trx) => {
    const customer = await trx
      .withSchema(access.schema)
      .selectFrom("customers")
      .select(["id", "external_ref"])
      .where((eb) => eb.or([eb("id", "=", idOrRef), eb("external_ref", "=", idOrRef)]))
      .orderBy(sql`id = ${idOrRef}`, "desc")
      .forUpdate()
      .executeTakeFirst();
    if (!customer) throw notFound("Customer");
    const conversations = await trx
      .withSchema(access.schema)
      .selectFrom("conversations")
      .select(["id", "status"])
      .where("customer_id", "=", customer.id)
      .forUpdate()
      .execute();
    if (conversations.some((conversation) => conversation.status !== "closed")) {
      throw conflict("The customer has an open conversation; close it before erasing", [
        { path: "id", message: "Der Kunde hat einen offenen Chat. Bitte zuerst schließen." },
      ]);
    }
    const ids = conversations.map((conversation) => conversation.id);
    const counted = ids.length
      ? await trx
          .withSchema(access.schema)
          .selectFrom("messages")
          .select(sql<number>`count(*)::int`.as("n"))
          .where("conversation_id", "in", ids)
          .executeTakeFirstOrThrow()
      : { n: 0 };
    await trx.withSchema(access.schema).deleteFrom("customers").where("id", "=", customer.id).execute();
    const result = { customerId: customer.id, conversations: ids.length, messages: counted.n };
    await auditTenant(trx, access.schema, ctx.actor, {
      action: "customer.erased",
      targetType: "customer",
      targetId: customer.id,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      details: { ...result, externalRef: customer.external_ref, erasedBy: actorUserId(ctx.actor) },
    });
    return result;
  });
}
