import { loadConfig } from "@kanal/config";
import { WebhookStore } from "@kanal/core/channel";
import { createServices, type Services } from "@kanal/core/runtime";
import { sql } from "@kanal/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboundProcessor } from "../../apps/worker/src/processors/inbound/index";
import { routingProcessor } from "../../apps/worker/src/processors/routing/index";
import { type RunningWorkers, startWorkers } from "../../apps/worker/src/worker";
import {
  type Bank,
  onboardBank,
  providerClient,
  startTestSystem,
  type TestClient,
  type TestSystem,
  uniqueDigits,
} from "../support/system";
import {
  ALWAYS_OPEN,
  bankAgent,
  contractKsc,
  inboundWebhookBody,
  insertQueuedConversation,
  online,
  type Person,
  setRouting,
  waitFor,
} from "./helpers";

let system: TestSystem;
let provider: TestClient;
let second: Services;
let workers: RunningWorkers[] = [];

/**
 * Two worker "processes", each with its own Services (own Postgres pool, own Redis connections), both
 * consuming the routing queue: the only thing they share is the database and Redis, as in production.
 */
beforeAll(async () => {
  system = await startTestSystem();
  provider = await providerClient(system);
  second = createServices(loadConfig(system.env), { name: "kanal-test-worker-2", dbPoolSize: 8 });
  workers = [
    await startWorkers(system.services, [routingProcessor], { schedule: false }),
    await startWorkers(second, [routingProcessor], { schedule: false }),
  ];
});
afterAll(async () => {
  for (const w of workers) await w.close();
  await second?.close();
  await system?.close();
});

async function burst(banks: Bank[], perBank: number): Promise<Map<Bank, string[]>> {
  const ids = new Map<Bank, string[]>();
  for (const bank of banks) {
    const list: string[] = [];
    for (let i = 0; i < perBank; i++)
      list.push((await insertQueuedConversation(system, bank)).conversationId);
    ids.set(bank, list);
  }
  // All jobs at once, interleaved across banks; both workers pick them up concurrently.
  const jobs = [...ids.entries()].flatMap(([bank, list]) =>
    list.map((conversationId) => ({
      name: "route-conversation",
      data: { tenantId: bank.tenantId, conversationId, trigger: "new" },
      opts: { jobId: `route-${conversationId}` },
    })),
  );
  jobs.sort(() => Math.random() - 0.5);
  await system.services.queues.routing.addBulk(jobs);
  for (const [bank, list] of ids) {
    await waitFor(async () => {
      const row = await system.services.db
        .withSchema(bank.schema)
        .selectFrom("conversations")
        .select(sql<string>`count(*)`.as("n"))
        .where("id", "in", list)
        .where("routing", "is not", null)
        .executeTakeFirstOrThrow();
      return Number(row.n) === list.length;
    }, 60_000);
  }
  return ids;
}

async function openCountsInDb(banks: Bank[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const bank of banks) {
    const rows = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("conversations")
      .select(["assignee_user_id", sql<string>`count(*)`.as("n")])
      .where("status", "=", "open")
      .groupBy("assignee_user_id")
      .execute();
    for (const r of rows) {
      if (r.assignee_user_id)
        counts.set(r.assignee_user_id, (counts.get(r.assignee_user_id) ?? 0) + Number(r.n));
    }
  }
  return counts;
}

async function expectLoadsMatchDb(people: Person[], banks: Bank[], max: number) {
  const inDb = await openCountsInDb(banks);
  const states = await system.services.db
    .withSchema("control")
    .selectFrom("agent_state")
    .select(["user_id", "open_count"])
    .where(
      "user_id",
      "in",
      people.map((p) => p.id),
    )
    .execute();
  for (const person of people) {
    const state = states.find((s) => s.user_id === person.id);
    expect(state?.open_count ?? 0).toBe(inDb.get(person.id) ?? 0);
    expect(state?.open_count ?? 0).toBeLessThanOrEqual(max);
  }
}

