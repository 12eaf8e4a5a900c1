import type Stripe from "stripe";
import { sql } from "@kanal/db";
import type { Database, Kysely, Transaction } from "@kanal/db";
import { systemActor } from "../kernel/actor";
import { auditControl, auditTenant } from "../kernel/audit";
import { AppError, invalid } from "../kernel/errors";
import type { Services } from "../services";
import { billingStatusOf } from "./setup";
import { stripeClient, stripeWebhooks } from "./stripe";
import { billingDb, type BillingTables } from "./tables";

type Trx = Transaction<Database & BillingTables>;
const STRIPE = systemActor("stripe");

interface StripeWebhookResult {
  eventId: string;
  type: string;
  duplicate: boolean;
  tenantId: string | null;
}

/**
 * Verifies and applies one Stripe webhook delivery. The signature is checked over the raw body; the
 * event id is recorded in the same transaction as its effects, so a replay (or Stripe's redelivery)
 * changes nothing and a failure half-way leaves no trace and is retried by Stripe. Billing problems
 * only ever change the billing status: a bank is never cut off from its customers here.
 */
export async function handleStripeWebhook(
  services: Services,
  rawBody: string,
  signature: string | null | undefined,
): Promise<StripeWebhookResult> {
  const secret = services.config.STRIPE_WEBHOOK_SECRET;
  if (!secret) throw new AppError("unavailable", "Stripe webhooks are not configured");
  if (!signature) throw invalid("Missing Stripe-Signature header");
  let event: Stripe.Event;
  try {
    event = stripeWebhooks().constructEvent(rawBody, signature, secret);
  } catch {
    throw invalid("Stripe signature does not match the body (or is too old)");
  }
  const db = billingDb(services.db);
  return db.transaction().execute(async (trx) => {
    const fresh = await trx
      .withSchema("control")
      .insertInto("stripe_events")
      .values({ id: event.id, type: event.type })
      .onConflict((oc) => oc.column("id").doNothing())
      .returning("id")
      .executeTakeFirst();
    if (!fresh) return { eventId: event.id, type: event.type, duplicate: true, tenantId: null };
    const tenantId = await applyEvent(trx, event);
    if (tenantId) {
      await trx
        .withSchema("control")
        .updateTable("stripe_events")
        .set({ tenant_id: tenantId })
        .where("id", "=", event.id)
        .execute();
    }
    services.logger.info({ stripeEvent: event.id, type: event.type, tenantId }, "stripe event applied");
    return { eventId: event.id, type: event.type, duplicate: false, tenantId };
  });
}

function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === "string" ? value : value.id;
}

async function tenantFor(trx: Trx, customerId: string | null, metadataTenant: string | undefined) {
  if (customerId) {
    const byCustomer = await trx
      .withSchema("control")
      .selectFrom("billing_accounts as a")
      .innerJoin("tenants as t", "t.id", "a.tenant_id")
      .select(["t.id", "t.schema_name", "t.billing_status", "a.status_event_at"])
      .where("a.stripe_customer_id", "=", customerId)
      .executeTakeFirst();
    if (byCustomer) return byCustomer;
  }
  if (!metadataTenant) return null;
  return (
    (await trx
      .withSchema("control")
      .selectFrom("tenants as t")
      .leftJoin("billing_accounts as a", "a.tenant_id", "t.id")
      .select(["t.id", "t.schema_name", "t.billing_status", "a.status_event_at"])
      .where("t.id", "=", metadataTenant)
      .executeTakeFirst()) ?? null
  );
}

/** Sets the bank's billing status unless a newer Stripe event already decided it (late deliveries). */
async function setStatus(
  trx: Trx,
  tenant: { id: string; schema_name: string; billing_status: string },
  status: string,
  at: Date,
  reason: string,
) {
  const updated = await trx
    .withSchema("control")
    .updateTable("billing_accounts")
    .set({ status_event_at: at, updated_at: sql`now()` })
    .where("tenant_id", "=", tenant.id)
    .where((eb) => eb.or([eb("status_event_at", "is", null), eb("status_event_at", "<=", at)]))
    .returning("tenant_id")
    .executeTakeFirst();
  if (!updated || tenant.billing_status === status) return;
  await trx
    .withSchema("control")
    .updateTable("tenants")
    .set({ billing_status: status })
    .where("id", "=", tenant.id)
    .execute();
  const entry = {
    action: "billing.status_changed",
    targetType: "tenant",
    targetId: tenant.id,
    details: { from: tenant.billing_status, to: status, reason },
  };
  await auditTenant(trx, tenant.schema_name, STRIPE, entry);
  await auditControl(trx, STRIPE, { ...entry, tenantId: tenant.id });
}

/**
 * Mirrors one Stripe invoice; `at` is when Stripe's state was observed (event time, or now for a sync),
 * so an older observation arriving later never overwrites a newer one.
 */
