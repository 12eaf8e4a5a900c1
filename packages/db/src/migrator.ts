import { sql, type Kysely, type Transaction } from "kysely";
import { quoteIdent, type SchemaMigration } from "./migration";
import type { Database } from "./types";

export const CONTROL_SCHEMA = "control";

type Executor = Kysely<Database> | Transaction<Database>;

async function lockSchema(trx: Executor, schema: string): Promise<void> {
  // Transaction-scoped: released on commit or rollback, never leaks to the pooled connection.
  await sql`select pg_advisory_xact_lock(hashtextextended(${schema}, 0))`.execute(trx);
}

/**
 * Brings one schema up to date inside the caller's transaction: per-schema advisory lock, the schema's
 * own migration table read first, only missing migrations applied. Returns the names it applied.
 */
export async function migrateSchema(
  trx: Executor,
  schema: string,
  migrations: readonly SchemaMigration[],
): Promise<string[]> {
  // The pool's statement_timeout is for requests and jobs. A migration may rewrite a large table or
  // wait for another process migrating the same schema: no limit for this transaction (`set local`).
  await sql`set local statement_timeout = 0`.execute(trx);
  await lockSchema(trx, schema);
  const q = quoteIdent(schema);
  await sql
    .raw(
      `create schema if not exists ${q};
       create table if not exists ${q}.kanal_migrations (name text primary key, applied_at timestamptz not null default now());`,
    )
    .execute(trx);
  const applied = await sql<{ name: string }>`select name from ${sql.id(schema, "kanal_migrations")}`.execute(
    trx,
  );
  const done = new Set(applied.rows.map((r) => r.name));
  const ran: string[] = [];
  for (const migration of migrations) {
    if (done.has(migration.name)) continue;
    await migration.up(trx, schema);
    await sql`insert into ${sql.id(schema, "kanal_migrations")} (name) values (${migration.name})`.execute(
      trx,
    );
    ran.push(migration.name);
  }
  return ran;
}

export async function migrateControl(
  db: Kysely<Database>,
  migrations: readonly SchemaMigration[],
): Promise<string[]> {
  return db.transaction().execute((trx) => migrateSchema(trx, CONTROL_SCHEMA, migrations));
}

export interface TenantMigrationFailure {
  tenantId: string;
  schema: string;
  error: string;
}
export interface TenantMigrationReport {
  latest: string | null;
  checked: number;
  behind: number;
  migrated: number;
  failed: TenantMigrationFailure[];
  durationMs: number;
}
export interface TenantMigrationProgress {
  done: number;
  total: number;
  schema: string;
  ok: boolean;
}

/**
 * Migrates every bank schema that is behind. `control.tenants.schema_version` (written in the same
 * transaction as the schema's own migrations) lets one query find the schemas that are behind, so a run
 * with nothing to do costs one round trip however many banks there are. Each schema migrates in its own
 * transaction: a failing schema is rolled back whole and reported; the others carry on.
 */
export async function migrateTenants(
  db: Kysely<Database>,
  migrations: readonly SchemaMigration[],
  options: { concurrency?: number; onProgress?: (p: TenantMigrationProgress) => void } = {},
): Promise<TenantMigrationReport> {
  const started = performance.now();
  const latest = migrations.at(-1)?.name ?? null;
  const counted = await db
    .withSchema(CONTROL_SCHEMA)
    .selectFrom("tenants")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  const behind = await db
    .withSchema(CONTROL_SCHEMA)
    .selectFrom("tenants")
    .select(["id", "schema_name"])
    .where(sql<boolean>`schema_version is distinct from ${latest}`)
    .orderBy("created_at")
    .execute();

  const failed: TenantMigrationFailure[] = [];
  let migrated = 0;
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < behind.length) {
      const tenant = behind[next++];
      if (!tenant) break;
      let ok = true;
      try {
        await db.transaction().execute(async (trx) => {
          await migrateSchema(trx, tenant.schema_name, migrations);
          await trx
            .withSchema(CONTROL_SCHEMA)
            .updateTable("tenants")
            .set({ schema_version: latest })
            .where("id", "=", tenant.id)
            .execute();
        });
        migrated++;
      } catch (error) {
        ok = false;
        failed.push({ tenantId: tenant.id, schema: tenant.schema_name, error: (error as Error).message });
      }
      done++;
      options.onProgress?.({ done, total: behind.length, schema: tenant.schema_name, ok });
    }
  };
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 4, behind.length || 1));
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    latest,
    checked: Number(counted.n),
    behind: behind.length,
    migrated,
    failed,
    durationMs: Math.round(performance.now() - started),
  };
}
