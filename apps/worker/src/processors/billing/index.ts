import {
  billingDb,
  billingEnabled,
  collectUsage,
  reportTenantUsage,
  setupBillingAccount,
  sweepBillingAccounts,
  syncInvoices,
} from "@kanal/core/billing";
import { addJob } from "@kanal/queue";
import { defineProcessor } from "../../registry";

/**
 * Billing of banks (ADR 0007). `setup-account` creates the Stripe customer and subscription (queued at
 * onboarding, re-queued by the sweeper); `usage-tick` fans out one `report-usage` job per bank, which
 * counts the bank's billable events and sends the unreported ones to Stripe as meter events;
 * `invoice-tick` refreshes the invoice mirror from Stripe in case webhook deliveries were lost.
 */
export const billingProcessor = defineProcessor({
  queue: "billing",
  concurrency: 4,
  schedules: [
    { jobName: "sweep-accounts", everyMs: 5 * 60_000 },
    { jobName: "usage-tick", everyMs: 60_000 },
    { jobName: "invoice-tick", everyMs: 6 * 3_600_000 },
  ],
  handlers: {
    "setup-account": async ({ tenantId }, { services }) => setupBillingAccount(services, tenantId),

    "sweep-accounts": async (_data, { services }) => sweepBillingAccounts(services),

    "usage-tick": async (_data, { services }) => {
      const tenants = await services.db.withSchema("control").selectFrom("tenants").select("id").execute();
      for (const t of tenants) {
        // One job per bank at a time: the id dedups while it waits or retries; removed when done so
        // the next tick can queue it again.
        await addJob(
          services.queues,
          "billing",
          "report-usage",
          { tenantId: t.id },
          { jobId: `usage-${t.id}`, attempts: 5, removeOnComplete: true, removeOnFail: true },
        );
      }
      return { tenants: tenants.length };
    },

    "invoice-tick": async (_data, { services }) => {
      if (!billingEnabled(services.config)) return { accounts: 0 };
      const accounts = await billingDb(services.db)
        .withSchema("control")
        .selectFrom("billing_accounts")
        .select("tenant_id")
        .where("stripe_customer_id", "is not", null)
        .execute();
      for (const a of accounts) {
        await addJob(
          services.queues,
          "billing",
          "sync-invoices",
          { tenantId: a.tenant_id },
          { jobId: `invoices-${a.tenant_id}`, attempts: 3, removeOnComplete: true, removeOnFail: true },
        );
      }
      return { accounts: accounts.length };
    },

    "sync-invoices": async ({ tenantId }, { services }) => syncInvoices(services, tenantId),

    "report-usage": async ({ tenantId }, { services }) => {
      const tenant = await services.db
        .withSchema("control")
        .selectFrom("tenants")
        .select(["id", "schema_name"])
        .where("id", "=", tenantId)
        .executeTakeFirst();
      if (!tenant) return { gone: true };
      // Counted even with billing off, so turning it on later bills from the real history.
      const collected = await collectUsage(services.db, tenant.schema_name);
      if (!billingEnabled(services.config)) return { collected };
      const reported = await reportTenantUsage(services, { id: tenant.id, schema: tenant.schema_name });
      return { collected, reported };
    },
  },
});
