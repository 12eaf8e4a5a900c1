import { ddl, type SchemaMigration } from "@kanal/db/migration";

/**
 * The bank's WhatsApp templates as synced from the Graph API, and the notifications its systems send with
 * them (issue 14). A notification is a template message (`messages` row) in the customer's open
 * conversation or, without one, in the customer's notification thread: a closed conversation flagged
 * `notifications`, one per customer, that the console shows in the customer's history and that no agent
 * holds. A campaign is one batch of notifications.
 */
export const migration: SchemaMigration = {
  name: "0008_templates_notifications",
  up: ddl(`
create table {schema}.templates (
  id text primary key,
  meta_id text,
  name text not null,
  language text not null,
  category text not null,
  status text not null,
  reason text,
  parameter_format text not null default 'POSITIONAL',
  components jsonb not null default '[]',
  body text,
  parameters jsonb not null default '[]',
  buttons jsonb not null default '[]',
  synced_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index templates_name_language on {schema}.templates (name, language);

create table {schema}.campaigns (
  id text primary key,
  idempotency_key text,
  request_hash text,
  items integer not null,
  accepted integer not null,
  refused jsonb not null default '[]',
  created_by text,
  created_at timestamptz not null default now()
);
create unique index campaigns_idempotency on {schema}.campaigns (idempotency_key) where idempotency_key is not null;

create table {schema}.notifications (
  id text primary key,
  campaign_id text references {schema}.campaigns(id) on delete cascade,
  customer_id text not null references {schema}.customers(id) on delete cascade,
  conversation_id text not null references {schema}.conversations(id) on delete cascade,
  message_id text not null references {schema}.messages(id) on delete cascade,
  template_name text not null,
  template_language text not null,
  template_category text,
  params jsonb not null default '[]',
  idempotency_key text,
  request_hash text,
  status text not null default 'queued',
  status_at timestamptz,
  error jsonb,
  reply jsonb,
  replied_at timestamptz,
  created_by text,
  created_at timestamptz not null default now()
);
create unique index notifications_idempotency on {schema}.notifications (idempotency_key) where idempotency_key is not null;
create unique index notifications_message on {schema}.notifications (message_id);
create index notifications_campaign on {schema}.notifications (campaign_id) where campaign_id is not null;
create index notifications_customer on {schema}.notifications (customer_id, created_at);

-- One notification thread per customer (a closed conversation no agent holds).
create unique index conversations_notification_thread on {schema}.conversations (customer_id)
  where flags @> array['notifications']::text[];

-- Template messages are billed by category (Meta prices them so).
alter table {schema}.billing_usage add column category text;
`),
};
