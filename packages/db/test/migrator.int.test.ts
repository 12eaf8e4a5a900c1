import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { controlMigrations } from "@kanal/migrations";
import {
  createDb,
  dropDatabase,
  ensureDatabase,
  migrateControl,
  migrateTenants,
  sql,
  type Db,
  type SchemaMigration,
} from "../src/index";

// The runner migrates every tenant of a database, so this test gets a database of its own.
const url = new URL(inject("databaseUrl"));
url.pathname = `${url.pathname}_migrator`;
const databaseUrl = url.toString();
let db: Db;

const create = (table: string): SchemaMigration => ({
  name: `00${table}_create_${table}`,
  up: async (trx, schema) => {
    await sql`create table ${sql.id(schema, table)} (id int primary key)`.execute(trx);
  },
});
const m1 = { ...create("a"), name: "0001_a" };
const m2 = { ...create("b"), name: "0002_b" };
const m3 = { ...create("c"), name: "0003_c" };

async function tables(schema: string): Promise<string[]> {
  const r = await sql<{
    table_name: string;
  }>`select table_name from information_schema.tables where table_schema = ${schema} order by 1`.execute(db);
  return r.rows.map((x) => x.table_name);
}

beforeAll(async () => {
  await ensureDatabase(databaseUrl);
  db = createDb(databaseUrl, { max: 6 });
  await migrateControl(db, controlMigrations);
  for (let i = 0; i < 12; i++) {
    await db
      .withSchema("control")
      .insertInto("tenants")
      .values({
        id: `ten_${i}`,
        slug: `bank-${i}`,
        name: `Bank ${i}`,
        schema_name: `t_bank_${i}`,
        timezone: "Europe/Berlin",
        region: "DE-BY",
        schema_version: null,
      })
      .execute();
  }
  // Bank 7's schema already has a table that migration 0002 wants to create: 0002 fails there.
  await sql`create schema t_bank_7; create table t_bank_7.b (x int);`.execute(db);
});

afterAll(async () => {
  await db.destroy();
  await dropDatabase(databaseUrl);
});

describe("tenant migration runner", () => {
  it("migrates every schema that is behind, reports the broken one and leaves it untouched", async () => {
    const progress: string[] = [];
    const report = await migrateTenants(db, [m1, m2], {
      concurrency: 4,
      onProgress: (p) => progress.push(`${p.schema}:${p.ok}`),
    });
    expect(report).toMatchObject({ checked: 12, behind: 12, migrated: 11, latest: "0002_b" });
    expect(report.failed.map((f) => f.schema)).toEqual(["t_bank_7"]);
    expect(report.failed[0]?.error).toMatch(/already exists/);
    expect(progress).toHaveLength(12);
    expect(progress).toContain("t_bank_7:false");

    for (let i = 0; i < 12; i++) {
      if (i === 7) continue;
      expect(await tables(`t_bank_${i}`)).toEqual(["a", "b", "kanal_migrations"]);
    }
    // The failing schema's transaction rolled back whole: 0001 is not half-applied there.
    expect(await tables("t_bank_7")).toEqual(["b"]);
    const versions = await db
      .withSchema("control")
      .selectFrom("tenants")
      .select(["slug", "schema_version"])
      .orderBy("slug")
      .execute();
    expect(versions.filter((v) => v.schema_version === "0002_b")).toHaveLength(11);
    expect(versions.find((v) => v.slug === "bank-7")?.schema_version).toBeNull();
  });

  it("on the next run touches only the schema that is still behind, and nothing once all are current", async () => {
    await sql`drop table t_bank_7.b`.execute(db);
    const fixed = await migrateTenants(db, [m1, m2]);
    expect(fixed).toMatchObject({ behind: 1, migrated: 1, failed: [] });
    expect(await tables("t_bank_7")).toEqual(["a", "b", "kanal_migrations"]);
    const idle = await migrateTenants(db, [m1, m2]);
    expect(idle).toMatchObject({ checked: 12, behind: 0, migrated: 0, failed: [] });
  });

  it("applies a newly added migration to every schema exactly once", async () => {
    const report = await migrateTenants(db, [m1, m2, m3], { concurrency: 3 });
    expect(report).toMatchObject({ behind: 12, migrated: 12, failed: [] });
    const applied = await sql<{
      n: string;
    }>`select count(*)::text as n from t_bank_3.kanal_migrations`.execute(db);
    expect(applied.rows[0]?.n).toBe("3");
    // Two runners at once (two deploys starting): the per-schema lock serialises them, nothing runs twice.
    const m4 = { ...create("d"), name: "0004_d" };
    const [r1, r2] = await Promise.all([
      migrateTenants(db, [m1, m2, m3, m4]),
      migrateTenants(db, [m1, m2, m3, m4]),
    ]);
    expect(r1.failed).toEqual([]);
    expect(r2.failed).toEqual([]);
    expect(await tables("t_bank_0")).toEqual(["a", "b", "c", "d", "kanal_migrations"]);
  });
});
