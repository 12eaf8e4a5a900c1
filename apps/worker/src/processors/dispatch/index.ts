import { dispatchBatch, dispatchDepsFor, dispatchMessage, markConversationRead } from "@kanal/core/channel";
import { settle } from "../../outcome";
import { defineProcessor } from "../../registry";

/** All outbound traffic of every bank goes through this queue; the limiter is shared in Redis. */
export const dispatchProcessor = defineProcessor({
  queue: "dispatch",
  concurrency: 64,
  handlers: {
    send: async (data, { services, job, token }) =>
      settle(
        job,
        token,
        await dispatchMessage(dispatchDepsFor(services), { ...data, attemptsMade: job.attemptsMade }),
      ),
    "send-batch": async (data, { services, job, token }) =>
      settle(
        job,
        token,
        await dispatchBatch(dispatchDepsFor(services), { ...data, attemptsMade: job.attemptsMade }),
      ),
    "mark-read": async (data, { services, job, token }) =>
      settle(job, token, await markConversationRead(dispatchDepsFor(services), data)),
  },
});
