import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bankRef, loadBankContext } from "../src/conversations/bank";
import {
  assign,
  type ConversationState,
  close,
  enqueue,
  lockConversation,
  reopen,
} from "../src/conversations/transitions";
import type { DomainEvent } from "../src/kernel/domain-events";
import type { Trx } from "../src/kernel/executor";
import { backfillStep } from "../src/routing/backfill";
import {
  type Bank,
  onboardBank,
  providerClient,
  type TestSystem,
  startTestSystem,
} from "../../../test/support/system";
import {
  ALWAYS_OPEN,
  bankAgent,
  contractKsc,
  conversationRow,
  insertQueuedConversation,
  loadOf,
  newRoutedConversation,
  online,
  type Person,
  setRouting,
} from "../../../test/routing/helpers";

let system: TestSystem;
let provider: Awaited<ReturnType<typeof providerClient>>;
let bank: Bank;
let agent: Person;
let colleague: Person;

beforeAll(async () => {
  system = await startTestSystem();
  provider = await providerClient(system);
  bank = await onboardBank(system, provider);
  await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
  agent = await bankAgent(system, bank, { maxChats: 1 });
  colleague = await bankAgent(system, bank, { maxChats: 3 });
  await online(agent);
});
afterAll(() => system.close());

const ref = () => bankRef({ id: bank.tenantId, slug: bank.slug, schema_name: bank.schema });
const decision = (rule: string) => ({
  mode: "in_house",
  rule,
  reason: rule,
  reasonDe: rule,
  target: {},
  candidates: [],
  trigger: "test",
  decidedAt: new Date().toISOString(),
});
const decisions = async (conversationId: string) =>
  system.services.db
    .withSchema(bank.schema)
    .selectFrom("routing_decisions")
    .select("rule")
    .where("conversation_id", "=", conversationId)
    .orderBy("id")
    .execute();

/** Runs a transition in its own transaction on the locked row. */
async function transition<T>(
  conversationId: string,
  fn: (trx: Trx, row: ConversationState) => Promise<T>,
): Promise<T> {
  return system.services.db
    .transaction()
    .execute(async (trx) => fn(trx, await lockConversation(trx, ref(), conversationId)));
}

