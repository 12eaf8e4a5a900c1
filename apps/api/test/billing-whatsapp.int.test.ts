import { readFileSync } from "node:fs";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStripeFake, type StripeFake } from "@kanal/stripe-fake";
import { billingDb } from "@kanal/core/billing";
import { signWebhookBody } from "@kanal/core/channel";
import { startFullSystem, type FullSystem } from "../../../test/support/full-system";
import { onboardBank, providerClient, unique, uniqueDigits } from "../../../test/support/system";

// A bank in arrears is never cut off: inbound WhatsApp messages are still received and stored.
const WEBHOOK_SECRET = "whsec_test_whatsapp";
const FIXTURE_NUMBER = "106540352242922";
const fixture = readFileSync(
  new URL("../../../../shared/whatsapp/fixtures/inbound-text.json", import.meta.url),
  "utf8",
);

let fake: StripeFake;
let system: FullSystem;

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  fake = createStripeFake();
  const { url } = await fake.listen(0);
  system = await startFullSystem({
    env: {
      STRIPE_SECRET_KEY: "sk_test_whatsapp",
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_BASE_URL: url,
      QUEUE_PREFIX: `kanal-billing-wa-${unique("").slice(1)}`,
    },
  });
});
afterAll(async () => {
  await system?.workers.close();
  await system?.close();
  await fake?.close();
});

describe("invoice.payment_failed", () => {
  it("sets past_due and the bank's inbound WhatsApp messages are still stored", async () => {
    // The bank's Stripe customer, linked directly: this file tests arrears, not set-up (and must not
    // change the default plan other billing test files rely on in the shared database).
    const stripe = new Stripe("sk_test_whatsapp", { host: "127.0.0.1", port: fake.port(), protocol: "http" });
    const provider = await providerClient(system);
    const bank = await onboardBank(system, provider);
    const customer = await stripe.customers.create({ metadata: { tenant_id: bank.tenantId } });
    await billingDb(system.services.db)
      .withSchema("control")
      .insertInto("billing_accounts")
      .values({ tenant_id: bank.tenantId, stripe_customer_id: customer.id, updated_at: new Date() })
      .onConflict((oc) => oc.column("tenant_id").doUpdateSet({ stripe_customer_id: customer.id }))
      .execute();
    const account = { stripe_customer_id: customer.id };

    const event = fake.event(
      "invoice.payment_failed",
      fake.createInvoice(account.stripe_customer_id ?? "", { status: "open" }),
    );
    const payload = JSON.stringify(event);
    const res = await fetch(`${system.apiUrl}/webhooks/stripe`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "stripe-signature": stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }),
      },
      body: payload,
    });
    expect(res.status).toBe(200);
    const tenant = await system.services.db
      .withSchema("control")
      .selectFrom("tenants")
      .selectAll()
      .where("id", "=", bank.tenantId)
      .executeTakeFirstOrThrow();
    expect(tenant).toMatchObject({ billing_status: "past_due", status: "active" });

    // A customer writes to the bank in arrears, through Meta's signed webhook.
    const waId = uniqueDigits(12);
    const body = fixture
      .replaceAll(FIXTURE_NUMBER, bank.phoneNumberId)
      .replaceAll("16505551234", waId)
      .replace(/"id":"(wamid\.[^"]+)"/, `"id":"$1${uniqueDigits(8)}"`);
    const inbound = await fetch(`${system.apiUrl}/webhooks/whatsapp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-hub-signature-256": signWebhookBody(body, system.env.WHATSAPP_APP_SECRET as string),
      },
      body,
    });
    expect(inbound.status).toBe(200);
    const stored = await waitFor("inbound message stored", async () => {
      const rows = await system.services.db
        .withSchema(bank.schema)
        .selectFrom("messages as m")
        .innerJoin("conversations as c", "c.id", "m.conversation_id")
        .innerJoin("customers as cu", "cu.id", "c.customer_id")
        .select(["m.direction", "m.text"])
        .where("cu.wa_id", "=", waId)
        .execute();
      return rows.length > 0 ? rows : undefined;
    });
    expect(stored).toEqual([{ direction: "inbound", text: "Does it come in another color?" }]);
  });
});
