import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createStripeFake, type StripeFake } from "../src/index";
import { parseForm } from "../src/form";

// "Unit" in the sense of the repository's projects: no Postgres/Redis, only a local HTTP server.
let fake: StripeFake;
let stripe: Stripe;

beforeAll(async () => {
  fake = createStripeFake();
  const { port } = await fake.listen(0);
  stripe = new Stripe("sk_test_fake", { host: "127.0.0.1", port, protocol: "http", maxNetworkRetries: 0 });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

async function meteredPlan() {
  const meter = await stripe.billing.meters.create({
    display_name: "KSC conversations",
    event_name: "kanal_ksc_conversation",
    default_aggregation: { formula: "sum" },
  });
  const base = await stripe.prices.create({
    currency: "eur",
    unit_amount: 9900,
    recurring: { interval: "month" },
    product_data: { name: "Kanal base fee" },
  });
  const metered = await stripe.prices.create({
    currency: "eur",
    unit_amount: 250,
    recurring: { interval: "month", usage_type: "metered", meter: meter.id },
    product_data: { name: "KSC conversation" },
  });
  return { meter, base, metered };
}

describe("form parsing", () => {
  it("nests brackets and turns numeric keys into arrays", () => {
    expect(
      parseForm("items[0][price]=p1&items[1][price]=p2&metadata[tenant_id]=t1&expand[]=a&expand[]=b"),
    ).toEqual({
      items: [{ price: "p1" }, { price: "p2" }],
      metadata: { tenant_id: "t1" },
      expand: ["a", "b"],
    });
  });
});

describe("stripe fake with the real client", () => {
  it("creates customers and subscriptions with Stripe's shapes", async () => {
    const { base, metered } = await meteredPlan();
    const customer = await stripe.customers.create({ name: "Sparkasse", metadata: { tenant_id: "ten_1" } });
    expect(customer.id).toMatch(/^cus_/);
    expect(customer.metadata).toEqual({ tenant_id: "ten_1" });
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: base.id }, { price: metered.id }],
    });
    expect(sub.status).toBe("active");
    expect(sub.items.data).toHaveLength(2);
    expect(sub.items.data[0]?.current_period_end).toBeGreaterThan(
      sub.items.data[0]?.current_period_start ?? 0,
    );
    expect(fake.state.subscriptions.size).toBe(1);
  });

  it("answers unknown ids with resource_missing and bad keys with 401", async () => {
    await expect(stripe.customers.retrieve("cus_nope")).rejects.toMatchObject({
      type: "StripeInvalidRequestError",
      code: "resource_missing",
      statusCode: 404,
    });
    const bad = new Stripe("pk_wrong", {
      host: "127.0.0.1",
      port: fake.port(),
      protocol: "http",
      maxNetworkRetries: 0,
    });
    await expect(bad.customers.create({})).rejects.toMatchObject({
      type: "StripeAuthenticationError",
      statusCode: 401,
    });
  });

  it("replays the same idempotency key and rejects it with other parameters", async () => {
    const a = await stripe.customers.create({ name: "A" }, { idempotencyKey: "k1" });
    const b = await stripe.customers.create({ name: "A" }, { idempotencyKey: "k1" });
    expect(b.id).toBe(a.id);
    expect(fake.state.customers.size).toBe(1);
    await expect(stripe.customers.create({ name: "B" }, { idempotencyKey: "k1" })).rejects.toMatchObject({
      type: "StripeIdempotencyError",
      statusCode: 400,
    });
    expect(fake.state.customers.size).toBe(1);
  });

  it("injects outages, lost responses, 500 and 429", async () => {
    // stripe-node retries a reset connection once by itself (stale keep-alive sockets), so an outage
    // the caller sees takes two resets.
    fake.fail({ mode: "down", count: 2 });
    await expect(stripe.customers.create({ name: "X" }, { idempotencyKey: "k2" })).rejects.toMatchObject({
      type: "StripeConnectionError",
    });
    expect(fake.state.customers.size).toBe(0);

    fake.fail({ mode: "lost_response", count: 2 });
    await expect(stripe.customers.create({ name: "X" }, { idempotencyKey: "k2" })).rejects.toMatchObject({
      type: "StripeConnectionError",
    });
    // Carried out although the caller saw an error; the retry with the same key gets the same customer.
    expect(fake.state.customers.size).toBe(1);
    const retried = await stripe.customers.create({ name: "X" }, { idempotencyKey: "k2" });
    expect(fake.state.customers.get(retried.id)).toBeDefined();
    expect(fake.state.customers.size).toBe(1);

    fake.fail({ mode: "500", count: 1, match: "POST /v1/customers" });
    await expect(stripe.customers.create({})).rejects.toMatchObject({
      type: "StripeAPIError",
      statusCode: 500,
    });
    fake.fail({ mode: "429", count: 1 });
    await expect(stripe.customers.create({})).rejects.toMatchObject({
      type: "StripeRateLimitError",
      statusCode: 429,
    });
    fake.down(true);
    await expect(stripe.customers.create({})).rejects.toMatchObject({ type: "StripeConnectionError" });
    fake.down(false);
    await expect(stripe.customers.create({})).resolves.toMatchObject({ object: "customer" });
  });

  it("fails only after letting some matching requests through", async () => {
    fake.fail({ mode: "500", count: 1, after: 2, match: "/v1/customers" });
    await stripe.customers.create({});
    await stripe.customers.create({});
    await expect(stripe.customers.create({})).rejects.toMatchObject({ statusCode: 500 });
    await stripe.customers.create({});
    expect(fake.state.customers.size).toBe(3);
  });

  it("accepts meter events once per identifier", async () => {
    const customer = await stripe.customers.create({});
    const event = {
      event_name: "kanal_ksc_conversation",
      identifier: "use_1",
      payload: { stripe_customer_id: customer.id, value: "1" },
    };
    await stripe.billing.meterEvents.create(event, { idempotencyKey: "m1" });
    await stripe.billing.meterEvents.create(event, { idempotencyKey: "m1" });
    await expect(stripe.billing.meterEvents.create(event, { idempotencyKey: "m2" })).rejects.toMatchObject({
      code: "resource_already_exists",
    });
    await expect(
      stripe.billing.meterEvents.create({
        ...event,
        identifier: "old",
        timestamp: Math.floor(Date.now() / 1000) - 40 * 86_400,
      }),
    ).rejects.toMatchObject({ code: "timestamp_out_of_range" });
    expect(fake.meterEventsFor(customer.id)).toHaveLength(1);
  });

  it("rejects a quantity on metered prices and lists invoices per customer", async () => {
    const { metered } = await meteredPlan();
    const customer = await stripe.customers.create({});
    await expect(
      stripe.subscriptions.create({ customer: customer.id, items: [{ price: metered.id, quantity: 1 }] }),
    ).rejects.toMatchObject({ statusCode: 400, param: "items[0][quantity]" });
    fake.createInvoice(customer.id, { status: "paid" });
    fake.createInvoice("cus_other");
    const invoices = await stripe.invoices.list({ customer: customer.id });
    expect(invoices.data.map((i) => i.status)).toEqual(["paid"]);
  });
});
