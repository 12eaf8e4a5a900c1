import { Kysely, PostgresDialect, sql, type Transaction } from "kysely";
import { userInfo } from "node:os";
import pg from "pg";
import type { Database } from "./types";

// int8 (counts, bigserial ids) come back as strings by default; counts we read are small.
pg.types.setTypeParser(20, (v) => v);

export type Db = Kysely<Database>;

/** A URL without a user (the documented default) connects as the OS user, like psql does. */
function withUser(url: string): string {
  const u = new URL(url);
  if (!u.username) u.username = process.env.PGUSER ?? process.env.USER ?? userInfo().username;
  return u.toString();
}

const pools = new WeakMap<Db, pg.Pool>();

/** What a `Db` is tuned with; every process's pools are made here. */
export interface DbOptions {
  max?: number;
  application?: string;
  preparedStatements?: boolean;
  /** Close a connection idle this long (pg's default 10 s); 0 keeps them (and their warm caches). */
  idleTimeoutMillis?: number;
  /**
   * Postgres cancels a statement after this long (57014), waits for locks included, so no request or job
   * holds a connection for ever. 0: no limit (migrations set their own per transaction, see migrator).
   */
  statementTimeoutMs?: number;
  /** A pooled connection broke while idle (Postgres restarted, the backend was terminated). */
  onIdleError?: (error: Error) => void;
}

export function createDb(databaseUrl: string, options: DbOptions = {}): Db {
  const gate = new ConnectGate();
  const pool = new pg.Pool({
    connectionString: withUser(databaseUrl),
    max: options.max ?? 10,
    application_name: options.application ?? "kanal",
    connectionTimeoutMillis: 5_000,
    // A peer that vanished without closing the socket (host down, network cut) is noticed by the kernel.
    keepAlive: true,
    ...(options.statementTimeoutMs !== undefined && { statement_timeout: options.statementTimeoutMs }),
    ...(options.idleTimeoutMillis !== undefined && { idleTimeoutMillis: options.idleTimeoutMillis }),
    // Prepared statements are planned once per connection (generic plan), not at every execution.
    ...(options.preparedStatements && { options: "-c plan_cache_mode=force_generic_plan" }),
    Client: gate.clientClass(),
  });
  // Without a listener pg's pool rethrows an idle connection's error and the whole process dies; the
  // broken connection is already out of the pool, the next query gets a fresh one.
  pool.on("error", (error) => options.onIdleError?.(error));
  // A connection checked out when its backend dies (57P01 on a restart, a cut socket) emits 'error' on
  // its client, not on the pool — unhandled, that kills the process. Its query has already failed with
  // the error, and pg drops the client from the pool when it is released, so there is nothing to do here.
  pool.on("connect", (client) => client.on("error", ignore));
  if (options.preparedStatements) pool.on("connect", prepareStatements);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

const ignore = () => undefined;

/**
 * Connection attempts with backoff: after a failed attempt (Postgres restarting or unreachable), new
 * attempts fail at once with that error until a pause has passed — 100 ms, doubling up to 2 s — so
 * a process under load does not hammer a starting server with a connection per request. The first
 * success ends the pause. Queries fail meanwhile (callers retry: BullMQ with its backoff, Meta resends).
 */
class ConnectGate {
  private failures = 0;
  private until = 0;
  private lastError: Error | null = null;

  clientClass(): typeof pg.Client {
    const gate = this;
    return class GatedClient extends pg.Client {
      constructor(config?: string | pg.ClientConfig) {
        super(config);
        const connect = pg.Client.prototype.connect.bind(this) as (
          callback: (err: Error | null) => void,
        ) => void;
        // pg-pool connects with a callback; the promise form is there for completeness.
        const gated = (callback?: (err: Error | null) => void) => {
          const run = (done: (err: Error | null) => void) => {
            const refused = gate.refusal();
            if (refused) process.nextTick(done, refused);
            else
              connect((error) => {
                gate.settled(error ?? null);
                done(error ?? null);
              });
          };
          if (callback) return run(callback);
          return new Promise<void>((resolve, reject) => run((error) => (error ? reject(error) : resolve())));
        };
        this.connect = gated as pg.Client["connect"];
      }
    };
  }

  private refusal(): Error | null {
    if (Date.now() >= this.until || !this.lastError) return null;
    const error = new Error(
      `database unavailable (${this.lastError.message}); next connection attempt in ${this.until - Date.now()} ms`,
    );
    Object.assign(error, { code: (this.lastError as { code?: string }).code ?? "ECONNREFUSED" });
    return error;
  }

  private settled(error: Error | null): void {
    if (!error) {
      this.failures = 0;
      this.until = 0;
      this.lastError = null;
      return;
    }
    this.failures++;
    this.lastError = error;
    this.until = Date.now() + Math.min(2_000, 100 * 2 ** (this.failures - 1));
  }
}

/**
 * The `pg` pool under a `Db`, for the one statement that needs what Kysely does not offer: a named
 * (prepared once per connection) statement on a hot path. Everything else goes through Kysely.
 */
export function poolOf(db: Db): pg.Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error("not a Db made by createDb");
  return pool;
}

