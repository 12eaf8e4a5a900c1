/**
 * Webhook ingest: one API process (`node --import tsx apps/api/src/main.ts`, pool of 20) receives signed
 * single-message webhooks from a load generator in another process (bench/lib/webhook-loadgen.ts:
 * CONNECTIONS keep-alive connections, closed loop, 2 s warm-up then DURATION_MS measured). No worker
 * runs, so the API has the two cores to itself and the load generator. Afterwards every acknowledged
 * wamid must be in `control.webhook_events`.
 * In the same run, `pgbench` inserts the same row shape (the same table definition, a body of the same
 * size) with the same number of clients, and the ratio ingest/s ÷ pgbench tps is reported.
 *
 * Run: npm run bench -- webhook-ingest    (BENCH_RUNS=3, CONNECTIONS=32, DURATION_MS=10000)
 */
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDb, sql } from "@kanal/db";
import {
  repeatRuns,
  clearQueuePrefix,
  cpuSeconds,
  commandCpuSeconds,
  dropBenchDatabase,
  freePort,
  freshDatabase,
  median,
  onboardBank,
  printCommand,
  printTable,
  providerClient,
  REDIS_URL,
  round,
  spawnService,
  startBenchSystem,
  waitForHttp,
} from "./support";

const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);
const DURATION_MS = Number(process.env.DURATION_MS ?? 10_000);
const APP_SECRET = "bench-app-secret";

interface LoadResult {
  measuredAcked: number;
  perSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  non200: number;
  exhausted: boolean;
  totalAcked: number;
  acked: string[];
  cpuSeconds: number;
}

function runLoad(env: Record<string, string>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/lib/webhook-loadgen.ts"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`load generator exited ${code}`));
      resolve(JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as LoadResult);
    });
  });
}

/** pgbench inserting the row shape of control.webhook_events (same columns, defaults and indexes). */
async function runPgbench(url: string, bodySize: number): Promise<{ tps: number; latencyMs: number }> {
  const db = createDb(url, { max: 1 });
  await sql
    .raw(`drop table if exists public.pgbench_webhook_events;
          create table public.pgbench_webhook_events (like control.webhook_events including all);`)
    .execute(db);
  await db.destroy();
  const script = join(tmpdir(), `kanal-bench-pgbench-${process.pid}.sql`);
  const text = `x${"a".repeat(Math.max(1, bodySize - 1))}`;
  writeFileSync(
    script,
    `insert into public.pgbench_webhook_events (body, status) values ('${text}', 'pending') returning id, received_at;\n`,
  );
  const u = new URL(url);
  const out = spawnSync(
    "pgbench",
    [
      "-n",
      "-h",
      "127.0.0.1",
      "-p",
      u.port || "5432",
      "-U",
      process.env.USER ?? "postgres",
      "-c",
      String(CONNECTIONS),
      "-j",
      "2",
      "-T",
      String(Math.round(DURATION_MS / 1000)),
      "-M",
      "prepared",
      "-f",
      script,
      u.pathname.slice(1),
    ],
    { encoding: "utf8" },
  );
  if (out.status !== 0) throw new Error(`pgbench failed: ${out.stderr}`);
  const tps = Number(/tps = ([\d.]+)/.exec(out.stdout)?.[1]);
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(out.stdout)?.[1]);
  return { tps, latencyMs };
}

