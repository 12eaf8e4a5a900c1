import { sql, type Db, type Tenant, type Transaction, transactionOpenedWith, type Database } from "@kanal/db";
import { newId } from "../crypto";
import { mapLimit } from "../map-limit";
import { publishToUsers } from "../events";
import type { Rule } from "@kanal/rules";
import { noEffects, type RoutingEffects, runEffects } from "../routing/effects";
import { bankRoutingLockSql } from "../routing/locks";
import { type RoutingOutcome, routeLockedConversation } from "../routing/route";
import { afterInboundHasWork, handleAfterInbound } from "../rsk/after-inbound";
import { maskAndClassifyInbound } from "../rsk/index";
import type { Services } from "../services";
import { maskWebhookPayload, type WebhookPayload } from "./webhook";
import { bindingForNumber } from "./tenants-by-number";

type Trx = Transaction<Database>;
type InboundMessage = Record<string, unknown> & {
  id?: string;
  from?: string;
  timestamp?: string;
  type?: string;
  context?: { id?: string };
};

export interface IngestResult {
  messages: number;
  duplicates: number;
  statuses: number;
  unknownNumbers: string[];
}

/** What we keep of each WhatsApp message type: a text to show and search, and the type's own details. */
export function describeInbound(m: InboundMessage): {
  type: string;
  text: string | null;
  payload: Record<string, unknown>;
  media: Record<string, unknown> | null;
} {
  const type = String(m.type ?? "unknown");
  const part = (m[type] ?? {}) as Record<string, unknown>;
  switch (type) {
    case "text":
      return { type, text: String((part as { body?: string }).body ?? ""), payload: {}, media: null };
    case "interactive": {
      const reply = (part.button_reply ?? part.list_reply ?? {}) as {
        id?: string;
        title?: string;
        description?: string;
      };
      return {
        type,
        text: reply.title ?? null,
        payload: {
          kind: part.type ?? null,
          replyId: reply.id ?? null,
          description: reply.description ?? null,
        },
        media: null,
      };
    }
    case "button": {
      const b = part as { text?: string; payload?: string };
      return { type, text: b.text ?? null, payload: { payload: b.payload ?? null }, media: null };
    }
    case "image":
    case "document":
    case "audio":
    case "video":
    case "sticker": {
      const media = part as {
        id?: string;
        mime_type?: string;
        sha256?: string;
        filename?: string;
        caption?: string;
      };
      return {
        type,
        text: media.caption ?? null,
        payload: {},
        media: {
          mediaId: media.id ?? null,
          mimeType: media.mime_type ?? null,
          sha256: media.sha256 ?? null,
          filename: media.filename ?? null,
        },
      };
    }
    case "location": {
      const l = part as { latitude?: number; longitude?: number; name?: string; address?: string };
      return {
        type,
        text: [l.name, l.address].filter(Boolean).join(", ") || null,
        payload: {
          latitude: l.latitude,
          longitude: l.longitude,
          name: l.name ?? null,
          address: l.address ?? null,
        },
        media: null,
      };
    }
    default: {
      const errors = (m.errors as { code?: number; title?: string }[] | undefined) ?? [];
      return { type: "unsupported", text: null, payload: { originalType: type, errors }, media: null };
    }
  }
}

/**
 * A transaction holding the customer's lock, which serialises every webhook of one customer of one bank:
 * never two open conversations, never a lost update. Schema names and WhatsApp ids are plain
 * identifiers, so the lock usually goes out with the BEGIN as literal SQL (one round trip less);
 * anything else gets the lock as a parameterised statement of its own.
 */
function withCustomerLock<T>(db: Db, schema: string, waId: string, fn: (trx: Trx) => Promise<T>): Promise<T> {
  const key = `${schema}:${waId}`;
  if (/^[A-Za-z0-9_.:+-]+$/.test(key))
    return transactionOpenedWith(db, `select pg_advisory_xact_lock(hashtextextended('${key}', 0))`, fn);
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
    return fn(trx);
  });
}

export interface IngestedMessage {
  tenant: Tenant;
  conversationId: string;
  messageId: string;
  newConversation: boolean;
  assigneeUserId: string | null;
  ruleId: string | null;
  ruleVersion: number | null;
  sensitiveKinds: string[];
  /** The stored (masked) text and the action of the rule it was classified under. */
  text: string | null;
  ruleAction: Rule["action"]["type"] | null;
  customerName: string | null;
  hasMedia: boolean;
  /** The routing of a new conversation, when it was routed in the ingest's transaction. */
  routing: RoutingOutcome | null;
  /** The webhook event was marked processed in the ingest's transaction. */
  eventMarked: boolean;
}

