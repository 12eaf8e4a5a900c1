/**
 * Creating one tenant through the API: `POST /v1/tenants` on the real app (in-process `app.request`),
 * sequentially, as a provider admin would. Each creation = tenant row, schema, all tenant migrations,
 * encrypted WhatsApp token, first admin (argon2id), default rule book and snippets.
 *
 * Run: npm run bench -- tenant-create       (BENCH_TENANTS=50, BENCH_RUNS=3)
 */
import {
  benchRuns,
  clearQueuePrefix,
  dropBenchDatabase,
  freshDatabase,
  median,
  printCommand,
  printTable,
  providerClient,
  round,
  startBenchSystem,
  summarize,
  tenantBody,
  unique,
} from "./support";

const TENANTS = Number(process.env.BENCH_TENANTS ?? 50);
const TIME_LIMIT_MS = 120_000;

async function oneRun(run: number) {
  const url = await freshDatabase("tenant_create");
  const system = await startBenchSystem(url, `kanal-bench-tenant-create-${run}`);
  try {
    const provider = await providerClient(system);
    // Warm-up: first use of each module, prepared pool connections (not counted).
    const warm = await provider.post("/v1/tenants", tenantBody(unique("warm-")));
    if (warm.status !== 201) throw new Error(`warm-up failed: ${warm.status} ${JSON.stringify(warm.body)}`);
    const durations: number[] = [];
    const started = Date.now();
    for (let i = 0; i < TENANTS && Date.now() - started < TIME_LIMIT_MS; i++) {
      const body = tenantBody(unique("bank-"));
      const t0 = performance.now();
      const res = await provider.post("/v1/tenants", body);
      const ms = performance.now() - t0;
      if (res.status !== 201) throw new Error(`onboarding failed: ${res.status} ${JSON.stringify(res.body)}`);
      durations.push(ms);
    }
    return summarize(durations);
  } finally {
    await system.close();
    await dropBenchDatabase(url);
    await clearQueuePrefix(`kanal-bench-tenant-create-${run}`);
  }
}

const runs = [];
for (let r = 1; r <= benchRuns(); r++) {
  const s = await oneRun(r);
  runs.push(s);
  console.log(`run ${r}: n=${s.n} p50=${round(s.p50)} ms p90=${round(s.p90)} ms p99=${round(s.p99)} ms`);
}
printTable(
  "POST /v1/tenants latency (ms), sequential",
  runs.map((s, i) => ({
    run: i + 1,
    n: s.n,
    min: round(s.min),
    p50: round(s.p50),
    p90: round(s.p90),
    p99: round(s.p99),
    max: round(s.max),
  })),
);
const p50 = median(runs.map((s) => s.p50));
const p99 = median(runs.map((s) => s.p99));
console.log(
  `\nmedian of runs: p50=${round(p50)} ms, p99=${round(p99)} ms; target p50 < 300 ms → ${p50 < 300 ? "PASS" : "FAIL"}`,
);
printCommand("npm run bench -- tenant-create");
