import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { recordPid } from "./cluster";

export const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from the signal `stop`/`signal` sent (or from the start) to the exit. */
  afterMs: number;
}

/**
 * One real process of the system (`node --import tsx <entry>`, as `npm start` runs them), its output in
 * `<root>/logs/<name>.log`. Started again after a kill with the same environment.
 */
export class Service {
  private child: ChildProcess | null = null;
  private exitPromise: Promise<Exit> | null = null;
  private signalledAt = 0;
  private readonly log: WriteStream;
  /** The last lines of output, for a failing test's message. */
  readonly tail: string[] = [];

  constructor(
    readonly name: string,
    private readonly entry: string,
    readonly env: Record<string, string>,
    private readonly root: string,
  ) {
    this.log = createWriteStream(join(root, "logs", `${name}.log`), { flags: "a" });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(args: string[] = ["--import", "tsx", this.entry]): void {
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.signalledAt = 0;
    const started = Date.now();
    recordPid(this.root, child.pid, this.entry);
    this.log.write(`--- ${new Date().toISOString()} start pid ${child.pid}\n`);
    const keep = (chunk: Buffer) => {
      this.log.write(chunk);
      for (const line of chunk.toString().split("\n")) {
        if (!line.trim()) continue;
        this.tail.push(line.slice(0, 500));
        if (this.tail.length > 40) this.tail.shift();
      }
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exitPromise = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.log.write(`--- ${new Date().toISOString()} exit ${signal ?? code}\n`);
        resolve({ code, signal, afterMs: Date.now() - (this.signalledAt || started) });
      }),
    );
  }

  /** Resolves when the current process has exited. */
  exited(): Promise<Exit> {
    if (!this.exitPromise) throw new Error(`${this.name} was never started`);
    return this.exitPromise;
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.running) return;
    this.signalledAt = Date.now();
    this.child?.kill(signal);
  }

  /** SIGKILL, as a crash or an OOM kill would; resolves once it is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.signal("SIGKILL");
    await this.exited();
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit. */
  async stop(graceMs = 15_000): Promise<Exit | null> {
    if (!this.running) return null;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), graceMs);
    const exit = await this.exited();
    clearTimeout(timer);
    return exit;
  }
}

/** Polls `url` until it answers 200 (or `timeoutMs` passes). */
export async function waitUntilOk(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
      last = `${res.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (${last})`);
}
