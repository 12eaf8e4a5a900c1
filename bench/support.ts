import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { cpus } from "node:os";
import { Redis } from "ioredis";
import { loadConfig } from "@kanal/config";
import { createProviderAdmin } from "@kanal/core/people";
import { EventHub } from "@kanal/core/realtime";
import { createServices, type Services } from "@kanal/core/runtime";
import { controlMigrations } from "@kanal/migrations";
import { createDb, dropDatabase, ensureDatabase, migrateControl } from "@kanal/db";
import { newApp, type KanalApp } from "../apps/api/src/app";
import { apiHooks } from "../apps/api/src/hooks";

/** Benchmarks only ever talk to services on this machine. */
export const BASE_DATABASE_URL = "postgres://127.0.0.1:5432/kanal";
export const REDIS_URL = "redis://127.0.0.1:6379";

export const unique = (prefix = "b") => `${prefix}${randomBytes(4).toString("hex")}`;
export const uniqueDigits = (n = 12) =>
  Array.from(randomBytes(n), (b) => String(b % 10))
    .join("")
    .replace(/^0/, "1");

export function benchDatabaseUrl(name: string): string {
  const url = new URL(BASE_DATABASE_URL);
  url.pathname = `/kanal_bench_${name.replaceAll("-", "_")}`;
  return url.toString();
}

/** A fresh database with the control schema: dropped first so each run starts from the same state. */
export async function freshDatabase(name: string): Promise<string> {
  const url = benchDatabaseUrl(name);
  await dropDatabase(url);
  await ensureDatabase(url);
  const db = createDb(url, { max: 2 });
  await migrateControl(db, controlMigrations);
  await db.destroy();
  return url;
}

export async function dropBenchDatabase(url: string): Promise<void> {
  if (process.env.KEEP_BENCH_DB) return;
  await dropDatabase(url).catch(() => undefined);
}

