import {
  BILLING_SETUP_JOB,
  billingDb,
  billingEnabled,
  collectUsage,
  reportTenantUsage,
  setupBillingAccount,
  sweepBillingAccounts,
  syncInvoices,
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
 * counts the bank's billable events and sends the unreported ones to Stripe as meter events;
 * `invoice-tick` refreshes the invoice mirror from Stripe in case webhook deliveries were lost.
 */
export const billingProcessor: Processor = {
  queue: "billing",
  concurrency: 4,
  schedules: [
    { jobName: "sweep-accounts", everyMs: 5 * 60_000 },
    { jobName: "usage-tick", everyMs: 60_000 },
    { jobName: "invoice-tick", everyMs: 6 * 3_600_000 },
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

    "invoice-tick": async (_job, { services }) => {
      if (!billingEnabled(services.config)) return { accounts: 0 };
      const accounts = await billingDb(services.db)
        .withSchema("control")
        .selectFrom("billing_accounts")
        .select("tenant_id")
        .where("stripe_customer_id", "is not", null)
        .execute();
      for (const a of accounts) {
        await services.queues.billing.add(
          "sync-invoices",
          { tenantId: a.tenant_id },
          { jobId: `invoices-${a.tenant_id}`, attempts: 3, removeOnComplete: true, removeOnFail: true },
        );
      }
      return { accounts: accounts.length };
    },

    "sync-invoices": async (job, { services }) => syncInvoices(services, tenantIdOf(job.data)),

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
