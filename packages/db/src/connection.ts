import { Kysely, PostgresDialect } from "kysely";
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

export function createDb(databaseUrl: string, options: { max?: number; application?: string } = {}): Db {
  const pool = new pg.Pool({
    connectionString: withUser(databaseUrl),
    max: options.max ?? 10,
    application_name: options.application ?? "kanal",
    connectionTimeoutMillis: 5_000,
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
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
  const client = new pg.Client({ connectionString: withUser(withDatabase(url, "postgres")) });
  await client.connect();
  try {
    await client.query(`drop database if exists "${name.replaceAll('"', '""')}" with (force)`);
  } finally {
    await client.end();
  }
}
