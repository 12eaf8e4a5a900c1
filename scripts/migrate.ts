import { loadConfig } from "@kanal/config";
import { controlMigrations, tenantMigrations } from "@kanal/migrations";
import { createDb, ensureDatabase, migrateControl, migrateTenants } from "@kanal/db";
import { exitUnlessServices } from "./services-check";

/** `npm run migrate`: control schema first, then every bank schema that is behind, several in parallel. */
const config = loadConfig();
await exitUnlessServices(config.DATABASE_URL, config.REDIS_URL);
await ensureDatabase(config.DATABASE_URL);
const db = createDb(config.DATABASE_URL, { max: 6, application: "kanal-migrate" });
try {
  const control = await migrateControl(db, controlMigrations);
  console.log(`control: ${control.length ? `applied ${control.join(", ")}` : "up to date"}`);
  let lastPrint = 0;
  const report = await migrateTenants(db, tenantMigrations, {
    concurrency: Number(process.env.MIGRATE_CONCURRENCY ?? 4),
    onProgress: (p) => {
      if (!p.ok) console.error(`  ✗ ${p.schema} failed`);
      if (Date.now() - lastPrint > 1_000 || p.done === p.total) {
        console.log(`  tenants: ${p.done}/${p.total}`);
        lastPrint = Date.now();
      }
    },
  });
  console.log(
    `tenants: ${report.checked} checked, ${report.behind} behind, ${report.migrated} migrated, ${report.failed.length} failed in ${report.durationMs} ms (latest ${report.latest})`,
  );
  for (const f of report.failed) console.error(`  failed: ${f.schema} (${f.tenantId}): ${f.error}`);
  process.exitCode = report.failed.length > 0 ? 1 : 0;
} finally {
  await db.destroy();
}
