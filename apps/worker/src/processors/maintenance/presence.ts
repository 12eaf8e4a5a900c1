import { sql } from "@kanal/db";
import { defineProcessor } from "../../registry";

/**
 * A closed browser or a lost event stream ends presence: the event stream's heartbeat refreshes
 * last_seen_at; whoever has been silent longer than the grace period is set offline.
 */
export const presenceProcessor = defineProcessor({
  queue: "maintenance",
  schedules: [{ jobName: "presence-sweep", everyMs: 15_000 }],
  handlers: {
    "presence-sweep": async (_data, { services }) => {
      const grace = services.config.PRESENCE_GRACE_SECONDS;
      const expired = await services.db
        .withSchema("control")
        .updateTable("agent_state")
        .set({ presence: "offline", presence_changed_at: sql`now()` })
        .where("presence", "<>", "offline")
        .where(
          sql<boolean>`coalesce(last_seen_at, presence_changed_at) < now() - make_interval(secs => ${grace})`,
        )
        .returning("user_id")
        .execute();
      if (expired.length > 0) services.logger.info({ users: expired.length }, "presence expired");
      return { expired: expired.length };
    },
  },
});