/** Removes every BullMQ key under the bench's own prefix (never anyone else's). */
export async function clearQueuePrefix(prefix: string): Promise<void> {
  if (!prefix.startsWith("kanal-bench-")) throw new Error(`refusing to clear prefix ${prefix}`);
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export interface BenchSystem {
  app: KanalApp;
  services: Services;
  hub: EventHub;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** The real API app in this process, built like `apps/api/src/main.ts` does (pool of 20). */
export async function startBenchSystem(
  databaseUrl: string,
  queuePrefix: string,
  env: Record<string, string> = {},
): Promise<BenchSystem> {
  const fullEnv = {
    ...process.env,
    NODE_ENV: "test",
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    LOG_LEVEL: "silent",
    ...env,
  } as Record<string, string>;
  const config = loadConfig(fullEnv);
  const services = createServices(config, { name: "kanal-bench", dbPoolSize: 20 });
  const hub = new EventHub(new Redis(config.REDIS_URL, { maxRetriesPerRequest: null }), config.QUEUE_PREFIX);
  await hub.start();
  const app = newApp(services, hub, apiHooks(services));
  return {
    app,
    services,
    hub,
    env: fullEnv,
    async close() {
      await hub.stop();
      await services.close();
    },
  };
}

export interface BenchResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** Cookie-keeping client over `app.request` (the same path a request through the HTTP server takes). */
export class BenchClient {
  cookie: string | null = null;
  constructor(private readonly app: KanalApp) {}

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<BenchResponse<T>> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.cookie) headers.cookie = this.cookie;
    const res = await this.app.request(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const setCookie = res.headers.get("set-cookie");
    if (setCookie?.startsWith("kanal_session=")) this.cookie = setCookie.split(";")[0] ?? null;
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed as T };
  }

  post = <T = Record<string, unknown>>(path: string, body?: unknown) =>
    this.request<T>("POST", path, body ?? {});
  get = <T = Record<string, unknown>>(path: string) => this.request<T>("GET", path);
  put = <T = Record<string, unknown>>(path: string, body?: unknown) =>
    this.request<T>("PUT", path, body ?? {});

  async login(email: string, password: string): Promise<void> {
    const res = await this.post("/v1/auth/login", { email, password });
    if (res.status !== 200)
      throw new Error(`login ${email} failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

export const PASSWORD = "correct-horse-battery";

export async function providerClient(system: BenchSystem): Promise<BenchClient> {
  const email = `${unique("provider")}@kanal.bench`;
  await createProviderAdmin(system.services.db, { email, name: "Bench Provider", password: PASSWORD });
  const client = new BenchClient(system.app);
  await client.login(email, PASSWORD);
  return client;
}

export interface OnboardedBank {
  slug: string;
  tenantId: string;
  schema: string;
  phoneNumberId: string;
  accessToken: string;
  adminEmail: string;
}

export function tenantBody(slug: string, phoneNumberId = uniqueDigits(15)) {
  return {
    slug,
    name: `Sparkasse ${slug}`,
    whatsapp: {
      phoneNumberId,
      wabaId: uniqueDigits(15),
      displayPhoneNumber: "+49 89 1234567",
      accessToken: `EAAG${randomBytes(24).toString("hex")}`,
    },
    admin: { email: `admin@${slug}.bench`, name: "Anna Admin", password: PASSWORD },
  };
}

/** Onboards a bank through `POST /v1/tenants`, exactly as the provider does. */
export async function onboardBank(
  provider: BenchClient,
  overrides: Record<string, unknown> = {},
): Promise<OnboardedBank> {
  const slug = unique("bank-");
  const body = { ...tenantBody(slug), ...overrides } as ReturnType<typeof tenantBody>;
  const res = await provider.post<{ tenant: { id: string } }>("/v1/tenants", body);
  if (res.status !== 201) throw new Error(`onboarding failed: ${res.status} ${JSON.stringify(res.body)}`);
  return {
    slug,
    tenantId: res.body.tenant.id,
    schema: `t_${slug.replaceAll("-", "_")}`,
    phoneNumberId: body.whatsapp.phoneNumberId,
    accessToken: body.whatsapp.accessToken,
    adminEmail: body.admin.email,
  };
}

// ---- statistics -------------------------------------------------------------------------------

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function summarize(values: readonly number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

export const median = (values: readonly number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

export const round = (v: number, digits = 1) => Number(v.toFixed(digits));

/** Repeats the run count given by BENCH_RUNS (default 3). */
export const benchRuns = () => Math.max(1, Number(process.env.BENCH_RUNS ?? 3));

/** Runs one benchmark run `BENCH_RUNS` times, logging each result as it comes. */
export async function repeatRuns<T>(oneRun: (run: number) => Promise<T>): Promise<T[]> {
  const runs: T[] = [];
  for (let r = 1; r <= benchRuns(); r++) {
    const result = await oneRun(r);
    runs.push(result);
    console.log(`run ${r}: ${JSON.stringify(result)}`);
  }
  return runs;
}

export function printTable(title: string, rows: Record<string, string | number | boolean>[]): void {
  console.log(`\n${title}`);
  console.table(rows);
}

export function printCommand(command: string): void {
  console.log(`\ncommand: ${command}`);
  console.log(`machine: ${cpus().length} CPUs, node ${process.version}`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- child processes (API, worker, simulator) ---------------------------------------------------

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export interface ChildService {
  name: string;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after 5 s; only this child, by its pid. */
  stop(): Promise<void>;
}

/** Starts `node --import tsx <script>` with the given env; its output goes to this process (prefixed). */
export function spawnService(name: string, script: string, env: Record<string, string>): ChildService {
  // BENCH_PROFILE=api (or worker, sim …) writes a V8 CPU profile of that child to /tmp/kanal-bench-prof
  // (or BENCH_PROFILE_DIR).
  const profile = (process.env.BENCH_PROFILE ?? "").split(",").includes(name)
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR ?? "/tmp/kanal-bench-prof"}`]
    : [];
  // The API and the worker run as production does: bundled JavaScript (bench/run.ts builds it first).
  // BENCH_TSX=1 runs the TypeScript sources through tsx instead, as `npm start` does.
  const built = script.replace(/src\/main\.ts$/, "dist/main.mjs");
  const useBuilt = !process.env.BENCH_TSX && built !== script && existsSync(built);
  const args = useBuilt
    ? [...profile, "--enable-source-maps", built]
    : [...profile, "--import", "tsx", script];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const prefix = (chunk: Buffer) =>
    chunk
      .toString()
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => `[${name}] ${l.slice(0, 400)}`)
      .join("\n");
  child.stdout?.on("data", (c: Buffer) => {
    if (process.env.BENCH_VERBOSE) console.log(prefix(c));
  });
  child.stderr?.on("data", (c: Buffer) => console.error(prefix(c)));
  return {
    name,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function waitForHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU seconds (user + system, plus that of reaped children) used so far by every process whose command
 * name is `comm` — e.g. all `postgres` backends, or `redis-server` — from /proc (Linux).
 */
export function commandCpuSeconds(comm: string): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (name !== comm) continue;
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // the process ended while we looked
    }
  }
  return total / 100;
}

/** CPU seconds the whole machine has been busy (all cores, every process; steal counted apart), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; steal: number } {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]
    ?.trim()
    .split(/\s+/)
    .slice(1)
    .map(Number) ?? [0, 0, 0, 0, 0, 0, 0, 0];
  return {
    busy: ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / 100,
    steal: (steal ?? 0) / 100,
  };
}

/** Resident set size of a process in MB, from /proc (Linux). */
export function rssMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds used so far by every process whose command name is `comm` (e.g. `postgres`), per pid. */
export function cpuByCommand(comm: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== comm) continue;
      out.set(Number(entry), cpuSeconds(Number(entry)));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** CPU seconds the processes named `comm` used between two `cpuByCommand` snapshots (new pids count fully). */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, s] of after) total += s - (before.get(pid) ?? 0);
  return total;
}
