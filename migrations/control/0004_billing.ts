import { ddl, type SchemaMigration } from "@kanal/db/migration";

/**
 * Billing of banks by the provider. Prices live in Stripe; a plan holds their ids (and a snapshot of the
 * amounts, for display). One account row per bank links it to its Stripe customer and subscription.
 */
export const migration: SchemaMigration = {
  name: "0004_billing",
  up: ddl(`
create table {schema}.billing_plans (
  id text primary key,
  code text not null unique,
  name text not null,
  currency text not null default 'eur',
  stripe_base_price_id text not null,
  stripe_in_house_price_id text not null,
  stripe_ksc_price_id text not null,
  stripe_template_price_id text not null,
  -- Amounts as Stripe had them when the plan was saved (cents), shown in the console; Stripe bills.
  amounts jsonb not null default '{}'::jsonb,
  is_default boolean not null default false,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index billing_plans_one_default on {schema}.billing_plans (is_default) where is_default;

create table {schema}.billing_accounts (
  tenant_id text primary key references {schema}.tenants(id) on delete cascade,
  plan_id text references {schema}.billing_plans(id),
  stripe_customer_id text unique,
  stripe_subscription_id text unique,
  subscription_status text,
  current_period_start timestamptz,
  current_period_end timestamptz,
  -- The newest Stripe event applied to the status: older events arriving late do not win.
  status_event_at timestamptz,
  setup_attempts integer not null default 0,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- A mirror of the bank's Stripe invoices, kept by webhooks, so the console works while Stripe is down.
create table {schema}.billing_invoices (
  id text primary key,
  tenant_id text not null references {schema}.tenants(id) on delete cascade,
  number text,
  status text not null,
  currency text not null,
  amount_due bigint not null default 0,
  amount_paid bigint not null default 0,
  period_start timestamptz,
  period_end timestamptz,
  hosted_invoice_url text,
  stripe_created_at timestamptz not null,
  event_at timestamptz not null,
  updated_at timestamptz not null default now()
);
create index billing_invoices_tenant on {schema}.billing_invoices (tenant_id, stripe_created_at desc);

-- Every Stripe event acted on, so a replayed or re-delivered event changes nothing.
create table {schema}.stripe_events (
  id text primary key,
  type text not null,
  tenant_id text,
  received_at timestamptz not null default now()
);
`),
};
