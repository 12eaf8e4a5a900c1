/**
 * The tenant migration runner over 1,000 bank schemas.
 *  (a) `npm run migrate` (scripts/migrate.ts, unchanged) when nothing is behind — wall time of the command
 *      and the runner's own figure;
 *  (b) a new tenant migration appended (a column plus an index on `conversations`), then `migrateTenants`
 *      brings all 1,000 schemas up to date with the concurrency `npm run migrate` uses (4, pool of 6).
 * The 1,000 schemas are built once (tenant rows + the real `tenantMigrations`) and kept for the runs in
 * `kanal_bench_migrate_1000`; the database is dropped at the end unless KEEP_BENCH_DB is set.
 *
 * Run: npm run bench -- migrate-1000       (BENCH_SCHEMAS=1000, BENCH_RUNS=3, MIGRATE_CONCURRENCY=4)
 */
import { spawnSync } from "node:child_process";
import { controlMigrations, tenantMigrations } from "@kanal/migrations";
import {
  createDb,
  ensureDatabase,
  migrateControl,
  migrateTenants,
  sql,
  type SchemaMigration,
} from "@kanal/db";
import {
  benchDatabaseUrl,
  benchRuns,
  dropBenchDatabase,
  median,
  printCommand,
  printTable,
  round,
} from "./support";

const SCHEMAS = Number(process.env.BENCH_SCHEMAS ?? 1000);
const CONCURRENCY = Number(process.env.MIGRATE_CONCURRENCY ?? 4);
const url = benchDatabaseUrl("migrate_1000");

await ensureDatabase(url);
const db = createDb(url, { max: 6, application: "kanal-bench-migrate" });
await migrateControl(db, controlMigrations);

// ---- set-up: 1,000 tenant schemas at the current latest migration (kept between runs) ------------
const latest = tenantMigrations.at(-1)?.name ?? null;
const existing = await db
  .withSchema("control")
  .selectFrom("tenants")
  .select((eb) => eb.fn.countAll<string>().as("n"))
  .executeTakeFirstOrThrow();
if (Number(existing.n) < SCHEMAS) {
  const rows = [];
  for (let i = Number(existing.n); i < SCHEMAS; i++) {
    rows.push({
      id: `ten_bench_${i}`,
      slug: `bench-${i}`,
      name: `Bench bank ${i}`,
      schema_name: `t_bench_${i}`,
      timezone: "Europe/Berlin",
      region: "DE-BY",
      schema_version: null,
    });
  }
  for (let i = 0; i < rows.length; i += 500)
    await db
      .withSchema("control")
      .insertInto("tenants")
      .values(rows.slice(i, i + 500))
      .execute();
}
// A previous run may have left synthetic migrations applied: the set-up state is "at tenantMigrations".
await sql`update control.tenants set schema_version = null where schema_version like '9%'`.execute(db);
const setupStarted = performance.now();
let lastPrint = 0;
const setup = await migrateTenants(db, tenantMigrations, {
  concurrency: 8,
  onProgress: (p) => {
    if (Date.now() - lastPrint > 10_000) {
      console.log(`  set-up: ${p.done}/${p.total} schemas`);
      lastPrint = Date.now();
    }
  },
});
if (setup.failed.length > 0) throw new Error(`set-up failed: ${JSON.stringify(setup.failed.slice(0, 3))}`);
console.log(
  `set-up: ${SCHEMAS} schemas, ${setup.migrated} migrated to ${latest} in ${round((performance.now() - setupStarted) / 1000)} s`,
);

// ---- (a) `npm run migrate` with nothing behind -----------------------------------------------------
const upToDate: { wallMs: number; runnerMs: number; behind: number }[] = [];
for (let r = 1; r <= benchRuns(); r++) {
  const t0 = performance.now();
  const out = spawnSync("npm", ["run", "--silent", "migrate"], {
    env: { ...process.env, DATABASE_URL: url, REDIS_URL: "redis://127.0.0.1:6379" },
    encoding: "utf8",
  });
  const wallMs = performance.now() - t0;
  if (out.status !== 0) throw new Error(`npm run migrate failed: ${out.stdout}\n${out.stderr}`);
  const line = out.stdout.split("\n").find((l) => l.startsWith("tenants:") && l.includes("checked")) ?? "";
  const match = /(\d+) checked, (\d+) behind, .* in (\d+) ms/.exec(line);
  if (!match) throw new Error(`unexpected migrate output: ${out.stdout}`);
  upToDate.push({ wallMs, runnerMs: Number(match[3]), behind: Number(match[2]) });
  console.log(`(a) run ${r}: ${line.trim()} — command wall time ${round(wallMs)} ms`);
}

// ---- (b) one new tenant migration over all schemas ---------------------------------------------------
// Names unique per invocation, so a kept database (KEEP_BENCH_DB) really gets a new migration next time.
const stamp = Date.now().toString(36);
const synthetic = (run: number): SchemaMigration => ({
  name: `9${String(run).padStart(3, "0")}_bench_${stamp}_${run}`,
  up: async (trx, schema) => {
    await sql
      .raw(
        `alter table "${schema}".conversations add column if not exists bench_${stamp}_${run} text;
         create index if not exists conversations_bench_${stamp}_${run} on "${schema}".conversations (bench_${stamp}_${run});`,
      )
      .execute(trx);
  },
});
const newMigration: { ms: number; migrated: number; failed: number }[] = [];
const withExtra: SchemaMigration[] = [...tenantMigrations];
for (let r = 1; r <= benchRuns(); r++) {
  withExtra.push(synthetic(r));
  const report = await migrateTenants(db, withExtra, { concurrency: CONCURRENCY });
  newMigration.push({ ms: report.durationMs, migrated: report.migrated, failed: report.failed.length });
  console.log(
    `(b) run ${r}: ${report.checked} checked, ${report.behind} behind, ${report.migrated} migrated, ${report.failed.length} failed in ${report.durationMs} ms (latest ${report.latest})`,
  );
}
// And the same runner with nothing behind after (b), in-process (no process start-up in the figure).
const idle = await migrateTenants(db, withExtra, { concurrency: CONCURRENCY });
console.log(
  `(a') in-process, nothing behind: ${idle.checked} checked, ${idle.behind} behind in ${idle.durationMs} ms`,
);

await db.destroy();
await dropBenchDatabase(url);

printTable(
  "(a) npm run migrate, nothing behind",
  upToDate.map((u, i) => ({
    run: i + 1,
    behind: u.behind,
    "runner ms": u.runnerMs,
    "command wall ms": round(u.wallMs),
  })),
);
printTable(
  `(b) one new tenant migration over ${SCHEMAS} schemas (concurrency ${CONCURRENCY}, pool 6)`,
  newMigration.map((m, i) => ({
    run: i + 1,
    migrated: m.migrated,
    failed: m.failed,
    "duration s": round(m.ms / 1000, 2),
  })),
);
const aWall = median(upToDate.map((u) => u.wallMs));
const aRunner = median(upToDate.map((u) => u.runnerMs));
const b = median(newMigration.map((m) => m.ms));
console.log(
  `\n(a) median: command ${round(aWall)} ms, runner ${aRunner} ms; target < 3 s → ${aWall < 3000 ? "PASS" : "FAIL"}`,
);
console.log(`(b) median: ${round(b / 1000, 2)} s; target < 30 s → ${b < 30_000 ? "PASS" : "FAIL"}`);
printCommand("npm run bench -- migrate-1000");
