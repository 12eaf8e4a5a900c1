import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { Supervisor } from "../../scripts/supervisor";
import { freePort, PgCluster, RedisServer, recordPid } from "./support/cluster";
import { repoRoot, waitUntilOk } from "./support/processes";

/** `npm start`'s supervisor: a crashed child comes back, Ctrl+C ends every child within the deadline. */

const node = (name: string, code: string) => ({ name, command: process.execPath, args: ["-e", code] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) =>
  existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");

describe("Supervisor", () => {
  it("restarts a child that crashed or was killed, with a growing pause, and leaves the others alone", async () => {
    const lines: string[] = [];
    const supervisor = new Supervisor({
      cwd: repoRoot,
      deadlineMs: 2_000,
      backoffMs: 100,
      maxBackoffMs: 400,
      log: (line) => lines.push(line),
      out: { write: () => true } as unknown as NodeJS.WritableStream,
    });
    supervisor.start(node("crasher", "setTimeout(() => process.exit(3), 100)"));
    supervisor.start(node("steady", "setInterval(() => {}, 1000)"));
    await sleep(300);
    const steady = supervisor.pid("steady");
    await sleep(1_500);
    expect(lines.filter((l) => l.startsWith("[crasher] exited (code 3)")).length).toBeGreaterThanOrEqual(3);
    expect(lines.some((l) => l.includes("restarting in 0.4 s"))).toBe(true);
    expect(supervisor.pid("steady")).toBe(steady);
    // Killed from outside (the OOM killer, a stray kill): restarted too.
    process.kill(steady as number, "SIGKILL");
    await sleep(400);
    expect(lines.some((l) => l.startsWith("[steady] exited (SIGKILL)"))).toBe(true);
    expect(supervisor.pid("steady")).not.toBe(steady);
    expect(supervisor.pid("steady")).toBeDefined();
    await supervisor.stop();
  }, 20_000);

  it("stops every child on stop(): SIGTERM, and SIGKILL for one still running at the deadline", async () => {
    const supervisor = new Supervisor({ cwd: repoRoot, deadlineMs: 1_000, log: () => undefined });
    supervisor.start(
      node("polite", "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)"),
    );
    supervisor.start(node("stubborn", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"));
    await sleep(300);
    const pids = [supervisor.pid("polite"), supervisor.pid("stubborn")] as number[];
    const started = Date.now();
    await supervisor.stop();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(2_000);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 10_000);
});

describe("npm start", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }, 60_000);

  /** The pids of the processes whose parent is `pid`. */
  function childrenOf(pid: number): { pid: number; cmdline: string }[] {
    return readdirSync("/proc")
      .filter((e) => /^\d+$/.test(e))
      .flatMap((e) => {
        try {
          const stat = readFileSync(`/proc/${e}/stat`, "utf8");
          const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
          return ppid === pid
            ? [{ pid: Number(e), cmdline: readFileSync(`/proc/${e}/cmdline`, "utf8") }]
            : [];
        } catch {
          return [];
        }
      });
  }

  it("restarts a crashed worker instead of stopping everything, and Ctrl+C ends all within the deadline", async () => {
    const root = mkdtempSync(join(inject("faultsRoot"), "start-"));
    mkdirSync(join(root, "web"), { recursive: true });
    const pg = await PgCluster.create(root);
    cleanups.push(() => pg.stop("immediate"));
    const redis = await RedisServer.start(root);
    cleanups.push(() => redis.kill());
    const [apiPort, simPort] = [await freePort(), await freePort()];
    let output = "";
    // Its own process group, as in a terminal: Ctrl+C reaches the supervisor and its children at once.
    const start: ChildProcess = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        NODE_ENV: "development",
        DATABASE_URL: pg.url("kanal"),
        REDIS_URL: redis.url,
        QUEUE_PREFIX: "kanal-start",
        PORT: String(apiPort),
        WHATSAPP_API_BASE_URL: `http://127.0.0.1:${simPort}`,
        // An empty directory: no console to build or serve.
        WEB_DIST_DIR: join(root, "web"),
        SHUTDOWN_DEADLINE_MS: "4000",
        LOG_LEVEL: "warn",
      },
    });
    recordPid(root, start.pid, "group scripts/start.ts");
    const exited = new Promise<number | string | null>((r) =>
      start.once("exit", (code, signal) => r(signal ?? code)),
    );
    cleanups.push(async () => {
      if (start.exitCode === null && start.signalCode === null)
        process.kill(-(start.pid as number), "SIGKILL");
    });
    for (const stream of [start.stdout, start.stderr])
      stream?.on("data", (c: Buffer) => {
        output += c.toString();
      });
    const startedWithin = Date.now() + 90_000;
    while (!output.includes("Kanal is running") && Date.now() < startedWithin) await sleep(200);
    expect(output, output.slice(-3_000)).toContain("Kanal is running");
    await waitUntilOk(`http://127.0.0.1:${apiPort}/readyz`);

    const worker = childrenOf(start.pid as number).find((c) => c.cmdline.includes("apps/worker/src/main.ts"));
    expect(worker).toBeDefined();
    process.kill(worker?.pid as number, "SIGKILL");
    const restartedWithin = Date.now() + 20_000;
    let again: { pid: number } | undefined;
    while (!again && Date.now() < restartedWithin) {
      await sleep(200);
      again = childrenOf(start.pid as number).find(
        (c) => c.cmdline.includes("apps/worker/src/main.ts") && c.pid !== worker?.pid,
      );
    }
    expect(output).toMatch(/\[worker\] exited \(SIGKILL\).*restarting in 1\.0 s/);
    expect(again, output.slice(-2_000)).toBeDefined();
    // The API and the simulator kept running.
    await waitUntilOk(`http://127.0.0.1:${apiPort}/readyz`, 5_000);
    await waitUntilOk(`http://127.0.0.1:${simPort}/healthz`, 5_000);

    // (The supervisor's other child is tsx's esbuild service.)
    const children = childrenOf(start.pid as number)
      .filter((c) => c.cmdline.includes("apps/"))
      .map((c) => c.pid);
    expect(children.length).toBe(3);
    const signalled = Date.now();
    process.kill(-(start.pid as number), "SIGINT");
    const how = await exited;
    expect(Date.now() - signalled).toBeLessThan(4_000 + 3_000);
    expect(how).toBe(0);
    for (const pid of children) expect(alive(pid), `child ${pid} still running`).toBe(false);
  }, 150_000);
});
