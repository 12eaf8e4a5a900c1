import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStripeFake, type StripeFake } from "@kanal/stripe-fake";
import { reportTenantUsage } from "../src/billing/report";
import { METER_EVENT_NAMES } from "../src/billing/stripe";
import { billingDb, type UsageKind } from "../src/billing/tables";
import { collectUsage } from "../src/billing/usage";
import { sql } from "@kanal/db";
import {
  onboardBank,
  providerClient,
  startTestSystem,
  unique,
  type Bank,
  type TestSystem,
} from "../../../test/support/system";

let fake: StripeFake;
let system: TestSystem;
let bank: Bank;
let customerId: string;

beforeAll(async () => {
  fake = createStripeFake();
  const { url, port } = await fake.listen(0);
  system = await startTestSystem({
    env: {
      STRIPE_SECRET_KEY: "sk_test_report",
      STRIPE_API_BASE_URL: url,
      QUEUE_PREFIX: `kanal-billing-report-${unique("").slice(1)}`,
    },
  });
  bank = await onboardBank(system, await providerClient(system));
  const stripe = new Stripe("sk_test_report", { host: "127.0.0.1", port, protocol: "http" });
  customerId = (await stripe.customers.create({ name: bank.slug })).id;
  await billingDb(system.services.db)
    .withSchema("control")
    .insertInto("billing_accounts")
    .values({ tenant_id: bank.tenantId, stripe_customer_id: customerId, updated_at: new Date() })
    .execute();
});

afterAll(async () => {
  await system?.close();
  await fake?.close();
});

const usageRows = () =>
  billingDb(system.services.db)
    .withSchema(bank.schema)
    .selectFrom("billing_usage")
    .select(["id", "kind", "reported_at"])
    .execute();
const meterPosts = () =>
  fake.state.requests.filter((r) => r.method === "POST" && r.path === "/v1/billing/meter_events");

