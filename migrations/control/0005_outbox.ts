import { ddl, type SchemaMigration } from "@kanal/db/migration";

/**
 * The transactional outbox (ADR 0013): jobs a transaction wants run are written here in that same
 * transaction, relayed to BullMQ right after commit, and swept up later by the worker when a relay did
 * not happen (Redis away, process killed). A row holds ids only, never a message text.
 */
export const migration: SchemaMigration = {
  name: "0005_outbox",
  up: ddl(`
create table {schema}.outbox (
  id bigserial primary key,
  queue text not null,
  name text not null,
  data jsonb not null,
  opts jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index outbox_created on {schema}.outbox (created_at);
`),
};