/** Named statements per connection (and texts per process) at most; beyond, new texts run unnamed. */
const MAX_PREPARED_PER_CONNECTION = 500;
const MAX_STATEMENT_TEXTS = 20_000;
const statementNames = new Map<string, string>();

/**
 * Makes every parameterised query of this connection a named prepared statement (named by its text):
 * Postgres then parses and plans it once per connection instead of at every execution. Worth it only
 * where a connection runs the same texts again and again — a bank-affine pool, where one schema's
 * statements keep meeting the same few backends (Services.bankDb).
 */
function prepareStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (config: unknown, values?: unknown) => unknown;
  const prepared = new Set<string>();
  client.query = ((text: unknown, values?: unknown) => {
    // Statements without parameters (begin, commit, locks by constant) have next to nothing to plan.
    if (typeof text !== "string" || !Array.isArray(values) || values.length === 0) return query(text, values);
    let name = statementNames.get(text);
    if (name === undefined) {
      if (statementNames.size >= MAX_STATEMENT_TEXTS) return query(text, values);
      name = `k${statementNames.size.toString(36)}`;
      statementNames.set(text, name);
    }
    if (!prepared.has(name)) {
      if (prepared.size >= MAX_PREPARED_PER_CONNECTION) return query(text, values);
      prepared.add(name);
    }
    return query({ name, text, values });
  }) as typeof client.query;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, "")) || "postgres";
}

/** Creates the database named in the URL when it does not exist yet (dev and test convenience). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const name = databaseName(url);
  const client = new pg.Client({
    connectionString: withUser(withDatabase(url, "postgres")),
    connectionTimeoutMillis: 3_000,
  });
  // A dedicated client is no pool's: its 'error' (the backend terminated mid-query) needs its own handler.
  client.on("error", ignore);
  await client.connect();
  try {
    const found = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (found.rowCount) return false;
    await client.query(`create database "${name.replaceAll('"', '""')}"`);
    return true;
  } catch (error) {
    // Two processes racing to create the same database: the loser sees duplicate_database.
    if ((error as { code?: string }).code === "42P04") return false;
    throw error;
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  const client = new pg.Client({
    connectionString: withUser(withDatabase(url, "postgres")),
    connectionTimeoutMillis: 3_000,
  });
  client.on("error", ignore);
  await client.connect();
  try {
    await client.query(`drop database if exists "${name.replaceAll('"', '""')}" with (force)`);
  } finally {
    await client.end();
  }
}

/**
 * A transaction whose BEGIN travels in one message with its first statement: one round trip less on a
 * hot path. `first` is SQL text without parameters (the simple protocol takes several statements in one
 * message, so its values must be literals the caller has made safe). Runs `fn` on the connection inside
 * BEGIN … COMMIT (ROLLBACK when it throws), as Kysely's transaction does.
 */
export async function transactionOpenedWith<T>(
  db: Db,
  first: string,
  fn: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (connection) => {
    await sql.raw(`begin; ${first}`).execute(connection);
    try {
      // The connection is inside BEGIN: a transaction for everything `fn` does (it must not nest one).
      const result = await fn(connection as unknown as Transaction<Database>);
      await sql.raw("commit").execute(connection);
      return result;
    } catch (error) {
      await sql
        .raw("rollback")
        .execute(connection)
        .catch(() => undefined);
      throw error;
    }
  });
}