export interface IngestOptions {
  /** The webhook event whose only content this message is: marked processed in the same transaction. */
  eventId?: string;
  /**
   * Route a new conversation in the same transaction: the bank's routing lock is taken with the insert
   * (lock order: customer → bank → conversation → agent_state, ADR 0005); `effects` are for after commit.
   */
  route?: { effects: RoutingEffects; now: Date };
}

/** Routing inside the ingest's transaction failed: the transaction rolled back, message included. */
class RoutingInIngestFailed extends Error {}

/**
 * Stores one inbound message exactly once (dedup on wamid under the customer's lock): contact upserted,
 * text masked and classified, the customer's open conversation found or a new one opened (queued for
 * routing). Returns null for a duplicate.
 */
export async function ingestInboundMessage(
  db: Db,
  tenant: Tenant,
  contact: { waId: string; profileName: string | null },
  message: InboundMessage,
  options: IngestOptions = {},
): Promise<IngestedMessage | null> {
  const wamid = String(message.id ?? "");
  if (!wamid) return null;
  const schema = tenant.schema_name;
  const described = describeInbound(message);
  const sentAt = message.timestamp ? new Date(Number(message.timestamp) * 1000) : new Date();
  return withCustomerLock(db, schema, contact.waId, async (trx) => {
    const table = (name: string) => sql.id(schema, name);
    // One round trip (every one costs ~0.1 ms of CPU on each side): is it a duplicate, the customer
    // (upserted unless it is), their open conversation and the current rule-book version.
    const found = (
      await sql<{
        seen: boolean;
        customer_id: string | null;
        name: string | null;
        profile_name: string | null;
        conversation_id: string | null;
        assignee_user_id: string | null;
        topic: string | null;
        rule_version: number | null;
      }>`
      with seen as (select id from ${table("messages")} where wamid = ${wamid}),
      customer as (
        insert into ${table("customers")} as cu (id, wa_id, profile_name, last_inbound_at, updated_at)
        select ${newId("cus")}, ${contact.waId}, ${contact.profileName}, ${sentAt}, now()
        where not exists (select 1 from seen)
        on conflict (wa_id) do update set
          profile_name = coalesce(excluded.profile_name, cu.profile_name),
          last_inbound_at = greatest(cu.last_inbound_at, excluded.last_inbound_at),
          updated_at = excluded.updated_at
        returning id, name, profile_name
      )
      select exists (select 1 from seen) as seen,
        customer.id as customer_id, customer.name, customer.profile_name,
        c.id as conversation_id, c.assignee_user_id, c.topic,
        (select max(version) from ${table("rule_book_versions")}) as rule_version
      from (select 1) as one
      left join customer on true
      left join ${table("conversations")} c on c.customer_id = customer.id and c.status <> 'closed'`.execute(
        trx,
      )
    ).rows[0];
    if (!found || found.seen || !found.customer_id) return null;

    const masked = described.text
      ? await maskAndClassifyInbound(trx, schema, described.text, found.rule_version ?? undefined)
      : null;
    const classifiedTopic = masked && !masked.classification.isDefault ? masked.classification.topic : null;
    const newConversation = !found.conversation_id;
    const conversation = {
      id: found.conversation_id ?? newId("conv"),
      assignee_user_id: found.assignee_user_id,
      topic: found.topic,
    };
    // The conversation (opened, or brought up to date) and the message, again in one round trip.
    const conversationStep = newConversation
      ? sql`insert into ${table("conversations")}
          (id, customer_id, status, queued_at, opened_at, last_inbound_at, last_message_at, topic, rule_id)
          values (${conversation.id}, ${found.customer_id}, 'queued', now(), now(), ${sentAt}, ${sentAt},
            ${classifiedTopic}, ${masked?.classification.ruleId ?? null})
          returning id`
      : // A conversation takes the topic of its first message that has one.
        !conversation.topic && classifiedTopic
        ? sql`update ${table("conversations")} set last_inbound_at = ${sentAt}, last_message_at = ${sentAt},
            topic = ${classifiedTopic}, rule_id = ${masked?.classification.ruleId ?? null}
            where id = ${conversation.id} returning id`
        : sql`update ${table("conversations")} set last_inbound_at = ${sentAt}, last_message_at = ${sentAt}
            where id = ${conversation.id} returning id`;
    const messageId = newId("msg");
    const route = newConversation ? options.route : undefined;
    // The only message of its webhook event: the event is done when (and only if) this commits.
    const markEvent = options.eventId
      ? sql`, marked as (update control.webhook_events set status = 'processed', processed_at = now(), error = null
          where id = ${options.eventId} and status = 'pending' returning id)`
      : sql``;
    const inserted = (
      await sql<{ id: string }>`
      with conv as (${conversationStep}) ${markEvent}
      insert into ${table("messages")} (id, conversation_id, direction, type, text, payload, media, wamid,
        context_wamid, status, kind, topic, rule_id, rule_version, created_at)
      select ${messageId}, conv.id, 'inbound', ${described.type}, ${masked?.text ?? described.text},
        ${JSON.stringify(described.payload)}::jsonb,
        ${described.media ? JSON.stringify(described.media) : null}::jsonb,
        ${wamid}, ${message.context?.id ?? null}, 'received', 'customer',
        ${masked?.classification.topic ?? null}, ${masked?.classification.ruleId ?? null},
        ${masked?.classification.version ?? null}, ${sentAt}
      from conv ${route ? sql`cross join (select ${bankRoutingLockSql(tenant.id)}) as bank_lock` : sql``}
      on conflict (wamid) do nothing
      returning id`.execute(trx)
    ).rows[0];
    if (!inserted) return null;
    if (described.media?.mediaId) {
      await trx
        .withSchema(schema)
        .insertInto("media")
        .values({
          id: newId("med"),
          message_id: messageId,
          media_id: String(described.media.mediaId),
          mime_type: (described.media.mimeType as string | null) ?? null,
          filename: (described.media.filename as string | null) ?? null,
          sha256: (described.media.sha256 as string | null) ?? null,
        })
        .execute();
    }
    let routing: RoutingOutcome | null = null;
    if (route) {
      const input = { tenantId: tenant.id, conversationId: conversation.id, trigger: "new" };
      try {
        routing = await routeLockedConversation(trx, tenant, input, route.effects, route.now);
      } catch (error) {
        throw new RoutingInIngestFailed((error as Error).message, { cause: error });
      }
    }
    return {
      tenant,
      conversationId: conversation.id,
      messageId,
      newConversation,
      assigneeUserId: conversation.assignee_user_id,
      ruleId: masked?.classification.ruleId ?? null,
      ruleVersion: masked?.classification.version ?? null,
      sensitiveKinds: [
        ...new Set([
          ...(masked?.sensitiveKinds ?? []),
          ...(Array.isArray(message.kanal_masked) ? (message.kanal_masked as string[]) : []),
        ]),
      ],
      text: masked?.text ?? described.text,
      ruleAction: masked?.classification.action ?? null,
      customerName: found.name ?? found.profile_name,
      hasMedia: Boolean(described.media?.mediaId),
      routing,
      eventMarked: options.eventId !== undefined,
    };
  });
}

