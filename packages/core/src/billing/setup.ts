import { sql } from "@kanal/db";
import type { Queues } from "@kanal/queue";
import type { Services } from "../services";
import { billingEnabled, stripeClient } from "./stripe";
import { billingDb } from "./tables";

export const BILLING_SETUP_JOB = "setup-account";

type SetupResult =
  | { state: "disabled" }
  | { state: "gone" }
  | { state: "waiting_for_plan"; customerId: string }
  | { state: "subscribed"; customerId: string; subscriptionId: string };

/** Kanal's billing status of a bank from Stripe's subscription status; nothing here ever blocks a bank. */
export function billingStatusOf(subscriptionStatus: string): string {
  switch (subscriptionStatus) {
    case "active":
    case "trialing":
      return "active";
    case "past_due":
    case "unpaid":
      return "past_due";
    case "canceled":
    case "incomplete_expired":
      return "canceled";
    case "paused":
      return "paused";
    default:
      return "incomplete";
  }
}

const jobIdFor = (tenantId: string) => `billing-setup-${tenantId}`;

/**
 * Queues the Stripe set-up of a bank. One job id per bank: a job still waiting or retrying is left
 * alone, a finished or exhausted one is replaced, so the sweeper can call this as often as it likes.
 */
export async function enqueueBillingSetup(queues: Queues, tenantId: string): Promise<"queued" | "pending"> {
  const jobId = jobIdFor(tenantId);
  const existing = await queues.billing.getJob(jobId);
  if (existing) {
    const state = await existing.getState();
    if (state !== "completed" && state !== "failed" && state !== "unknown") return "pending";
    await existing.remove().catch(() => undefined);
  }
  await queues.billing.add(BILLING_SETUP_JOB, { tenantId }, { jobId });
  return "queued";
}

/**
 * Creates the bank's Stripe customer and subscription, each at most once: Stripe idempotency keys derived
 * from the bank (and plan) make a retried call return the object the lost attempt created, and the ids
 * are stored only where none is stored yet. Safe to run any number of times, concurrently too.
 */
