import { sql, type Tenant } from "@kanal/db";
import { PRIORITY } from "@kanal/queue";
import { bankRef } from "../conversations/bank";
import { systemActor } from "../kernel/actor";
import { auditControl, auditTenant } from "../kernel/audit";
import { inTransaction } from "../outbox/unit-of-work";
import type { Services } from "../services";
import { GraphClient, GraphError, type GraphErrorClass } from "./graph";
import { mirrorNotificationStatuses } from "./notification-status";
import { SendLimiter } from "./limiter";
import { accessToken, bindingForTenant, forgetNumber, type NumberBinding } from "./tenants-by-number";

/** What the worker does with the job after one dispatch step. */
export type DispatchOutcome =
  | { kind: "done"; status: string }
  | { kind: "delay"; ms: number; reason: string }
  | { kind: "retry"; error: string };

interface DispatchDeps {
  services: Services;
  graph: GraphClient;
  limiter: SendLimiter;
}

function createDispatchDeps(services: Services): DispatchDeps {
  const { config, redis } = services;
  return {
    services,
    graph: new GraphClient({ baseUrl: config.WHATSAPP_API_BASE_URL, version: config.WHATSAPP_API_VERSION }),
    limiter: new SendLimiter(redis, {
      prefix: config.QUEUE_PREFIX,
      pairBurst: config.WHATSAPP_PAIR_BURST,
      pairIntervalMs: config.WHATSAPP_PAIR_INTERVAL_MS,
    }),
  };
}

const depsByServices = new WeakMap<Services, DispatchDeps>();

/** One Graph client and limiter per process (per Services), shared by every job that needs them. */
export function dispatchDepsFor(services: Services): DispatchDeps {
  let deps = depsByServices.get(services);
  if (!deps) {
    deps = createDispatchDeps(services);
    depsByServices.set(services, deps);
  }
  return deps;
}

const jitter = (ms: number) => Math.round(ms * (0.8 + Math.random() * 0.4));

function metaPayload(
  message: { type: string; text: string | null; payload: Record<string, unknown> | null },
  to: string,
  messageId: string,
) {
  const base = { to, biz_opaque_callback_data: messageId };
  if (message.type === "template") {
    const t = (message.payload?.template ?? {}) as {
      name: string;
      language: string;
      params?: string[];
      /** Meta's components, built from the bank's template registry when the message was written */
      components?: Record<string, unknown>[];
    };
    const components =
      t.components ??
      (t.params?.length
        ? [{ type: "body", parameters: t.params.map((text) => ({ type: "text", text })) }]
        : []);
    return {
      ...base,
      type: "template",
      template: {
        name: t.name,
        language: { code: t.language },
        ...(components.length > 0 && { components }),
      },
    };
  }
  return { ...base, type: "text", text: { body: message.text ?? "", preview_url: false } };
}

async function pauseNumber(services: Services, binding: NumberBinding, reason: string): Promise<void> {
  const { db } = services;
  await db.transaction().execute(async (trx) => {
    const paused = await trx
      .withSchema("control")
      .updateTable("whatsapp_numbers")
      .set({ sending_paused_at: new Date(), sending_paused_reason: reason })
      .where("phone_number_id", "=", binding.phoneNumberId)
      .where("sending_paused_at", "is", null)
      .returning("phone_number_id")
      .executeTakeFirst();
    if (!paused) return;
    const entry = {
      action: "whatsapp.sending_paused",
      targetType: "whatsapp_number",
      targetId: binding.phoneNumberId,
      details: { reason },
    };
    await auditTenant(trx, binding.tenant.schema_name, systemActor("dispatch"), entry);
    await auditControl(trx, systemActor("dispatch"), { ...entry, tenantId: binding.tenant.id });
  });
  forgetNumber(binding.phoneNumberId);
  services.logger.error(
    { tenant: binding.tenant.slug, phoneNumberId: binding.phoneNumberId, reason },
    "whatsapp sending paused: access token invalid",
  );
}

