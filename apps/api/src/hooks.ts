import { enqueueBillingSetup, stripeClient } from "@kanal/core/billing";
import type { Services } from "@kanal/core/runtime";
import { addJob } from "@kanal/queue";
import type { AppHooks } from "./app";

/** Hooks that connect API writes to background work. */
export function apiHooks(services: Services): Pick<AppHooks, "onPresence" | "afterOnboard"> {
  return {
    // A Stripe customer and subscription for the new bank. Never fails onboarding: if Redis is
    // down the billing sweeper finds the bank without a customer and queues it later.
    afterOnboard: async (tenantId) => {
      // The new bank's template registry, read from the Graph API by the worker (else the hourly sweep).
      await withinTwoSeconds(
        addJob(
          services.queues,
          "maintenance",
          "sync-templates",
          { tenantId },
          { jobId: `templates-${tenantId}` },
        ),
      ).catch((error: Error) =>
        services.logger.warn({ tenantId, err: error.message }, "template sync not queued; the sweep will"),
      );
      if (!stripeClient(services.config)) return;
      // BullMQ waits for a lost Redis indefinitely; the onboarding response must not.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("Redis did not answer within 2 s")), 2_000);
      });
      await Promise.race([enqueueBillingSetup(services.queues, tenantId), timeout])
        .catch((error: Error) =>
          services.logger.warn(
            { tenantId, err: error.message },
            "billing set-up not queued; the sweeper will",
          ),
        )
        .finally(() => clearTimeout(timer));
    },
    // Someone came online: the routing worker drains the queues they serve, oldest first.
    onPresence: async (userId, status) => {
      if (status !== "online") return;
      await addJob(services.queues, "routing", "backfill", { userId }, { removeOnComplete: true }).catch(
        (error: Error) => services.logger.warn({ userId, err: error.message }, "back-fill not queued"),
      );
    },
  };
}

/** BullMQ waits for a lost Redis indefinitely; a request must not. */
async function withinTwoSeconds<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("Redis did not answer within 2 s")), 2_000);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
