import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { createDb, type Db, sql, transactionOpenedWith } from "../src/index";

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

it("transactionOpenedWith runs its first statement inside the transaction, commits, and rolls back on a throw", async () => {
  const table = sql.id(`opened_with_${Date.now()}`);
  await sql`create table ${table} (n int)`.execute(plain);
  const held = await transactionOpenedWith(plain, "select pg_advisory_xact_lock(4242)", async (trx) => {
    await sql`insert into ${table} values (1)`.execute(trx);
    const locks = await sql<{ n: string }>`select count(*)::text as n from pg_locks
      where locktype = 'advisory' and objid = 4242 and pid = pg_backend_pid()`.execute(trx);
    return locks.rows[0]?.n;
  });
  expect(held).toBe("1");
  await expect(
    transactionOpenedWith(plain, "select pg_advisory_xact_lock(4242)", async (trx) => {
      await sql`insert into ${table} values (2)`.execute(trx);
      throw new Error("changed my mind");
    }),
  ).rejects.toThrow("changed my mind");
  const rows = await sql<{ n: number }>`select n from ${table} order by n`.execute(plain);
  expect(rows.rows).toEqual([{ n: 1 }]);
  // The lock went with the transaction (the pool's one connection ran everything above).
  const after = await sql<{ n: string }>`select count(*)::text as n from pg_locks
    where locktype = 'advisory' and objid = 4242`.execute(plain);
  expect(after.rows[0]).toEqual({ n: "0" });
  await sql`drop table ${table}`.execute(plain);
});

it("an idle connection whose backend is terminated is reported, not thrown, and the pool carries on", async () => {
  const errors: Error[] = [];
  const db = createDb(inject("databaseUrl"), {
    max: 1,
    idleTimeoutMillis: 0,
    application: "kanal-idle-error-test",
    onIdleError: (error) => errors.push(error),
  });
  try {
    const pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)).rows[0]?.pid;
    // As Postgres does on a restart or `drop database … with (force)`: the idle backend goes away.
    await sql`select pg_terminate_backend(${pid}::int)`.execute(plain);
    const deadline = Date.now() + 5_000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(errors.map((e) => e.message).join()).toContain("terminating connection");
    expect((await sql<{ n: number }>`select 1 as n`.execute(db)).rows[0]?.n).toBe(1);
  } finally {
    await db.destroy();
  }
});
