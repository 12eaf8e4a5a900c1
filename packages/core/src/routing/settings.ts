import { sql } from "@kanal/db";
import {
  holidaysForYear,
  openingState,
  type RoutingConfig,
  routingConfigSchema,
  validateRoutingForTenant,
} from "@kanal/routing";
import { z } from "zod";
import { auditTenant } from "../kernel/audit";
import { newId } from "../kernel/crypto";
import { AppError, type FieldError, forbidden, invalid, notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";
import { loadRoutingConfig } from "../conversations/bank";

interface RoutingSettingsView {
  routing: RoutingConfig;
  kscContracted: boolean;
  kscOrg: string | null;
  /** Right now, in the bank's calendar: open or closed and why, and the next change. */
  opening: {
    open: boolean;
    reason: string;
    holidayName: string | null;
    nextOpening: string | null;
    closesAt: string | null;
  };
}

async function kscOrgSlug(services: Services, tenantId: string): Promise<string | null> {
  const row = await services.db
    .withSchema("control")
    .selectFrom("ksc_contracts as c")
    .innerJoin("ksc_orgs as k", "k.id", "c.ksc_org_id")
    .select("k.slug")
    .where("c.tenant_id", "=", tenantId)
    .executeTakeFirst();
  return row?.slug ?? null;
}

export async function getRoutingSettings(
  services: Services,
  access: TenantAccess,
  now: Date = new Date(),
): Promise<RoutingSettingsView> {
  const routing = await loadRoutingConfig(services.db, access.schema);
  const kscOrg = await kscOrgSlug(services, access.tenant.id);
  const opening = openingState(routing, access.tenant.region, access.tenant.timezone, now);
  return {
    routing,
    kscContracted: kscOrg !== null,
    kscOrg,
    opening: {
      open: opening.open,
      reason: opening.reason,
      holidayName: opening.holidayName ?? null,
      nextOpening: opening.nextOpening?.toISOString() ?? null,
      closesAt: opening.closesAt?.toISOString() ?? null,
    },
  };
}

function zodFields(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(body)",
    message: issue.message,
  }));
}

/** The full configuration, validated by the schema (unknown fields refused) and against the contract. */
const routingConfigStrictSchema = z.strictObject(routingConfigSchema.shape);

export async function putRoutingSettings(
  services: Services,
  rctx: RequestContext,
  access: TenantAccess,
  body: unknown,
): Promise<RoutingSettingsView> {
  const parsed = routingConfigStrictSchema.safeParse(body);
  if (!parsed.success) throw invalid("Invalid routing configuration", zodFields(parsed.error));
  const config: RoutingConfig = parsed.data;
  const kscOrg = await kscOrgSlug(services, access.tenant.id);
  const check = validateRoutingForTenant(config, { kscContracted: kscOrg !== null });
  if (!check.ok) {
    const first = check.issues[0];
    throw new AppError("ksc_not_contracted", first?.message ?? "This mode needs a contracted KSC", {
      fields: check.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      messageDe: first?.messageDe,
    });
  }
  await services.db.transaction().execute(async (trx) => {
    const before = await loadRoutingConfig(trx, access.schema);
    await trx
      .withSchema(access.schema)
      .insertInto("settings")
      .values({ key: "routing", value: JSON.stringify(config), updated_at: new Date() })
      .onConflict((oc) =>
        oc.column("key").doUpdateSet({ value: JSON.stringify(config), updated_at: new Date() }),
      )
      .execute();
    const changed = (Object.keys(config) as (keyof RoutingConfig)[]).filter(
      (key) => JSON.stringify(before[key]) !== JSON.stringify(config[key]),
    );
    await auditTenant(trx, access.schema, rctx.actor, {
      action: "routing.updated",
      targetType: "settings",
      targetId: "routing",
      details: {
        changed,
        before: Object.fromEntries(changed.map((k) => [k, before[k]])),
        after: Object.fromEntries(changed.map((k) => [k, config[k]])),
      },
      ip: rctx.ip ?? null,
      requestId: rctx.requestId ?? null,
    });
  });
  // A new mode or new hours may move waiting chats now rather than at the next tick.
  await services.queues.routing
    .add("tick-tenant", { tenantId: access.tenant.id }, { removeOnComplete: true })
    .catch(() => undefined);
  return getRoutingSettings(services, access);
}

export function holidaysPreview(access: TenantAccess, config: RoutingConfig, year: number) {
  return {
    region: access.tenant.region,
    year,
    holidays: holidaysForYear(access.tenant.region, year),
    closures: config.closures.filter((d) => d.startsWith(`${year}-`)).sort(),
  };
}

// ---- absences ----

