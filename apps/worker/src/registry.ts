import type { Job } from "bullmq";
import type { EventHub, Services } from "@kanal/core";
import type { QUEUE_NAMES } from "@kanal/queue";

export type QueueKey = keyof typeof QUEUE_NAMES;

export interface WorkerContext {
  services: Services;
  /** The BullMQ token of the running job (needed for moveToDelayed). */
  token?: string;
  hub?: EventHub;
}

export type JobHandler = (job: Job, ctx: WorkerContext) => Promise<unknown>;

/** A processor handles named jobs of one queue; `repeat` jobs are scheduled at start-up. */
export interface Processor {
  queue: QueueKey;
  handlers: Record<string, JobHandler>;
  schedules?: { jobName: string; everyMs: number; data?: Record<string, unknown> }[];
  concurrency?: number;
}
