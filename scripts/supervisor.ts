import { type ChildProcess, spawn } from "node:child_process";

export interface ChildSpec {
  name: string;
  /** The executable and its arguments (usually `process.execPath`, `--import tsx`, the entry file). */
  command: string;
  args: string[];
  env?: Record<string, string | undefined>;
}

export interface SupervisorOptions {
  cwd: string;
  /** How long a child may drain after SIGTERM before it is killed (SHUTDOWN_DEADLINE_MS). */
  deadlineMs: number;
  /** First pause before restarting a crashed child; doubles per crash in a row, up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A child that ran this long before it crashed starts again from the first pause. */
  stableMs?: number;
  /** Where the supervisor's own lines go (children's output is forwarded, prefixed with their name). */
  log?: (line: string) => void;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
}

interface Supervised {
  spec: ChildSpec;
  child: ChildProcess | null;
  startedAt: number;
  crashes: number;
  restartTimer: NodeJS.Timeout | null;
}

/**
 * The dev supervisor of `npm start`: runs each child, restarts one that ends on its own (a crash, a
 * signal from elsewhere) after a pause that grows while it keeps crashing, and on `stop()` sends every
 * child SIGTERM, waits for them to drain and kills whichever is still there after the deadline.
 */
export class Supervisor {
  private readonly children: Supervised[] = [];
  private stopping = false;
  private readonly log: (line: string) => void;

  constructor(private readonly options: SupervisorOptions) {
    this.log = options.log ?? ((line) => console.error(line));
  }

  start(spec: ChildSpec): void {
    const supervised: Supervised = { spec, child: null, startedAt: 0, crashes: 0, restartTimer: null };
    this.children.push(supervised);
    this.run(supervised);
  }

  /** The pid of a child's current process (undefined while it is down). */
  pid(name: string): number | undefined {
    return this.children.find((c) => c.spec.name === name)?.child?.pid;
  }

  private run(s: Supervised): void {
    s.restartTimer = null;
    if (this.stopping) return;
    const child = spawn(s.spec.command, s.spec.args, {
      cwd: this.options.cwd,
      env: { ...process.env, ...s.spec.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    s.child = child;
    s.startedAt = Date.now();
    const prefix = `[${s.spec.name}] `;
    const forward = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim()) stream.write(`${prefix}${line}\n`);
    };
    child.stdout?.on("data", forward(this.options.out ?? process.stdout));
    child.stderr?.on("data", forward(this.options.err ?? process.stderr));
    child.on("error", (error) => this.log(`${prefix}could not start: ${error.message}`));
    child.on("exit", (code, signal) => {
      if (s.child === child) s.child = null;
      if (this.stopping) return;
      const ranMs = Date.now() - s.startedAt;
      s.crashes = ranMs >= (this.options.stableMs ?? 60_000) ? 1 : s.crashes + 1;
      const pause = Math.min(
        this.options.maxBackoffMs ?? 30_000,
        (this.options.backoffMs ?? 1_000) * 2 ** (s.crashes - 1),
      );
      this.log(
        `${prefix}exited (${signal ?? `code ${code}`}) after ${(ranMs / 1000).toFixed(1)} s; restarting in ${(pause / 1000).toFixed(1)} s (crash ${s.crashes} in a row)`,
      );
      s.restartTimer = setTimeout(() => this.run(s), pause);
    });
  }

  /** SIGTERM to every child, SIGKILL to those still running after the deadline; resolves once all are gone. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const running = this.children.flatMap((s) => {
      if (s.restartTimer) clearTimeout(s.restartTimer);
      const child = s.child;
      return child && child.exitCode === null && child.signalCode === null ? [{ s, child }] : [];
    });
    await Promise.all(
      running.map(({ s, child }) => {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => {
          this.log(`[${s.spec.name}] still running after ${this.options.deadlineMs} ms; killing it`);
          child.kill("SIGKILL");
        }, this.options.deadlineMs);
        return exited.finally(() => clearTimeout(timer));
      }),
    );
  }
}
