import { purgeAllTenants } from "@kanal/core/data-protection";
import { defineProcessor } from "../../registry";

/** Retention: closed conversations older than each bank's period are deleted (audited per bank). */
const RETENTION_SWEEP_EVERY_MS = 60 * 60 * 1000;

export const retentionProcessor = defineProcessor({
  queue: "maintenance",
  schedules: [{ jobName: "retention-sweep", everyMs: RETENTION_SWEEP_EVERY_MS }],
  handlers: {
    "retention-sweep": async (_data, { services }) => {
      const results = await purgeAllTenants(services.db, (schema, error) =>
        services.logger.error({ schema, err: (error as Error).message }, "retention sweep failed for a bank"),
      );
      const deleted = results.reduce((sum, result) => sum + result.conversations, 0);
      if (deleted > 0)
        services.logger.info({ conversations: deleted }, "retention sweep deleted conversations");
      return { banks: results.length, conversations: deleted };
    },
  },
});
