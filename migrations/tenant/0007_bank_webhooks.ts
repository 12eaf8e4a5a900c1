import { ddl, type SchemaMigration } from "@kanal/db/migration";

/**
 * Events to the bank's systems (core/bank-webhooks). An endpoint is a URL with the events it receives and
 * its signing secret (encrypted with SECRETS_KEY; during a rotation the previous one signs too until
 * `previous_secret_expires_at`). A delivery is one event for one endpoint, written in the transaction
 * that produced the event, with its payload already built and masked; its id is the `webhook-id` the
 * receiver deduplicates on. Deliveries about a conversation or a customer go with them (retention,
 * erasure); every attempt is kept with its answer's status, duration and a short excerpt.
 */
export const migration: SchemaMigration = {
  name: "0007_bank_webhooks",
  up: ddl(`
create table {schema}.webhook_endpoints (
  id text primary key,
  url text not null,
  description text,
  events text[] not null,
  secret text not null,
  previous_secret text,
  previous_secret_expires_at timestamptz,
  enabled boolean not null default true,
  disabled_at timestamptz,
  disabled_reason text,
  failure_streak int not null default 0,
  failing_since timestamptz,
  last_success_at timestamptz,
  last_failure_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table {schema}.webhook_deliveries (
  id text primary key,
  -- no foreign key: a delivery is written on the ingest's hot path, which must not fail (or wait) on an
  -- endpoint being deleted at that moment; deleting an endpoint deletes its deliveries, and an attempt
  -- finding its endpoint gone deletes the delivery.
  endpoint_id text not null,
  event_id text not null,
  event_type text not null,
  payload jsonb not null,
  customer_id text references {schema}.customers (id) on delete cascade,
  conversation_id text references {schema}.conversations (id) on delete cascade,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts int not null default 0,
  next_attempt_at timestamptz not null default now(),
  retry_until timestamptz not null,
  last_attempt_at timestamptz,
  last_status_code int,
  last_error text,
  delivered_at timestamptz,
  created_at timestamptz not null default now()
);
create index webhook_deliveries_endpoint on {schema}.webhook_deliveries (endpoint_id, created_at desc, id desc);
create index webhook_deliveries_due on {schema}.webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_customer on {schema}.webhook_deliveries (customer_id) where customer_id is not null;
create index webhook_deliveries_conversation on {schema}.webhook_deliveries (conversation_id) where conversation_id is not null;
create index webhook_deliveries_finished on {schema}.webhook_deliveries (created_at) where status <> 'pending';

create table {schema}.webhook_delivery_attempts (
  id bigserial primary key,
  delivery_id text not null references {schema}.webhook_deliveries (id) on delete cascade,
  attempt int not null,
  started_at timestamptz not null,
  duration_ms int not null,
  status_code int,
  outcome text not null check (outcome in ('success', 'failure', 'gone')),
  error text,
  response_excerpt text
);
create index webhook_delivery_attempts_delivery on {schema}.webhook_delivery_attempts (delivery_id, attempt);
`),
};
