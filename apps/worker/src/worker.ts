import { Worker, type Job } from "bullmq";
import type { Services } from "@kanal/core";
import { QUEUE_NAMES, workerConnection } from "@kanal/queue";
import type { Processor, QueueKey } from "./registry";

export interface RunningWorkers {
  workers: Worker[];
  close(): Promise<void>;
}

/** Starts one BullMQ worker per queue, dispatching jobs by name to the processors that claim them. */
export async function startWorkers(
  services: Services,
  processors: Processor[],
  options: { schedule?: boolean } = {},
): Promise<RunningWorkers> {
  const byQueue = new Map<QueueKey, Processor[]>();
  for (const p of processors) byQueue.set(p.queue, [...(byQueue.get(p.queue) ?? []), p]);
  const connections: ReturnType<typeof workerConnection>[] = [];
  const workers: Worker[] = [];
  for (const [queue, list] of byQueue) {
    const handlers = Object.assign({}, ...list.map((p) => p.handlers));
    const connection = workerConnection(services.config.REDIS_URL);
    connections.push(connection);
    const worker = new Worker(
      QUEUE_NAMES[queue],
      async (job: Job, token?: string) => {
        const handler = handlers[job.name];
        if (!handler) throw new Error(`No handler for ${queue}/${job.name}`);
        return handler(job, { services, token });
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
          { name: s.jobName, data: s.data ?? {} },
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
