import {
  dispatchDepsFor,
  fetchMedia,
  processWebhookEvent,
  processWebhookEvents,
  sweepPendingWebhooks,
} from "@kanal/core/channel";
import { handleAfterInbound } from "@kanal/core/listeners";
import { sweepOutbox } from "@kanal/core/outbox";
import { settle } from "../../outcome";
import { defineProcessor } from "../../registry";

export const inboundProcessor = defineProcessor({
  queue: "inbound",
  concurrency: 16,
  handlers: {
    // One event: the sweeper's jobs, and jobs already in Redis from before the relay enqueued batches.
    "process-event": async ({ eventId }, { services }) => processWebhookEvent(services, eventId),
    // A batch of stored events, as the API's relay enqueues them.
    "process-events": async ({ eventIds }, { services }) => processWebhookEvents(services, eventIds),
    // The rule book's follow-ups of a stored message (hint, automatic reply, callback, handover).
    "after-inbound": async (data, { services }) => handleAfterInbound(services, data),
    "fetch-media": async (data, { services, job, token }) =>
      settle(job, token, await fetchMedia(dispatchDepsFor(services), data)),
    // The sweepers run from timers in the worker process (sweepers.ts); these jobs run them on demand.
    "webhook-sweep": async (_data, { services }) => ({
      enqueued: await sweepPendingWebhooks(services.db, services.queues),
    }),
    "outbox-sweep": async (_data, { services }) => ({ relayed: await sweepOutbox(services) }),
  },
});
