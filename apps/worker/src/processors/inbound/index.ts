import {
  dispatchDepsFor,
  fetchMedia,
  processWebhookEvent,
  processWebhookEvents,
  sweepPendingWebhooks,
} from "@kanal/core";
import { fetchMediaJob, processEventJob, processEventsJob } from "@kanal/queue";
import { settle } from "../../outcome";
import type { Processor } from "../../registry";

export const inboundProcessor: Processor = {
  queue: "inbound",
  concurrency: 16,
  schedules: [{ jobName: "webhook-sweep", everyMs: 15_000 }],
  handlers: {
    // One event: the sweeper's jobs, and jobs already in Redis from before the relay enqueued batches.
    "process-event": async (job, { services }) =>
      processWebhookEvent(services, processEventJob.parse(job.data).eventId),
    // A batch of stored events, as the API's relay enqueues them.
    "process-events": async (job, { services }) =>
      processWebhookEvents(services, processEventsJob.parse(job.data).eventIds),
    "fetch-media": async (job, { services, token }) =>
      settle(job, token, await fetchMedia(dispatchDepsFor(services), fetchMediaJob.parse(job.data))),
    "webhook-sweep": async (_job, { services }) => ({
      enqueued: await sweepPendingWebhooks(services.db, services.queues),
    }),
  },
};
