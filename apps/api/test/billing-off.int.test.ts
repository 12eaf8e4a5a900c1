import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { billingDb } from "@kanal/core/billing";
import { sql } from "@kanal/db";
import { billingProcessor } from "../../worker/src/processors/billing/index";
import { startWorkers, type RunningWorkers } from "../../worker/src/worker";
import {
  onboardBank,
  providerClient,
  startTestSystem,
  unique,
  type TestClient,
  type TestSystem,
} from "../../../test/support/system";

// Billing off: no STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET. Everything else works; usage is still counted.
let system: TestSystem;
let workers: RunningWorkers;
let provider: TestClient;

beforeAll(async () => {
  system = await startTestSystem({
    env: {
      STRIPE_SECRET_KEY: "",
      STRIPE_WEBHOOK_SECRET: "",
      QUEUE_PREFIX: `kanal-billing-off-${unique("").slice(1)}`,
    },
  });
  workers = await startWorkers(system.services, [billingProcessor], { schedule: false });
  provider = await providerClient(system);
});
afterAll(async () => {
  await workers?.close();
  await system?.close();
});

describe("billing without a Stripe key", () => {
  it("onboards without Stripe, still counts usage through the worker, and refuses Stripe webhooks", async () => {
    const bank = await onboardBank(system, provider);
    expect(await system.services.queues.billing.getJob(`billing-setup-${bank.tenantId}`)).toBeUndefined();

    const s = bank.schema;
    await sql`insert into ${sql.id(s, "customers")} (id, wa_id) values ('cus_off', '4915199999999')`.execute(
      system.services.db,
    );
    await sql`insert into ${sql.id(s, "conversations")} (id, customer_id, status, handled_by, queue, assigned_at)
      values ('conv_off', 'cus_off', 'open', 'ksc', 'ksc', now())`.execute(system.services.db);
    await system.services.queues.billing.add("usage-tick", {});
    const until = Date.now() + 20_000;
    let rows: { kind: string; reported_at: Date | null }[] = [];
    while (Date.now() < until) {
      rows = await billingDb(system.services.db)
        .withSchema(s)
        .selectFrom("billing_usage")
        .select(["kind", "reported_at"])
        .execute();
      if (rows.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows).toEqual([{ kind: "ksc_conversation", reported_at: null }]);

    const view = await bank.admin.get<{
      enabled: boolean;
      billingStatus: string;
      usage: { byKind: { ksc_conversation: { count: number } }; pendingReport: number };
    }>(`/v1/tenants/${bank.slug}/billing`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({
      enabled: false,
      billingStatus: "none",
      usage: { byKind: { ksc_conversation: { count: 1 } }, pendingReport: 1 },
    });

    const hook = await system.app.request("/webhooks/stripe", {
      method: "POST",
      body: "{}",
      headers: { "stripe-signature": "t=1,v1=x" },
    });
    expect(hook.status).toBe(503);
    expect((await provider.post(`/v1/tenants/${bank.slug}/billing/setup`)).body).toEqual({ setup: "off" });
  });
});
