import { type Db, sql, type Tenant, transactionOpenedWith } from "@kanal/db";
import { bankRef } from "../conversations/bank";
import { type InboundMessageInput, type ReceivedMessage, receiveMessage } from "../conversations/receive";
import type { Executor, Trx } from "../kernel/executor";
import { mapLimit } from "../kernel/map-limit";
import { outboxJob } from "../outbox/outbox";
import { afterCommit, beforeCommit, Changes } from "../outbox/unit-of-work";
import { routeLockedConversation } from "../routing/route";
import { type FollowUpState, followUpNeeded } from "../rules/follow-up-work";
import type { Services } from "../services";
import { handleNotificationAnswer, notificationAnswerOf, recordOnlyAnswer } from "./notification-replies";
import { mirrorNotificationStatuses } from "./notification-status";
import { bindingForNumber } from "./tenants-by-number";
import { applyTemplateUpdate, type TemplateUpdateValue } from "./templates";
import { maskWebhookPayload, type WebhookPayload, waIdsOf } from "./webhook";
type InboundMessage = Record<string, unknown> & {
  id?: string;
  from?: string;
  timestamp?: string;
  type?: string;
  context?: { id?: string };
};

interface IngestResult {
  messages: number;
  duplicates: number;
  statuses: number;
  /** template status and category updates applied */
  templates: number;
  unknownNumbers: string[];
}

/** What we keep of each WhatsApp message type: a text to show and search, and the type's own details. */
function describeInbound(
  m: InboundMessage,
): Pick<InboundMessageInput, "type" | "text" | "payload" | "media"> {
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
  const key = customerLockKey(schema, waId);
  if (/^[A-Za-z0-9_.:+-]+$/.test(key))
    return transactionOpenedWith(db, `select pg_advisory_xact_lock(hashtextextended('${key}', 0))`, fn);
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
    return fn(trx);
  });
}

/** The advisory lock key of one customer of one bank (erasure takes it too, to wait for an ingest under way). */
export const customerLockKey = (schema: string, waId: string) => `${schema}:${waId}`;

/** Routing inside the ingest's transaction failed: the transaction rolled back, message included. */
class RoutingInIngestFailed extends Error {}

/** A message was stored (not a duplicate). */
interface Ingested {
  /** the webhook event was marked processed in the ingest's transaction */
  eventMarked: boolean;
}

/**
 * Stores one inbound message exactly once and routes a new conversation in the same transaction (one
 * commit, and the agent's `conversation.assigned` right after it): the customer's lock, open/append
 * (`receiveMessage`), the routing decision, and the jobs the message needs (the rule book's follow-ups,
 * the media download) written to the outbox. If routing fails, the message is stored without it and a
 * routing job takes over; the routing tick routes whatever is still unrouted after that.
 */
async function ingestMessage(
  services: Services,
  tenant: Tenant,
  contact: { waId: string; profileName: string | null },
  raw: InboundMessage,
  event: { id: string; waIds: string[] } | undefined,
): Promise<Ingested | null> {
  const wamid = String(raw.id ?? "");
  if (!wamid) return null;
  const described = describeInbound(raw);
  const message: InboundMessageInput = {
    wamid,
    type: described.type,
    text: described.text,
    payload: described.payload,
    media: described.media,
    contextWamid: raw.context?.id ?? null,
    sentAt: raw.timestamp ? new Date(Number(raw.timestamp) * 1000) : new Date(),
    maskedKinds: Array.isArray(raw.kanal_masked) ? (raw.kanal_masked as string[]) : [],
  };
  const bank = bankRef(tenant);
  const db = services.bankDb(tenant.schema_name);
  // The only message of its webhook event: the event is done when (and only if) this commits, and records
  // whom it names (the bank and the customer) for retention and erasure.
  const alongside = event
    ? sql`marked as (update control.webhook_events set status = 'processed', processed_at = now(), error = null,
          tenant_id = ${tenant.id}, wa_ids = ${event.waIds}::text[]
        where id = ${event.id} and status = 'pending' returning id)`
    : undefined;
  const attempt = async (route: boolean) => {
    const changes = new Changes();
    const now = new Date();
    const done = await withCustomerLock(db, tenant.schema_name, contact.waId, async (trx) => {
      // A quick-reply answer to a notification (one lookup, button replies only). One that needs nobody,
      // with no chat open, is stored with the notification and opens nothing.
      const answer = await notificationAnswerOf(trx, tenant.schema_name, contact.waId, message);
      if (answer && !answer.escalate && !answer.openConversationId) {
        if (!(await recordOnlyAnswer(trx, tenant, contact, message, answer, changes))) return null;
        return { marked: false, entries: await beforeCommit(services, trx, changes) };
      }
      const received = await receiveMessage(trx, bank, contact, message, {
        lockBankForRouting: route,
        ...(alongside && { alongside }),
      });
      if (!received) return null;
      // Before routing: a card alert's "not me" makes a new chat the bank's whatever the mode.
      if (answer) await handleNotificationAnswer(trx, tenant, received, message, answer, changes, now);
      // The conversation as this transaction leaves it: what the follow-ups need to know.
      const state: FollowUpState = { kscSide: received.kscSide, flags: received.flags };
      if (received.newConversation) {
        const input = { tenantId: tenant.id, conversationId: received.conversationId, trigger: "new" };
        if (route) {
          try {
            const routed = await routeLockedConversation(trx, tenant, input, changes, now);
            state.kscSide = routed.handledBy === "ksc" || routed.queue === "ksc";
          } catch (error) {
            throw new RoutingInIngestFailed((error as Error).message, { cause: error });
          }
        } else {
          state.kscSide = null;
          changes.enqueue(
            outboxJob(
              "routing",
              "route-conversation",
              input as { tenantId: string; conversationId: string },
              {
                jobId: `route-${received.conversationId}`,
              },
            ),
          );
        }
      }
      // A new conversation's holder learns of it from `conversation.assigned` (no holder yet here); the
      // bank's systems get every message (core/bank-webhooks).
      changes.emit({
        type: "message.received",
        bank,
        conversationId: received.conversationId,
        messageId: received.messageId,
        assigneeUserId: received.newConversation ? null : received.assigneeUserId,
        customerName: received.customerName,
      });
      changes.enqueue(...followUpJobs(tenant, received, state));
      return { marked: event !== undefined, entries: await beforeCommit(services, trx, changes) };
    });
    if (done) await afterCommit(services, changes, done.entries);
    return done;
  };
  let done: Awaited<ReturnType<typeof attempt>>;
  try {
    done = await attempt(true);
  } catch (error) {
    if (!(error instanceof RoutingInIngestFailed)) throw error;
    services.logger.warn(
      { err: error.message },
      "routing in the ingest failed; handing it to the routing queue",
    );
    done = await attempt(false);
  }
  return done ? { eventMarked: done.marked } : null;
}