/** Status changes of sent messages, for the listeners (the holder's console shows them). */
async function announce(
  services: Services,
  tenant: Tenant,
  messages: readonly { id: string; conversation_id: string; assignee_user_id: string | null }[],
  status: string,
): Promise<void> {
  const bank = bankRef(tenant);
  await services.events.emit(
    messages.map((m) => ({
      type: "message.status" as const,
      bank,
      conversationId: m.conversation_id,
      messageId: m.id,
      status,
      assigneeUserId: m.assignee_user_id,
    })),
  );
}

type TenantDb = ReturnType<Services["db"]["withSchema"]>;

/** The columns a send needs: the message, its conversation's assignee and the recipient. */
function selectOutbound(t: TenantDb) {
  return t
    .selectFrom("messages as m")
    .innerJoin("conversations as c", "c.id", "m.conversation_id")
    .innerJoin("customers as cu", "cu.id", "c.customer_id")
    .select([
      "m.id",
      "m.type",
      "m.text",
      "m.payload",
      "m.status",
      "m.priority",
      "m.kind",
      "m.sending_started_at",
      "m.conversation_id",
      "c.assignee_user_id",
      "cu.wa_id",
    ]);
}

/** Claims rows for sending (the claim a later attempt reconciles); returns the ids it got. */
async function claim(t: TenantDb, ids: readonly string[], from: string): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await t
    .updateTable("messages")
    .set({ status: "sending", sending_started_at: new Date(), send_attempts: sql`send_attempts + 1` })
    .where("id", "=", sql<string>`any(${[...ids]}::text[])`)
    .where("status", "=", from)
    .returning("id")
    .execute();
  return rows.map((r) => r.id);
}

/** Meta refused for now (throughput, pair rate, token): the rows go back to `queued`. */
async function requeue(t: TenantDb, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await t
    .updateTable("messages")
    .set({ status: "queued" })
    .where("id", "in", ids)
    .where("status", "=", "sending")
    .execute();
}

/** A status webhook may already have moved a row on (and set the wamid); only fill in what is missing. */
async function storeWamids(t: TenantDb, schema: string, accepted: readonly { id: string; wamid: string }[]) {
  if (accepted.length === 0) return;
  const ids = accepted.map((a) => a.id);
  const wamids = accepted.map((a) => a.wamid);
  await sql`
    update ${sql.id(schema, "messages")} as m
    set wamid = coalesce(m.wamid, v.wamid),
        status = case when m.status = 'sending' then 'accepted' else m.status end
    from unnest(${ids}::text[], ${wamids}::text[]) as v(id, wamid)
    where m.id = v.id`.execute(t);
}

async function markFailed(services: Services, t: TenantDb, messageId: string, error: GraphError) {
  await t
    .updateTable("messages")
    .set({
      status: "failed",
      status_at: new Date(),
      error: JSON.stringify({ code: error.code ?? null, title: error.title, details: error.details ?? null }),
    })
    .where("id", "=", messageId)
    .execute();
  if (error.code === 100)
    services.logger.error({ messageId, code: error.code }, "Graph API rejected our request as invalid");
}

type Outbound = Awaited<ReturnType<ReturnType<typeof selectOutbound>["execute"]>>[number] & { wa_id: string };

type SendResult = { message: Outbound; answeredAt: number } & (
  | { wamid: string; error?: undefined }
  | { error: Error; wamid?: undefined }
);

/**
 * What a send's outcome means for its message — Graph's error policy, one for the single and the batch
 * path (whatsapp/README.md, "Errors"): `accepted`; `throughput` (130429/80007: the number cools down, the
 * row goes back to `queued`); `pair_rate` (131056: that recipient cools down, back to `queued`);
 * `token_invalid` (190: the number's sending is paused, back to `queued`); `permanent` (the row fails with
 * Meta's reason); `transient` (a timeout or 5xx may have reached Meta: the row stays `sending` and is
 * reconciled against its status webhook before it is sent again).
 */
type SendVerdict = "accepted" | GraphErrorClass;

function sendVerdict(result: { error?: unknown }): SendVerdict {
  if (result.error === undefined) return "accepted";
  return result.error instanceof GraphError ? result.error.kind : "transient";
}

