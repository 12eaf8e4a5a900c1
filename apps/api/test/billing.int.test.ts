import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStripeFake, type StripeFake } from "@kanal/stripe-fake";
import { billingDb, sweepBillingAccounts } from "@kanal/core/billing";
import { createProviderAdmin } from "@kanal/core/people";
import { closeQueues, createQueues, producerConnection } from "@kanal/queue";
import { newApp } from "../src/app";
import { apiHooks } from "../src/hooks";
import { sql } from "@kanal/db";
import { billingProcessor } from "../../worker/src/processors/billing/index";
import { startWorkers, type RunningWorkers } from "../../worker/src/worker";
import {
  onboardBank,
  PASSWORD,
  providerClient,
  startTestSystem,
  TestClient,
  unique,
  uniqueDigits,
  type Bank,
  type TestSystem,
} from "../../../test/support/system";

const WEBHOOK_SECRET = "whsec_test_kanal";
let fake: StripeFake;
let stripe: Stripe;
let system: TestSystem;
let workers: RunningWorkers;
let provider: TestClient;

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 45_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function createStripePrices() {
  const meter = async (event: string) =>
    (
      await stripe.billing.meters.create({
        display_name: event,
        event_name: event,
        default_aggregation: { formula: "sum" },
      })
    ).id;
  const metered = async (event: string, amount: number) =>
    (
      await stripe.prices.create({
        currency: "eur",
        unit_amount: amount,
        recurring: { interval: "month", usage_type: "metered", meter: await meter(event) },
        product_data: { name: event },
      })
    ).id;
  return {
    base: (
      await stripe.prices.create({
        currency: "eur",
        unit_amount: 49_00,
        recurring: { interval: "month" },
        product_data: { name: "Kanal base fee" },
      })
    ).id,
    inHouseConversation: await metered("kanal_in_house_conversation", 40),
    kscConversation: await metered("kanal_ksc_conversation", 350),
    templateMessage: await metered("kanal_template_message", 12),
  };
}

const account = (tenantId: string) =>
  billingDb(system.services.db)
    .withSchema("control")
    .selectFrom("billing_accounts")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .executeTakeFirst();
const tenantRow = (tenantId: string) =>
  system.services.db
    .withSchema("control")
    .selectFrom("tenants")
    .selectAll()
    .where("id", "=", tenantId)
    .executeTakeFirstOrThrow();
const customersOf = (tenantId: string) =>
  [...fake.state.customers.values()].filter(
    (c) => (c.metadata as Record<string, string>).tenant_id === tenantId,
  );
const subscriptionsOf = (customerId: string) =>
  [...fake.state.subscriptions.values()].filter((s) => s.customer === customerId);

beforeAll(async () => {
  fake = createStripeFake();
  const { url, port } = await fake.listen(0);
  stripe = new Stripe("sk_test_kanal", { host: "127.0.0.1", port, protocol: "http", maxNetworkRetries: 0 });
  system = await startTestSystem({
    env: {
      STRIPE_SECRET_KEY: "sk_test_kanal",
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_BASE_URL: url,
      // Its own queues: other test files' workers must not run this file's billing jobs.
      QUEUE_PREFIX: `kanal-billing-${unique("").slice(1)}`,
    },
  });
  workers = await startWorkers(system.services, [billingProcessor], { schedule: false });
  provider = await providerClient(system);
  const prices = await createStripePrices();
  const saved = await provider.put("/v1/billing/plans/standard", {
    name: "Standard",
    prices,
    isDefault: true,
  });
  expect(saved.status).toBe(200);
});

afterAll(async () => {
  await workers?.close();
  await system?.close();
  await fake?.close();
});

