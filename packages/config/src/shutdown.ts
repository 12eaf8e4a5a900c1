import { Worker } from "node:worker_threads";
import type { Logger } from "./logger";

/** What a drain step needs to budget its time: the moment the process exits anyway. */
export interface Drain {
  signal: NodeJS.Signals;
  /** Epoch milliseconds of the deadline. */
  deadline: number;
  /** Milliseconds left until the deadline, minus `reserveMs` kept for the steps after this one. */
  remaining(reserveMs?: number): number;
}

export interface ShutdownOptions {
  /** How long draining may take (SHUTDOWN_DEADLINE_MS). */
  deadlineMs: number;
  /** One line per step; `fields` for structured loggers. */
  log: (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;
}

/**
 * The one shutdown of every Kanal process: on the first SIGTERM or SIGINT `drain` runs (stop accepting,
 * finish or hand back the work under way, close connections), then the process exits — 0 when the drain
 * finished, 1 when it failed or the deadline passed first. Later signals change nothing (Ctrl+C in a
 * terminal reaches the supervisor and its children at once; the children drain either way).
 *
 * The deadline holds even when the event loop does not turn: a watchdog thread, started with the drain,
 * kills the process (SIGKILL) shortly after the deadline should the in-process timer not have fired —
 * a CPU-bound job between two awaits. A process whose loop is blocked before the signal is handled never
 * starts draining; its supervisor's kill after the same deadline (npm start, Kubernetes, systemd) ends it.
 */
export function onShutdown(drain: (d: Drain) => Promise<void>, options: ShutdownOptions): void {
  let started = false;
  const begin = (signal: NodeJS.Signals) => {
    if (started) {
      options.log("info", "already shutting down", { signal });
      return;
    }
    started = true;
    const deadline = Date.now() + options.deadlineMs;
    armDeadline(options);
    options.log("info", "shutting down", { signal, deadlineMs: options.deadlineMs });
    const remaining = (reserveMs = 0) => Math.max(0, deadline - Date.now() - reserveMs);
    drain({ signal, deadline, remaining }).then(
      () => {
        options.log("info", "shut down");
        process.exit(0);
      },
      (error: Error) => {
        options.log("error", "shutdown failed", { err: error.message });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", begin);
  process.on("SIGINT", begin);
}

/** Resolves with `promise`'s outcome, or with `undefined` after `ms` — for steps that must not overrun. */
export async function within<T>(ms: number, promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds the watchdog thread waits beyond the deadline for the in-process timer to exit first. */
const WATCHDOG_GRACE_MS = 500;

// A CommonJS script for the watchdog thread: sleep without an event loop, then end the whole process.
const WATCHDOG = `
const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.ms);
writeSync(2, "shutdown deadline passed with the event loop blocked; killing the process\\n");
process.kill(process.pid, "SIGKILL");
`;

function armDeadline(options: ShutdownOptions): void {
  setTimeout(() => {
    options.log("error", "shutdown deadline passed; exiting without finishing the drain", {
      deadlineMs: options.deadlineMs,
    });
    process.exit(1);
  }, options.deadlineMs).unref();
  try {
    // No execArgv: with the process's preloads (tsx's loader) the thread did not start while the main
    // thread was blocked.
    new Worker(WATCHDOG, {
      eval: true,
      execArgv: [],
      workerData: { ms: options.deadlineMs + WATCHDOG_GRACE_MS },
    }).unref();
  } catch (error) {
    options.log("warn", "no shutdown watchdog thread", { err: (error as Error).message });
  }
}

/** `ShutdownOptions.log` for a pino logger. */
export function logTo(logger: Logger): ShutdownOptions["log"] {
  return (level, message, fields) => logger[level](fields ?? {}, message);
}
