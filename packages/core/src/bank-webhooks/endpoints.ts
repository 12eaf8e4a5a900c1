import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { BANK_WEBHOOK_EVENTS } from "@kanal/contracts/webhooks";
import { type Selectable, sql, type WebhookEndpointsTable } from "@kanal/db";
import { z } from "zod";
import { auditTenant } from "../kernel/audit";
import { encryptSecret, newId } from "../kernel/crypto";
import { invalid, notFound } from "../kernel/errors";
import type { Trx } from "../kernel/executor";
import type { RequestContext } from "../kernel/request-context";
import { outboxJob } from "../outbox/outbox";
import { inTransaction } from "../outbox/unit-of-work";
import { invalidFrom } from "../rules/validation";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";
import { forgetSubscriptions } from "./subscriptions";

type EndpointRow = Selectable<WebhookEndpointsTable>;

export interface EndpointView {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  state: "enabled" | "disabled";
  disabledAt: string | null;
  /** why it is disabled: `failing` and `gone` were Kanal's decision (the admins are alerted), `manual` an admin's */
  disabledReason: string | null;
  failureStreak: number;
  failingSince: string | null;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** during a rotation: until when the previous secret still signs */
  previousSecretExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

function view(row: EndpointRow, now = new Date()): EndpointView {
  const rotating = row.previous_secret_expires_at && row.previous_secret_expires_at > now;
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: row.events,
    state: row.enabled ? "enabled" : "disabled",
    disabledAt: iso(row.disabled_at),
    disabledReason: row.disabled_reason,
    failureStreak: row.failure_streak,
    failingSince: iso(row.failing_since),
    lastSuccessAt: iso(row.last_success_at),
    lastFailureAt: iso(row.last_failure_at),
    previousSecretExpiresAt: rotating ? iso(row.previous_secret_expires_at) : null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** A new signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes, base64. */
function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Where Kanal may post a bank's events: HTTPS only, without credentials in the URL (the signature
 * authenticates us). Outside production a plain-HTTP receiver on this machine (127.0.0.1, localhost,
 * [::1]) is allowed too, for development and tests. In production a private, loopback or link-local
 * address is refused as an IP literal here and again after DNS at every delivery (deliver.ts).
 */
function urlProblem(value: string, production: boolean): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "Keine gültige URL.";
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback && !production))
    return production
      ? "Nur HTTPS-Adressen sind erlaubt."
      : "Nur HTTPS-Adressen (oder http://127.0.0.1 in Entwicklung und Tests) sind erlaubt.";
  if (url.username || url.password)
    return "Zugangsdaten gehören nicht in die URL (die Signatur weist Kanal aus).";
  if (url.hash) return "Die URL darf keinen Anker (#…) enthalten.";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (production && (loopback || (isIP(host) !== 0 && privateAddress(host))))
    return "Private, lokale und Link-Local-Adressen sind nicht erlaubt.";
  return null;
}

/** Loopback, private (RFC 1918, unique-local), link-local, CGNAT and unspecified addresses. */
export function privateAddress(address: string): boolean {
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  if (isIP(v4) === 4) {
    const [a = 0, b = 0] = v4.split(".").map(Number);
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168)
    );
  }
  const v6 = address.toLowerCase();
  return v6 === "::" || v6 === "::1" || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6);
}

const eventsSchema = z
  .array(
    z.enum(BANK_WEBHOOK_EVENTS, {
      message: `Unbekanntes Ereignis. Erlaubt: ${BANK_WEBHOOK_EVENTS.join(", ")}.`,
    }),
  )
  .min(1, "Mindestens ein Ereignis wählen.")
  .transform((events) => [...new Set(events)].sort());