describe("billing plans", () => {
  it("stores Stripe's price ids and amounts; refuses unknown or wrong-kind prices", async () => {
    const res = await provider.get<{
      plans: { code: string; amounts: Record<string, number>; currency: string; isDefault: boolean }[];
    }>("/v1/billing/plans");
    expect(res.status).toBe(200);
    const standard = res.body.plans.find((p) => p.code === "standard");
    expect(standard).toMatchObject({
      currency: "eur",
      isDefault: true,
      amounts: { base: 4900, ksc_conversation: 350, in_house_conversation: 40, template_message: 12 },
    });

    const prices = await createStripePrices();
    const unknown = await provider.put("/v1/billing/plans/broken", {
      name: "Broken",
      prices: { ...prices, kscConversation: "price_doesnotexist" },
    });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toContain("prices.kscConversation");
    const swapped = await provider.put("/v1/billing/plans/broken", {
      name: "Broken",
      prices: { ...prices, base: prices.templateMessage },
    });
    expect(swapped.status).toBe(400);
    expect(
      (await provider.get<{ plans: { code: string }[] }>("/v1/billing/plans")).body.plans.map((p) => p.code),
    ).not.toContain("broken");
  });

  it("is the provider's business only", async () => {
    const bank = await onboardBank(system, provider);
    expect((await bank.admin.get("/v1/billing/plans")).status).toBe(403);
    const prices = await createStripePrices();
    expect((await bank.admin.put("/v1/billing/plans/cheap", { name: "Cheap", prices })).status).toBe(403);
    expect((await bank.admin.put(`/v1/tenants/${bank.slug}/billing/plan`, { plan: "standard" })).status).toBe(
      403,
    );
  });
});

describe("onboarding creates one Stripe customer and one subscription", () => {
  it("survives Stripe being down, then a lost response, without duplicates", async () => {
    fake.down(true);
    const bank = await onboardBank(system, provider); // onboarding itself never waits for Stripe
    await waitFor(
      "failed attempts while Stripe is down",
      async () =>
        fake.state.requests.filter((r) => r.injected === "down" && r.path === "/v1/customers").length >= 3,
    );
    expect(customersOf(bank.tenantId)).toHaveLength(0);
    // Stripe comes back, but the first customer creation's answer is lost on the way (client retry too).
    fake.fail({ mode: "lost_response", count: 2, match: "POST /v1/customers" });
    fake.down(false);
    // The sweeper running meanwhile must not start a second, concurrent set-up.
    await sweepBillingAccounts(system.services, { tenantIds: [bank.tenantId] });

    const done = await waitFor("subscription stored", async () => {
      const a = await account(bank.tenantId);
      return a?.stripe_subscription_id ? a : undefined;
    });
    const customers = customersOf(bank.tenantId);
    expect(customers).toHaveLength(1);
    expect(customers[0]?.id).toBe(done.stripe_customer_id);
    const subscriptions = subscriptionsOf(customers[0]?.id ?? "");
    expect(subscriptions).toHaveLength(1);
    expect(subscriptions[0]?.id).toBe(done.stripe_subscription_id);
    expect(fake.state.requests.some((r) => r.path === "/v1/customers" && r.replayed)).toBe(true);
    expect((await tenantRow(bank.tenantId)).billing_status).toBe("active");

    // Running the set-up again (sweeper, manual retry) changes nothing in Stripe.
    const again = await provider.post(`/v1/tenants/${bank.slug}/billing/setup`);
    expect(again.status).toBe(202);
    await sweepBillingAccounts(system.services, { tenantIds: [bank.tenantId] });
    await new Promise((r) => setTimeout(r, 500));
    expect(customersOf(bank.tenantId)).toHaveLength(1);
    expect(subscriptionsOf(customers[0]?.id ?? "")).toHaveLength(1);
  });

  it("a bank whose set-up was never queued (Redis down at onboarding) is found by the sweeper", async () => {
    // The same API, but its queue producer talks to a Redis that is not there.
    const deadRedis = producerConnection("redis://127.0.0.1:1", { lazyConnect: true });
    deadRedis.on("error", () => undefined);
    const deadQueues = createQueues(deadRedis, "kanal-dead");
    for (const queue of Object.values(deadQueues)) queue.on("error", () => undefined);
    const app = newApp(system.services, system.hub, apiHooks({ ...system.services, queues: deadQueues }));
    const email = `${unique("provider")}@kanal.test`;
    await createProviderAdmin(system.services.db, { email, name: "P", password: PASSWORD });
    const client = new TestClient(app);
    await client.login(email, PASSWORD);
    const slug = unique("bank-");
    const res = await client.post<{ tenant: { id: string } }>("/v1/tenants", {
      slug,
      name: `Volksbank ${slug}`,
      whatsapp: {
        phoneNumberId: uniqueDigits(15),
        wabaId: uniqueDigits(15),
        displayPhoneNumber: "+49 89 1",
        accessToken: "EAAG-sweeper-token",
      },
      admin: { email: `admin@${slug}.test`, name: "Admin", password: PASSWORD },
    });
    expect(res.status).toBe(201); // onboarding does not depend on Redis or Stripe
    const tenantId = res.body.tenant.id;
    await new Promise((r) => setTimeout(r, 300));
    expect(await account(tenantId)).toBeUndefined();
    await closeQueues(deadQueues).catch(() => undefined);
    deadRedis.disconnect();

    // Scoped to this bank: the test database is shared with other files' banks and fakes.
    const swept = await sweepBillingAccounts(system.services, { tenantIds: [tenantId] });
    expect(swept.queued).toBeGreaterThanOrEqual(1);
    await waitFor("subscription via sweeper", async () => (await account(tenantId))?.stripe_subscription_id);
    expect(customersOf(tenantId)).toHaveLength(1);
  });
});

