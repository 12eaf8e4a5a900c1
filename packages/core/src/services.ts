import type { Redis } from "ioredis";
import { createLogger, type Logger } from "@kanal/config/logger";
import type { DestinationStream } from "pino";
import type { AppConfig } from "@kanal/config";
import { createDb, type Db, type SchemaMigration } from "@kanal/db";
import { tenantMigrations } from "@kanal/migrations";
import { closeQueues, createQueues, producerConnection, type Queues } from "@kanal/queue";
import { createLucia, type KanalLucia } from "./auth/lucia";
import { createLoginThrottle, type LoginThrottle } from "./auth/login";

/** Everything a process needs, built once at start and passed down (no module-level singletons). */
export interface Services {
  config: AppConfig;
  db: Db;
  redis: Redis;
  queues: Queues;
  logger: Logger;
  lucia: KanalLucia;
  throttle: LoginThrottle;
  tenantMigrations: readonly SchemaMigration[];
  close(): Promise<void>;
}

export function createServices(
  config: AppConfig,
  options: {
    name?: string;
    dbPoolSize?: number;
    tenantMigrations?: readonly SchemaMigration[];
    logDestination?: DestinationStream;
  } = {},
): Services {
  const db = createDb(config.DATABASE_URL, {
    max: options.dbPoolSize ?? 10,
    application: options.name ?? "kanal",
  });
  const redis = producerConnection(config.REDIS_URL);
  redis.on("error", () => undefined); // surfaced by readiness checks and failing calls, not as crashes
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const secure = config.NODE_ENV === "production" || (config.PUBLIC_URL?.startsWith("https://") ?? false);
  return {
    config,
    db,
    redis,
    queues,
    logger: createLogger(options.name ?? "kanal", config.LOG_LEVEL, options.logDestination),
    lucia: createLucia(db, { secureCookies: secure, ttlHours: config.SESSION_TTL_HOURS }),
    throttle: createLoginThrottle(redis, { prefix: config.QUEUE_PREFIX }),
    tenantMigrations: options.tenantMigrations ?? tenantMigrations,
    async close() {
      // Never hang on a Redis that is gone: give the queues a moment, then cut the connection.
      await Promise.race([
        closeQueues(queues).catch(() => undefined),
        new Promise((r) => setTimeout(r, 2_000).unref()),
      ]);
      redis.disconnect();
      await db.destroy();
    },
  };
}
