import { type Job, UnrecoverableError, Worker } from "bullmq";
import { within } from "@kanal/config/shutdown";
import type { Services } from "@kanal/core/runtime";
import { jobSchema, QUEUE_NAMES, type QueueKey, workerConnection } from "@kanal/queue";
import type { AnyProcessor, WorkerContext } from "./registry";

export interface RunningWorkers {
  workers: Worker[];
  /**
   * Stops taking jobs and waits for the running ones; after `waitMs` it stops waiting and leaves them
   * to their lock: when it lapses (WORKER_LOCK_MS) another worker takes them over, as after a crash.
   */
  close(options?: { waitMs?: number }): Promise<void>;
}

/** Upserts the processors' job schedulers (routing tick, presence, retention, billing); idempotent. */
export async function registerSchedules(services: Services, processors: AnyProcessor[]): Promise<void> {
  for (const p of processors) {
    for (const s of p.schedules ?? []) {
      await services.queues[p.queue].upsertJobScheduler(
        s.jobName,
        { every: s.everyMs },
        { name: s.jobName, data: {} },
      );
    }
  }
}

/** Starts one BullMQ worker per queue, dispatching jobs by name to the processors that claim them. */
export async function startWorkers(
  services: Services,
  processors: AnyProcessor[],
  options: { schedule?: boolean } = {},
): Promise<RunningWorkers> {
  const byQueue = new Map<QueueKey, AnyProcessor[]>();
  for (const p of processors) byQueue.set(p.queue, [...(byQueue.get(p.queue) ?? []), p]);
  const connections: ReturnType<typeof workerConnection>[] = [];
  const workers: Worker[] = [];
  for (const [queue, list] of byQueue) {
    const handlers: Record<string, (data: unknown, ctx: WorkerContext) => Promise<unknown>> = Object.assign(
      {},
      ...list.map((p) => p.handlers),
    );
    const connection = workerConnection(services.config.REDIS_URL);
    connections.push(connection);
    const worker = new Worker(
      QUEUE_NAMES[queue],
      async (job: Job, token?: string) => {
        const handler = handlers[job.name];
        const schema = jobSchema(queue, job.name);
        // A job nobody handles, or with a payload its schema refuses, fails at once without retries: it
        // was written by a foreign or older producer, and running it on guesses could do harm.
        if (!handler || !schema) throw new UnrecoverableError(`No handler for ${queue}/${job.name}`);
        const parsed = schema.safeParse(job.data);
        if (!parsed.success)
          throw new UnrecoverableError(
            `${queue}/${job.name}: invalid payload (${parsed.error.issues[0]?.message})`,
          );
        return handler(parsed.data, { services, job, token });
      },
      {
        connection,
        prefix: services.config.QUEUE_PREFIX,
        concurrency: Math.max(...list.map((p) => p.concurrency ?? 4)),
        lockDuration: services.config.WORKER_LOCK_MS,
        stalledInterval: services.config.WORKER_LOCK_MS,
        autorun: true,
      },
    );
    worker.on("failed", (job, error) => {
      services.logger.warn(
        { queue, job: job?.name, jobId: job?.id, attempts: job?.attemptsMade, err: error.message },
        "job failed",
      );
    });
    worker.on("error", (error) => services.logger.error({ queue, err: error.message }, "worker error"));
    workers.push(worker);
  }
  // Job schedulers live in Redis: a Redis that restarted without its data (or with an older snapshot) has
  // none. Each time the connection is ready again they are upserted anew (an upsert changes nothing when
  // they are there); the sweepers (sweepers.ts) also notice a Redis that lost its data without a reconnect.
  const onReady = () => {
    registerSchedules(services, processors).then(
      () => services.logger.info("job schedulers registered after Redis reconnected"),
      (error: Error) => services.logger.warn({ err: error.message }, "job schedulers not registered"),
    );
  };
  if (options.schedule !== false) {
    // A Redis that is down at start must not stop the worker: the first `ready` registers them.
    await registerSchedules(services, processors).catch((error: Error) =>
      services.logger.warn({ err: error.message }, "job schedulers not registered at start"),
    );
    services.redis.on("ready", onReady);
  }
  return {
    workers,
    async close(closeOptions = {}) {
      services.redis.off("ready", onReady);
      const closing = Promise.all(workers.map((w) => w.close())).then(() => true);
      const finished =
        closeOptions.waitMs === undefined ? await closing : await within(closeOptions.waitMs, closing);
      // Past the wait the connections are cut under the running jobs: they stay locked in Redis until
      // the lock lapses, then another worker runs them again (every job is idempotent).
      if (!finished)
        services.logger.warn("jobs still running at the drain deadline; leaving them to their locks");
      for (const c of connections) c.disconnect();
    },
  };
}
