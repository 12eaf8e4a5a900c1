import type { Services } from "@kanal/core";
import type { AppHooks } from "./app";

/** Hooks that connect API writes to background work; issues 3, 4 and 7 add theirs here. */
export function apiHooks(services: Services): Pick<AppHooks, "onPresence" | "afterOnboard"> {
  return {
    // Someone came online: the routing worker drains the queues they serve, oldest first (issue 4).
    onPresence: async (userId, status) => {
      if (status !== "online") return;
      await services.queues.routing
        .add("backfill", { userId }, { removeOnComplete: true })
        .catch((error: Error) =>
          services.logger.warn({ userId, err: error.message }, "back-fill not queued"),
        );
    },
  };
}
