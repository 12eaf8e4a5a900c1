import { loadConfig } from "@kanal/config";
import { createServices, type Services } from "@kanal/core";
import { sql } from "@kanal/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routingProcessor } from "../../apps/worker/src/processors/routing/index";
import { type RunningWorkers, startWorkers } from "../../apps/worker/src/worker";
import {
  type Bank,
  onboardBank,
  providerClient,
  startTestSystem,
  type TestClient,
  type TestSystem,
} from "../support/system";
import {
  ALWAYS_OPEN,
  bankAgent,
  contractKsc,
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

describe("routing under concurrency (two worker instances, real Postgres and Redis)", () => {
  it("200 simultaneous first messages, threshold 3: exactly 3 in-house, 197 to the KSC or its queue", async () => {
    const bank = await onboardBank(system, provider);
    const ksc = await contractKsc(system, provider, [bank], 4, 30);
    const bankAgents = [
      await bankAgent(system, bank),
      await bankAgent(system, bank),
      await bankAgent(system, bank),
    ];
    for (const p of [...bankAgents, ...ksc.agents]) await online(p);
    await setRouting(bank, { mode: "capacity_overflow", capacityThreshold: 3, serviceHours: ALWAYS_OPEN });

    await burst([bank], 200);

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
    await expectLoadsMatchDb(ksc.agents, [bank], 30);
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
