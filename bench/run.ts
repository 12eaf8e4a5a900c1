import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** `npm run bench -- <name>` runs bench/<name>.ts (or bench/<name>.bench.ts) in its own process. */
const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !["run.ts", "support.ts"].includes(f))
  .map((f) => f.replace(/(\.bench)?\.ts$/, ""));

const names = process.argv.slice(2);
if (names.length === 0) {
  console.log(`usage: npm run bench -- <name> [<name> …]\navailable: ${available.join(", ")}`);
  process.exit(1);
}
// Benchmarks measure the API and the worker as production runs them: bundled (scripts/bundle.ts).
if (!process.env.BENCH_TSX) {
  for (const app of ["api", "worker"]) {
    const built = spawnSync("npm", ["run", "build", "-w", `apps/${app}`], { stdio: "inherit" });
    if (built.status !== 0) process.exit(built.status ?? 1);
  }
}
for (const name of names) {
  const file = [join(here, `${name}.ts`), join(here, `${name}.bench.ts`)].find((f) => existsSync(f));
  if (!file) {
    console.error(`unknown benchmark "${name}"; available: ${available.join(", ")}`);
    process.exit(1);
  }
  console.log(`\n=== ${name} ===`);
  const result = spawnSync(process.execPath, ["--import", "tsx", file], { stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