/**
 * Stores one inbound message and routes a new conversation in the same transaction (one commit, and
 * the agent's `conversation.assigned` right after it). If routing fails, the message is stored without
 * it and a routing job takes over; the routing tick routes whatever is still unrouted after that.
 */
async function ingestAndRoute(
  services: Services,
  tenant: Tenant,
  contact: { waId: string; profileName: string | null },
  message: InboundMessage,
  eventId: string | undefined,
): Promise<IngestedMessage | null> {
  const { queues, logger } = services;
  const db = services.bankDb(tenant.schema_name);
  const effects = noEffects();
  let ingested: IngestedMessage | null;
  try {
    ingested = await ingestInboundMessage(db, tenant, contact, message, {
      eventId,
      route: { effects, now: new Date() },
    });
  } catch (error) {
    if (!(error instanceof RoutingInIngestFailed)) throw error;
    logger.warn({ err: error.message }, "routing in the ingest failed; handing it to the routing queue");
    ingested = await ingestInboundMessage(db, tenant, contact, message, { eventId });
    if (ingested?.newConversation) {
      await queues.routing.add(
        "route-conversation",
        { tenantId: tenant.id, conversationId: ingested.conversationId, trigger: "new" },
        { jobId: `route-${ingested.conversationId}` },
      );
    }
    return ingested;
  }
  try {
    await runEffects(services, effects);
  } catch (error) {
    // Committed: the assignment stands and the agent's inbox shows it; only the live event is missing.
    logger.warn({ err: (error as Error).message }, "routing effects after the ingest failed");
  }
  return ingested;
}

