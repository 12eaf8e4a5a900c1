import { Queue, type JobsOptions } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";

export const QUEUE_NAMES = {
  inbound: "inbound-webhooks",
  dispatch: "outbound-dispatch",
  routing: "routing",
  maintenance: "maintenance",
  billing: "billing",
} as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/** One retry policy for every job: exponential backoff (BullMQ adds jitter through `jitter`). */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: "exponential", delay: 1_000, jitter: 0.5 },
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3_600 },
};

/** Producers fail fast when Redis is down (callers decide what to do) instead of buffering forever. */
export function producerConnection(redisUrl: string, extra: RedisOptions = {}): Redis {
  return new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: false,
    ...extra,
  });
}

/** Workers block on Redis and must never give up a command. */
export function workerConnection(redisUrl: string): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: null });
}

export type Queues = Record<keyof typeof QUEUE_NAMES, Queue>;

/** `prefix` namespaces every queue key, so parallel test runs (or two deployments) never share jobs. */
export function createQueues(connection: Redis, prefix = "kanal"): Queues {
  const make = (name: QueueName) =>
    new Queue(name, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  return {
    inbound: make(QUEUE_NAMES.inbound),
    dispatch: make(QUEUE_NAMES.dispatch),
    routing: make(QUEUE_NAMES.routing),
    maintenance: make(QUEUE_NAMES.maintenance),
    billing: make(QUEUE_NAMES.billing),
  };
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
export * from "./jobs";