/**
 * Sends per limiter call, claim and wamid statement: about one window of a default number (80/s);
 * docs/BENCHMARKS.md §4 has the chunk sizes tried.
 */
const SEND_CHUNK = 80;

/** What one chunk left to do. */
interface ChunkOutcome {
  /** the verdict per message that was sent (claimed and called) */
  verdicts: Map<string, SendVerdict>;
  /** When (epoch ms) the rows held back may be tried again: stamped when the wait was learnt. */
  retryAt: number[];
  stop: "window" | "token" | null;
  /** Rows this chunk is done with (sent, failed, left `sending` for reconciling, or claimed elsewhere). */
  finished: Set<string>;
}

/**
 * Sends one chunk of one number's messages: the limiter decides per message (window, pair rate), the
 * granted rows are claimed, sent concurrently, their slots stamped with one call and their wamids stored
 * with one statement, and every outcome is settled by the one policy (`sendVerdict`). Rows a Graph error
 * leaves to reconcile stay `sending`; the caller decides who reconciles them.
 */
async function sendChunk(
  deps: DispatchDeps,
  binding: NumberBinding,
  chunk: readonly Outbound[],
  options: { attemptsMade: number; lane: "reply" | "bulk"; claimFrom: "queued" | "sending" },
  deferred: Set<string>,
): Promise<ChunkOutcome> {
  const { services, graph, limiter } = deps;
  const { config } = services;
  const schema = binding.tenant.schema_name;
  const t = services.db.withSchema(schema);
  const stamp = Date.now();
  const members = chunk.map((m) => `${m.id}:${options.attemptsMade}:${stamp}`);
  const verdicts = await limiter.acquireBulk(
    binding.phoneNumberId,
    binding.throughputPerSecond,
    chunk.map((m, i) => ({ member: members[i] as string, recipient: m.wa_id })),
    options.lane,
  );
  const outcome: ChunkOutcome = { verdicts: new Map(), retryAt: [], stop: null, finished: new Set() };
  const granted: Outbound[] = [];
  chunk.forEach((m, i) => {
    const v = verdicts[i] ?? 0;
    if (v === 0) {
      granted.push(m);
      return;
    }
    // Negative: this recipient's pair rate (the rest of the chunk may go on); positive: the number.
    outcome.retryAt.push(stamp + Math.abs(v));
    deferred.add(m.id);
    if (v > 0) outcome.stop = "window";
  });
  const claimed = new Set(
    await claim(
      t,
      granted.map((m) => m.id),
      options.claimFrom,
    ),
  );
  const token = claimed.size > 0 ? accessToken(binding, config.secretsKey) : "";
  const results: SendResult[] = await Promise.all(
    granted
      .filter((m) => claimed.has(m.id))
      .map(async (message): Promise<SendResult> => {
        try {
          const { wamid } = await graph.sendMessage(
            binding.phoneNumberId,
            token,
            metaPayload(message, message.wa_id, message.id),
          );
          return { message, wamid, answeredAt: performance.now() };
        } catch (error) {
          return { message, error: error as Error, answeredAt: performance.now() };
        }
      }),
  );
  // Each slot ages from its own answer; slots of rows claimed elsewhere were not used and age from now.
  const answered = new Map(results.map((r) => [r.message.id, r.answeredAt]));
  const completedAt = performance.now();
  await limiter.completeMany(
    binding.phoneNumberId,
    chunk.flatMap((m, i) => {
      if (verdicts[i] !== 0) return [];
      const at = answered.get(m.id);
      return [{ member: members[i] as string, answeredMsAgo: at === undefined ? 0 : completedAt - at }];
    }),
  );
  for (const m of granted) outcome.finished.add(m.id);

  const byVerdict = new Map<SendVerdict, SendResult[]>();
  for (const r of results) {
    const verdict = sendVerdict(r);
    outcome.verdicts.set(r.message.id, verdict);
    byVerdict.set(verdict, [...(byVerdict.get(verdict) ?? []), r]);
  }
  const of = (v: SendVerdict) => byVerdict.get(v) ?? [];
  const accepted = of("accepted") as (SendResult & { wamid: string })[];
  await storeWamids(
    t,
    schema,
    accepted.map((r) => ({ id: r.message.id, wamid: r.wamid })),
  );
  await announce(
    services,
    binding.tenant,
    accepted.map((r) => r.message),
    "accepted",
  );
  const again = [...of("throughput"), ...of("pair_rate"), ...of("token_invalid")];
  await requeue(
    t,
    again.map((r) => r.message.id),
  );
  for (const r of again) {
    outcome.finished.delete(r.message.id);
    deferred.add(r.message.id);
  }
  if (of("throughput").length > 0) {
    const ms = jitter(1_000);
    await limiter.coolDownNumber(binding.phoneNumberId, ms);
    outcome.retryAt.push(Date.now() + ms);
    outcome.stop = "window";
  }
  for (const r of of("pair_rate")) {
    const ms = jitter(config.WHATSAPP_PAIR_INTERVAL_MS);
    await limiter.coolDownPair(binding.phoneNumberId, r.message.wa_id, ms);
    outcome.retryAt.push(Date.now() + ms);
  }
  const permanent = of("permanent");
  if (permanent.length > 0) {
    // The failure and what it projects (the bank's `message.status` webhook) commit together.
    await inTransaction(services, async (trx, changes) => {
      for (const r of permanent)
        await markFailed(services, trx.withSchema(schema), r.message.id, r.error as GraphError);
      const bank = bankRef(binding.tenant);
      changes.emit(
        ...permanent.map((r) => ({
          type: "message.status" as const,
          bank,
          conversationId: r.message.conversation_id,
          messageId: r.message.id,
          status: "failed",
          assigneeUserId: r.message.assignee_user_id,
        })),
      );
      // A failed notification is reported as such too (notification.status, with Meta's reason).
      await mirrorNotificationStatuses(
        trx,
        binding.tenant,
        changes,
        permanent.filter((r) => r.message.kind === "notification").map((r) => r.message.id),
      );
    });
  }
  const tokenRejected = of("token_invalid")[0]?.error as GraphError | undefined;
  if (tokenRejected) {
    await pauseNumber(
      services,
      binding,
      `access token rejected (#${tokenRejected.code}): ${tokenRejected.title}`.slice(0, 300),
    );
    outcome.stop = "token";
  }
  return outcome;
}