describe("the conversation state machine (core/conversations/transitions)", () => {
  it("assign claims a slot and records the decision; a person at their maximum gets nothing, and nothing is written", async () => {
    const routed = await newRoutedConversation(system, bank);
    expect(routed).toMatchObject({ status: "assigned", assigneeUserId: agent.id });
    expect(await loadOf(system, agent.id)).toBe(1);

    const { conversationId } = await insertQueuedConversation(system, bank);
    const before = await decisions(conversationId);
    const result = await transition(conversationId, (trx, row) =>
      assign(trx, ref(), row, {
        userId: agent.id,
        handledBy: "in_house",
        kscOrgId: null,
        maxChats: 1,
        requireOnline: true,
        by: "routing",
        byUserId: null,
        decision: decision("test.full"),
        now: new Date(),
      }),
    );
    expect(result).toBeNull();
    expect(await loadOf(system, agent.id)).toBe(1);
    expect(await decisions(conversationId)).toEqual(before);
    expect((await conversationRow(system, bank, conversationId)).status).toBe("queued");
  });

  it("refuses to assign a closed chat, or to assign it to the person who holds it", async () => {
    const { conversationId: id } = await insertQueuedConversation(system, bank);
    const toColleague = (rule: string) =>
      transition(id, (trx, row) =>
        assign(trx, ref(), row, {
          userId: colleague.id,
          handledBy: "in_house",
          kscOrgId: null,
          maxChats: 3,
          requireOnline: false,
          by: "take",
          byUserId: colleague.id,
          decision: decision(rule),
          now: new Date(),
        }),
      );
    expect(await toColleague("test.take")).not.toBeNull();
    await expect(toColleague("test.same")).rejects.toMatchObject({ code: "conflict" });
    await transition(id, (trx, row) => close(trx, ref(), row, { byUserId: null, now: new Date() }));
    await expect(toColleague("test.closed")).rejects.toMatchObject({ code: "conflict" });
    expect((await decisions(id)).map((d) => d.rule)).toEqual(["test.take"]);
  });

  it("enqueue and close give the holder's slot back and tell them; closing twice changes nothing", async () => {
    const { conversationId } = await insertQueuedConversation(system, bank);
    const given = await transition(conversationId, (trx, row) =>
      assign(trx, ref(), row, {
        userId: colleague.id,
        handledBy: "in_house",
        kscOrgId: null,
        maxChats: 3,
        requireOnline: false,
        by: "handover",
        byUserId: agent.id,
        decision: decision("test.handover"),
        note: { text: "Karte 4111 1111 1111 1111", authorUserId: agent.id, kind: "handover_note" },
        now: new Date(),
      }),
    );
    expect(given?.events.map((e) => e.type)).toEqual(["conversation.assigned"]);
    const assignedEvent = given?.events[0] as Extract<DomainEvent, { type: "conversation.assigned" }>;
    expect(assignedEvent.note).toBe("Karte **** **** **** 1111");
    const loadBefore = await loadOf(system, colleague.id);

    const queued = await transition(conversationId, (trx, row) =>
      enqueue(trx, ref(), row, {
        queue: "bank",
        handledBy: "in_house",
        kscOrgId: null,
        by: "handover",
        byUserId: agent.id,
        decision: decision("test.queue"),
        resetQueuedAt: true,
        now: new Date(),
      }),
    );
    expect(queued.events.map((e) => e.type)).toEqual(["conversation.queued", "conversation.released"]);
    expect(await loadOf(system, colleague.id)).toBe(loadBefore - 1);
    expect((await decisions(conversationId)).map((d) => d.rule)).toEqual(["test.handover", "test.queue"]);

    const closed = await transition(conversationId, (trx, row) =>
      close(trx, ref(), row, { byUserId: null, now: new Date() }),
    );
    expect(closed.changed).toBe(true);
    const again = await transition(conversationId, (trx, row) =>
      close(trx, ref(), row, { byUserId: null, now: new Date() }),
    );
    expect(again).toEqual({ events: [], changed: false });
  });

  it("reopens a closed chat unless the customer has another open one", async () => {
    const first = await insertQueuedConversation(system, bank);
    await transition(first.conversationId, (trx, row) =>
      close(trx, ref(), row, { byUserId: null, now: new Date() }),
    );
    const second = await insertQueuedConversation(system, bank, { customerId: first.customerId });
    await expect(
      transition(first.conversationId, (trx, row) => reopen(trx, ref(), row, { now: new Date() })),
    ).rejects.toMatchObject({ code: "conflict" });
    await transition(second.conversationId, (trx, row) =>
      close(trx, ref(), row, { byUserId: null, now: new Date() }),
    );
    await transition(first.conversationId, (trx, row) => reopen(trx, ref(), row, { now: new Date() }));
    const row = await conversationRow(system, bank, first.conversationId);
    expect(row).toMatchObject({ status: "queued", routing: null, closed_at: null, assignee_user_id: null });
  });

  it("POST …/reopen routes a reopened chat back to its previous holder when they are online", async () => {
    const admin = bank.admin;
    const { conversationId } = await insertQueuedConversation(system, bank);
    await online(colleague);
    await transition(conversationId, (trx, row) =>
      assign(trx, ref(), row, {
        userId: colleague.id,
        handledBy: "in_house",
        kscOrgId: null,
        maxChats: 3,
        requireOnline: false,
        by: "take",
        byUserId: colleague.id,
        decision: decision("test.take"),
        now: new Date(),
      }),
    );
    expect((await admin.post(`/v1/tenants/${bank.slug}/conversations/${conversationId}/close`)).status).toBe(
      200,
    );
    const reopened = await admin.post<{ conversation: { status: string; assigneeUserId: string } }>(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/reopen`,
    );
    expect(reopened.status).toBe(200);
    expect(reopened.body.conversation).toMatchObject({ status: "open", assigneeUserId: colleague.id });
    const again = await admin.post(`/v1/tenants/${bank.slug}/conversations/${conversationId}/reopen`);
    expect(again.status).toBe(409);
  });

  it("never gives a chat to the agent of a KSC whose contract ended after the caller read it", async () => {
    const oldKsc = await contractKsc(system, provider, [bank], 1);
    const oldAgent = oldKsc.agents[0] as Person;
    await online(oldAgent);
    const stale = await loadBankContext(system.services.db, bank.tenantId);
    expect(stale.kscOrgId).not.toBeNull();
    const { conversationId } = await insertQueuedConversation(system, bank);
    await transition(conversationId, (trx, row) =>
      enqueue(trx, ref(), row, {
        queue: "ksc",
        handledBy: "ksc",
        kscOrgId: stale.kscOrgId,
        by: "routing",
        byUserId: null,
        decision: decision("test.ksc"),
        resetQueuedAt: false,
        now: new Date(),
      }),
    );
    const newKsc = await contractKsc(system, provider, [bank], 1);
    expect(newKsc.slug).not.toBe(oldKsc.slug);
    // A back-fill that loaded the bank before the change still runs with the old organisation's agents.
    const assigned = await backfillStep(system.services, stale, "ksc");
    expect(assigned).toBeNull();
    expect(await loadOf(system, oldAgent.id)).toBe(0);
    const row = await conversationRow(system, bank, conversationId);
    expect(row).toMatchObject({ status: "queued", queue: "ksc", assignee_user_id: null });
  });
});
