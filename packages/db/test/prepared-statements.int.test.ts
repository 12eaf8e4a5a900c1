import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { createDb, type Db, sql } from "../src/index";

// One connection, so every statement of the test meets the same backend.
let prepared: Db;
let plain: Db;
beforeAll(() => {
  prepared = createDb(inject("databaseUrl"), { max: 1, preparedStatements: true, idleTimeoutMillis: 0 });
  plain = createDb(inject("databaseUrl"), { max: 1 });
});
afterAll(async () => {
  await prepared?.destroy();
  await plain?.destroy();
});

const statements = (db: Db) =>
  sql<{ statement: string; generic_plans: string; custom_plans: string }>`
    select statement, generic_plans::text, custom_plans::text from pg_prepared_statements`.execute(db);

it("a pool with preparedStatements plans each parameterised text once per connection (generic plan)", async () => {
  const answers: number[] = [];
  for (const n of [1, 2, 3, 4, 5, 6, 7])
    answers.push((await sql<{ n: number }>`select ${n}::int + 1 as n`.execute(prepared)).rows[0]?.n ?? 0);
  expect(answers).toEqual([2, 3, 4, 5, 6, 7, 8]);
  const rows = (await statements(prepared)).rows.filter((r) => r.statement.includes("+ 1 as n"));
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ generic_plans: "7", custom_plans: "0" });
  expect((await sql<{ plan_cache_mode: string }>`show plan_cache_mode`.execute(prepared)).rows[0]).toEqual({
    plan_cache_mode: "force_generic_plan",
  });
});

it("statements without parameters and pools without the option stay unnamed", async () => {
  await sql`select 41 + 1 as answer`.execute(prepared);
  await sql`select ${1}::int as one`.execute(plain);
  expect((await statements(prepared)).rows.some((r) => r.statement.includes("41 + 1"))).toBe(false);
  expect((await statements(plain)).rows).toEqual([]);
});

it("a failing statement keeps the connection usable and the name free for the next try", async () => {
  await expect(sql`select ${"x"}::int as broken`.execute(prepared)).rejects.toThrow();
  await expect(sql`select ${"x"}::int as broken`.execute(prepared)).rejects.toThrow(/invalid input/);
  expect((await sql<{ n: number }>`select ${"5"}::int as broken`.execute(prepared)).rows[0]).toEqual({
    broken: 5,
  });
});
