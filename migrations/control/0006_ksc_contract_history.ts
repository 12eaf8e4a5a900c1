import { ddl, type SchemaMigration } from "@kanal/db/migration";

/**
 * Which KSC organisation served a bank, and when: one row per contract period. A bank that changes its
 * KSC must be able to show which contact centre could read its customers' chats at any time, and the
 * read side scopes a KSC's view of a conversation to the organisation recorded on it
 * (conversations.ksc_org_id). At most one period per bank is open (ended_at null): the current contract,
 * the same organisation as its control.ksc_contracts row. started_by/ended_by name the acting user (null:
 * from before this table existed, or the system).
 *
 * Existing contracts get one open period each, starting when the contract row was created (an earlier
 * organisation replaced by an upsert left no trace, so nothing older can be reconstructed).
 */
export const migration: SchemaMigration = {
  name: "0006_ksc_contract_history",
  up: ddl(`
create table {schema}.ksc_contract_history (
  id text primary key,
  tenant_id text not null references {schema}.tenants(id) on delete cascade,
  ksc_org_id text not null references {schema}.ksc_orgs(id),
  started_at timestamptz not null default now(),
  ended_at timestamptz,
  started_by text,
  ended_by text,
  check (ended_at is null or ended_at >= started_at)
);
create unique index ksc_contract_history_open on {schema}.ksc_contract_history (tenant_id) where ended_at is null;
create index ksc_contract_history_tenant on {schema}.ksc_contract_history (tenant_id, started_at);
create index ksc_contract_history_org on {schema}.ksc_contract_history (ksc_org_id);

insert into {schema}.ksc_contract_history (id, tenant_id, ksc_org_id, started_at)
select 'kch_' || replace(gen_random_uuid()::text, '-', ''), tenant_id, ksc_org_id, created_at
from {schema}.ksc_contracts;
`),
};