/**
 * One step of sending one message (a reply, a system message, or a row an earlier attempt claimed). Never
 * sends twice: the row is claimed (`sending`) before the call; a claim found on a later attempt means an
 * earlier attempt may have reached Meta, so it first waits for the status webhook (which carries our id
 * in biz_opaque_callback_data) before it sends again. The send itself is `sendChunk` with one row.
 */
export async function dispatchMessage(
  deps: DispatchDeps,
  input: { tenantId: string; messageId: string; attemptsMade: number },
): Promise<DispatchOutcome> {
  const { services } = deps;
  const { db, config } = services;
  const binding = await bindingForTenant(db, input.tenantId);
  if (!binding) return { kind: "done", status: "no_number" };
  const t = db.withSchema(binding.tenant.schema_name);
  // The job was relayed from the outbox after its row committed: a missing row was erased or purged.
  const message = await selectOutbound(t).where("m.id", "=", input.messageId).executeTakeFirst();
  if (!message) return { kind: "done", status: "missing" };
  if (message.status !== "queued" && message.status !== "sending")
    return { kind: "done", status: message.status };
  if (message.status === "sending" && message.sending_started_at) {
    const waited = Date.now() - message.sending_started_at.getTime();
    if (waited < config.DISPATCH_RECONCILE_MS)
      return { kind: "delay", ms: config.DISPATCH_RECONCILE_MS - waited + 50, reason: "reconcile" };
  }
  // Meta's status webhook for the earlier attempt may be stored and not yet processed (Redis was away:
  // it waits for the sweeper): it would tell that attempt reached Meta. Sending again now would send twice.
  if (message.status === "sending" && (await statusWebhookWaiting(db, input.messageId)))
    return { kind: "delay", ms: 2_000, reason: "status_webhook_pending" };
  if (binding.pausedReason) return { kind: "delay", ms: 60_000, reason: "number_paused" };
  if (!message.wa_id) return { kind: "done", status: "no_recipient" };

  const outcome = await sendChunk(
    deps,
    binding,
    [message as Outbound],
    {
      attemptsMade: input.attemptsMade,
      lane: message.priority === "bulk" ? "bulk" : "reply",
      claimFrom: message.status,
    },
    new Set(),
  );
  const verdict = outcome.verdicts.get(message.id);
  if (verdict === undefined) {
    if (outcome.finished.has(message.id)) return { kind: "done", status: "claimed_elsewhere" };
    const wait = Math.max(1, Math.min(...outcome.retryAt) - Date.now());
    return { kind: "delay", ms: wait, reason: "rate_limit" };
  }
  switch (verdict) {
    case "accepted":
      return { kind: "done", status: "accepted" };
    case "permanent":
      return { kind: "done", status: "failed" };
    case "token_invalid":
      return { kind: "delay", ms: 60_000, reason: "number_paused" };
    case "throughput":
    case "pair_rate":
      return {
        kind: "delay",
        ms: Math.max(1, Math.min(...outcome.retryAt) - Date.now()),
        reason: verdict === "throughput" ? "meta_throughput" : "meta_131056",
      };
    case "transient":
      // The row stays `sending`: the retry reconciles it before sending again.
      return { kind: "retry", error: "the Graph API did not answer conclusively" };
  }
}

