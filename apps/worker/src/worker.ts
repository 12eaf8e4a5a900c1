import { type Job, UnrecoverableError, Worker } from "bullmq";
import type { Services } from "@kanal/core/runtime";
import { jobSchema, QUEUE_NAMES, type QueueKey, workerConnection } from "@kanal/queue";
import type { AnyProcessor, WorkerContext } from "./registry";

export interface RunningWorkers {
  workers: Worker[];
  close(): Promise<void>;
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
  if (options.schedule !== false) {
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
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      for (const c of connections) c.disconnect();
    },
  };
}