const STATUS_RANK: Record<string, number> = {
  queued: 0,
  sending: 1,
  accepted: 2,
  sent: 3,
  delivered: 4,
  read: 5,
  played: 5,
};

const rankOf = (column: ReturnType<typeof sql.ref>) =>
  sql`case ${column} when 'queued' then 0 when 'sending' then 1 when 'accepted' then 2 when 'sent' then 3 when 'delivered' then 4 when 'read' then 5 when 'played' then 5 when 'failed' then 99 else 0 end`;

/** One entry of a status webhook's `statuses` list, as far as Kanal reads it. */
type StatusInput = {
  id?: string;
  status?: string;
  timestamp?: string;
  errors?: { code?: number; title?: string; message?: string; error_data?: { details?: string } }[];
  biz_opaque_callback_data?: string;
};

type AppliedStatus = {
  messageId: string;
  conversationId: string;
  status: string;
  assigneeUserId: string | null;
};

/** The VALUES row of one status, or null for one Kanal does not track. */
function statusRow(st: StatusInput) {
  const next = st.status;
  if (!st.id || !next) return null;
  const failed = next === "failed";
  const rank = STATUS_RANK[next];
  if (!failed && rank === undefined) return null;
  const e = st.errors?.[0];
  const error = failed
    ? JSON.stringify({
        code: e?.code ?? null,
        title: e?.title ?? e?.message ?? "failed",
        details: e?.error_data?.details ?? null,
      })
    : null;
  // biz_opaque_callback_data carries our message id: it finds the row even before its wamid was stored
  // (a status can overtake the send's own answer, or the worker died in between).
  const opaque = st.biz_opaque_callback_data?.startsWith("msg_") ? st.biz_opaque_callback_data : null;
  // `failed` is terminal unless the message was already delivered; any other status only moves forward.
  const below = failed ? (STATUS_RANK.delivered ?? 4) : (rank ?? 0);
  const at = st.timestamp ? new Date(Number(st.timestamp) * 1000) : new Date();
  return {
    keys: [st.id, opaque].filter((k): k is string => k !== null),
    row: { wamid: st.id, status: next, at, error, opaque, below },
  };
}

type StatusRow = NonNullable<ReturnType<typeof statusRow>>["row"];

/**
 * Applies the statuses of one webhook change (Meta sends many per POST under load): one statement per
 * round, where a round holds at most one status per message — a message named twice in one change gets
 * its statuses in order, each judged against the one before. Returns what changed and whom to tell.
 */
export async function applyStatuses(
  db: Db,
  tenant: Tenant,
  statuses: readonly StatusInput[],
): Promise<AppliedStatus[]> {
  const rounds: { keys: Set<string>; rows: StatusRow[] }[] = [];
  for (const row of statuses.map(statusRow)) {
    if (!row) continue;
    // The round after the last one that already names this message (by wamid or by our id).
    const index = rounds.findLastIndex((r) => row.keys.some((k) => r.keys.has(k))) + 1;
    rounds[index] ??= { keys: new Set(), rows: [] };
    const round = rounds[index];
    for (const k of row.keys) round.keys.add(k);
    round.rows.push(row.row);
  }
  const applied: AppliedStatus[] = [];
  const schema = tenant.schema_name;
  for (const { rows } of rounds) {
    // One array per column (unnest), not a VALUES list: Postgres plans six parameters instead of six
    // per status, and does not build expressions row by row (a third of its CPU in the dispatch bench).
    const column = <K extends keyof StatusRow>(key: K) => rows.map((r) => r[key]);
    const result = await sql<{
      id: string;
      conversation_id: string;
      status: string;
      assignee_user_id: string | null;
    }>`
      update ${sql.id(schema, "messages")} as m
      set status = v.status, status_at = v.at, wamid = v.wamid, error = coalesce(v.error, m.error)
      from unnest(${column("wamid")}::text[], ${column("status")}::text[], ${column("at")}::timestamptz[],
          ${column("error")}::jsonb[], ${column("opaque")}::text[], ${column("below")}::int[])
          as v(wamid, status, at, error, opaque, below)
      where m.direction = 'outbound'
        and (m.wamid = v.wamid or m.id = v.opaque)
        and ${rankOf(sql.ref("m.status"))} < v.below
      returning m.id, m.conversation_id, m.status,
        -- A subquery, not a join in FROM: Postgres would build a whole-row copy of every joined
        -- conversation for UPDATE … FROM.
        (select c.assignee_user_id from ${sql.id(schema, "conversations")} as c where c.id = m.conversation_id)
          as assignee_user_id`.execute(db);
    for (const row of result.rows)
      applied.push({
        messageId: row.id,
        conversationId: row.conversation_id,
        status: row.status,
        assigneeUserId: row.assignee_user_id,
      });
  }
  return applied;
}