/** A bank in capacity_overflow with threshold 3, three bank agents (max 5) and four KSC agents (max 30). */
async function thresholdBank() {
  const bank = await onboardBank(system, provider);
  const ksc = await contractKsc(system, provider, [bank], 4, 30);
  const bankAgents = [
    await bankAgent(system, bank),
    await bankAgent(system, bank),
    await bankAgent(system, bank),
  ];
  for (const p of [...bankAgents, ...ksc.agents]) await online(p);
  await setRouting(bank, { mode: "capacity_overflow", capacityThreshold: 3, serviceHours: ALWAYS_OPEN });
  return { bank, ksc, bankAgents };
}

/** 200 first messages at threshold 3: exactly 3 in-house, 120 to the KSC agents, 77 in the KSC queue. */
async function expectThreshold3Outcome(bank: Bank, bankAgents: Person[], kscAgents: Person[]) {
  const byHandler = await system.services.db
    .withSchema(bank.schema)
    .selectFrom("conversations")
    .select(["handled_by", "status", sql<string>`count(*)`.as("n")])
    .groupBy(["handled_by", "status"])
    .execute();
  const count = (handledBy: string, status: string) =>
    Number(byHandler.find((r) => r.handled_by === handledBy && r.status === status)?.n ?? 0);
  expect(count("in_house", "open") + count("in_house", "queued")).toBe(3);
  expect(count("in_house", "open")).toBe(3);
  expect(count("ksc", "open")).toBe(120); // 4 KSC agents × 30
  expect(count("ksc", "queued")).toBe(77);
  await expectLoadsMatchDb(bankAgents, [bank], 5);
  await expectLoadsMatchDb(kscAgents, [bank], 30);
}

