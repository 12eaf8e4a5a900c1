import { ddl, type SchemaMigration } from "@kanal/db/migration";

export const migration: SchemaMigration = {
  name: "0001_tenant_init",
  up: ddl(`
create table {schema}.customers (
  id text primary key,
  external_ref text unique,
  name text,
  profile_name text,
  wa_id text unique,
  advisor_user_id text,
  opted_in_at timestamptz,
  opted_out_at timestamptz,
  sensitive_hint_sent_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index customers_name on {schema}.customers (lower(coalesce(name, profile_name, '')));

create table {schema}.conversations (
  id text primary key,
  customer_id text not null references {schema}.customers(id) on delete cascade,
  status text not null check (status in ('queued', 'open', 'closed')),
  assignee_user_id text,
  handled_by text check (handled_by in ('in_house', 'ksc', 'advisor')),
  queue text check (queue in ('bank', 'ksc')),
  queued_at timestamptz,
  topic text,
  rule_id text,
  flags text[] not null default '{}',
  routing jsonb,
  opened_at timestamptz not null default now(),
  assigned_at timestamptz,
  first_response_at timestamptz,
  closed_at timestamptz,
  closed_by text,
  last_inbound_at timestamptz,
  last_message_at timestamptz not null default now(),
  away_sent_period text
);
-- A customer never has two open conversations, whatever races happen above this line.
create unique index conversations_one_open on {schema}.conversations (customer_id) where status <> 'closed';
create index conversations_status on {schema}.conversations (status, queue, queued_at);
create index conversations_assignee on {schema}.conversations (assignee_user_id) where status = 'open';

create table {schema}.messages (
  id text primary key,
  conversation_id text not null references {schema}.conversations(id) on delete cascade,
  direction text not null check (direction in ('inbound', 'outbound', 'internal')),
  type text not null,
  text text,
  payload jsonb,
  media jsonb,
  wamid text unique,
  context_wamid text,
  status text not null,
  error jsonb,
  author_user_id text,
  kind text not null default 'reply',
  topic text,
  rule_id text,
  rule_version integer,
  created_at timestamptz not null default now(),
  status_at timestamptz
);
create index messages_conversation on {schema}.messages (conversation_id, created_at);

create table {schema}.snippets (
  id text primary key,
  shortcut text not null,
  title text not null,
  body text not null,
  category text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index snippets_shortcut on {schema}.snippets (lower(shortcut));

create table {schema}.rule_book_versions (
  version integer primary key,
  rules jsonb not null,
  created_by text,
  created_at timestamptz not null default now()
);

create table {schema}.settings (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now()
);

create table {schema}.routing_decisions (
  id bigserial primary key,
  conversation_id text not null references {schema}.conversations(id) on delete cascade,
  decided_at timestamptz not null default now(),
  mode text not null,
  rule text not null,
  reason text not null,
  target jsonb not null,
  candidates jsonb not null default '[]'::jsonb
);
create index routing_decisions_conversation on {schema}.routing_decisions (conversation_id, decided_at);

create table {schema}.callbacks (
  id text primary key,
  conversation_id text not null references {schema}.conversations(id) on delete cascade,
  note text not null,
  preferred_time text,
  status text not null default 'open',
  created_by text,
  created_at timestamptz not null default now()
);

create table {schema}.audit_log (
  id bigserial primary key,
  at timestamptz not null default now(),
  actor_user_id text,
  actor_kind text not null check (actor_kind in ('user', 'api_key', 'system')),
  action text not null,
  target_type text,
  target_id text,
  details jsonb not null default '{}'::jsonb,
  ip text,
  request_id text
);
create index audit_log_at on {schema}.audit_log (at desc);
`),
};
