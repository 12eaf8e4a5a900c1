import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadConfig } from "@kanal/config";
import { onShutdown } from "@kanal/config/shutdown";
import { ensureProviderAdmin } from "@kanal/core/people";
import { createServices } from "@kanal/core/runtime";
import { controlMigrations } from "@kanal/migrations";
import { ensureDatabase, migrateControl, migrateTenants } from "@kanal/db";
import { DEMO_BANKS, DEMO_PASSWORD, seedDemo } from "./demo";
import { exitUnlessServices } from "./services-check";
import { Supervisor } from "./supervisor";

/** `npm start`: the whole system on one machine — database, migrations, demo banks, simulator, API, worker. */
const root = fileURLToPath(new URL("..", import.meta.url));
const config = loadConfig();
await exitUnlessServices(config.DATABASE_URL, config.REDIS_URL);
if (await ensureDatabase(config.DATABASE_URL))
  console.log(`created database ${new URL(config.DATABASE_URL).pathname.slice(1)}`);

const services = createServices(config, { name: "kanal-start", dbPoolSize: 4 });
await migrateControl(services.db, controlMigrations);
const migration = await migrateTenants(services.db, services.tenantMigrations);
if (migration.failed.length > 0) {
  for (const f of migration.failed) console.error(`migration failed for ${f.schema}: ${f.error}`);
  process.exit(1);
}
await ensureProviderAdmin(services.db, {
  email: config.PROVIDER_ADMIN_EMAIL,
  password: config.PROVIDER_ADMIN_PASSWORD,
});
const provider = await services.db
  .withSchema("control")
  .selectFrom("memberships")
  .select("user_id")
  .where("role", "=", "provider_admin")
  .orderBy("created_at")
  .executeTakeFirstOrThrow();
const demo = await seedDemo(services, provider.user_id);
await services.close();

// The console is built on the first start — unless WEB_DIST_DIR names where a built one is (or is not).
const webDist = `${root}apps/web/dist/index.html`;
if (!config.WEB_DIST_DIR && !existsSync(webDist) && existsSync(`${root}apps/web/index.html`)) {
  console.log("building the web console (first start only) …");
  await run("npx", ["vite", "build", "--logLevel", "warn"], `${root}apps/web`);
}

const env = { WHATSAPP_API_BASE_URL: config.WHATSAPP_API_BASE_URL };
const simPort = new URL(config.WHATSAPP_API_BASE_URL).port || "3100";
// A child that crashes (Postgres went away under it, a bug) is restarted with a growing pause; the
// others keep running. Ctrl+C or SIGTERM: every child drains within its deadline, or is killed after it.
const supervisor = new Supervisor({ cwd: root, deadlineMs: config.SHUTDOWN_DEADLINE_MS + 1_000 });
const launch = (name: string, entry: string, extraEnv: Record<string, string> = {}) =>
  supervisor.start({
    name,
    command: process.execPath,
    args: ["--import", "tsx", entry],
    env: { ...env, ...extraEnv },
  });
onShutdown(() => supervisor.stop(), {
  deadlineMs: config.SHUTDOWN_DEADLINE_MS + 3_000,
  log: (_level, message) => console.error(`npm start: ${message}`),
});

if (existsSync(`${root}apps/simulator/src/main.ts`)) {
  launch("simulator", "apps/simulator/src/main.ts", {
    SIM_PORT: simPort,
    KANAL_WEBHOOK_URL: `http://127.0.0.1:${config.PORT}/webhooks/whatsapp`,
    SIM_NUMBERS: DEMO_BANKS.map((b) => `${b.phoneNumberId}=${b.display}`).join(","),
    // The demo banks' templates (the card alert "kartenumsatz" among them), synced by the worker at start.
    SIM_DEMO_WABAS: DEMO_BANKS.map((b) => b.wabaId).join(","),
  });
}
launch("api", "apps/api/src/main.ts");
launch("worker", "apps/worker/src/main.ts");

const base = `http://localhost:${config.PORT}`;
for (let i = 0; i < 120; i++) {
  const ready = await fetch(`${base}/readyz`).then(
    (r) => r.ok,
    () => false,
  );
  if (ready) break;
  await new Promise((r) => setTimeout(r, 500));
}
console.log(`
Kanal is running.

  Web console      ${base}/
  API reference    ${base}/docs   (OpenAPI: ${base}/openapi.json)
  WhatsApp sim     ${config.WHATSAPP_API_BASE_URL}/   (chat as a customer)

  Provider admin   ${config.PROVIDER_ADMIN_EMAIL} / ${process.env.PROVIDER_ADMIN_PASSWORD ? "(PROVIDER_ADMIN_PASSWORD)" : config.PROVIDER_ADMIN_PASSWORD}
  Demo bank        ${DEMO_BANKS[0].name}: admin@demo.kanal, agent1@demo.kanal, berater@demo.kanal
  Second bank      ${DEMO_BANKS[1].name}: nord-admin@demo.kanal, nord-agent1@demo.kanal
  KSC agents       ksc1@demo.kanal, ksc2@demo.kanal (serve both banks)
  Demo password    ${DEMO_PASSWORD}${demo.created ? "" : "   (demo data already present)"}

Press Ctrl+C to stop.
`);

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: "inherit" });
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}`)),
    );
  });
}