function inputSchema(production: boolean) {
  return z.strictObject({
    url: z
      .string()
      .trim()
      .max(2_000, "Höchstens 2000 Zeichen.")
      .superRefine((url, ctx) => {
        const problem = urlProblem(url, production);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
    events: eventsSchema,
    description: z.string().trim().max(200, "Höchstens 200 Zeichen.").nullable().optional(),
  });
}

const patchSchema = (production: boolean) =>
  inputSchema(production).partial().extend({ enabled: z.boolean().optional() });

type EndpointInput = z.input<ReturnType<typeof inputSchema>>;
type EndpointPatch = z.input<ReturnType<typeof patchSchema>>;

const isProduction = (services: Services) => services.config.NODE_ENV === "production";

function audit(
  trx: Trx,
  ctx: RequestContext,
  access: TenantAccess,
  action: string,
  id: string,
  details = {},
) {
  return auditTenant(trx, access.schema, ctx.actor, {
    action,
    targetType: "webhook_endpoint",
    targetId: id,
    details,
    ip: ctx.ip ?? null,
    requestId: ctx.requestId ?? null,
  });
}

async function lockEndpoint(trx: Trx, schema: string, id: string): Promise<EndpointRow> {
  const row = await trx
    .withSchema(schema)
    .selectFrom("webhook_endpoints")
    .selectAll()
    .where("id", "=", id)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("Webhook endpoint");
  return row;
}

export async function listEndpoints(services: Services, access: TenantAccess): Promise<EndpointView[]> {
  const rows = await services.db
    .withSchema(access.schema)
    .selectFrom("webhook_endpoints")
    .selectAll()
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map((r) => view(r));
}

export async function getEndpoint(
  services: Services,
  access: TenantAccess,
  id: string,
): Promise<EndpointView> {
  const row = await services.db
    .withSchema(access.schema)
    .selectFrom("webhook_endpoints")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound("Webhook endpoint");
  return view(row);
}

/** Registers an endpoint; the answer carries its signing secret, the only time it is shown. */
export async function createEndpoint(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  input: EndpointInput,
): Promise<EndpointView & { secret: string }> {
  const parsed = inputSchema(isProduction(services)).safeParse(input);
  if (!parsed.success) throw invalidFrom(parsed.error, "Invalid webhook endpoint");
  const secret = newSecret();
  const row = await services.db.transaction().execute(async (trx) => {
    const created = await trx
      .withSchema(access.schema)
      .insertInto("webhook_endpoints")
      .values({
        id: newId("whe"),
        url: parsed.data.url,
        description: parsed.data.description ?? null,
        events: parsed.data.events,
        secret: encryptSecret(secret, services.config.secretsKey),
        updated_at: new Date(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await audit(trx, ctx, access, "webhook_endpoint.created", created.id, {
      url: created.url,
      events: created.events,
    });
    return created;
  });
  forgetSubscriptions(services, access.schema);
  return { ...view(row), secret };
}

/**
 * Changes an endpoint's URL, events or description, or disables / enables it. Enabling an endpoint
 * (after Kanal disabled it, or an admin did) resumes its pending deliveries at once, with a fresh
 * failure count.
 */
export async function updateEndpoint(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  id: string,
  patch: EndpointPatch,
): Promise<EndpointView> {
  const parsed = patchSchema(isProduction(services)).safeParse(patch);
  if (!parsed.success) throw invalidFrom(parsed.error, "Invalid webhook endpoint");
  const data = parsed.data;
  const row = await inTransaction(services, async (trx, changes) => {
    const before = await lockEndpoint(trx, access.schema, id);
    const now = new Date();
    const enabling = data.enabled === true && !before.enabled;
    const disabling = data.enabled === false && before.enabled;
    const updated = await trx
      .withSchema(access.schema)
      .updateTable("webhook_endpoints")
      .set({
        ...(data.url !== undefined && { url: data.url }),
        ...(data.events !== undefined && { events: data.events }),
        ...(data.description !== undefined && { description: data.description }),
        ...(enabling && {
          enabled: true,
          disabled_at: null,
          disabled_reason: null,
          failure_streak: 0,
          failing_since: null,
        }),
        ...(disabling && { enabled: false, disabled_at: now, disabled_reason: "manual" }),
        updated_at: now,
      })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (enabling) {
      const resumed = await trx
        .withSchema(access.schema)
        .updateTable("webhook_deliveries")
        .set({ next_attempt_at: now })
        .where("endpoint_id", "=", id)
        .where("status", "=", "pending")
        .returning(["id", "attempts"])
        .execute();
      changes.enqueue(
        ...resumed.map((d) =>
          outboxJob(
            "webhooks",
            "deliver-webhook",
            { tenantId: access.tenant.id, deliveryId: d.id, attempt: d.attempts + 1 },
            // Its own id: the job of this attempt may have run already (and found the endpoint disabled).
            { jobId: `${d.id}-${d.attempts + 1}-resume-${now.getTime()}` },
          ),
        ),
      );
    }
    const changed = Object.fromEntries(
      Object.entries(data).filter(([key, value]) => value !== undefined && key !== "enabled"),
    );
    if (Object.keys(changed).length > 0)
      await audit(trx, ctx, access, "webhook_endpoint.updated", id, changed);
    if (enabling) await audit(trx, ctx, access, "webhook_endpoint.enabled", id);
    if (disabling) await audit(trx, ctx, access, "webhook_endpoint.disabled", id, { reason: "manual" });
    return updated;
  });
  forgetSubscriptions(services, access.schema);
  return view(row);
}

/** Deletes an endpoint with its delivery log; deliveries still pending are dropped. */
export async function deleteEndpoint(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  id: string,
): Promise<void> {
  await services.db.transaction().execute(async (trx) => {
    const row = await lockEndpoint(trx, access.schema, id);
    const dropped = await trx
      .withSchema(access.schema)
      .deleteFrom("webhook_deliveries")
      .where("endpoint_id", "=", id)
      .executeTakeFirst();
    await trx.withSchema(access.schema).deleteFrom("webhook_endpoints").where("id", "=", id).execute();
    await audit(trx, ctx, access, "webhook_endpoint.deleted", id, {
      url: row.url,
      deliveriesDeleted: Number(dropped.numDeletedRows),
    });
  });
  forgetSubscriptions(services, access.schema);
}

/**
 * A new signing secret (shown once). The previous one keeps signing beside it — two `v1,` signatures in
 * `webhook-signature` — for `overlapHours` (default BANK_WEBHOOK_SECRET_OVERLAP_HOURS), so the bank can
 * switch its receiver without losing an event. A rotation during an overlap ends the older overlap.
 */
export async function rotateSecret(
  services: Services,
  ctx: RequestContext,
  access: TenantAccess,
  id: string,
  input: { overlapHours?: number | undefined } = {},
): Promise<EndpointView & { secret: string }> {
  const overlapHours = input.overlapHours ?? services.config.BANK_WEBHOOK_SECRET_OVERLAP_HOURS;
  if (!(overlapHours >= 0 && overlapHours <= 168))
    throw invalid("overlapHours must be between 0 and 168", [
      { path: "overlapHours", message: "0 bis 168 Stunden." },
    ]);
  const secret = newSecret();
  const row = await services.db.transaction().execute(async (trx) => {
    await lockEndpoint(trx, access.schema, id);
    const now = new Date();
    const expires = new Date(now.getTime() + overlapHours * 3_600_000);
    const updated = await trx
      .withSchema(access.schema)
      .updateTable("webhook_endpoints")
      .set({
        previous_secret: overlapHours > 0 ? sql<string>`secret` : null,
        previous_secret_expires_at: overlapHours > 0 ? expires : null,
        secret: encryptSecret(secret, services.config.secretsKey),
        updated_at: now,
      })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await audit(trx, ctx, access, "webhook_endpoint.secret_rotated", id, {
      previousSecretValidUntil: overlapHours > 0 ? expires.toISOString() : null,
    });
    return updated;
  });
  return { ...view(row), secret };
}
