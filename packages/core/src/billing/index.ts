export { assignPlan, listPlans, savePlan } from "./plans";
export { reportTenantUsage } from "./report";
export { BILLING_SETUP_JOB, enqueueBillingSetup, setupBillingAccount, sweepBillingAccounts } from "./setup";
export { billingEnabled, stripeClient } from "./stripe";
export { billingDb } from "./tables";
export { collectUsage } from "./usage";
export { billingOverview } from "./view";
export { handleStripeWebhook, syncInvoices } from "./webhook";