export async function setupBillingAccount(services: Services, tenantId: string): Promise<SetupResult> {
  const stripe = stripeClient(services.config);
  if (!stripe) return { state: "disabled" };
  const db = billingDb(services.db);
  const tenant = await db
    .withSchema("control")
    .selectFrom("tenants")
    .select(["id", "slug", "name", "billing_status"])
    .where("id", "=", tenantId)
    .executeTakeFirst();
  if (!tenant) return { state: "gone" };

  // Visible to the provider at once: this bank's billing is being set up (until Stripe answers).
  await db
    .withSchema("control")
    .updateTable("tenants")
    .set({ billing_status: "pending" })
    .where("id", "=", tenant.id)
    .where("billing_status", "=", "none")
    .execute();

  const defaultPlan = db
    .withSchema("control")
    .selectFrom("billing_plans")
    .select("id")
    .where("is_default", "=", true)
    .where("active", "=", true);
  await db
    .withSchema("control")
    .insertInto("billing_accounts")
    .values({ tenant_id: tenant.id, plan_id: defaultPlan, updated_at: sql`now()` })
    .onConflict((oc) => oc.column("tenant_id").doNothing())
    .execute();
  // A default plan created after the bank was onboarded applies to it too.
  await db
    .withSchema("control")
    .updateTable("billing_accounts")
    .set({ plan_id: defaultPlan })
    .where("tenant_id", "=", tenant.id)
    .where("plan_id", "is", null)
    .execute();

  const account = await db
    .withSchema("control")
    .selectFrom("billing_accounts as a")
    .leftJoin("billing_plans as p", "p.id", "a.plan_id")
    .select([
      "a.plan_id",
      "a.stripe_customer_id",
      "a.stripe_subscription_id",
      "p.code as plan_code",
      "p.stripe_base_price_id",
      "p.stripe_in_house_price_id",
      "p.stripe_ksc_price_id",
      "p.stripe_template_price_id",
    ])
    .where("a.tenant_id", "=", tenant.id)
    .executeTakeFirstOrThrow();

  const recordError = async (error: unknown) => {
    await db
      .withSchema("control")
      .updateTable("billing_accounts")
      .set({ last_error: String((error as Error)?.message ?? error).slice(0, 500), updated_at: sql`now()` })
      .where("tenant_id", "=", tenant.id)
      .execute();
  };
  await db
    .withSchema("control")
    .updateTable("billing_accounts")
    .set((eb) => ({ setup_attempts: eb("setup_attempts", "+", 1) }))
    .where("tenant_id", "=", tenant.id)
    .execute();

  let customerId = account.stripe_customer_id;
  if (!customerId) {
    try {
      const customer = await stripe.customers.create(
        {
          name: tenant.name,
          description: `Kanal bank ${tenant.slug}`,
          metadata: { tenant_id: tenant.id, tenant_slug: tenant.slug },
        },
        { idempotencyKey: `kanal-customer-${tenant.id}` },
      );
      customerId = customer.id;
    } catch (error) {
      await recordError(error);
      throw error;
    }
    const stored = await db
      .withSchema("control")
      .updateTable("billing_accounts")
      .set({ stripe_customer_id: customerId, updated_at: sql`now()` })
      .where("tenant_id", "=", tenant.id)
      .where("stripe_customer_id", "is", null)
      .returning("stripe_customer_id")
      .executeTakeFirst();
    if (!stored) {
      // A concurrent run stored first; the idempotency key made it the same customer anyway.
      const row = await db
        .withSchema("control")
        .selectFrom("billing_accounts")
        .select("stripe_customer_id")
        .where("tenant_id", "=", tenant.id)
        .executeTakeFirstOrThrow();
      customerId = row.stripe_customer_id ?? customerId;
    }
  }

  if (
    !account.plan_id ||
    !account.stripe_base_price_id ||
    !account.stripe_in_house_price_id ||
    !account.stripe_ksc_price_id ||
    !account.stripe_template_price_id
  ) {
    await db
      .withSchema("control")
      .updateTable("tenants")
      .set({ billing_status: "no_plan" })
      .where("id", "=", tenant.id)
      .where("billing_status", "in", ["none", "pending"])
      .execute();
    return { state: "waiting_for_plan", customerId };
  }
  if (account.stripe_subscription_id) {
    return { state: "subscribed", customerId, subscriptionId: account.stripe_subscription_id };
  }

  let subscription: Awaited<ReturnType<typeof stripe.subscriptions.create>>;
  try {
    subscription = await stripe.subscriptions.create(
      {
        customer: customerId,
        // The base fee is licensed (quantity 1); metered prices take no quantity, meter events fill them.
        items: [
          { price: account.stripe_base_price_id, quantity: 1 },
          { price: account.stripe_in_house_price_id },
          { price: account.stripe_ksc_price_id },
          { price: account.stripe_template_price_id },
        ],
        collection_method: "send_invoice",
        days_until_due: 14,
        metadata: { tenant_id: tenant.id, plan: account.plan_code ?? "" },
      },
      { idempotencyKey: `kanal-subscription-${tenant.id}-${account.plan_id}` },
    );
  } catch (error) {
    await recordError(error);
    throw error;
  }
  const item = subscription.items.data[0];
  const periodStart = item ? new Date(item.current_period_start * 1000) : null;
  const periodEnd = item ? new Date(item.current_period_end * 1000) : null;
  await db.transaction().execute(async (trx) => {
    const stored = await trx
      .withSchema("control")
      .updateTable("billing_accounts")
      .set({
        stripe_subscription_id: subscription.id,
        subscription_status: subscription.status,
        current_period_start: periodStart,
        current_period_end: periodEnd,
        last_error: null,
        updated_at: sql`now()`,
      })
      .where("tenant_id", "=", tenant.id)
      .where("stripe_subscription_id", "is", null)
      .returning("tenant_id")
      .executeTakeFirst();
    if (stored) {
      await trx
        .withSchema("control")
        .updateTable("tenants")
        .set({ billing_status: billingStatusOf(subscription.status) })
        .where("id", "=", tenant.id)
        .where("billing_status", "in", ["none", "pending", "no_plan"])
        .execute();
    }
  });
  return { state: "subscribed", customerId, subscriptionId: subscription.id };
}

/**
 * Finds every bank whose Stripe set-up is unfinished (enqueue lost while Redis was down, retries
 * exhausted during a long Stripe outage, a default plan that appeared later) and queues it again.
 */
export async function sweepBillingAccounts(
  services: Services,
  options: { tenantIds?: readonly string[] } = {},
): Promise<{ queued: number }> {
  if (!billingEnabled(services.config)) return { queued: 0 };
  const db = billingDb(services.db);
  const hasDefault = await db
    .withSchema("control")
    .selectFrom("billing_plans")
    .select("id")
    .where("is_default", "=", true)
    .where("active", "=", true)
    .executeTakeFirst();
  const rows = await db
    .withSchema("control")
    .selectFrom("tenants as t")
    .leftJoin("billing_accounts as a", "a.tenant_id", "t.id")
    .select("t.id")
    .where((eb) =>
      eb.or([
        eb("a.tenant_id", "is", null),
        eb("a.stripe_customer_id", "is", null),
        eb.and([eb("a.plan_id", "is not", null), eb("a.stripe_subscription_id", "is", null)]),
        ...(hasDefault ? [eb("a.plan_id", "is", null)] : []),
      ]),
    )
    .$if(options.tenantIds !== undefined, (qb) => qb.where("t.id", "in", [...(options.tenantIds ?? []), ""]))
    .execute();
  let queued = 0;
  for (const row of rows) {
    if ((await enqueueBillingSetup(services.queues, row.id)) === "queued") queued++;
  }
  return { queued };
}