/**
 * Processes one stored webhook event: every entry, change, message and status in it. Idempotent — a
 * processed event is skipped, and messages are deduplicated on wamid — so the sweeper and BullMQ retries
 * can hand the same event over again safely.
 */
export const MAX_EVENT_ATTEMPTS = 20;

export async function processWebhookEvent(services: Services, eventId: string): Promise<IngestResult> {
  const { db, redis, logger } = services;
  // Counting attempts up front: an event that keeps failing is retired as a dead letter, not retried forever.
  const event = await db
    .withSchema("control")
    .updateTable("webhook_events")
    .set({ attempts: sql`attempts + 1` })
    .where("id", "=", eventId)
    .where("status", "=", "pending")
    .returningAll()
    .executeTakeFirst();
  const result: IngestResult = { messages: 0, duplicates: 0, statuses: 0, unknownNumbers: [] };
  if (!event) return result;
  if (event.attempts > MAX_EVENT_ATTEMPTS) {
    await db
      .withSchema("control")
      .updateTable("webhook_events")
      .set({
        status: "dead",
        error: `processing failed ${MAX_EVENT_ATTEMPTS} times`,
        processed_at: new Date(),
      })
      .where("id", "=", eventId)
      .execute();
    logger.error({ eventId }, "webhook event retired as dead letter after repeated failures");
    return result;
  }
  const payload = maskWebhookPayload(JSON.parse(event.body) as WebhookPayload);
  // The usual event holds one message and nothing else: the ingest's transaction marks it processed.
  const changes = (payload.entry ?? []).flatMap((entry) => entry.changes ?? []);
  const onlyMessageOf =
    changes.length === 1 &&
    changes[0]?.value?.messages?.length === 1 &&
    (changes[0].value.statuses ?? []).length === 0
      ? eventId
      : undefined;
  let marked = false;

  for (const entry of payload.entry ?? []) {
    for (const change of entry.changes ?? []) {
      const value = change.value;
      const phoneNumberId = value?.metadata?.phone_number_id;
      if (!value || !phoneNumberId) continue;
      const binding = await bindingForNumber(db, phoneNumberId);
      if (!binding) {
        result.unknownNumbers.push(phoneNumberId);
        continue;
      }
      const tenant = binding.tenant;
      const names = new Map((value.contacts ?? []).map((c) => [c.wa_id ?? "", c.profile?.name ?? null]));
      for (const message of value.messages ?? []) {
        const waId = String(message.from ?? "");
        if (!waId) continue;
        const ingested = await ingestAndRoute(
          services,
          tenant,
          { waId, profileName: names.get(waId) ?? null },
          message as InboundMessage,
          onlyMessageOf,
        );
        if (ingested?.eventMarked) marked = true;
        if (!ingested) {
          result.duplicates++;
          continue;
        }
        result.messages++;
        await afterIngest(services, ingested);
      }
      const appliedStatuses = await applyStatuses(db, tenant, (value.statuses ?? []) as StatusInput[]);
      for (const applied of appliedStatuses) {
        result.statuses++;
        await publishToUsers(
          redis,
          applied.assigneeUserId ? [applied.assigneeUserId] : [],
          "message.status",
          {
            tenant: tenant.slug,
            conversationId: applied.conversationId,
            messageId: applied.messageId,
            status: applied.status,
          },
        );
      }
    }
  }

  if (marked) return result;
  const unknownOnly =
    result.unknownNumbers.length > 0 && result.messages + result.duplicates + result.statuses === 0;
  await db
    .withSchema("control")
    .updateTable("webhook_events")
    .set({
      status: unknownOnly ? "unknown_number" : "processed",
      processed_at: new Date(),
      error: result.unknownNumbers.length
        ? `unknown phone_number_id: ${[...new Set(result.unknownNumbers)].join(", ")}`
        : null,
    })
    .where("id", "=", eventId)
    .execute();
  if (result.unknownNumbers.length)
    logger.warn(
      { eventId, phoneNumberIds: [...new Set(result.unknownNumbers)] },
      "webhook for unknown phone_number_id kept",
    );
  return result;
}