/**
 * Whether a stored webhook event that is still pending names this message (a status carries our id in
 * `biz_opaque_callback_data`). Only asked before a message claimed by an earlier attempt is sent again,
 * so the scan of the pending events' bodies (few, unless the worker is far behind) stays off the hot path.
 */
async function statusWebhookWaiting(db: Services["db"], messageId: string): Promise<boolean> {
  const found = await sql<{ id: string }>`
    select id from control.webhook_events
    where status = 'pending' and strpos(body, ${JSON.stringify(messageId)}) > 0
    limit 1`.execute(db);
  return found.rows.length > 0;
}

/**
 * Messages an earlier attempt claimed (the worker died mid-send, or the answer was a timeout or 5xx) go
 * to the one-message path, which first waits for their status webhook and only then sends again. The job
 * id dedups repeated hand-overs.
 */
async function handOverToSingle(
  services: Services,
  tenantId: string,
  messageIds: readonly string[],
): Promise<void> {
  if (messageIds.length === 0) return;
  await services.queues.dispatch.addBulk(
    messageIds.map((messageId) => ({
      name: "send",
      data: { tenantId, messageId },
      opts: { jobId: `send-${messageId}`, priority: PRIORITY.bulk },
    })),
  );
}

/**
 * One step of sending a batch of one bank's bulk messages (`queueNotifications`): one query for the
 * rows, then chunk by chunk (`sendChunk`) while the number's window has room. Each message keeps the
 * guarantees of `dispatchMessage`; rows an earlier attempt claimed, and rows a Graph error left to
 * reconcile, go to the one-message path. What the limiter or Meta did not let through yet stays
 * `queued`, and the job comes back for it when a slot frees.
 */