async function subscribedBank(): Promise<Bank & { customerId: string }> {
  const bank = await onboardBank(system, provider);
  const a = await waitFor("subscription", async () => {
    const row = await account(bank.tenantId);
    return row?.stripe_subscription_id ? row : undefined;
  });
  return { ...bank, customerId: a.stripe_customer_id ?? "" };
}

async function postEvent(event: object, secret = WEBHOOK_SECRET, signature?: string) {
  const payload = JSON.stringify(event);
  const header = signature ?? stripe.webhooks.generateTestHeaderString({ payload, secret });
  const res = await system.app.request("/webhooks/stripe", {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": header },
    body: payload,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, payload, header };
}

describe("POST /webhooks/stripe", () => {
  it("invoice.payment_failed sets past_due for the bank admin and the provider; the bank stays active", async () => {
    const bank = await subscribedBank();
    const invoice = fake.createInvoice(bank.customerId, { status: "open", amount_due: 12_345 });
    const res = await postEvent(fake.event("invoice.payment_failed", invoice));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, duplicate: false });

    const tenant = await tenantRow(bank.tenantId);
    expect(tenant.billing_status).toBe("past_due");
    expect(tenant.status).toBe("active"); // never cut off automatically
    const own = await bank.admin.get<{ tenant: { billingStatus: string } }>(`/v1/tenants/${bank.slug}`);
    expect(own.body.tenant.billingStatus).toBe("past_due");
    const adminView = await bank.admin.get<{
      billingStatus: string;
      invoices: { id: string; status: string; amountDue: number }[];
      stripe?: unknown;
    }>(`/v1/tenants/${bank.slug}/billing`);
    expect(adminView.status).toBe(200);
    expect(adminView.body.billingStatus).toBe("past_due");
    expect(adminView.body.invoices).toEqual([
      expect.objectContaining({ id: invoice.id, status: "open", amountDue: 12_345 }),
    ]);
    expect(adminView.body.stripe).toBeUndefined(); // Stripe ids and set-up errors are the provider's
    const providerView = await provider.get<{ billingStatus: string; stripe: { customerId: string } }>(
      `/v1/tenants/${bank.slug}/billing`,
    );
    expect(providerView.body).toMatchObject({
      billingStatus: "past_due",
      stripe: { customerId: bank.customerId },
    });
    const audit = await bank.admin.get<{ entries: { action: string; details: Record<string, unknown> }[] }>(
      `/v1/tenants/${bank.slug}/audit?action=billing.`,
    );
    expect(audit.body.entries[0]).toMatchObject({
      action: "billing.status_changed",
      details: { from: "active", to: "past_due" },
    });

    // Paid: back to active, invoice mirrored as paid.
    const paid = await postEvent(
      fake.event("invoice.paid", { ...invoice, status: "paid", amount_paid: 12_345 }),
    );
    expect(paid.status).toBe(200);
    expect((await tenantRow(bank.tenantId)).billing_status).toBe("active");
  });

  it("a replayed event changes nothing", async () => {
    const bank = await subscribedBank();
    const invoice = fake.createInvoice(bank.customerId, { status: "open" });
    const failed = await postEvent(fake.event("invoice.payment_failed", invoice));
    expect(failed.body.duplicate).toBe(false);
    await postEvent(fake.event("invoice.paid", { ...invoice, status: "paid" }));
    expect((await tenantRow(bank.tenantId)).billing_status).toBe("active");

    // The very same delivery again (same body, same signature), and the same event re-signed later.
    const replay = await system.app.request("/webhooks/stripe", {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": failed.header },
      body: failed.payload,
    });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ received: true, duplicate: true });
    const resigned = await postEvent(JSON.parse(failed.payload));
    expect(resigned.body.duplicate).toBe(true);
    expect((await tenantRow(bank.tenantId)).billing_status).toBe("active");
    const invoiceRow = await billingDb(system.services.db)
      .withSchema("control")
      .selectFrom("billing_invoices")
      .selectAll()
      .where("id", "=", invoice.id)
      .executeTakeFirstOrThrow();
    expect(invoiceRow.status).toBe("paid");
  });

  it("a badly signed or unsigned event changes nothing", async () => {
    const bank = await subscribedBank();
    const invoice = fake.createInvoice(bank.customerId, { status: "open" });
    const event = fake.event("invoice.payment_failed", invoice);
    const wrongSecret = await postEvent(event, "whsec_attacker");
    expect(wrongSecret.status).toBe(400);
    // Right signature, altered body.
    const payload = JSON.stringify(event);
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
    const tampered = await system.app.request("/webhooks/stripe", {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": header },
      body: payload.replace(bank.customerId, "cus_someone_else"),
    });
    expect(tampered.status).toBe(400);
    // Too old (a captured delivery replayed after Stripe's tolerance).
    const old = stripe.webhooks.generateTestHeaderString({
      payload,
      secret: WEBHOOK_SECRET,
      timestamp: Math.floor(Date.now() / 1000) - 3_600,
    });
    expect((await postEvent(event, WEBHOOK_SECRET, old)).status).toBe(400);
    const unsigned = await system.app.request("/webhooks/stripe", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: payload,
    });
    expect(unsigned.status).toBe(400);

    expect((await tenantRow(bank.tenantId)).billing_status).toBe("active");
    const seen = await billingDb(system.services.db)
      .withSchema("control")
      .selectFrom("stripe_events")
      .select("id")
      .where("id", "=", event.id)
      .execute();
    expect(seen).toHaveLength(0);
    const invoices = await billingDb(system.services.db)
      .withSchema("control")
      .selectFrom("billing_invoices")
      .select("id")
      .where("tenant_id", "=", bank.tenantId)
      .execute();
    expect(invoices).toHaveLength(0);
  });

  it("subscription updates and deletion change the billing status only; late events do not win", async () => {
    const bank = await subscribedBank();
    const a = await account(bank.tenantId);
    const sub = fake.state.subscriptions.get(a?.stripe_subscription_id ?? "");
    if (!sub) throw new Error("no subscription in the fake");
    const now = Math.floor(Date.now() / 1000);
    await postEvent(fake.event("customer.subscription.updated", { ...sub, status: "past_due" }, now));
    expect((await tenantRow(bank.tenantId)).billing_status).toBe("past_due");
    // An older "active" update delivered late is recorded but does not override the newer state.
    const late = await postEvent(
      fake.event("customer.subscription.updated", { ...sub, status: "active" }, now - 120),
    );
    expect(late.body.duplicate).toBe(false);
    expect((await tenantRow(bank.tenantId)).billing_status).toBe("past_due");
    await postEvent(fake.event("customer.subscription.deleted", { ...sub, status: "canceled" }, now + 1));
    const tenant = await tenantRow(bank.tenantId);
    expect(tenant.billing_status).toBe("canceled");
    expect(tenant.status).toBe("active");
    expect((await account(bank.tenantId))?.subscription_status).toBe("canceled");
  });
});

