import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Redis } from "ioredis";

/**
 * The fault suite's own Postgres cluster and Redis server: started in a temp directory on free ports,
 * restarted and killed by the tests, never the machine's shared services. Every process it starts is
 * recorded under the run's root directory, so the global teardown (global-setup.ts) can stop whatever a
 * failed or killed test left behind.
 */

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

/**
 * Records a process the suite started: the teardown kills it if it is still there and its command line
 * contains `marker` ("group <marker>": its whole process group).
 */
export function recordPid(root: string, pid: number | undefined, marker: string): void {
  if (pid === undefined) return;
  mkdirSync(join(root, "pids"), { recursive: true });
  writeFileSync(join(root, "pids", String(pid)), marker);
}

/** Runs a command to its end; rejects with its output when it fails. */
function run(command: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      output += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(" ")} → ${signal ?? code}\n${output.slice(-2_000)}`));
    });
  });
}

/** The binaries of the newest Postgres installed (Debian: /usr/lib/postgresql/<version>/bin); PG_BIN_DIR overrides. */
export function postgresBinDir(): string {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return join(base, versions[0], "bin");
  throw new Error("no Postgres binaries (initdb, pg_ctl) found; set PG_BIN_DIR");
}

const isRoot = () => process.getuid?.() === 0;

/** Postgres refuses to run as root: as root the cluster belongs to the `postgres` user (runuser). */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return isRoot() ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
}

export class PgCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  /** initdb into a new directory under `root` and start it on a free port. */
  static async create(root: string): Promise<PgCluster> {
    const dir = mkdtempSync(join(root, "pg-"));
    if (isRoot()) {
      // The postgres user must reach its directory: mkdtemp makes 0700 directories owned by root.
      for (let d = root; d.startsWith(tmpdir()) && d !== tmpdir(); d = dirname(d)) chmodSync(d, 0o755);
      const uid = Number((await run("id", ["-u", "postgres"])).trim());
      const gid = Number((await run("id", ["-g", "postgres"])).trim());
      chownSync(dir, uid, gid);
    }
    const bin = postgresBinDir();
    await run(
      ...asPostgres(join(bin, "initdb"), [
        "-D",
        join(dir, "data"),
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
      ]),
    );
    const cluster = new PgCluster(dir, await freePort(), bin);
    await cluster.start();
    return cluster;
  }

  url(database = "postgres"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  private pgCtl(args: string[]): Promise<string> {
    return run(
      ...asPostgres(join(this.bin, "pg_ctl"), [
        "-D",
        join(this.dir, "data"),
        "-l",
        join(this.dir, "postgres.log"),
        "-w",
        "-t",
        "60",
        ...args,
      ]),
    );
  }

  async start(): Promise<void> {
    // Durability settings off: the suite restarts Postgres cleanly (-m fast), it never crashes the host.
    const settings = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      "-c listen_addresses=127.0.0.1",
      "-c max_connections=300",
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
    ].join(" ");
    await this.pgCtl(["-o", settings, "start"]);
  }

  /** `fast`: every backend gets 57P01 (terminating connection due to administrator command), as on a restart. */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    await this.pgCtl(["-m", mode, "stop"]);
  }
}

export class RedisServer {
  private child: ChildProcess | null = null;

  private constructor(
    private readonly root: string,
    readonly port: number,
  ) {}

  static async start(root: string): Promise<RedisServer> {
    const server = new RedisServer(root, await freePort());
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** A fresh, empty server on the port (no persistence: what a restart without AOF leaves). */
  async start(): Promise<void> {
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "noeviction",
        "--dir",
        this.root,
      ],
      { stdio: "ignore" },
    );
    this.child = child;
    recordPid(this.root, child.pid, "redis-server");
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = new Redis(this.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on("error", () => undefined);
      const ok = await client
        .connect()
        .then(() => client.ping())
        .then(
          () => true,
          () => false,
        );
      client.disconnect();
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL: the data in memory is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    this.child = null;
  }
}
