import { purgeAllTenants, purgeWebhookEvents } from "@kanal/core/data-protection";
import { expireStreamsWithoutTtl } from "@kanal/core/realtime";
import { defineProcessor } from "../../registry";

/**
 * Retention: closed conversations older than each bank's period are deleted (audited per bank), and raw
 * webhook events older than the platform's period (`WEBHOOK_EVENT_RETENTION_DAYS`) or their bank's; an
 * agent event stream without an expiry gets one.
 */
const RETENTION_SWEEP_EVERY_MS = 60 * 60 * 1000;

export const retentionProcessor = defineProcessor({
  queue: "maintenance",
  schedules: [{ jobName: "retention-sweep", everyMs: RETENTION_SWEEP_EVERY_MS }],
  handlers: {
    "retention-sweep": async (_data, { services }) => {
      const platformEvents = await purgeWebhookEvents(
        services.db,
        services.config.WEBHOOK_EVENT_RETENTION_DAYS,
      );
      const results = await purgeAllTenants(services.db, (schema, error) =>
        services.logger.error({ schema, err: (error as Error).message }, "retention sweep failed for a bank"),
      );
      const deleted = results.reduce((sum, result) => sum + result.conversations, 0);
      const webhookEvents = results.reduce((sum, result) => sum + result.webhookEvents, platformEvents);
      if (deleted > 0 || webhookEvents > 0)
        services.logger.info(
          { conversations: deleted, webhookEvents },
          "retention sweep deleted conversations and raw webhook events",
        );
      const streamsExpiring = await expireStreamsWithoutTtl(services.redis, services.config.QUEUE_PREFIX);
      return { banks: results.length, conversations: deleted, webhookEvents, streamsExpiring };
    },
  },
});
