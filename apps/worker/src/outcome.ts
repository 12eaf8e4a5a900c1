import { DelayedError, type Job } from "bullmq";
import type { DispatchOutcome } from "@kanal/core/channel";

/**
 * Turns a dispatch step's outcome into BullMQ terms: a delay parks the job in the delayed set (it does not
 * count as a failed attempt and does not block other banks' jobs in the wait list); a retry throws so
 * BullMQ retries with exponential backoff and jitter.
 */
export async function settle(
  job: Job,
  token: string | undefined,
  outcome: DispatchOutcome,
): Promise<unknown> {
  if (outcome.kind === "delay") {
    if (!token) throw new Error("a delayed job needs its token");
    await job.moveToDelayed(Date.now() + outcome.ms, token);
    throw new DelayedError(outcome.reason);
  }
  if (outcome.kind === "retry") throw new Error(outcome.error);
  return outcome;
}