interface AbsenceView {
  id: string;
  userId: string;
  startsAt: string;
  endsAt: string;
  reason: string | null;
  createdBy: string | null;
  createdAt: string;
  current: boolean;
}

type AbsenceRow = {
  id: string;
  user_id: string;
  starts_at: Date;
  ends_at: Date;
  reason: string | null;
  created_by: string | null;
  created_at: Date;
};

const absenceView = (r: AbsenceRow, now: Date): AbsenceView => ({
  id: r.id,
  userId: r.user_id,
  startsAt: r.starts_at.toISOString(),
  endsAt: r.ends_at.toISOString(),
  reason: r.reason,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  current: r.starts_at <= now && r.ends_at > now,
});

/** bank_admin manages everyone's absences; every other person only their own. */
function assertMayManage(access: TenantAccess, actorId: string, userId: string) {
  if (access.role === "bank_admin") return;
  if (actorId !== userId) throw forbidden("Only a bank admin or the person themself can manage absences");
}

async function assertBankPerson(services: Services, access: TenantAccess, userId: string) {
  const found = await services.db
    .withSchema("control")
    .selectFrom("memberships")
    .select("user_id")
    .where("tenant_id", "=", access.tenant.id)
    .where("user_id", "=", userId)
    .executeTakeFirst();
  if (!found) throw notFound("User");
}

export async function listAbsences(
  services: Services,
  access: TenantAccess,
  filter: { userId?: string; includePast?: boolean } = {},
): Promise<AbsenceView[]> {
  const now = new Date();
  const result = await sql<AbsenceRow>`
    select id, user_id, starts_at, ends_at, reason, created_by, created_at
    from ${sql.id(access.schema, "advisor_absences")}
    where (${filter.userId ?? null}::text is null or user_id = ${filter.userId ?? null})
      and (${filter.includePast ?? false} or ends_at > ${now})
    order by starts_at, id
    limit 1000`.execute(services.db);
  return result.rows.map((r) => absenceView(r, now));
}

export async function createAbsence(
  services: Services,
  rctx: RequestContext,
  access: TenantAccess,
  actorId: string,
  userId: string,
  input: { startsAt: string; endsAt: string; reason?: string | null },
): Promise<AbsenceView> {
  assertMayManage(access, actorId, userId);
  await assertBankPerson(services, access, userId);
  const startsAt = new Date(input.startsAt);
  const endsAt = new Date(input.endsAt);
  if (!(endsAt > startsAt))
    throw invalid("The absence must end after it starts", [
      { path: "endsAt", message: "must be after startsAt" },
    ]);
  const id = newId("abs");
  const row = await services.db.transaction().execute(async (trx) => {
    const inserted = await sql<AbsenceRow>`
      insert into ${sql.id(access.schema, "advisor_absences")} (id, user_id, starts_at, ends_at, reason, created_by)
      values (${id}, ${userId}, ${startsAt}, ${endsAt}, ${input.reason ?? null}, ${actorId})
      returning id, user_id, starts_at, ends_at, reason, created_by, created_at`.execute(trx);
    await auditTenant(trx, access.schema, rctx.actor, {
      action: "absence.created",
      targetType: "user",
      targetId: userId,
      details: { absenceId: id, startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString() },
      ip: rctx.ip ?? null,
      requestId: rctx.requestId ?? null,
    });
    const first = inserted.rows[0];
    if (!first) throw new Error("absence insert returned nothing");
    return first;
  });
  return absenceView(row, new Date());
}

export async function deleteAbsence(
  services: Services,
  rctx: RequestContext,
  access: TenantAccess,
  actorId: string,
  absenceId: string,
): Promise<void> {
  const found = await sql<AbsenceRow>`
    select id, user_id, starts_at, ends_at, reason, created_by, created_at
    from ${sql.id(access.schema, "advisor_absences")} where id = ${absenceId}`.execute(services.db);
  const row = found.rows[0];
  if (!row) throw notFound("Absence");
  assertMayManage(access, actorId, row.user_id);
  await services.db.transaction().execute(async (trx) => {
    await sql`delete from ${sql.id(access.schema, "advisor_absences")} where id = ${absenceId}`.execute(trx);
    await auditTenant(trx, access.schema, rctx.actor, {
      action: "absence.deleted",
      targetType: "user",
      targetId: row.user_id,
      details: { absenceId },
      ip: rctx.ip ?? null,
      requestId: rctx.requestId ?? null,
    });
  });
  // Back from holiday early: they may take waiting chats right away.
  await services.queues.routing
    .add("backfill", { userId: row.user_id }, { removeOnComplete: true })
    .catch(() => undefined);
}
