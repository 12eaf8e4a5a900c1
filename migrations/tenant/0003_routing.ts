import { ddl, type SchemaMigration } from "@kanal/db/migration";

export const migration: SchemaMigration = {
  name: "0003_routing",
  up: ddl(`
-- Absence periods (holiday, sickness, training) of the bank's people: while absent a person is never
-- eligible for routing, and an advisor's chats go to their deputy.
create table {schema}.advisor_absences (
  id text primary key,
  user_id text not null,
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  reason text,
  created_by text,
  created_at timestamptz not null default now(),
  check (ends_at > starts_at)
);
create index advisor_absences_user on {schema}.advisor_absences (user_id, ends_at);

-- The queues are read oldest first per side; the back-fill scans only waiting chats.
create index conversations_queue_waiting on {schema}.conversations (queue, queued_at) where status = 'queued';
-- Closing/unanswered sweeps look at open chats by the side that holds them.
create index conversations_open_handled on {schema}.conversations (handled_by, assigned_at) where status = 'open';
`),
};