/** Runs the reporter in a child process and SIGKILLs it once Stripe has received `killAt` events. */
async function runChildAndKill(killAt: number): Promise<{ killed: boolean }> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      fileURLToPath(new URL("./billing-report.child.ts", import.meta.url)),
      bank.tenantId,
      bank.schema,
    ],
    { env: { ...system.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let killed = false;
  const deadline = Date.now() + 40_000;
  while (child.exitCode === null && Date.now() < deadline) {
    if (fake.state.meterEvents.size >= killAt) {
      child.kill("SIGKILL");
      killed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const code = await exited;
  if (!killed && code !== 0) throw new Error(`child failed (${code}): ${stderr}`);
  return { killed };
}

describe("reporting usage to Stripe as meter events", () => {
  it("reports 1,000 billable events exactly once across a crash, a killed process, Stripe errors and two runners", async () => {
    const db = system.services.db;
    const s = bank.schema;
    await sql`insert into ${sql.id(s, "customers")} (id, wa_id, name) values ('cus_bulk', '4915100000000', 'Bulk')`.execute(
      db,
    );
    // 1,000 billable events: 500 in-house, 300 KSC conversations, 200 template messages.
    await sql`insert into ${sql.id(s, "conversations")} (id, customer_id, status, handled_by, queue, assigned_at)
      select 'conv_bulk_' || g, 'cus_bulk', 'closed', case when g <= 500 then 'in_house' else 'ksc' end,
             case when g <= 500 then 'bank' else 'ksc' end, now() - make_interval(secs => g)
        from generate_series(1, 800) g`.execute(db);
    await sql`insert into ${sql.id(s, "messages")} (id, conversation_id, direction, type, status, wamid, created_at)
      select 'msg_bulk_' || g, 'conv_bulk_1', 'outbound', 'template', 'delivered', 'wamid.bulk.' || g, now() - make_interval(secs => g)
        from generate_series(1, 200) g`.execute(db);
    expect(await collectUsage(db, s)).toEqual({ conversations: 800, messages: 200 });
    expect(await collectUsage(db, s)).toEqual({ conversations: 0, messages: 0 }); // counting is idempotent
    const tenant = { id: bank.tenantId, schema: s };

    // 1. A crash after a batch reached Stripe but before it was marked (batch 2 of 100).
    await expect(
      reportTenantUsage(system.services, tenant, {
        batchSize: 100,
        afterSend: (batch) => {
          if (batch === 2) throw new Error("simulated crash");
        },
      }),
    ).rejects.toThrow("simulated crash");
    expect(fake.state.meterEvents.size).toBe(200);
    expect((await usageRows()).filter((r) => r.reported_at).length).toBe(100);

    // 2. A worker process killed with SIGKILL in the middle of a batch.
    fake.latency(8);
    const { killed } = await runChildAndKill(450);
    fake.latency(0);
    expect(killed).toBe(true);
    const afterKill = (await usageRows()).filter((r) => r.reported_at).length;
    expect(fake.state.meterEvents.size).toBeGreaterThan(afterKill); // sent but never marked: the hard case

    // 3. Stripe failing part-way through the rerun: what was accepted is kept, the job fails for a retry.
    // Eight requests in flight each fail twice (the client retries once by itself).
    fake.fail({ mode: "500", count: 16, after: 150, match: "POST /v1/billing/meter_events" });
    await expect(reportTenantUsage(system.services, tenant, { batchSize: 100 })).rejects.toThrow(
      /not accepted/,
    );

    // 4. Two runners at once finish the job.
    const results = await Promise.all([
      reportTenantUsage(system.services, tenant, { batchSize: 50 }),
      reportTenantUsage(system.services, tenant, { batchSize: 50 }),
    ]);
    expect(results.every((r) => r.failed === 0)).toBe(true);
    expect(await reportTenantUsage(system.services, tenant)).toEqual({
      reported: 0,
      unreportable: 0,
      failed: 0,
    });

    // Exactly once: 1,000 events in Stripe, one per usage row, each created by exactly one request.
    const rows = await usageRows();
    expect(rows).toHaveLength(1000);
    expect(rows.every((r) => r.reported_at !== null)).toBe(true);
    expect(fake.state.meterEvents.size).toBe(1000);
    expect(new Set(fake.state.meterEvents.keys())).toEqual(new Set(rows.map((r) => r.id)));
    const created = meterPosts().filter((r) => r.status === 200 && !r.replayed);
    expect(created).toHaveLength(1000);
    expect(meterPosts().some((r) => r.replayed)).toBe(true); // the resent batches were answered from idempotency
    for (const [kind, expected] of [
      ["in_house_conversation", 500],
      ["ksc_conversation", 300],
      ["template_message", 200],
    ] as [UsageKind, number][]) {
      expect(fake.meterEventsFor(customerId, METER_EVENT_NAMES[kind])).toHaveLength(expected);
    }
    expect([...fake.state.meterEvents.values()].every((e) => e.payload.value === "1")).toBe(true);
  });

  it("marks events Stripe can never accept instead of retrying them forever", async () => {
    const db = system.services.db;
    const id = `use_${unique()}`;
    await billingDb(db)
      .withSchema(bank.schema)
      .insertInto("billing_usage")
      .values({
        id,
        kind: "template_message",
        source: "message",
        source_id: `msg_old_${unique()}`,
        occurred_at: new Date(Date.now() - 60 * 86_400_000),
      })
      .execute();
    const result = await reportTenantUsage(system.services, { id: bank.tenantId, schema: bank.schema });
    expect(result).toEqual({ reported: 0, unreportable: 1, failed: 0 });
    const row = await billingDb(db)
      .withSchema(bank.schema)
      .selectFrom("billing_usage")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    expect(row.reported_at).toBeNull();
    expect(row.report_error).toMatch(/timestamp_out_of_range/);
    expect(fake.state.meterEvents.has(id)).toBe(false);
  });
});