/** The jobs a stored message needs: the rule book's follow-ups (when it has any) and its media download. */
function followUpJobs(tenant: Tenant, m: ReceivedMessage, state: FollowUpState) {
  const jobs = [];
  if (followUpNeeded(m, state)) {
    jobs.push(
      outboxJob(
        "inbound",
        "after-inbound",
        {
          tenantId: tenant.id,
          conversationId: m.conversationId,
          messageId: m.messageId,
          ruleId: m.ruleId,
          ruleVersion: m.ruleVersion,
          sensitiveKinds: m.sensitiveKinds,
        },
        { jobId: `after-${m.messageId}` },
      ),
    );
  }
  if (m.hasMedia)
    jobs.push(
      outboxJob(
        "inbound",
        "fetch-media",
        { tenantId: tenant.id, messageId: m.messageId },
        { jobId: `media-${m.messageId}` },
      ),
    );
  return jobs;
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
  kind: string;
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
async function applyStatuses(
  db: Executor,
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
    // per status, and does not build expressions row by row.
    const column = <K extends keyof StatusRow>(key: K) => rows.map((r) => r[key]);
    const result = await sql<{
      id: string;
      conversation_id: string;
      status: string;
      assignee_user_id: string | null;
      kind: string;
    }>`
      update ${sql.id(schema, "messages")} as m
      set status = v.status, status_at = v.at, wamid = v.wamid, error = coalesce(v.error, m.error)
      from unnest(${column("wamid")}::text[], ${column("status")}::text[], ${column("at")}::timestamptz[],
          ${column("error")}::jsonb[], ${column("opaque")}::text[], ${column("below")}::int[])
          as v(wamid, status, at, error, opaque, below)
      where m.direction = 'outbound'
        and (m.wamid = v.wamid or m.id = v.opaque)
        and ${rankOf(sql.ref("m.status"))} < v.below
      returning m.id, m.conversation_id, m.status, m.kind,
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
        kind: row.kind,
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
  const { db, logger } = services;
  // Counting attempts up front: an event that keeps failing is retired as a dead letter, not retried forever.
  const event = await db
    .withSchema("control")
    .updateTable("webhook_events")
    .set({ attempts: sql`attempts + 1` })
    .where("id", "=", eventId)
    .where("status", "=", "pending")
    .returningAll()
    .executeTakeFirst();
  const result: IngestResult = { messages: 0, duplicates: 0, statuses: 0, templates: 0, unknownNumbers: [] };
  if (!event) return result;
  if (event.attempts > MAX_EVENT_ATTEMPTS) {
    await db
      .withSchema("control")
      .updateTable("webhook_events")
      .set({
        status: "dead",
        error: `processing failed ${MAX_EVENT_ATTEMPTS} times`,
        processed_at: new Date(),
        ...(await deadEventSubjects(db, event.body)),
      })
      .where("id", "=", eventId)
      .execute();
    logger.error({ eventId }, "webhook event retired as dead letter after repeated failures");
    return result;
  }
  const payload = maskWebhookPayload(JSON.parse(event.body) as WebhookPayload);
  // The usual event holds one message and nothing else: the ingest's transaction marks it processed.
  const changes = (payload.entry ?? []).flatMap((entry) => entry.changes ?? []);
  const waIds = waIdsOf(payload);
  const onlyMessageOf =
    changes.length === 1 &&
    changes[0]?.value?.messages?.length === 1 &&
    (changes[0].value.statuses ?? []).length === 0
      ? { id: eventId, waIds }
      : undefined;
  let marked = false;
  const tenantIds = new Set<string>();

  for (const entry of payload.entry ?? []) {
    for (const change of entry.changes ?? []) {
      const value = change.value;
      // Template changes name the WhatsApp Business Account (entry.id), not a number.
      if (change.field === "message_template_status_update" || change.field === "template_category_update") {
        const tenant =
          value && entry.id
            ? await applyTemplateUpdate(services, entry.id, change.field, value as TemplateUpdateValue)
            : null;
        if (tenant) {
          tenantIds.add(tenant.id);
          result.templates++;
        } else if (entry.id) result.unknownNumbers.push(`waba ${entry.id}`);
        continue;
      }
      const phoneNumberId = value?.metadata?.phone_number_id;
      if (!value || !phoneNumberId) continue;
      const binding = await bindingForNumber(db, phoneNumberId);
      if (!binding) {
        result.unknownNumbers.push(phoneNumberId);
        continue;
      }
      const tenant = binding.tenant;
      tenantIds.add(tenant.id);
      const names = new Map((value.contacts ?? []).map((c) => [c.wa_id ?? "", c.profile?.name ?? null]));
      for (const message of value.messages ?? []) {
        const waId = String(message.from ?? "");
        if (!waId) continue;
        const ingested = await ingestMessage(
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
      }
      const statuses = (value.statuses ?? []) as StatusInput[];
      if (statuses.length === 0) continue;
      // The statuses and what they project (the bank's webhook deliveries) commit together: a status
      // applied is never reported twice, nor lost to the bank's systems.
      const bank = bankRef(tenant);
      const statusChanges = new Changes();
      const entries = await db.transaction().execute(async (trx) => {
        const appliedStatuses = await applyStatuses(trx, tenant, statuses);
        result.statuses += appliedStatuses.length;
        // A notification's status goes with its message's, to the bank's systems too (notification.status).
        const notifications = appliedStatuses.filter((a) => a.kind === "notification");
        if (notifications.length > 0)
          await mirrorNotificationStatuses(
            trx,
            tenant,
            statusChanges,
            notifications.map((a) => a.messageId),
          );
        statusChanges.emit(
          ...appliedStatuses.map((applied) => ({
            type: "message.status" as const,
            bank,
            conversationId: applied.conversationId,
            messageId: applied.messageId,
            status: applied.status,
            assigneeUserId: applied.assigneeUserId,
          })),
        );
        return beforeCommit(services, trx, statusChanges);
      });
      await afterCommit(services, statusChanges, entries);
    }
  }

  if (marked) return result;
  const unknownOnly =
    result.unknownNumbers.length > 0 &&
    result.messages + result.duplicates + result.statuses + result.templates === 0;
  await db
    .withSchema("control")
    .updateTable("webhook_events")
    .set({
      status: unknownOnly ? "unknown_number" : "processed",
      processed_at: new Date(),
      error: result.unknownNumbers.length
        ? `unknown phone_number_id: ${[...new Set(result.unknownNumbers)].join(", ")}`
        : null,
      // One bank's event belongs to it (its retention and erasure apply); several banks' or none: null.
      tenant_id: tenantIds.size === 1 ? ([...tenantIds][0] as string) : null,
      wa_ids: waIds,
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

/** Whom an event retired as a dead letter names, as far as its body can still be read. */
async function deadEventSubjects(
  db: Db,
  body: string,
): Promise<{ tenant_id?: string | null; wa_ids?: string[] }> {
  try {
    const payload = JSON.parse(body) as WebhookPayload;
    const tenantIds = new Set<string>();
    for (const entry of payload.entry ?? [])
      for (const change of entry.changes ?? []) {
        const phoneNumberId = change.value?.metadata?.phone_number_id;
        const binding = phoneNumberId ? await bindingForNumber(db, phoneNumberId) : null;
        if (binding) tenantIds.add(binding.tenant.id);
      }
    return {
      tenant_id: tenantIds.size === 1 ? ([...tenantIds][0] as string) : null,
      wa_ids: waIdsOf(payload),
    };
  } catch {
    return {}; // unreadable: erasure finds it by its text
  }
}

/** Events of one `process-events` job processed at once (per-customer advisory locks serialise the rest). */
const EVENTS_IN_FLIGHT_PER_JOB = 8;

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
  const total: IngestResult = { messages: 0, duplicates: 0, statuses: 0, templates: 0, unknownNumbers: [] };
  const failed: { eventId: string; error: Error }[] = [];
  await mapLimit(eventIds, EVENTS_IN_FLIGHT_PER_JOB, async (eventId) => {
    try {
      const result = await processWebhookEvent(services, eventId);
      total.messages += result.messages;
      total.duplicates += result.duplicates;
      total.statuses += result.statuses;
      total.templates += result.templates;
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
