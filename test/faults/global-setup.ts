import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { postgresBinDir } from "./support/cluster";

declare module "vitest" {
  export interface ProvidedContext {
    faultsRoot: string;
  }
}

/**
 * The fault suite needs no shared service: each file starts its own Postgres cluster, Redis server and
 * Kanal processes under this run's temp directory. Whatever is left there at the end — a failed test, a
 * killed worker thread — is stopped and deleted here, and once more when this process exits.
 */
export default function setup(project: TestProject) {
  const root = mkdtempSync(join(tmpdir(), "kanal-faults-"));
  project.provide("faultsRoot", root);
  const cleanup = () => sweep(root);
  process.once("exit", cleanup);
  return () => {
    cleanup();
    process.off("exit", cleanup);
  };
}

function sweep(root: string): void {
  if (!existsSync(root)) return;
  const found = walk(root, 3);
  for (const pids of found.filter((d) => d.endsWith("/pids"))) {
    for (const pid of readdirSync(pids)) {
      const marker = readFileSync(join(pids, pid), "utf8");
      const group = marker.startsWith("group ");
      // Only a process the suite started (its pid may have been taken by another process since).
      const cmdline = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, "utf8") : "";
      if (!cmdline.includes(group ? marker.slice(6) : marker)) continue;
      try {
        process.kill(group ? -Number(pid) : Number(pid), "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  }
  for (const data of found.filter((d) => existsSync(join(d, "postmaster.pid")))) {
    const pgCtl = [join(postgresBinDir(), "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"];
    const [command, args] =
      process.getuid?.() === 0
        ? ["runuser", ["-u", "postgres", "--", ...pgCtl]]
        : [pgCtl[0] as string, pgCtl.slice(1)];
    spawnSync(command, args, { stdio: "ignore", timeout: 30_000 });
  }
  // KANAL_FAULTS_KEEP=1 keeps the logs (<root>/*/logs) and clusters' files for a look after a failure.
  if (process.env.KANAL_FAULTS_KEEP) console.log(`fault suite files kept in ${root}`);
  else rmSync(root, { recursive: true, force: true });
}

/** Every directory under `dir`, `depth` levels down. */
function walk(dir: string, depth: number): string[] {
  if (depth === 0) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [join(dir, e.name), ...walk(join(dir, e.name), depth - 1)]);
}