export async function dispatchBatch(
  deps: DispatchDeps,
  input: { tenantId: string; messageIds: readonly string[]; attemptsMade: number },
): Promise<DispatchOutcome> {
  const { services, limiter } = deps;
  const { db } = services;
  const binding = await bindingForTenant(db, input.tenantId);
  if (!binding) return { kind: "done", status: "no_number" };
  if (binding.pausedReason) return { kind: "delay", ms: 60_000, reason: "number_paused" };
  const started = Date.now();
  let pending: Outbound[] | null = null;
  for (;;) {
    // While the number's window is full, a waiting batch does not even read its rows.
    let wait = await limiter.bulkWait(binding.phoneNumberId, binding.throughputPerSecond);
    if (wait === 0) {
      if (!pending) {
        const rows = await selectOutbound(db.withSchema(binding.tenant.schema_name))
          .where("m.id", "in", input.messageIds)
          .where("m.status", "in", ["queued", "sending"])
          .execute();
        // Relayed from the outbox after commit: nothing pending means all sent (or erased meanwhile).
        if (rows.length === 0) return { kind: "done", status: "sent" };
        await handOverToSingle(
          services,
          input.tenantId,
          rows.filter((m) => m.status === "sending").map((m) => m.id),
        );
        pending = rows.filter((m): m is Outbound => m.status === "queued" && m.wa_id !== null);
      }
      const deferred = new Set<string>();
      const retryAt: number[] = [];
      while (pending.length > deferred.size) {
        const chunk = pending.filter((m) => !deferred.has(m.id)).slice(0, SEND_CHUNK);
        const outcome = await sendChunk(
          deps,
          binding,
          chunk,
          { attemptsMade: input.attemptsMade, lane: "bulk", claimFrom: "queued" },
          deferred,
        );
        await handOverToSingle(
          services,
          input.tenantId,
          [...outcome.verdicts].filter(([, v]) => v === "transient").map(([id]) => id),
        );
        pending = pending.filter((m) => !outcome.finished.has(m.id));
        retryAt.push(...outcome.retryAt);
        if (outcome.stop === "token") return { kind: "delay", ms: 60_000, reason: "number_paused" };
        if (outcome.stop === "window") break;
      }
      if (pending.length === 0) return { kind: "done", status: "sent" };
      // Counted from when the limiter answered, not from now: the chunk's sends took time since.
      wait = Math.max(1, Math.min(Math.min(...retryAt) - Date.now(), 1_000));
    }
    // A wait within the window is slept here (exact, and no queue round trips); longer ones, a run that
    // has gone on for a while, or too many batches waiting at once in this process park the job instead.
    if (wait > INLINE_WAIT_MS || Date.now() - started > INLINE_RUN_MS || inlineWaiters >= MAX_INLINE_WAITERS)
      return { kind: "delay", ms: wait, reason: "rate_limit" };
    inlineWaiters++;
    try {
      await new Promise((r) => setTimeout(r, wait));
    } finally {
      inlineWaiters--;
    }
  }
}

/** Longest limiter wait a batch sleeps through in its job (about one window). */
const INLINE_WAIT_MS = 1_500;
/** How long one run of a batch job may keep its worker slot before it parks and lets others go first. */
const INLINE_RUN_MS = 30_000;
/** Batches sleeping in their job at once, per process: half the dispatch worker's 64 slots stay free for replies. */
const MAX_INLINE_WAITERS = 32;
let inlineWaiters = 0;

/** Marks the customer's messages as read at Meta when an agent opens the chat. */
export async function markConversationRead(
  deps: DispatchDeps,
  input: { tenantId: string; conversationId: string },
): Promise<DispatchOutcome> {
  const { services, graph, limiter } = deps;
  const binding = await bindingForTenant(services.db, input.tenantId);
  if (!binding) return { kind: "done", status: "no_number" };
  const t = services.db.withSchema(binding.tenant.schema_name);
  const latest = await t
    .selectFrom("messages")
    .select(["id", "wamid"])
    .where("conversation_id", "=", input.conversationId)
    .where("direction", "=", "inbound")
    .where("status", "=", "received")
    .orderBy("created_at", "desc")
    .limit(1)
    .executeTakeFirst();
  if (!latest?.wamid) return { kind: "done", status: "nothing_unread" };
  if (binding.pausedReason) return { kind: "done", status: "number_paused" };
  const slot = `read:${latest.id}:${Date.now()}`;
  const wait = await limiter.acquire(binding.phoneNumberId, null, binding.throughputPerSecond, slot);
  if (wait > 0) return { kind: "delay", ms: wait, reason: "rate_limit" };
  try {
    await graph
      .markRead(binding.phoneNumberId, accessToken(binding, services.config.secretsKey), latest.wamid)
      .finally(() => limiter.complete(binding.phoneNumberId, slot));
  } catch (error) {
    if (error instanceof GraphError && error.kind === "transient")
      return { kind: "retry", error: error.message };
    return { kind: "done", status: "mark_read_failed" };
  }
  await t
    .updateTable("messages")
    .set({ status: "read", status_at: new Date() })
    .where("conversation_id", "=", input.conversationId)
    .where("direction", "=", "inbound")
    .where("status", "=", "received")
    .execute();
  return { kind: "done", status: "read" };
}

