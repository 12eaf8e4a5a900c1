import { ddl, type SchemaMigration } from "@kanal/db/migration";

export const migration: SchemaMigration = {
  name: "0001_control_init",
  up: ddl(`
create table {schema}.ksc_orgs (
  id text primary key,
  slug text not null unique,
  name text not null,
  created_at timestamptz not null default now()
);

create table {schema}.tenants (
  id text primary key,
  slug text not null unique,
  name text not null,
  schema_name text not null unique,
  timezone text not null default 'Europe/Berlin',
  region text not null default 'DE-BY',
  status text not null default 'active' check (status in ('active', 'suspended')),
  billing_status text not null default 'none',
  schema_version text,
  created_at timestamptz not null default now()
);

create table {schema}.users (
  id text primary key,
  email text not null,
  name text not null,
  password_hash text not null,
  disabled_at timestamptz,
  created_at timestamptz not null default now()
);
create unique index users_email_lower on {schema}.users (lower(email));

create table {schema}.memberships (
  id text primary key,
  user_id text not null references {schema}.users(id) on delete cascade,
  role text not null check (role in ('provider_admin', 'bank_admin', 'bank_agent', 'bank_advisor', 'ksc_agent')),
  tenant_id text references {schema}.tenants(id) on delete cascade,
  ksc_org_id text references {schema}.ksc_orgs(id) on delete cascade,
  max_chats integer not null default 5 check (max_chats between 1 and 100),
  deputy_user_id text references {schema}.users(id) on delete set null,
  advisor_code text,
  created_at timestamptz not null default now(),
  check (
    (role = 'provider_admin' and tenant_id is null and ksc_org_id is null) or
    (role = 'ksc_agent' and tenant_id is null and ksc_org_id is not null) or
    (role in ('bank_admin', 'bank_agent', 'bank_advisor') and tenant_id is not null and ksc_org_id is null)
  )
);
create unique index memberships_user_tenant on {schema}.memberships (user_id, tenant_id) where tenant_id is not null;
create unique index memberships_user_ksc on {schema}.memberships (user_id, ksc_org_id) where ksc_org_id is not null;
create unique index memberships_provider on {schema}.memberships (user_id) where role = 'provider_admin';
create unique index memberships_advisor_code on {schema}.memberships (tenant_id, lower(advisor_code)) where advisor_code is not null;
create index memberships_tenant on {schema}.memberships (tenant_id);
create index memberships_ksc on {schema}.memberships (ksc_org_id);

create table {schema}.ksc_contracts (
  tenant_id text primary key references {schema}.tenants(id) on delete cascade,
  ksc_org_id text not null references {schema}.ksc_orgs(id),
  created_at timestamptz not null default now()
);
create index ksc_contracts_org on {schema}.ksc_contracts (ksc_org_id);

-- Only a SHA-256 of the session id is stored: a leaked row cannot be replayed as a cookie.
create table {schema}.sessions (
  id text primary key,
  user_id text not null references {schema}.users(id) on delete cascade,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  ip text,
  user_agent text
);
create index sessions_user on {schema}.sessions (user_id);

create table {schema}.api_keys (
  id text primary key,
  tenant_id text not null references {schema}.tenants(id) on delete cascade,
  name text not null,
  prefix text not null,
  key_hash text not null unique,
  scopes text[] not null,
  created_by text references {schema}.users(id) on delete set null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_tenant on {schema}.api_keys (tenant_id);

create table {schema}.whatsapp_numbers (
  phone_number_id text primary key,
  tenant_id text not null unique references {schema}.tenants(id) on delete cascade,
  waba_id text not null,
  display_phone_number text not null,
  access_token_enc text not null,
  throughput_per_second integer not null default 80 check (throughput_per_second between 1 and 1000),
  sending_paused_at timestamptz,
  sending_paused_reason text,
  created_at timestamptz not null default now()
);

-- Presence and load of a person across every bank they serve (a KSC agent's load spans banks).
create table {schema}.agent_state (
  user_id text primary key references {schema}.users(id) on delete cascade,
  presence text not null default 'offline' check (presence in ('online', 'away', 'offline')),
  presence_changed_at timestamptz not null default now(),
  last_seen_at timestamptz,
  open_count integer not null default 0 check (open_count >= 0),
  last_assigned_at timestamptz
);

create table {schema}.audit_log (
  id bigserial primary key,
  at timestamptz not null default now(),
  actor_user_id text,
  actor_kind text not null,
  action text not null,
  target_type text,
  target_id text,
  tenant_id text,
  details jsonb not null default '{}'::jsonb,
  ip text,
  request_id text
);
create index audit_log_at on {schema}.audit_log (at desc);
`),
};
