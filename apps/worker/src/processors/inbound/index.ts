import { dispatchDepsFor, fetchMedia, processWebhookEvent, sweepPendingWebhooks } from "@kanal/core";
import { fetchMediaJob, processEventJob } from "@kanal/queue";
import { settle } from "../../outcome";
import type { Processor } from "../../registry";

export const inboundProcessor: Processor = {
  queue: "inbound",
  concurrency: 16,
  schedules: [{ jobName: "webhook-sweep", everyMs: 15_000 }],
  handlers: {
    "process-event": async (job, { services }) =>
      processWebhookEvent(services, processEventJob.parse(job.data).eventId),
    "fetch-media": async (job, { services, token }) =>
      settle(job, token, await fetchMedia(dispatchDepsFor(services), fetchMediaJob.parse(job.data))),
    "webhook-sweep": async (_job, { services }) => ({
      enqueued: await sweepPendingWebhooks(services.db, services.queues),
    }),
  },
};