/** Fetches a customer's media from the Graph API with the bank's token and keeps it (never logged). */
export async function fetchMedia(
  deps: DispatchDeps,
  input: { tenantId: string; messageId: string },
): Promise<DispatchOutcome> {
  const { services, graph } = deps;
  const binding = await bindingForTenant(services.db, input.tenantId);
  if (!binding) return { kind: "done", status: "no_number" };
  const t = services.db.withSchema(binding.tenant.schema_name);
  const media = await t
    .selectFrom("media")
    .select(["id", "media_id", "status", "mime_type"])
    .where("message_id", "=", input.messageId)
    .executeTakeFirst();
  if (!media || media.status === "stored") return { kind: "done", status: media?.status ?? "missing" };
  const token = accessToken(binding, services.config.secretsKey);
  try {
    const meta = await graph.getMedia(media.media_id, token);
    const { bytes, contentType } = await graph.download(meta.url, token);
    await t
      .updateTable("media")
      .set({
        content: bytes,
        size_bytes: bytes.length,
        mime_type: meta.mime_type ?? contentType ?? media.mime_type,
        sha256: meta.sha256 ?? null,
        status: "stored",
        stored_at: new Date(),
        error: null,
      })
      .where("id", "=", media.id)
      .execute();
    return { kind: "done", status: "stored" };
  } catch (error) {
    if (error instanceof GraphError && error.kind !== "transient" && error.kind !== "throughput") {
      await t
        .updateTable("media")
        .set({ status: "failed", error: error.message.slice(0, 300) })
        .where("id", "=", media.id)
        .execute();
      return { kind: "done", status: "failed" };
    }
    return { kind: "retry", error: (error as Error).message };
  }
}

/**
 * What a Redis that lost its data took along with it, from the rows that still say so: every outbound
 * message not sent yet (`queued`, or `sending`: claimed by an attempt that may have reached Meta) gets its
 * `send` job again, and every media file not fetched yet its `fetch-media` job — under the job ids their
 * writers used, so a job that survived is not doubled. Safe at any time: the one-message path claims a row
 * before it sends and reconciles a claimed one first, and a fetched file is not fetched again.
 */
export async function requeueUnfinishedJobs(services: Services): Promise<{ sends: number; media: number }> {
  const { db, queues } = services;
  const tenants = await db
    .withSchema("control")
    .selectFrom("tenants")
    .select(["id", "schema_name"])
    .execute();
  let sends = 0;
  let media = 0;
  for (const tenant of tenants) {
    const t = db.withSchema(tenant.schema_name);
    const unsent = await t
      .selectFrom("messages")
      .select(["id", "priority"])
      .where("status", "in", ["queued", "sending"])
      .where("direction", "=", "outbound")
      .execute();
    if (unsent.length > 0) {
      await queues.dispatch.addBulk(
        unsent.map((m) => ({
          name: "send",
          data: { tenantId: tenant.id, messageId: m.id },
          opts: { jobId: `send-${m.id}`, priority: m.priority === "bulk" ? PRIORITY.bulk : PRIORITY.reply },
        })),
      );
      sends += unsent.length;
    }
    const unfetched = await t
      .selectFrom("media")
      .select("message_id")
      .where("status", "=", "pending")
      .execute();
    if (unfetched.length > 0) {
      await queues.inbound.addBulk(
        unfetched.map((m) => ({
          name: "fetch-media",
          data: { tenantId: tenant.id, messageId: m.message_id },
          opts: { jobId: `media-${m.message_id}` },
        })),
      );
      media += unfetched.length;
    }
  }
  return { sends, media };
}
