import { ddl, type SchemaMigration } from "@kanal/db/migration";

export const migration: SchemaMigration = {
  name: "0002_channel",
  up: ddl(`
-- Every signed webhook POST, stored before we answer 200. Message texts in it are masked
-- (card numbers never reach storage); the worker processes each event exactly once.
create table {schema}.webhook_events (
  id bigserial primary key,
  received_at timestamptz not null default now(),
  body text not null,
  status text not null default 'pending' check (status in ('pending', 'processed', 'dead', 'unknown_number')),
  error text,
  attempts integer not null default 0,
  enqueued_at timestamptz,
  processed_at timestamptz
);
create index webhook_events_pending on {schema}.webhook_events (received_at) where status = 'pending';
create index webhook_events_problems on {schema}.webhook_events (received_at) where status in ('dead', 'unknown_number');
`),
};