async function oneRun(run: number) {
  const prefix = `kanal-bench-webhook-${run}`;
  await clearQueuePrefix(prefix);
  const url = await freshDatabase("webhook_ingest");
  const port = await freePort();
  const env = {
    NODE_ENV: "test",
    DATABASE_URL: url,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    WHATSAPP_APP_SECRET: APP_SECRET,
    LOG_LEVEL: "warn",
  };
  // The bank exists (its number is known), as in production; onboarding runs in this process.
  const system = await startBenchSystem(url, prefix, env);
  const api = spawnService("api", "apps/api/src/main.ts", { ...env, PORT: String(port) });
  try {
    const bank = await onboardBank(await providerClient(system));
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);
    const cpu0 = cpuSeconds(api.child.pid);
    const pg0 = commandCpuSeconds("postgres");
    const redis0 = commandCpuSeconds("redis-server");
    const load = await runLoad({
      TARGET_URL: `http://127.0.0.1:${port}/webhooks/whatsapp`,
      CONNECTIONS: String(CONNECTIONS),
      DURATION_MS: String(DURATION_MS),
      WHATSAPP_APP_SECRET: APP_SECRET,
      PHONE_NUMBER_ID: bank.phoneNumberId,
      RUN_TAG: `${run}${Date.now().toString(36)}`,
    });
    const apiCpu = cpuSeconds(api.child.pid) - cpu0;
    const pgCpu = commandCpuSeconds("postgres") - pg0;
    const redisCpu = commandCpuSeconds("redis-server") - redis0;
    // Warm-up plus measurement: the span in which the load generator keeps every connection busy.
    const loadSeconds = (DURATION_MS + 2_000) / 1000;
    if (load.exhausted)
      throw new Error("the load generator ran out of pre-signed bodies; raise MAX_REQUESTS");
    // Every acknowledged event is in Postgres (bodies are stored masked, ids intact).
    const { db } = system.services;
    const stored = await sql<{ wamid: string; size: number }>`
      select body::jsonb #>> '{entry,0,changes,0,value,messages,0,id}' as wamid, length(body) as size
      from control.webhook_events`.execute(db);
    const storedIds = new Set(stored.rows.map((r) => r.wamid));
    const missing = load.acked.filter((id) => !storedIds.has(id)).length;
    const bodySize = median(stored.rows.map((r) => r.size));
    const pg = await runPgbench(url, bodySize);
    return {
      perSecond: load.perSecond,
      p50: load.p50,
      p99: load.p99,
      max: load.max,
      acked: load.totalAcked,
      missing,
      errors: load.errors + load.non200,
      exhausted: load.exhausted,
      pgbenchTps: pg.tps,
      ratio: load.perSecond / pg.tps,
      bodySize,
      apiCpuPerSecond: apiCpu / loadSeconds,
      loadgenCpuPerSecond: load.cpuSeconds / loadSeconds,
      pgCpuPerSecond: pgCpu / loadSeconds,
      redisCpuPerSecond: redisCpu / loadSeconds,
      apiCpuPerWebhookUs: (apiCpu / load.totalAcked) * 1e6,
    };
  } finally {
    await api.stop();
    await system.close();
    await dropBenchDatabase(url);
    await clearQueuePrefix(prefix);
  }
}

const runs = await repeatRuns(oneRun);
printTable(
  `webhook ingest, ${CONNECTIONS} connections, ${DURATION_MS / 1000} s measured`,
  runs.map((r, i) => ({
    run: i + 1,
    "acked/s": round(r.perSecond, 0),
    "p50 ms": round(r.p50, 1),
    "p99 ms": round(r.p99, 1),
    "max ms": round(r.max, 1),
    "acked total": r.acked,
    "missing in PG": r.missing,
    errors: r.errors,
    "pgbench tps": round(r.pgbenchTps, 0),
    ratio: round(r.ratio, 2),
    "API CPU (cores)": round(r.apiCpuPerSecond, 2),
    "API µs/webhook": round(r.apiCpuPerWebhookUs, 0),
    "loadgen CPU": round(r.loadgenCpuPerSecond, 2),
    "PG CPU": round(r.pgCpuPerSecond, 2),
    "Redis CPU": round(r.redisCpuPerSecond, 2),
  })),
);
const rate = median(runs.map((r) => r.perSecond));
const p99 = median(runs.map((r) => r.p99));
const ratio = median(runs.map((r) => r.ratio));
const missing = runs.reduce((s, r) => s + r.missing, 0);
console.log(
  `\nmedian of runs: ${round(rate, 0)} acked/s (target ≥ 3000 → ${rate >= 3000 ? "PASS" : "FAIL"}), ` +
    `p99 ${round(p99, 1)} ms (target < 50 → ${p99 < 50 ? "PASS" : "FAIL"}), ` +
    `missing ${missing} (target 0 → ${missing === 0 ? "PASS" : "FAIL"}), ` +
    `ratio to pgbench ${round(ratio, 2)} (aim ≥ 0.5 → ${ratio >= 0.5 ? "PASS" : "FAIL"})`,
);
printCommand("npm run bench -- webhook-ingest");
