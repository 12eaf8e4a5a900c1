import { type LookupAddress, type LookupOptions, lookup } from "node:dns";
import { sql } from "@kanal/db";
import { Webhook } from "standardwebhooks";
import { Agent, request } from "undici";
import { systemActor } from "../kernel/actor";
import { auditTenant } from "../kernel/audit";
import { decryptSecret } from "../kernel/crypto";
import type { Trx } from "../kernel/executor";
import { maskForStorage } from "../rules/guard";
import type { Services } from "../services";
import { privateAddress } from "./endpoints";
import { deliveryJob } from "./projection";
import { forgetSubscriptions } from "./subscriptions";

/** What one attempt of a delivery came to (the worker's job result). */
export type DeliveryOutcome =
  | { kind: "skipped"; reason: string }
  | { kind: "delivered"; statusCode: number }
  | { kind: "retry"; statusCode: number | null; error: string; nextAttemptAt: string }
  | { kind: "failed"; statusCode: number | null; error: string }
  | { kind: "gone" };

const SYSTEM = systemActor("bank-webhooks");
const EXCERPT_CHARS = 200;

interface DeliveryDeps {
  agent: Agent;
}

const depsByServices = new WeakMap<Services, DeliveryDeps>();

/**
 * One HTTP agent per process. In production its DNS lookup refuses private, loopback and link-local
 * addresses: a bank admin's URL must not reach Kanal's own network, also not through a name that
 * resolves there (checked at connect time, so a name that changes its answer cannot slip past).
 */
function depsFor(services: Services): DeliveryDeps {
  let deps = depsByServices.get(services);
  if (!deps) {
    const production = services.config.NODE_ENV === "production";
    deps = {
      agent: new Agent({
        connections: 16,
        connect: {
          timeout: services.config.BANK_WEBHOOK_TIMEOUT_MS,
          ...(production && { lookup: publicOnlyLookup }),
        },
      }),
    };
    depsByServices.set(services, deps);
  }
  return deps;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * `dns.lookup` for the connections to the banks' receivers in production: refuses a name that resolves
 * to a private, loopback or link-local address (answering as `net.connect` asked: one address, or all).
 */
export function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const refused = addresses.find((a) => privateAddress(a.address));
    if (refused || addresses.length === 0)
      return callback(
        Object.assign(new Error(`${hostname} resolves to a private or no address`), { code: "EPRIVATE" }),
        [],
      );
    if (options.all) return callback(null, addresses);
    const first = addresses[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
}

/**
 * The wait before attempt `attempt + 1` after attempt `attempt` failed: BASE × 2^(attempt−1), at most MAX,
 * ±20 % jitter so a receiver coming back is not hit by every delivery at once.
 */
function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const plain = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(plain * (0.8 + random() * 0.4));
}

/** The `webhook-signature` header: one `v1,<base64>` per secret that signs (two during a rotation). */
export function signatures(secrets: readonly string[], id: string, at: Date, body: string): string {
  return secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(" ");
}

type Answer = { statusCode: number | null; error: string | null; excerpt: string | null; ms: number };

