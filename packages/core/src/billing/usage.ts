import { DateTime } from "luxon";
import { sql } from "@kanal/db";
import type { Db } from "@kanal/db";
import { billingDb, USAGE_KINDS, type UsageKind } from "./tables";

/**
 * How far behind the newest counted row the collector looks again. Conversations are assigned and
 * template messages accepted by WhatsApp (wamid, status sent) after they were created — minutes
 * normally, hours when sending is throttled or Meta is down; three days cover that with room.
 */
const LOOKBACK = "3 days";

/** Outbound template messages WhatsApp accepted (failed sends are not billed by Meta, nor by us). */
const BILLABLE_TEMPLATE_STATUSES = ["sent", "delivered", "read"] as const;

/**
 * Derives billable events from the bank's conversations and messages into billing_usage. A conversation
 * is billable once it is first assigned — to the KSC (`handled_by = 'ksc'`) or in-house (bank agents and
 * advisors); a business-initiated template message once WhatsApp accepted it. The unique index on
 * (source, source_id) makes it idempotent; `full` rescans everything (backfill, repair).
 */
export async function collectUsage(
  db: Db,
  schema: string,
  options: { full?: boolean } = {},
): Promise<{ conversations: number; messages: number }> {
  const usage = sql.id(schema, "billing_usage");
  const since = (source: "conversation" | "message") =>
    options.full
      ? sql`'-infinity'::timestamptz`
      : sql`coalesce((select max(occurred_at) from ${usage} where source = ${source}) - interval '${sql.raw(LOOKBACK)}', '-infinity'::timestamptz)`;
  const conversations = await sql`
    insert into ${usage} (id, kind, source, source_id, occurred_at)
    select 'use_' || replace(gen_random_uuid()::text, '-', ''),
           case when c.handled_by = 'ksc' then 'ksc_conversation' else 'in_house_conversation' end,
           'conversation', c.id, c.assigned_at
      from ${sql.id(schema, "conversations")} c
     where c.assigned_at is not null and c.handled_by is not null
       and c.assigned_at >= ${since("conversation")}
    on conflict (source, source_id) do nothing`.execute(db);
  // Each template message carries its category from the bank's template registry (null for one sent
  // before the registry existed).
  const messages = await sql`
    insert into ${usage} (id, kind, source, source_id, category, occurred_at)
    select 'use_' || replace(gen_random_uuid()::text, '-', ''), 'template_message', 'message', m.id,
           upper(m.payload #>> '{template,category}'), m.created_at
      from ${sql.id(schema, "messages")} m
     where m.direction = 'outbound' and m.type = 'template'
       and m.status in (${sql.join(BILLABLE_TEMPLATE_STATUSES.map((s) => sql`${s}`))})
       and m.created_at >= ${since("message")}
    on conflict (source, source_id) do nothing`.execute(db);
  return {
    conversations: Number(conversations.numAffectedRows ?? 0),
    messages: Number(messages.numAffectedRows ?? 0),
  };
}

export interface UsageSummary {
  from: string;
  to: string;
  byKind: Record<UsageKind, { count: number; reported: number; unreportable: number }>;
  /** template messages by category (Meta's price differs per category); `unknown`: sent before the registry */
  templatesByCategory: Record<string, number>;
  total: number;
  pendingReport: number;
}

/** Counts of billable events in [from, to) by kind, with how many Stripe has received. */
export async function usageForPeriod(db: Db, schema: string, from: Date, to: Date): Promise<UsageSummary> {
  const rows = await billingDb(db)
    .withSchema(schema)
    .selectFrom("billing_usage")
    .select((eb) => [
      "kind",
      eb.fn.countAll<string>().as("count"),
      eb.fn.count<string>("reported_at").as("reported"),
      eb.fn.count<string>("report_error").as("unreportable"),
    ])
    .where("occurred_at", ">=", from)
    .where("occurred_at", "<", to)
    .groupBy("kind")
    .execute();
  const byKind = Object.fromEntries(
    USAGE_KINDS.map((k) => [k, { count: 0, reported: 0, unreportable: 0 }]),
  ) as UsageSummary["byKind"];
  for (const r of rows) {
    byKind[r.kind] = {
      count: Number(r.count),
      reported: Number(r.reported),
      unreportable: Number(r.unreportable),
    };
  }
  const categories = await billingDb(db)
    .withSchema(schema)
    .selectFrom("billing_usage")
    .select((eb) => ["category", eb.fn.countAll<string>().as("count")])
    .where("kind", "=", "template_message")
    .where("occurred_at", ">=", from)
    .where("occurred_at", "<", to)
    .groupBy("category")
    .execute();
  const templatesByCategory: Record<string, number> = { MARKETING: 0, UTILITY: 0, AUTHENTICATION: 0 };
  for (const r of categories) templatesByCategory[r.category ?? "unknown"] = Number(r.count);
  const values = Object.values(byKind);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    byKind,
    templatesByCategory,
    total: values.reduce((n, v) => n + v.count, 0),
    pendingReport: values.reduce((n, v) => n + v.count - v.reported - v.unreportable, 0),
  };
}

/** The calendar month containing `at` (or the given "YYYY-MM") in the bank's time zone, as [from, to). */
export function calendarMonth(at: Date, timeZone: string, month?: string): { from: Date; to: Date } {
  const start = month
    ? DateTime.fromObject(
        { year: Number(month.slice(0, 4)), month: Number(month.slice(5, 7)), day: 1 },
        { zone: timeZone },
      )
    : DateTime.fromJSDate(at, { zone: timeZone }).startOf("month");
  return { from: start.toJSDate(), to: start.plus({ months: 1 }).toJSDate() };
}