async function upsertInvoice(
  trx: Kysely<Database & BillingTables>,
  tenantId: string,
  invoice: Stripe.Invoice,
  at: Date,
): Promise<void> {
  if (!invoice.id) return;
  const row = {
    number: invoice.number ?? null,
    status: invoice.status ?? "draft",
    currency: invoice.currency,
    amount_due: invoice.amount_due,
    amount_paid: invoice.amount_paid,
    period_start: new Date(invoice.period_start * 1000),
    period_end: new Date(invoice.period_end * 1000),
    hosted_invoice_url: invoice.hosted_invoice_url ?? null,
    event_at: at,
    updated_at: sql<Date>`now()`,
  };
  await trx
    .withSchema("control")
    .insertInto("billing_invoices")
    .values({
      id: invoice.id,
      tenant_id: tenantId,
      stripe_created_at: new Date(invoice.created * 1000),
      ...row,
    })
    .onConflict((oc) =>
      oc.column("id").doUpdateSet(row).where(sql.ref("billing_invoices.event_at"), "<=", at),
    )
    .execute();
}

/**
 * Pulls the bank's recent invoices from Stripe into the mirror: a safety net for webhook deliveries that
 * never arrived (endpoint down for longer than Stripe retries). Changes no billing status.
 */
export async function syncInvoices(services: Services, tenantId: string): Promise<{ invoices: number }> {
  const stripe = stripeClient(services.config);
  if (!stripe) return { invoices: 0 };
  const db = billingDb(services.db);
  const account = await db
    .withSchema("control")
    .selectFrom("billing_accounts")
    .select("stripe_customer_id")
    .where("tenant_id", "=", tenantId)
    .executeTakeFirst();
  if (!account?.stripe_customer_id) return { invoices: 0 };
  const observed = new Date();
  const list = await stripe.invoices.list({ customer: account.stripe_customer_id, limit: 24 });
  for (const invoice of list.data) await upsertInvoice(db, tenantId, invoice, observed);
  return { invoices: list.data.length };
}

async function applyEvent(trx: Trx, event: Stripe.Event): Promise<string | null> {
  const at = new Date(event.created * 1000);
  if (event.type.startsWith("invoice.")) {
    const invoice = event.data.object as Stripe.Invoice;
    const tenant = await tenantFor(
      trx,
      idOf(invoice.customer),
      invoice.parent?.subscription_details?.metadata?.tenant_id ?? undefined,
    );
    if (!tenant || !invoice.id) return null;
    await upsertInvoice(trx, tenant.id, invoice, at);
    if (event.type === "invoice.payment_failed" || event.type === "invoice.overdue") {
      await setStatus(trx, tenant, "past_due", at, `${event.type} ${invoice.number ?? invoice.id}`);
    } else if (event.type === "invoice.paid" && tenant.billing_status === "past_due") {
      const stillOpen = await trx
        .withSchema("control")
        .selectFrom("billing_invoices")
        .select("id")
        .where("tenant_id", "=", tenant.id)
        .where("status", "=", "open")
        .where("id", "<>", invoice.id)
        .executeTakeFirst();
      if (!stillOpen)
        await setStatus(trx, tenant, "active", at, `invoice.paid ${invoice.number ?? invoice.id}`);
    }
    return tenant.id;
  }
  if (event.type.startsWith("customer.subscription.")) {
    const subscription = event.data.object as Stripe.Subscription;
    const tenant = await tenantFor(trx, idOf(subscription.customer), subscription.metadata?.tenant_id);
    if (!tenant) return null;
    const item = subscription.items?.data?.[0];
    const status = event.type === "customer.subscription.deleted" ? "canceled" : subscription.status;
    await trx
      .withSchema("control")
      .updateTable("billing_accounts")
      .set({
        subscription_status: status,
        ...(item
          ? {
              current_period_start: new Date(item.current_period_start * 1000),
              current_period_end: new Date(item.current_period_end * 1000),
            }
          : {}),
        updated_at: sql`now()`,
      })
      .where("tenant_id", "=", tenant.id)
      .where((eb) =>
        eb.or([eb("stripe_subscription_id", "is", null), eb("stripe_subscription_id", "=", subscription.id)]),
      )
      .where((eb) => eb.or([eb("status_event_at", "is", null), eb("status_event_at", "<=", at)]))
      .execute();
    await trx
      .withSchema("control")
      .updateTable("billing_accounts")
      .set({ stripe_subscription_id: subscription.id })
      .where("tenant_id", "=", tenant.id)
      .where("stripe_subscription_id", "is", null)
      .execute();
    await setStatus(trx, tenant, billingStatusOf(status), at, event.type);
    return tenant.id;
  }
  return null;
}