describe("GET /v1/tenants/:tenant/billing usage", () => {
  it("equals a count straight from the conversations and messages tables", async () => {
    const bank = await subscribedBank();
    const s = bank.schema;
    const db = system.services.db;
    // A spread of conversations and messages, some billable, some not, some in another month.
    const lastMonth = new Date(Date.now() - 40 * 86_400_000);
    const rows: { handled: "in_house" | "ksc" | "advisor" | null; assigned: Date | null }[] = [];
    for (let i = 0; i < 7; i++) rows.push({ handled: "in_house", assigned: new Date() });
    for (let i = 0; i < 5; i++) rows.push({ handled: "ksc", assigned: new Date() });
    for (let i = 0; i < 2; i++) rows.push({ handled: "advisor", assigned: new Date() });
    for (let i = 0; i < 3; i++) rows.push({ handled: null, assigned: null }); // still queued: not billable
    rows.push({ handled: "ksc", assigned: lastMonth });
    let n = 0;
    const conversationIds: string[] = [];
    for (const r of rows) {
      n++;
      const customer = `cus_${unique()}`;
      await sql`insert into ${sql.id(s, "customers")} (id, wa_id, name) values (${customer}, ${uniqueDigits(12)}, ${`C${n}`})`.execute(
        db,
      );
      const conv = `conv_${unique()}`;
      conversationIds.push(conv);
      await sql`insert into ${sql.id(s, "conversations")} (id, customer_id, status, handled_by, assigned_at, queue)
        values (${conv}, ${customer}, ${r.assigned ? "closed" : "queued"}, ${r.handled}, ${r.assigned}, ${r.handled === "ksc" ? "ksc" : "bank"})`.execute(
        db,
      );
    }
    const message = async (conv: string, direction: string, type: string, status: string, at = new Date()) =>
      sql`insert into ${sql.id(s, "messages")} (id, conversation_id, direction, type, status, wamid, created_at)
        values (${`msg_${unique()}`}, ${conv}, ${direction}, ${type}, ${status}, ${status === "failed" || status === "queued" ? null : `wamid.${unique()}`}, ${at})`.execute(
        db,
      );
    const c0 = conversationIds[0] ?? "";
    for (const status of ["sent", "delivered", "read", "read"])
      await message(c0, "outbound", "template", status);
    await message(c0, "outbound", "template", "failed");
    await message(c0, "outbound", "template", "queued");
    await message(c0, "outbound", "text", "delivered");
    await message(c0, "inbound", "text", "received");
    await message(c0, "outbound", "template", "delivered", lastMonth);

    const res = await bank.admin.get<{
      period: { from: string; to: string };
      usage: { byKind: Record<string, { count: number }>; total: number };
    }>(`/v1/tenants/${bank.slug}/billing`);
    expect(res.status).toBe(200);
    const { from, to } = res.body.period;
    const direct = await sql<{ in_house: string; ksc: string; templates: string }>`
      select
        (select count(*) from ${sql.id(s, "conversations")} where assigned_at >= ${from} and assigned_at < ${to} and handled_by in ('in_house', 'advisor'))::text as in_house,
        (select count(*) from ${sql.id(s, "conversations")} where assigned_at >= ${from} and assigned_at < ${to} and handled_by = 'ksc')::text as ksc,
        (select count(*) from ${sql.id(s, "messages")} where created_at >= ${from} and created_at < ${to}
           and direction = 'outbound' and type = 'template' and status in ('sent', 'delivered', 'read'))::text as templates`.execute(
      db,
    );
    const counts = direct.rows[0];
    expect(res.body.usage.byKind.in_house_conversation?.count).toBe(Number(counts?.in_house));
    expect(res.body.usage.byKind.ksc_conversation?.count).toBe(Number(counts?.ksc));
    expect(res.body.usage.byKind.template_message?.count).toBe(Number(counts?.templates));
    // And the numbers are the ones this test put in (so the comparison above is not 0 = 0).
    expect(res.body.usage.byKind).toMatchObject({
      in_house_conversation: { count: 9 },
      ksc_conversation: { count: 5 },
      template_message: { count: 4 },
    });

    // Asking twice counts nothing twice.
    const again = await provider.get<{ usage: { total: number } }>(`/v1/tenants/${bank.slug}/billing`);
    expect(again.body.usage.total).toBe(18);
    const month = lastMonth.toISOString().slice(0, 7);
    const previous = await provider.get<{ usage: { byKind: Record<string, { count: number }> } }>(
      `/v1/tenants/${bank.slug}/billing?month=${month}`,
    );
    expect(previous.body.usage.byKind).toMatchObject({
      ksc_conversation: { count: 1 },
      template_message: { count: 1 },
    });
  });

  it("reaches Stripe as meter events through the scheduled worker jobs", async () => {
    const bank = await subscribedBank();
    const s = bank.schema;
    await sql`insert into ${sql.id(s, "customers")} (id, wa_id) values ('cus_tick', ${uniqueDigits(12)})`.execute(
      system.services.db,
    );
    await sql`insert into ${sql.id(s, "conversations")} (id, customer_id, status, handled_by, queue, assigned_at)
      values ('conv_tick_1', 'cus_tick', 'closed', 'ksc', 'ksc', now()), ('conv_tick_2', 'cus_tick', 'open', 'in_house', 'bank', now())`.execute(
      system.services.db,
    );
    // The tick fans out to every bank in the (shared) test database; here only this bank's job runs.
    await system.services.queues.billing.add("report-usage", { tenantId: bank.tenantId });
    await waitFor("meter events", async () => fake.meterEventsFor(bank.customerId).length === 2);
    expect(
      fake
        .meterEventsFor(bank.customerId)
        .map((e) => e.event_name)
        .sort(),
    ).toEqual(["kanal_in_house_conversation", "kanal_ksc_conversation"]);
    const view = await provider.get<{
      usage: { pendingReport: number; byKind: { ksc_conversation: { reported: number } } };
    }>(`/v1/tenants/${bank.slug}/billing`);
    expect(view.body.usage).toMatchObject({
      pendingReport: 0,
      byKind: { ksc_conversation: { reported: 1 } },
    });
    // The next run sends nothing again.
    await system.services.queues.billing.add("report-usage", { tenantId: bank.tenantId });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(fake.meterEventsFor(bank.customerId)).toHaveLength(2);
  });

  it("pulls invoices from Stripe when webhooks were missed, without changing the billing status", async () => {
    const bank = await subscribedBank();
    const invoice = fake.createInvoice(bank.customerId, { status: "open", amount_due: 777 });
    await system.services.queues.billing.add("sync-invoices", { tenantId: bank.tenantId });
    const view = await waitFor("invoice mirrored", async () => {
      const res = await provider.get<{
        billingStatus: string;
        invoices: { id: string; status: string; amountDue: number }[];
      }>(`/v1/tenants/${bank.slug}/billing`);
      return res.body.invoices.length > 0 ? res.body : undefined;
    });
    expect(view.invoices).toEqual([
      expect.objectContaining({ id: invoice.id, status: "open", amountDue: 777 }),
    ]);
    expect(view.billingStatus).toBe("active");
    // An older webhook delivered after the sync does not overwrite what the sync saw.
    const stale = await postEvent(
      fake.event("invoice.finalized", { ...invoice, status: "draft" }, Math.floor(Date.now() / 1000) - 600),
    );
    expect(stale.status).toBe(200);
    const after = await provider.get<{ invoices: { status: string }[] }>(`/v1/tenants/${bank.slug}/billing`);
    expect(after.body.invoices[0]?.status).toBe("open");
  });

  it("lists the billing routes in the OpenAPI document", async () => {
    const res = await system.app.request("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/billing/plans",
        "/v1/billing/plans/{code}",
        "/v1/tenants/{tenant}/billing",
        "/v1/tenants/{tenant}/billing/plan",
      ]),
    );
  });

  it("is 404 for other banks' admins and 403 for agents", async () => {
    const bank = await onboardBank(system, provider);
    const other = await onboardBank(system, provider);
    expect((await other.admin.get(`/v1/tenants/${bank.slug}/billing`)).status).toBe(404);
    expect((await bank.admin.get(`/v1/tenants/${bank.slug}/billing?month=2026-13`)).status).toBe(400);
    const agentEmail = `${unique("agent")}@${bank.slug}.test`;
    expect(
      (
        await bank.admin.post(`/v1/tenants/${bank.slug}/users`, {
          email: agentEmail,
          name: "Agent",
          role: "bank_agent",
          password: "correct-horse-battery",
        })
      ).status,
    ).toBe(201);
    const agent = new TestClient(system.app);
    await agent.login(agentEmail, "correct-horse-battery");
    expect((await agent.get(`/v1/tenants/${bank.slug}/billing`)).status).toBe(403);
  });
});
