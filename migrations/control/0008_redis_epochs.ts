import { ddl, type SchemaMigration } from "@kanal/db/migration";

/**
 * The Redis a deployment (`QUEUE_PREFIX`) last knew, as the value of a marker key kept in that Redis. A
 * worker that finds the marker gone or changed, while this row remembers one, knows Redis lost its data
 * and rebuilds the jobs from Postgres; a first start (no row yet) rebuilds nothing (ADR 0015).
 */
export const migration: SchemaMigration = {
  name: "0008_redis_epochs",
  up: ddl(`
create table {schema}.redis_epochs (
  prefix text primary key,
  epoch text not null,
  updated_at timestamptz not null default now()
);
`),
};
