import { type JobsOptions, Queue } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";
import type { JobData, JobName, QueueKey } from "./jobs";

export const QUEUE_NAMES = {
  inbound: "inbound-webhooks",
  dispatch: "outbound-dispatch",
  routing: "routing",
  maintenance: "maintenance",
  billing: "billing",
  webhooks: "bank-webhooks",
} as const satisfies Record<QueueKey, string>;
export type QueueName = (typeof QUEUE_NAMES)[QueueKey];

/** One retry policy for every job: exponential backoff (BullMQ adds jitter through `jitter`). */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: "exponential", delay: 1_000, jitter: 0.5 },
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3_600 },
};

/** Replies jump ahead of bulk traffic (lower number = earlier in BullMQ). */
export const PRIORITY = { reply: 1, read: 5, bulk: 10 } as const;

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

export type Queues = Record<QueueKey, Queue>;

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
    webhooks: make(QUEUE_NAMES.webhooks),
  };
}

/** Adds one job whose name and payload type-check against the catalogue in ./jobs. */
export async function addJob<Q extends QueueKey, N extends JobName<Q>>(
  queues: Queues,
  queue: Q,
  name: N,
  data: JobData<Q, N>,
  opts: JobsOptions = {},
): Promise<void> {
  await queues[queue].add(name, data, opts);
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
