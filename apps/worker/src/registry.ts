import type { Job } from "bullmq";
import type { Services } from "@kanal/core/runtime";
import type { JobName, ParsedJobData, QueueKey } from "@kanal/queue";

export interface WorkerContext {
  services: Services;
  job: Job;
  /** The BullMQ token of the running job (needed for moveToDelayed). */
  token?: string;
}

/** A handler gets its job's payload already validated against the job's schema in @kanal/queue. */
type Handlers<Q extends QueueKey> = {
  [N in JobName<Q>]?: (data: ParsedJobData<Q, N>, ctx: WorkerContext) => Promise<unknown>;
};

/** A processor handles named jobs of one queue; `schedules` are repeated jobs registered at start-up. */
export interface Processor<Q extends QueueKey = QueueKey> {
  queue: Q;
  handlers: Handlers<Q>;
  schedules?: { jobName: JobName<Q>; everyMs: number }[];
  concurrency?: number;
}

/** A processor of any one queue (what startWorkers takes). */
export type AnyProcessor = { [Q in QueueKey]: Processor<Q> }[QueueKey];

export function defineProcessor<Q extends QueueKey>(processor: Processor<Q>): Processor<Q> {
  return processor;
}
