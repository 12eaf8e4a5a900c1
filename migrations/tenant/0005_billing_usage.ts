import { ddl, type SchemaMigration } from "@kanal/db/migration";

/**
 * One row per billable event of the bank, derived from conversations and messages. The unique
 * (source, source_id) makes counting idempotent however often the collector runs; reported_at marks what
 * Stripe has received (the row id is the meter event's identifier).
 */
export const migration: SchemaMigration = {
  name: "0005_billing_usage",
  up: ddl(`
create table {schema}.billing_usage (
  id text primary key,
  kind text not null check (kind in ('in_house_conversation', 'ksc_conversation', 'template_message')),
  source text not null check (source in ('conversation', 'message')),
  source_id text not null,
  occurred_at timestamptz not null,
  created_at timestamptz not null default now(),
  reported_at timestamptz,
  report_error text
);
create unique index billing_usage_source on {schema}.billing_usage (source, source_id);
create index billing_usage_unreported on {schema}.billing_usage (occurred_at) where reported_at is null and report_error is null;
create index billing_usage_occurred on {schema}.billing_usage (occurred_at, kind);

-- The collector reads recent assignments and template sends; these keep that a range scan.
create index if not exists conversations_assigned_at on {schema}.conversations (assigned_at) where assigned_at is not null;
create index if not exists messages_outbound_templates on {schema}.messages (created_at) where direction = 'outbound' and type = 'template';
`),
};
