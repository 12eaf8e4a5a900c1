import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createProviderAdmin } from "@kanal/core/people";
import { createDb, type Db, ensureDatabase, migrateControl } from "@kanal/db";
import { controlMigrations } from "@kanal/migrations";
import { freePort, PgCluster, RedisServer } from "./cluster";
import { Service, waitUntilOk } from "./processes";
import { type AgentSession, ApiClient, type CustomerBank } from "./traffic";

const PASSWORD = "correct-horse-battery-staple";
const APP_SECRET = "faults-app-secret";

interface FaultBank extends CustomerBank {
  slug: string;
  tenantId: string;
  schema: string;
}

export interface FaultSystem {
  root: string;
  pg: PgCluster;
  redis: RedisServer;
  /** The test's own pool on the cluster (for counting). */
  db: Db;
  api: Service;
  worker: Service;
  sim: Service;
  apiUrl: string;
  simUrl: string;
  appSecret: string;
  banks: FaultBank[];
  agents: AgentSession[];
  close(): Promise<void>;
}

const digits = (n: number) =>
  Array.from(randomBytes(n), (b) => String(b % 10))
    .join("")
    .replace(/^0/, "1");

/**
 * The whole system as `npm start` runs it — simulator, API and worker as separate processes running the
 * TypeScript sources — on the suite's own Postgres cluster and Redis server; banks onboarded and agents
 * signed in through the API.
 */
export async function startFaultSystem(
  root: string,
  options: {
    banks?: number;
    customersPerBank?: number;
    agentsPerBank?: number;
    env?: Record<string, string>;
  } = {},
): Promise<FaultSystem> {
  mkdirSync(join(root, "logs"), { recursive: true });
  const pg = await PgCluster.create(root);
  const redis = await RedisServer.start(root);
  const databaseUrl = pg.url("kanal");
  await ensureDatabase(databaseUrl);
  const db = createDb(databaseUrl, { max: 4, application: "kanal-faults-test" });
  await migrateControl(db, controlMigrations);

  const [apiPort, simPort] = [await freePort(), await freePort()];
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const simUrl = `http://127.0.0.1:${simPort}`;
  const env: Record<string, string> = {
    NODE_ENV: "test",
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: "kanal-faults",
    PORT: String(apiPort),
    HOST: "127.0.0.1",
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_API_BASE_URL: simUrl,
    LOG_LEVEL: "warn",
    // The agents of the suite hold no event stream: their presence must not lapse meanwhile.
    PRESENCE_GRACE_SECONDS: "3600",
    // How soon a killed worker's jobs are taken over (production: 30 s); the suite waits for it.
    WORKER_LOCK_MS: "5000",
    SHUTDOWN_DEADLINE_MS: "5000",
    ...options.env,
  };
  const sim = new Service(
    "simulator",
    "apps/simulator/src/main.ts",
    {
      ...env,
      SIM_PORT: String(simPort),
      KANAL_WEBHOOK_URL: `${apiUrl}/webhooks/whatsapp`,
      SIM_STATUS_DELAY_MS: "100",
      SIM_STATUS_BATCH_MS: "200",
    },
    root,
  );
  const api = new Service("api", "apps/api/src/main.ts", env, root);
  const worker = new Service("worker", "apps/worker/src/main.ts", env, root);
  sim.start();
  api.start();
  worker.start();
  const close = async () => {
    await Promise.all([api.stop(), worker.stop(), sim.stop()]);
    await db.destroy();
    await redis.kill();
    await pg.stop("immediate").catch(() => undefined);
  };
  try {
    await waitUntilOk(`${simUrl}/healthz`);
    await waitUntilOk(`${apiUrl}/readyz`);
    // Meta's behaviour where the suite needs it: status webhooks retried until the API takes them (Meta
    // retries for days), no 24-hour window or pair rate of its own (Kanal enforces both itself).
    const simConfig = await fetch(`${simUrl}/_sim/config`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        enforceWindow: false,
        pairRate: false,
        sendRead: false,
        webhookMaxAttempts: 14,
        webhookRetryBaseMs: 250,
      }),
    });
    if (!simConfig.ok) throw new Error(`simulator config refused: ${simConfig.status}`);

    const providerEmail = "provider@faults.test";
    await createProviderAdmin(db, { email: providerEmail, name: "Fault Provider", password: PASSWORD });
    const provider = new ApiClient(apiUrl);
    await provider.ok("POST", "/v1/auth/login", { email: providerEmail, password: PASSWORD });

    const banks: FaultBank[] = [];
    const agents: AgentSession[] = [];
    for (let b = 0; b < (options.banks ?? 2); b++) {
      const slug = `fault-${b}-${randomBytes(3).toString("hex")}`;
      const phoneNumberId = digits(15);
      const adminEmail = `admin@${slug}.test`;
      const created = await provider.ok<{ tenant: { id: string } }>(
        "POST",
        "/v1/tenants",
        {
          slug,
          name: `Sparkasse ${slug}`,
          whatsapp: {
            phoneNumberId,
            wabaId: digits(15),
            displayPhoneNumber: "+49 89 1234567",
            accessToken: `EAAG${randomBytes(24).toString("hex")}`,
          },
          admin: { email: adminEmail, name: "Anna Admin", password: PASSWORD },
        },
        201,
      );
      const admin = new ApiClient(apiUrl);
      await admin.ok("POST", "/v1/auth/login", { email: adminEmail, password: PASSWORD });
      const allDay = [["00:00", "24:00"]];
      await admin.ok("PUT", `/v1/tenants/${slug}/routing`, {
        mode: "in_house",
        observePublicHolidays: false,
        serviceHours: {
          mon: allDay,
          tue: allDay,
          wed: allDay,
          thu: allDay,
          fri: allDay,
          sat: allDay,
          sun: allDay,
        },
      });
      for (let a = 0; a < (options.agentsPerBank ?? 2); a++) {
        const email = `agent${a}@${slug}.test`;
        const user = await admin.ok<{ user: { id: string } }>(
          "POST",
          `/v1/tenants/${slug}/users`,
          { email, name: `Agent ${a}`, role: "bank_agent", password: PASSWORD, maxChats: 100 },
          201,
        );
        const client = new ApiClient(apiUrl);
        await client.ok("POST", "/v1/auth/login", { email, password: PASSWORD });
        await client.ok("PUT", "/v1/me/presence", { status: "online" });
        agents.push({ userId: user.user.id, bankSlug: slug, client });
      }
      banks.push({
        slug,
        tenantId: created.tenant.id,
        schema: `t_${slug.replaceAll("-", "_")}`,
        phoneNumberId,
        customers: Array.from(
          { length: options.customersPerBank ?? 100 },
          (_, i) => `4917${b}${String(i).padStart(7, "0")}`,
        ),
      });
    }
    return {
      root,
      pg,
      redis,
      db,
      api,
      worker,
      sim,
      apiUrl,
      simUrl,
      appSecret: APP_SECRET,
      banks,
      agents,
      close,
    };
  } catch (error) {
    const tails = [api, worker, sim].map((s) => `[${s.name}]\n${s.tail.join("\n")}`).join("\n");
    await close().catch(() => undefined);
    throw new Error(`${(error as Error).message}\n${tails}`);
  }
}
