import { syncTemplates } from "@kanal/core/channel";
import { addJob } from "@kanal/queue";
import { defineProcessor } from "../../registry";

/** How often every bank's template registry is read again (Meta's status webhooks keep it current between). */
const SWEEP_EVERY_MS = 60 * 60 * 1000;

/**
 * The template registry (issue 14): `sync-templates` reads one bank's templates from the Graph API (on
 * onboarding, and for every bank from the hourly `templates-sweep`, which catches a missed status webhook).
 * A Graph error fails the job, which BullMQ retries with backoff.
 */
export const templatesProcessor = defineProcessor({
  queue: "maintenance",
  schedules: [{ jobName: "templates-sweep", everyMs: SWEEP_EVERY_MS }],
  handlers: {
    "sync-templates": async ({ tenantId }, { services }) => syncTemplates(services, tenantId),
    "templates-sweep": async (_data, { services }) => {
      const banks = await services.db
        .withSchema("control")
        .selectFrom("whatsapp_numbers as n")
        .innerJoin("tenants as t", "t.id", "n.tenant_id")
        .select("t.id")
        .where("t.status", "=", "active")
        .where("n.sending_paused_at", "is", null)
        .execute();
      const hour = Math.floor(Date.now() / SWEEP_EVERY_MS);
      for (const { id } of banks)
        await addJob(
          services.queues,
          "maintenance",
          "sync-templates",
          { tenantId: id },
          { jobId: `templates-${id}-${hour}` },
        );
      return { banks: banks.length };
    },
  },
});
