import {
  BILLING_SETUP_JOB,
  billingEnabled,
  collectUsage,
  reportTenantUsage,
  setupBillingAccount,
  sweepBillingAccounts,
} from "@kanal/core";
import type { Processor } from "../../registry";

function tenantIdOf(data: unknown): string {
  const tenantId = (data as { tenantId?: unknown } | null)?.tenantId;
  if (typeof tenantId !== "string" || tenantId.length === 0) throw new Error("billing job without tenantId");
  return tenantId;
}

/**
 * Billing of banks (issue 7). `setup-account` creates the Stripe customer and subscription (queued at
 * onboarding, re-queued by the sweeper); `usage-tick` fans out one `report-usage` job per bank, which
 * counts the bank's billable events and sends the unreported ones to Stripe as meter events.
 */
export const billingProcessor: Processor = {
  queue: "billing",
  concurrency: 4,
  schedules: [
    { jobName: "sweep-accounts", everyMs: 5 * 60_000 },
    { jobName: "usage-tick", everyMs: 60_000 },
  ],
  handlers: {
    [BILLING_SETUP_JOB]: async (job, { services }) => setupBillingAccount(services, tenantIdOf(job.data)),

    "sweep-accounts": async (_job, { services }) => sweepBillingAccounts(services),

    "usage-tick": async (_job, { services }) => {
      const tenants = await services.db.withSchema("control").selectFrom("tenants").select("id").execute();
      for (const t of tenants) {
        // One job per bank at a time: the id dedups while it waits or retries; removed when done so
        // the next tick can queue it again.
        await services.queues.billing.add(
          "report-usage",
          { tenantId: t.id },
          { jobId: `usage-${t.id}`, attempts: 5, removeOnComplete: true, removeOnFail: true },
        );
      }
      return { tenants: tenants.length };
    },

    "report-usage": async (job, { services }) => {
      const tenant = await services.db
        .withSchema("control")
        .selectFrom("tenants")
        .select(["id", "schema_name"])
        .where("id", "=", tenantIdOf(job.data))
        .executeTakeFirst();
      if (!tenant) return { gone: true };
      // Counted even with billing off, so turning it on later bills from the real history.
      const collected = await collectUsage(services.db, tenant.schema_name);
      if (!billingEnabled(services.config)) return { collected };
      const reported = await reportTenantUsage(services, { id: tenant.id, schema: tenant.schema_name });
      return { collected, reported };
    },
  },
};
