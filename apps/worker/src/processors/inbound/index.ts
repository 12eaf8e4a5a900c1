import { dispatchDepsFor, fetchMedia, processWebhookEvent, sweepPendingWebhooks } from "@kanal/core";
import { settle } from "../../outcome";
import type { Processor } from "../../registry";

export const inboundProcessor: Processor = {
  queue: "inbound",
  concurrency: 16,
  schedules: [{ jobName: "webhook-sweep", everyMs: 15_000 }],
  handlers: {
    "process-event": async (job, { services }) => processWebhookEvent(services, String(job.data.eventId)),
    "fetch-media": async (job, { services, token }) =>
      settle(
        job,
        token,
        await fetchMedia(dispatchDepsFor(services), {
          tenantId: String(job.data.tenantId),
          messageId: String(job.data.messageId),
        }),
      ),
    "webhook-sweep": async (_job, { services }) => ({
      enqueued: await sweepPendingWebhooks(services.db, services.queues),
    }),
  },
};
