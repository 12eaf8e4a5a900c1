import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueNotifications, queueSystemMessage } from "@kanal/core/channel";
import type { Tenant } from "@kanal/db";
import { eventually, startFullSystem, type FullSystem } from "../support/full-system";
import { onboardBank, providerClient, uniqueDigits, type Bank } from "../support/system";

const root = fileURLToPath(new URL("../..", import.meta.url));
let system: FullSystem;
let bank: Bank;
const children: ChildProcess[] = [];

/** A real worker process, as in production: the test kills it with SIGKILL. */
function startWorkerProcess(): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "apps/worker/src/main.ts"], {
    cwd: root,
    env: { ...system.env, LOG_LEVEL: "error" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
  return child;
}

beforeAll(async () => {
  system = await startFullSystem({
    workers: false,
    env: { WORKER_LOCK_MS: "2000", DISPATCH_RECONCILE_MS: "1500" },
    simulator: { latencyMs: 20 },
  });
  bank = await onboardBank(system, await providerClient(system));
});
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await system.close();
});

interface SimSent {
  bizOpaqueCallbackData?: string;
}

/** 20 customers who wrote through Meta, on a number limited to 40 msg/s. */
async function customersOfLimitedBank(): Promise<{ waId: string; conversationId: string }[]> {
  await system.services.db
    .withSchema("control")
    .updateTable("whatsapp_numbers")
    .set({ throughput_per_second: 40 })
    .where("tenant_id", "=", bank.tenantId)
    .execute();
  await system.simPost("/_sim/config", { throughput: { [bank.phoneNumberId]: 40 } });
  const customers: { waId: string; conversationId: string }[] = [];
  for (let i = 0; i < 20; i++) {
    const waId = uniqueDigits(12);
    await system.simPost("/_sim/inbound", {
      phoneNumberId: bank.phoneNumberId,
      from: waId,
      name: `Kunde ${i}`,
      text: "Hallo",
    });
    customers.push({ waId, conversationId: "" });
  }
  const t = system.services.db.withSchema(bank.schema);
  for (const c of customers) {
    const conversation = await eventually(
      async () =>
        t
          .selectFrom("conversations as cv")
          .innerJoin("customers as cu", "cu.id", "cv.customer_id")
          .select("cv.id")
          .where("cu.wa_id", "=", c.waId)
          .executeTakeFirst(),
      20_000,
    );
    c.conversationId = conversation.id;
  }
  // Bulk notifications go only to customers with a recorded opt-in.
  await t
    .updateTable("customers")
    .set({ opted_in_at: new Date() })
    .where(
      "wa_id",
      "in",
      customers.map((c) => c.waId),
    )
    .execute();
  return customers;
}

/** Queues 200 messages with `queue`, kills the worker once 40 are out, restarts it, checks each went once. */
async function killMidBatchAndRestart(
  queue: (tenant: Tenant, conversationIds: string[]) => Promise<string[]>,
) {
  for (const c of children) c.kill("SIGKILL");
  const first = startWorkerProcess();
  const customers = await customersOfLimitedBank();
  const tenant = await system.services.db
    .withSchema("control")
    .selectFrom("tenants")
    .selectAll()
    .where("id", "=", bank.tenantId)
    .executeTakeFirstOrThrow();
  const statsBefore = await system.simGet<{ numbers: Record<string, { duplicatesByBizOpaque: number }> }>(
    "/_sim/stats",
  );
  const ids = await queue(
    tenant,
    customers.map((c) => c.conversationId),
  );
  expect(ids).toHaveLength(200);
  const t = system.services.db.withSchema(bank.schema);
  const mine = async () =>
    (
      await system.simGet<{ messages: SimSent[] }>(`/_sim/sent?phoneNumberId=${bank.phoneNumberId}`)
    ).messages.filter((m) => m.bizOpaqueCallbackData && ids.includes(m.bizOpaqueCallbackData));

  // Kill the worker while the batch is draining (40 msg/s: about 5 s for all of it).
  await eventually(async () => (await mine()).length >= 40 || undefined, 30_000, 20);
  first.kill("SIGKILL");
  await new Promise((r) => first.once("exit", r));
  const sentBeforeRestart = (await mine()).length;
  expect(sentBeforeRestart).toBeLessThan(200);

  startWorkerProcess();
  await eventually(
    async () => {
      const open = await t
        .selectFrom("messages")
        .select("id")
        .where("id", "in", ids)
        .where("status", "in", ["queued", "sending"])
        .execute();
      return open.length === 0;
    },
    60_000,
    250,
  );
  const sent = await mine();
  expect(sent).toHaveLength(200);
  expect(new Set(sent.map((m) => m.bizOpaqueCallbackData)).size).toBe(200);
  const stats = await system.simGet<{
    numbers: Record<string, { duplicatesByBizOpaque: number; maxAcceptedPerSecond: number }>;
  }>("/_sim/stats");
  expect(stats.numbers[bank.phoneNumberId]?.duplicatesByBizOpaque).toBe(
    statsBefore.numbers[bank.phoneNumberId]?.duplicatesByBizOpaque ?? 0,
  );
  expect(stats.numbers[bank.phoneNumberId]?.maxAcceptedPerSecond).toBeLessThanOrEqual(40);
}

describe("a worker killed mid-batch", () => {
  it("leaves every message sent exactly once after a restart", async () => {
    await killMidBatchAndRestart(async (tenant, conversationIds) => {
      const ids: string[] = [];
      for (let round = 0; round < 10; round++) {
        for (const conversationId of conversationIds) {
          const queued = await queueSystemMessage(system.services, {
            tenant,
            conversationId,
            text: `Nachricht ${round}`,
            kind: "hint",
          });
          if (queued) ids.push(queued.id);
        }
      }
      return ids;
    });
  }, 120_000);

  it("leaves every bulk notification sent exactly once after a restart (send-batch jobs)", async () => {
    await killMidBatchAndRestart(async (tenant, conversationIds) => {
      const notifications = Array.from({ length: 10 }, (_, round) =>
        conversationIds.map((conversationId) => ({ conversationId, text: `Info ${round}` })),
      ).flat();
      const { queued } = await queueNotifications(system.services, { tenant, notifications });
      return queued.map((q) => q.id);
    });
  }, 120_000);
});