/** Events of one `process-events` job processed at once (per-customer advisory locks serialise the rest). */
export const EVENTS_IN_FLIGHT_PER_JOB = 8;

/**
 * Processes a batch of stored webhook events (one `process-events` job), at most
 * `EVENTS_IN_FLIGHT_PER_JOB` at a time. Each event is processed as `processWebhookEvent` does — its own
 * attempt count, skipped once processed — so one event's failure does not hold up the others: all are
 * tried, then the job fails naming the events that failed, and its retry finds the rest processed and
 * skips them. An event that keeps failing is retired as a dead letter after its attempts, as alone.
 */
export async function processWebhookEvents(
  services: Services,
  eventIds: readonly string[],
): Promise<IngestResult> {
  const total: IngestResult = { messages: 0, duplicates: 0, statuses: 0, unknownNumbers: [] };
  const failed: { eventId: string; error: Error }[] = [];
  await mapLimit(eventIds, EVENTS_IN_FLIGHT_PER_JOB, async (eventId) => {
    try {
      const result = await processWebhookEvent(services, eventId);
      total.messages += result.messages;
      total.duplicates += result.duplicates;
      total.statuses += result.statuses;
      total.unknownNumbers.push(...result.unknownNumbers);
    } catch (error) {
      failed.push({ eventId, error: error as Error });
    }
  });
  if (failed.length > 0) {
    const first = failed[0] as { eventId: string; error: Error };
    throw new Error(
      `${failed.length} of ${eventIds.length} webhook events failed (${failed.map((f) => f.eventId).join(", ")}): ${first.error.message}`,
      { cause: first.error },
    );
  }
  return total;
}

/**
 * Hands a stored message to the rules' follow-ups and the media fetcher, and tells the agent of an
 * existing conversation (a new one was routed in the ingest). The rules' follow-ups (hint, automatic
 * reply, callback, handover) run here when there are any, with a fallback to their own job.
 */
async function afterIngest(services: Services, m: IngestedMessage): Promise<void> {
  const { queues, redis, logger } = services;
  if (!m.newConversation && m.assigneeUserId) {
    await publishToUsers(redis, [m.assigneeUserId], "message.created", {
      tenant: m.tenant.slug,
      conversationId: m.conversationId,
      messageId: m.messageId,
      direction: "inbound",
      customerName: m.customerName,
    });
  }
  if (afterInboundHasWork(m.text, m.sensitiveKinds, m.ruleAction)) {
    const job = {
      tenantId: m.tenant.id,
      conversationId: m.conversationId,
      messageId: m.messageId,
      ruleId: m.ruleId,
      ruleVersion: m.ruleVersion,
      sensitiveKinds: m.sensitiveKinds,
    };
    try {
      // Every effect in it is claimed before it happens, so the job below may safely run it again.
      await handleAfterInbound(services, job, {
        tenant: m.tenant,
        text: m.text,
        // A conversation routed in the ingest: its state as just committed (no need to look again).
        conversation:
          m.routing && m.routing.status !== "skipped"
            ? {
                status: m.routing.status === "assigned" ? "open" : "queued",
                handled_by: m.routing.handledBy,
                queue: m.routing.queue,
              }
            : null,
      });
    } catch (error) {
      logger.warn(
        { messageId: m.messageId, err: (error as Error).message },
        "rule follow-ups in the ingest failed; handing them to the inbound queue",
      );
      await queues.inbound.add("after-inbound", job, { jobId: `after-${m.messageId}` });
    }
  }
  if (m.hasMedia)
    await queues.inbound.add(
      "fetch-media",
      { tenantId: m.tenant.id, messageId: m.messageId },
      { jobId: `media-${m.messageId}` },
    );
}
