import { deliverWebhook } from "@kanal/core/bank-webhooks";
import { defineProcessor } from "../../registry";

/**
 * Events to the bank's systems: one job per attempt of one delivery. An attempt that fails schedules the
 * next one itself (a delayed job; the backoff is the delivery's, in core/bank-webhooks), so the job
 * succeeds whatever the receiver answered: BullMQ's own retries are only for Kanal's failures (the
 * database away), and the claim makes a repeated job harmless. Mostly waiting on other servers, hence
 * the high concurrency.
 */
export const bankWebhooksProcessor = defineProcessor({
  queue: "webhooks",
  concurrency: 64,
  handlers: {
    "deliver-webhook": async (data, { services }) => deliverWebhook(services, data),
  },
});