describe("routing under concurrency (two worker instances, real Postgres and Redis)", () => {
  it("200 simultaneous first messages through the ingest, two workers with bank pools, threshold 3: exactly 3 in-house", async () => {
    // Two more worker "processes" as production runs them: inbound jobs on bank-affine pools with
    // prepared statements, each new conversation routed inside its ingest transaction.
    const ingestWorkers = [0, 1].map((i) =>
      createServices(loadConfig(system.env), {
        name: `kanal-test-ingest-${i}`,
        dbPoolSize: 4,
        bankDbGroups: { groups: 2, size: 3 },
      }),
    );
    const running = await Promise.all(
      ingestWorkers.map((s) => startWorkers(s, [inboundProcessor], { schedule: false })),
    );
    try {
      const { bank, ksc, bankAgents } = await thresholdBank();
      const eventIds: string[] = [];
      const store = new WebhookStore(system.services.db, (events) =>
        eventIds.push(...events.map((e) => e.id)),
      );
      await Promise.all(
        Array.from({ length: 200 }, () =>
          store.store(
            inboundWebhookBody(
              bank,
              `49${uniqueDigits(11)}`,
              "Guten Tag, ich habe eine Frage zu meinem Konto",
            ),
          ),
        ),
      );
      expect(eventIds).toHaveLength(200);
      await system.services.queues.inbound.addBulk(
        eventIds.map((eventId) => ({
          name: "process-event",
          data: { eventId },
          opts: { jobId: `concurrency-${eventId}` },
        })),
      );
      await waitFor(async () => {
        const row = await system.services.db
          .withSchema(bank.schema)
          .selectFrom("conversations")
          .select(sql<string>`count(*)`.as("n"))
          .where("routing", "is not", null)
          .executeTakeFirstOrThrow();
        return Number(row.n) === 200;
      }, 60_000);

      await expectThreshold3Outcome(bank, bankAgents, ksc.agents);
      // Each customer one conversation with one message, each conversation one decision, each event done.
      const perCustomer = await system.services.db
        .withSchema(bank.schema)
        .selectFrom("conversations as c")
        .innerJoin("messages as m", "m.conversation_id", "c.id")
        .select([
          "c.customer_id",
          sql<string>`count(distinct c.id)`.as("conversations"),
          sql<string>`count(*)`.as("messages"),
        ])
        .groupBy("c.customer_id")
        .execute();
      expect(perCustomer).toHaveLength(200);
      expect(perCustomer.every((r) => Number(r.conversations) === 1 && Number(r.messages) === 1)).toBe(true);
      const decisions = await system.services.db
        .withSchema(bank.schema)
        .selectFrom("routing_decisions")
        .select(sql<string>`count(distinct conversation_id)`.as("n"))
        .select(sql<string>`count(*)`.as("all"))
        .executeTakeFirstOrThrow();
      expect([Number(decisions.n), Number(decisions.all)]).toEqual([200, 200]);
      const events = await system.services.db
        .withSchema("control")
        .selectFrom("webhook_events")
        .select(["status", sql<string>`count(*)`.as("n")])
        .where("id", "in", eventIds)
        .groupBy("status")
        .execute();
      expect(events).toEqual([{ status: "processed", n: "200" }]);
    } finally {
      for (const w of running) await w.close();
      for (const s of ingestWorkers) await s.close();
    }
  });

  it("200 simultaneous first messages, threshold 3: exactly 3 in-house, 197 to the KSC or its queue", async () => {
    const { bank, ksc, bankAgents } = await thresholdBank();

    await burst([bank], 200);

    await expectThreshold3Outcome(bank, bankAgents, ksc.agents);
    // Every conversation has exactly one decision.
    const decisions = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("routing_decisions")
      .select(["conversation_id", sql<string>`count(*)`.as("n")])
      .groupBy("conversation_id")
      .having(sql`count(*)`, ">", 1)
      .execute();
    expect(decisions).toEqual([]);
  });

  it("KSC agents shared by three banks: bursts in all banks never push an agent over their maximum", async () => {
    const banks = [
      await onboardBank(system, provider),
      await onboardBank(system, provider),
      await onboardBank(system, provider),
    ];
    const ksc = await contractKsc(system, provider, banks, 5, 10);
    for (const p of ksc.agents) await online(p);
    for (const bank of banks) await setRouting(bank, { mode: "full_service", serviceHours: ALWAYS_OPEN });

    await burst(banks, 30);

    let open = 0;
    let queued = 0;
    for (const bank of banks) {
      const rows = await system.services.db
        .withSchema(bank.schema)
        .selectFrom("conversations")
        .select(["status", sql<string>`count(*)`.as("n")])
        .groupBy("status")
        .execute();
      open += Number(rows.find((r) => r.status === "open")?.n ?? 0);
      queued += Number(rows.find((r) => r.status === "queued")?.n ?? 0);
    }
    expect(open).toBe(50);
    expect(queued).toBe(40);
    await expectLoadsMatchDb(ksc.agents, banks, 10);
    // Least loaded across banks: with 50 slots for 90 chats every agent is full.
    const inDb = await openCountsInDb(banks);
    expect(ksc.agents.map((a) => inDb.get(a.id))).toEqual([10, 10, 10, 10, 10]);
  });

  it("closing chats while new ones arrive and agents back-fill: loads stay equal to the database", async () => {
    const bank = await onboardBank(system, provider);
    const agents = [
      await bankAgent(system, bank, { maxChats: 3 }),
      await bankAgent(system, bank, { maxChats: 3 }),
    ];
    for (const p of agents) await online(p);
    await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
    const ids = await burst([bank], 40);
    const all = ids.get(bank) ?? [];
    // 6 open, 34 queued. Close the open ones concurrently with several agents' clients; each close frees
    // a slot and enqueues a back-fill that the two workers run in parallel.
    for (let round = 0; round < 4; round++) {
      const open = await system.services.db
        .withSchema(bank.schema)
        .selectFrom("conversations")
        .select(["id", "assignee_user_id"])
        .where("status", "=", "open")
        .execute();
      await Promise.all(
        open.map((row) => {
          const who = agents.find((a) => a.id === row.assignee_user_id) ?? agents[0];
          return who?.client.post(`/v1/tenants/${bank.slug}/conversations/${row.id}/close`);
        }),
      );
      await waitFor(async () => {
        const n = await system.services.db
          .withSchema(bank.schema)
          .selectFrom("conversations")
          .select(sql<string>`count(*)`.as("n"))
          .where("status", "=", "open")
          .executeTakeFirstOrThrow();
        return Number(n.n) === 6;
      }, 30_000);
      await expectLoadsMatchDb(agents, [bank], 3);
    }
    const closed = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("conversations")
      .select(sql<string>`count(*)`.as("n"))
      .where("id", "in", all)
      .where("status", "=", "closed")
      .executeTakeFirstOrThrow();
    expect(Number(closed.n)).toBe(24);
  });
});
