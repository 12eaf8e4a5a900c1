import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";
import { planView, type PlanView } from "./plans";
import { billingEnabled } from "./stripe";
import { billingDb } from "./tables";
import { calendarMonth, collectUsage, usageForPeriod, type UsageSummary } from "./usage";

interface InvoiceView {
  id: string;
  number: string | null;
  status: string;
  currency: string;
  amountDue: number;
  amountPaid: number;
  periodStart: string | null;
  periodEnd: string | null;
  url: string | null;
  createdAt: string;
}

interface BillingOverview {
  enabled: boolean;
  billingStatus: string;
  plan: PlanView | null;
  subscription: {
    status: string | null;
    currentPeriodStart: string | null;
    currentPeriodEnd: string | null;
  } | null;
  /** Only for the provider: the ids to look the bank up in Stripe, and why set-up is stuck if it is. */
  stripe?: {
    customerId: string | null;
    subscriptionId: string | null;
    lastError: string | null;
    setupAttempts: number;
  };
  period: { from: string; to: string; source: "subscription" | "calendar_month" };
  usage: UsageSummary;
  invoices: InvoiceView[];
}

/**
 * What the provider (and the bank's own admins) see of a bank's billing: plan, the period's usage by kind
 * (counted afresh from conversations and messages first, so it is current), invoices and their status.
 * Works without Stripe: everything here is Kanal's own data and the webhook-fed invoice mirror.
 */
export async function billingOverview(
  services: Services,
  access: TenantAccess,
  options: { month?: string } = {},
): Promise<BillingOverview> {
  const db = billingDb(services.db);
  await collectUsage(services.db, access.schema);
  const account = await db
    .withSchema("control")
    .selectFrom("billing_accounts")
    .selectAll()
    .where("tenant_id", "=", access.tenant.id)
    .executeTakeFirst();
  const plan = account?.plan_id
    ? await db
        .withSchema("control")
        .selectFrom("billing_plans")
        .selectAll()
        .where("id", "=", account.plan_id)
        .executeTakeFirst()
    : undefined;
  const now = new Date();
  const useSubscription =
    !options.month &&
    account?.current_period_start &&
    account.current_period_end &&
    account.current_period_end > now;
  const period =
    useSubscription && account?.current_period_start && account.current_period_end
      ? {
          from: account.current_period_start,
          to: account.current_period_end,
          source: "subscription" as const,
        }
      : { ...calendarMonth(now, access.tenant.timezone, options.month), source: "calendar_month" as const };
  const usage = await usageForPeriod(services.db, access.schema, period.from, period.to);
  const invoices = await db
    .withSchema("control")
    .selectFrom("billing_invoices")
    .selectAll()
    .where("tenant_id", "=", access.tenant.id)
    .orderBy("stripe_created_at", "desc")
    .limit(24)
    .execute();
  return {
    enabled: billingEnabled(services.config),
    billingStatus: access.tenant.billing_status,
    plan: plan ? planView(plan) : null,
    subscription: account
      ? {
          status: account.subscription_status,
          currentPeriodStart: account.current_period_start?.toISOString() ?? null,
          currentPeriodEnd: account.current_period_end?.toISOString() ?? null,
        }
      : null,
    ...(access.via === "provider"
      ? {
          stripe: {
            customerId: account?.stripe_customer_id ?? null,
            subscriptionId: account?.stripe_subscription_id ?? null,
            lastError: account?.last_error ?? null,
            setupAttempts: account?.setup_attempts ?? 0,
          },
        }
      : {}),
    period: { from: period.from.toISOString(), to: period.to.toISOString(), source: period.source },
    usage,
    invoices: invoices.map((i) => ({
      id: i.id,
      number: i.number,
      status: i.status,
      currency: i.currency,
      amountDue: Number(i.amount_due),
      amountPaid: Number(i.amount_paid),
      periodStart: i.period_start?.toISOString() ?? null,
      periodEnd: i.period_end?.toISOString() ?? null,
      url: i.hosted_invoice_url,
      createdAt: i.stripe_created_at.toISOString(),
    })),
  };
}
