import { dispatchBatch, dispatchDepsFor, dispatchMessage, markConversationRead } from "@kanal/core";
import { markReadJob, sendBatchJob, sendJob } from "@kanal/queue";
import { settle } from "../../outcome";
import type { Processor } from "../../registry";

/** All outbound traffic of every bank goes through this queue; the limiter is shared in Redis. */
export const dispatchProcessor: Processor = {
  queue: "dispatch",
  concurrency: 64,
  handlers: {
    send: async (job, { services, token }) => {
      const outcome = await dispatchMessage(dispatchDepsFor(services), {
        ...sendJob.parse(job.data),
        attemptsMade: job.attemptsMade,
      });
      return settle(job, token, outcome);
    },
    "send-batch": async (job, { services, token }) => {
      const outcome = await dispatchBatch(dispatchDepsFor(services), {
        ...sendBatchJob.parse(job.data),
        attemptsMade: job.attemptsMade,
      });
      return settle(job, token, outcome);
    },
    "mark-read": async (job, { services, token }) =>
      settle(job, token, await markConversationRead(dispatchDepsFor(services), markReadJob.parse(job.data))),
  },
};
