import type { Redis } from "ioredis";
import { createLogger, type Logger } from "@kanal/config/logger";
import type { DestinationStream } from "pino";
import type { AppConfig } from "@kanal/config";
import { createDb, type Db, type SchemaMigration, sql } from "@kanal/db";
import { tenantMigrations } from "@kanal/migrations";
import { closeQueues, createQueues, producerConnection, type Queues } from "@kanal/queue";
import { createLucia, type KanalLucia } from "./auth/lucia";
import { createLoginThrottle, type LoginThrottle } from "./auth/login";
import { EventBus } from "./kernel/event-bus";

/** Everything a process needs, built once at start and passed down (no module-level singletons). */
export interface Services {
  config: AppConfig;
  db: Db;
  /**
   * The connections for one bank's hot path (inbound messages and their routing). With `bankDbGroups`
   * the banks are spread over that many small pools, a bank always on the same one: a Postgres backend
   * builds its catalog caches and plans per schema, so a bank whose statements meet a few warm backends
   * costs far less than one spread over every connection of the process. Without: the shared pool.
   */
  bankDb(schema: string): Db;
  /** Opens every connection of the bankDb pools (a worker does at start, before the first message). */
  openBankPools(): Promise<void>;
  redis: Redis;
  queues: Queues;
  logger: Logger;
  lucia: KanalLucia;
  throttle: LoginThrottle;
  tenantMigrations: readonly SchemaMigration[];
  /** Committed domain events go here; the process's listeners (core/listeners) turn them into effects. */
  events: EventBus;
  close(): Promise<void>;
}

export interface ServicesOptions {
  name?: string;
  dbPoolSize?: number;
  /** Pools for bankDb: `groups` pools of `size` connections each (none: bankDb is db). */
  bankDbGroups?: { groups: number; size: number };
  tenantMigrations?: readonly SchemaMigration[];
  logDestination?: DestinationStream;
}

/**
 * The container without listeners. Processes use `createServices` (core/runtime), which also registers
 * the listeners; this is for the layers below it.
 */
export function createServiceContainer(config: AppConfig, options: ServicesOptions = {}): Services {
  const logger = createLogger(options.name ?? "kanal", config.LOG_LEVEL, options.logDestination);
  const onIdleError = (error: Error) =>
    logger.warn({ err: error.message }, "a pooled database connection broke while idle");
  // Every pool of the process: a statement never runs (or waits for a lock) longer than this, and a
  // restart of Postgres costs failed queries, never the process (createDb handles broken connections).
  const statementTimeoutMs = config.DB_STATEMENT_TIMEOUT_MS;
  const db = createDb(config.DATABASE_URL, {
    max: options.dbPoolSize ?? 10,
    application: options.name ?? "kanal",
    statementTimeoutMs,
    onIdleError,
  });
  const groups = Array.from({ length: options.bankDbGroups?.groups ?? 0 }, (_, i) =>
    createDb(config.DATABASE_URL, {
      max: options.bankDbGroups?.size ?? 1,
      application: `${options.name ?? "kanal"}-bank-${i}`,
      preparedStatements: true,
      // A backend's caches for its banks are the point of these pools: keep the connections open. A
      // connection that breaks (Postgres restarted) leaves the pool; the next statement opens a new one.
      idleTimeoutMillis: 0,
      statementTimeoutMs,
      onIdleError,
    }),
  );
  const bankDb = (schema: string): Db => groups[groupOf(schema, groups.length)] ?? db;
  const redis = producerConnection(config.REDIS_URL);
  redis.on("error", () => undefined); // surfaced by readiness checks and failing calls, not as crashes
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const secure = config.NODE_ENV === "production" || (config.PUBLIC_URL?.startsWith("https://") ?? false);
  return {
    config,
    db,
    bankDb,
    async openBankPools() {
      const size = options.bankDbGroups?.size ?? 0;
      // Concurrent statements on a pool open that many connections.
      await Promise.all(
        groups.flatMap((group) => Array.from({ length: size }, () => sql`select 1`.execute(group))),
      );
    },
    redis,
    queues,
    logger,
    lucia: createLucia(db, { secureCookies: secure, ttlHours: config.SESSION_TTL_HOURS }),
    throttle: createLoginThrottle(redis, { prefix: config.QUEUE_PREFIX }),
    tenantMigrations: options.tenantMigrations ?? tenantMigrations,
    events: new EventBus((listener, error) =>
      logger.error({ listener, err: error.message }, "a listener failed after commit"),
    ),
    async close() {
      // Never hang on a Redis that is gone: give the queues a moment, then cut the connection.
      await Promise.race([
        closeQueues(queues).catch(() => undefined),
        new Promise((r) => setTimeout(r, 2_000).unref()),
      ]);
      redis.disconnect();
      await Promise.all([db, ...groups].map((d) => d.destroy()));
    },
  };
}

/** A stable group for a schema name (FNV-1a). */
function groupOf(schema: string, groups: number): number {
  if (groups === 0) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < schema.length; i++) hash = Math.imul(hash ^ schema.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % groups;
}
