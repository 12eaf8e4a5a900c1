import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { createDb, type Db, ensureDatabase, migrateSchema, sql } from "@kanal/db";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { PgCluster } from "./support/cluster";

/**
 * Every pg pool survives Postgres going away under it (57P01 on a restart, then connection refused):
 * queries fail, nothing throws out of an event emitter, and the pool connects again once Postgres is back.
 * An unhandled 'error' on a pg Client would fail this file (Vitest reports uncaught errors).
 */

let pg: PgCluster;
let url: string;
const pools: Db[] = [];
const pool = (options: Parameters<typeof createDb>[1]) => {
  const db = createDb(url, options);
  pools.push(db);
  return db;
};

beforeAll(async () => {
  pg = await PgCluster.create(mkdtempSync(join(inject("faultsRoot"), "postgres-")));
  url = pg.url("kanal");
  await ensureDatabase(url);
}, 60_000);

afterAll(async () => {
  await Promise.all(pools.map((db) => db.destroy().catch(() => undefined)));
  await pg?.stop("immediate").catch(() => undefined);
});

const one = async (db: Db) => (await sql<{ n: number }>`select 1 as n`.execute(db)).rows[0]?.n;

describe("a Postgres restart", () => {
  it("fails the statements under way and in the outage, and the pools carry on afterwards", async () => {
    const idleErrors: Error[] = [];
    const shared = pool({ max: 4, statementTimeoutMs: 5_000, onIdleError: (e) => idleErrors.push(e) });
    // A bank-affine pool: connections kept for ever, prepared statements per connection (Services.bankDb).
    const bank = pool({ max: 2, idleTimeoutMillis: 0, preparedStatements: true, statementTimeoutMs: 5_000 });
    expect(await one(shared)).toBe(1);
    await Promise.all([sql`select ${1}::int`.execute(bank), sql`select ${2}::int`.execute(bank)]);

    // Checked out and busy when its backend is terminated: the query fails with 57P01, the client's
    // 'error' event must not escape.
    // (Their outcome is taken at once: a rejection must not be left unhandled while Postgres stops.)
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (error: Error) => error,
      );
    const busy = outcome(sql`select pg_sleep(30)`.execute(shared));
    const inTransaction = outcome(
      shared.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await sql`select pg_sleep(30)`.execute(trx);
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    await pg.stop("fast");
    expect((await busy)?.message).toMatch(/terminating connection|Connection terminated/);
    expect(await inTransaction).toBeInstanceOf(Error);

    // While it is down: fast failures, and after the first refusal the pool waits before trying again.
    const down = await Promise.allSettled([one(shared), one(shared), one(bank)]);
    expect(down.every((r) => r.status === "rejected")).toBe(true);
    const again = await one(shared).catch((e: Error) => e.message);
    expect(again).toMatch(/ECONNREFUSED|next connection attempt/);

    await pg.start();
    // Back: within a few backoff periods every pool answers, the bank pool on fresh connections.
    const deadline = Date.now() + 10_000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      ok =
        (await one(shared).catch(() => 0)) === 1 &&
        (await sql`select ${3}::int`.execute(bank).then(
          () => true,
          () => false,
        ));
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok).toBe(true);
    // The bank pool's two connections are both new backends (none of the dead ones was kept).
    const pids = await Promise.all([
      sql<{ pid: number }>`select pg_backend_pid() as pid, pg_sleep(0.2)`.execute(bank),
      sql<{ pid: number }>`select pg_backend_pid() as pid, pg_sleep(0.2)`.execute(bank),
    ]);
    expect(new Set(pids.map((p) => p.rows[0]?.pid)).size).toBe(2);
    expect(idleErrors.length).toBeGreaterThan(0);
  }, 60_000);
});

describe("statement_timeout", () => {
  it("is set on every connection of a pool that asks for it, and cancels a longer statement", async () => {
    const db = pool({ max: 1, statementTimeoutMs: 300 });
    expect((await sql<{ statement_timeout: string }>`show statement_timeout`.execute(db)).rows[0]).toEqual({
      statement_timeout: "300ms",
    });
    await expect(sql`select pg_sleep(2)`.execute(db)).rejects.toThrow(/statement timeout/);
    expect(await one(db)).toBe(1);
  });

  it("does not apply to a migration: it runs without a limit in its own transaction", async () => {
    const db = pool({ max: 1, statementTimeoutMs: 300 });
    const slow = {
      name: "0001_slow",
      up: async (trx: Parameters<typeof migrateSchema>[0]) => {
        await sql`select pg_sleep(0.6)`.execute(trx);
      },
    };
    const ran = await db.transaction().execute((trx) => migrateSchema(trx, "faults_migration", [slow]));
    expect(ran).toEqual(["0001_slow"]);
    expect((await sql<{ statement_timeout: string }>`show statement_timeout`.execute(db)).rows[0]).toEqual({
      statement_timeout: "300ms",
    });
  });
});