async function post(
  services: Services,
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<Answer> {
  const started = performance.now();
  const timeoutMs = services.config.BANK_WEBHOOK_TIMEOUT_MS;
  try {
    const res = await request(url, {
      method: "POST",
      headers,
      body,
      dispatcher: depsFor(services).agent,
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    // A short excerpt of the answer for the log, never the whole body.
    let excerpt = "";
    try {
      for await (const chunk of res.body) {
        excerpt += Buffer.from(chunk as Uint8Array).toString("utf8");
        if (excerpt.length >= EXCERPT_CHARS) break;
      }
    } catch {
      // the answer's body broke off: the status code is what counts
    }
    res.body.destroy();
    const ms = Math.round(performance.now() - started);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    return {
      statusCode: res.statusCode,
      error: ok ? null : `HTTP ${res.statusCode}`,
      excerpt: excerpt ? maskForStorage(excerpt.slice(0, EXCERPT_CHARS)).text : null,
      ms,
    };
  } catch (error) {
    const e = error as Error & { code?: string; cause?: { code?: string } };
    const code = e.code ?? e.cause?.code;
    const timedOut = e.name === "TimeoutError" || e.name === "AbortError" || code?.includes("TIMEOUT");
    return {
      statusCode: null,
      error: timedOut ? `timeout after ${timeoutMs} ms` : `${code ?? e.name}: ${e.message}`.slice(0, 300),
      excerpt: null,
      ms: Math.round(performance.now() - started),
    };
  }
}

const tenantsByServices = new WeakMap<Services, Map<string, { schema_name: string; slug: string }>>();

/** A bank's schema and slug: they never change, so each process asks once per bank. */
async function tenantOf(services: Services, tenantId: string) {
  let cache = tenantsByServices.get(services);
  if (!cache) {
    cache = new Map();
    tenantsByServices.set(services, cache);
  }
  const hit = cache.get(tenantId);
  if (hit) return hit;
  const row = await services.db
    .withSchema("control")
    .selectFrom("tenants")
    .select(["schema_name", "slug"])
    .where("id", "=", tenantId)
    .executeTakeFirst();
  if (row) cache.set(tenantId, row);
  return row;
}

interface Claimed {
  payload: Record<string, unknown>;
  retry_until: Date;
  endpoint_id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
}

/**
 * One attempt of one delivery (the `deliver-webhook` job). The attempt is claimed first — only the job
 * carrying the next attempt number of a pending delivery of an enabled endpoint gets it, so relays
 * twice over, the sweeper and a manual resend never send one attempt twice — then signed with the
 * endpoint's secret(s) and posted; then the attempt is recorded and the delivery settled: 2xx delivered,
 * 410 Gone disables the endpoint, anything else (an error status, a timeout, a refused connection) is
 * retried with exponential backoff until `retry_until` (BANK_WEBHOOK_RETRY_HOURS after the event). An
 * endpoint failing every attempt for long enough is disabled and its bank's admins are alerted.
 */
export async function deliverWebhook(
  services: Services,
  input: { tenantId: string; deliveryId: string; attempt: number },
): Promise<DeliveryOutcome> {
  const { db, config } = services;
  const tenant = await tenantOf(services, input.tenantId);
  if (!tenant) return { kind: "skipped", reason: "no such bank" };
  const schema = tenant.schema_name;
  const deliveries = sql.id(schema, "webhook_deliveries");
  const endpoints = sql.id(schema, "webhook_endpoints");
  const started = new Date();
  // While the attempt runs it is not due: the sweeper leaves it alone unless the worker dies with it.
  const leaseUntil = new Date(started.getTime() + config.BANK_WEBHOOK_TIMEOUT_MS + 60_000);
  const claimed = (
    await sql<Claimed>`
      update ${deliveries} as d set attempts = ${input.attempt}, last_attempt_at = ${started},
        next_attempt_at = ${leaseUntil}
      from ${endpoints} as e
      where d.id = ${input.deliveryId} and d.status = 'pending' and d.attempts = ${input.attempt - 1}
        and e.id = d.endpoint_id and e.enabled
      returning d.payload, d.retry_until, e.id as endpoint_id, e.url, e.secret, e.previous_secret,
        e.previous_secret_expires_at`.execute(db)
  ).rows[0];
  if (!claimed) {
    // An endpoint deleted while this delivery was being written leaves it behind: it goes too.
    await sql`delete from ${deliveries} as d where d.id = ${input.deliveryId}
      and not exists (select 1 from ${endpoints} as e where e.id = d.endpoint_id)`.execute(db);
    return {
      kind: "skipped",
      reason: "not due (delivered, given up, attempted already, or endpoint disabled)",
    };
  }

  const secrets = [decryptSecret(claimed.secret, config.secretsKey)];
  if (
    claimed.previous_secret &&
    claimed.previous_secret_expires_at &&
    claimed.previous_secret_expires_at > started
  )
    secrets.push(decryptSecret(claimed.previous_secret, config.secretsKey));
  const body = JSON.stringify(claimed.payload);
  const answer = await post(
    services,
    claimed.url,
    {
      "content-type": "application/json",
      "user-agent": "Kanal-Webhooks/1.0",
      "webhook-id": input.deliveryId,
      "webhook-timestamp": String(Math.floor(started.getTime() / 1000)),
      "webhook-signature": signatures(secrets, input.deliveryId, started, body),
    },
    body,
  );

  const now = new Date();
  const code = answer.statusCode;
  const success = code !== null && code >= 200 && code < 300;
  const gone = code === 410;
  let nextAttemptAt: Date | null = null;
  if (!success && !gone) {
    const next = new Date(
      now.getTime() +
        backoffMs(input.attempt, config.BANK_WEBHOOK_BACKOFF_BASE_MS, config.BANK_WEBHOOK_BACKOFF_MAX_MS),
    );
    // The last attempt is made at the deadline itself, not skipped because the next wait overshoots it.
    nextAttemptAt =
      next <= claimed.retry_until ? next : now < claimed.retry_until ? claimed.retry_until : null;
  }
  const status = success ? "delivered" : nextAttemptAt ? "pending" : "failed";
  const error = gone ? "HTTP 410 Gone: endpoint disabled" : answer.error;

  const attemptRow = {
    delivery_id: input.deliveryId,
    attempt: input.attempt,
    started_at: started,
    duration_ms: answer.ms,
    status_code: code,
    outcome: success ? ("success" as const) : gone ? ("gone" as const) : ("failure" as const),
    error,
    response_excerpt: answer.excerpt,
  };
  let disabled: "gone" | "failing" | null = null;
  if (success) {
    // The usual case in one statement (one round trip, one commit): the attempt, the delivery, and the
    // endpoint's streak ended — written only when there is something to change, so concurrent deliveries
    // to one endpoint do not queue on its row.
    await sql`
      with attempt as (
        insert into ${sql.id(schema, "webhook_delivery_attempts")}
          (delivery_id, attempt, started_at, duration_ms, status_code, outcome, error, response_excerpt)
        values (${input.deliveryId}, ${input.attempt}, ${started}, ${answer.ms}, ${code}, 'success', null,
          ${answer.excerpt})),
      delivery as (
        update ${deliveries} set status = 'delivered', last_status_code = ${code}, last_error = null,
          delivered_at = ${now}
        where id = ${input.deliveryId} and attempts = ${input.attempt} and status = 'pending')
      update ${endpoints} set failure_streak = 0, failing_since = null, last_success_at = ${now}
      where id = ${claimed.endpoint_id} and (failure_streak > 0 or last_success_at is null
        or last_success_at < ${new Date(now.getTime() - 10_000)})`.execute(db);
  } else {
    disabled = await db.transaction().execute(async (trx) => {
      await trx.withSchema(schema).insertInto("webhook_delivery_attempts").values(attemptRow).execute();
      await trx
        .withSchema(schema)
        .updateTable("webhook_deliveries")
        .set({
          status,
          last_status_code: code,
          last_error: error,
          ...(nextAttemptAt && { next_attempt_at: nextAttemptAt }),
        })
        .where("id", "=", input.deliveryId)
        .where("attempts", "=", input.attempt)
        .where("status", "=", "pending")
        .execute();
      return recordFailure(services, trx, schema, claimed.endpoint_id, now, gone, error ?? "failed");
    });
  }
  if (disabled) {
    forgetSubscriptions(services, schema);
    services.logger.error(
      { tenant: tenant.slug, endpointId: claimed.endpoint_id, reason: disabled },
      "bank webhook endpoint disabled",
    );
  }

  if (success) return { kind: "delivered", statusCode: code };
  if (gone) return { kind: "gone" };
  if (!nextAttemptAt) return { kind: "failed", statusCode: code, error: error ?? "failed" };
  // The next attempt as a delayed job; if Redis refuses it now, the sweeper enqueues it once it is due.
  const job = deliveryJob(
    input.tenantId,
    input.deliveryId,
    input.attempt + 1,
    nextAttemptAt.getTime() - Date.now(),
  );
  await services.queues.webhooks
    .add(job.name, job.data, job.opts)
    .catch((e: Error) =>
      services.logger.warn({ err: e.message }, "next webhook attempt not queued; the sweeper will"),
    );
  return {
    kind: "retry",
    statusCode: code,
    error: error ?? "failed",
    nextAttemptAt: nextAttemptAt.toISOString(),
  };
}

/**
 * A failed attempt lengthens the endpoint's streak; a 410, or a streak of BANK_WEBHOOK_DISABLE_AFTER_FAILURES
 * failures in a row over at least BANK_WEBHOOK_DISABLE_AFTER_HOURS, disables it: no new deliveries are
 * written for it, pending ones wait (an admin enabling it again resumes them), and the disabling is
 * audited for the bank's admins, whose console shows it. Returns the reason when it disabled the endpoint.
 */
async function recordFailure(
  services: Services,
  trx: Trx,
  schema: string,
  endpointId: string,
  now: Date,
  gone: boolean,
  error: string,
): Promise<"gone" | "failing" | null> {
  const { config } = services;
  const row = (
    await sql<{ failure_streak: number; failing_since: Date; enabled: boolean }>`
      update ${sql.id(schema, "webhook_endpoints")} set failure_streak = failure_streak + 1,
        failing_since = coalesce(failing_since, ${now}), last_failure_at = ${now}
      where id = ${endpointId}
      returning failure_streak, failing_since, enabled`.execute(trx)
  ).rows[0];
  if (!row?.enabled) return null;
  const failingFor = now.getTime() - row.failing_since.getTime();
  const reason = gone
    ? "gone"
    : row.failure_streak >= config.BANK_WEBHOOK_DISABLE_AFTER_FAILURES &&
        failingFor >= config.BANK_WEBHOOK_DISABLE_AFTER_HOURS * 3_600_000
      ? "failing"
      : null;
  if (!reason) return null;
  await trx
    .withSchema(schema)
    .updateTable("webhook_endpoints")
    .set({ enabled: false, disabled_at: now, disabled_reason: reason, updated_at: now })
    .where("id", "=", endpointId)
    .execute();
  await auditTenant(trx, schema, SYSTEM, {
    action: "webhook_endpoint.disabled",
    targetType: "webhook_endpoint",
    targetId: endpointId,
    details: {
      reason,
      failureStreak: row.failure_streak,
      failingSince: row.failing_since.toISOString(),
      lastError: error,
    },
  });
  return reason;
}

/**
 * Enqueues the attempts that are due but have no job (Redis lost it, a worker died mid-attempt, or the
 * job of the next attempt could not be added), and deletes the delivery log past BANK_WEBHOOK_LOG_DAYS.
 * Runs from a timer in the worker, like the outbox sweeper; the claim makes a second job for the same
 * attempt harmless. Returns how many attempts it enqueued.
 */
export async function sweepBankWebhooks(
  services: Services,
  options: { graceMs?: number; limit?: number } = {},
): Promise<number> {
  const { db, config } = services;
  const tenants = await db
    .withSchema("control")
    .selectFrom("tenants")
    .select(["id", "schema_name"])
    .execute();
  const dueBefore = new Date(Date.now() - (options.graceMs ?? 30_000));
  const purgeBefore = new Date(Date.now() - config.BANK_WEBHOOK_LOG_DAYS * 86_400_000);
  const limit = options.limit ?? 500;
  const purgeDue = Date.now() - (lastPurge.get(services) ?? 0) >= PURGE_EVERY_MS;
  if (purgeDue) lastPurge.set(services, Date.now());
  let enqueued = 0;
  for (let i = 0; i < tenants.length; i += 50) {
    const chunk = tenants.slice(i, i + 50);
    // One statement per 50 banks: most have no deliveries, and each branch is a probe of an empty index.
    const due = await sql<{ tenant_id: string; id: string; attempts: number }>`${sql.join(
      chunk.map(
        (t) => sql`(select ${t.id}::text as tenant_id, d.id, d.attempts
          from ${sql.id(t.schema_name, "webhook_deliveries")} as d
          join ${sql.id(t.schema_name, "webhook_endpoints")} as e on e.id = d.endpoint_id and e.enabled
          where d.status = 'pending' and d.next_attempt_at < ${dueBefore}
          order by d.next_attempt_at limit ${limit})`,
      ),
      sql` union all `,
    )}`.execute(db);
    for (const d of due.rows) {
      const job = deliveryJob(d.tenant_id, d.id, d.attempts + 1);
      // A job of this attempt still waiting (a backlog) runs on its own. One that already ran — it found the
      // endpoint disabled, or Kanal failed — would make a new add a no-op (BullMQ keeps finished jobs for a
      // while under their id): it goes first.
      const existing = await services.queues.webhooks.getJob(job.opts?.jobId ?? "");
      if (existing) {
        const state = await existing.getState();
        if (state !== "completed" && state !== "failed") continue;
        await existing.remove();
      }
      await services.queues.webhooks.add(job.name, job.data, job.opts);
      enqueued++;
    }
    if (purgeDue)
      for (const t of chunk)
        await sql`delete from ${sql.id(t.schema_name, "webhook_deliveries")} where created_at < ${purgeBefore}`.execute(
          db,
        );
  }
  return enqueued;
}

/** The delivery log is purged at most this often (per process). */
const PURGE_EVERY_MS = 3_600_000;
const lastPurge = new WeakMap<Services, number>();
