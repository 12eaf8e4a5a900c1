import { ddl, type SchemaMigration } from "@kanal/db/migration";

export const migration: SchemaMigration = {
  name: "0002_channel",
  up: ddl(`
alter table {schema}.messages
  add column snippet_id text,
  add column priority text not null default 'reply',
  add column sending_started_at timestamptz,
  add column send_attempts integer not null default 0;
create index messages_wamid_pending on {schema}.messages (status) where status in ('queued', 'sending');
create index messages_inbound_unread on {schema}.messages (conversation_id) where direction = 'inbound' and status = 'received';

alter table {schema}.customers add column last_inbound_at timestamptz;

-- Media the customer sent, fetched from the Graph API with the bank's token and kept here.
create table {schema}.media (
  id text primary key,
  message_id text not null references {schema}.messages(id) on delete cascade,
  media_id text not null,
  mime_type text,
  filename text,
  sha256 text,
  size_bytes integer,
  content bytea,
  status text not null default 'pending' check (status in ('pending', 'stored', 'failed')),
  error text,
  created_at timestamptz not null default now(),
  stored_at timestamptz
);
create unique index media_message on {schema}.media (message_id);
`),
};
