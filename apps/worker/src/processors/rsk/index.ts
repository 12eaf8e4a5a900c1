import { type AfterInboundJob, handleAfterInbound, purgeAllTenants } from "@kanal/core";
import type { Processor } from "../../registry";

function afterInboundData(data: unknown): AfterInboundJob {
  const d = (data ?? {}) as Partial<Record<keyof AfterInboundJob, unknown>>;
  if (
    typeof d.tenantId !== "string" ||
    typeof d.conversationId !== "string" ||
    typeof d.messageId !== "string"
  ) {
    throw new Error("after-inbound: tenantId, conversationId and messageId are required");
  }
  return {
    tenantId: d.tenantId,
    conversationId: d.conversationId,
    messageId: d.messageId,
    ruleId: typeof d.ruleId === "string" ? d.ruleId : null,
    ruleVersion: typeof d.ruleVersion === "number" ? d.ruleVersion : null,
    sensitiveKinds: Array.isArray(d.sensitiveKinds)
      ? d.sensitiveKinds.filter((kind): kind is string => typeof kind === "string")
      : [],
  };
}

/** The rule book's actions after an inbound message (hint, automatic reply, callback, handover). */
export const rskInboundProcessor: Processor = {
  queue: "inbound",
  handlers: {
    "after-inbound": async (job, { services }) => handleAfterInbound(services, afterInboundData(job.data)),
  },
};

/** Retention: closed conversations older than each bank's period are deleted (audited per bank). */
export const RETENTION_SWEEP_EVERY_MS = 60 * 60 * 1000;

export const rskMaintenanceProcessor: Processor = {
  queue: "maintenance",
  schedules: [{ jobName: "retention-sweep", everyMs: RETENTION_SWEEP_EVERY_MS }],
  handlers: {
    "retention-sweep": async (_job, { services }) => {
      const results = await purgeAllTenants(services.db, (schema, error) =>
        services.logger.error({ schema, err: (error as Error).message }, "retention sweep failed for a bank"),
      );
      const deleted = results.reduce((sum, result) => sum + result.conversations, 0);
      if (deleted > 0)
        services.logger.info({ conversations: deleted }, "retention sweep deleted conversations");
      return { banks: results.length, conversations: deleted };
    },
  },
};
