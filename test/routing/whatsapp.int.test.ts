import { replaySince } from "@kanal/core/realtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, type FullSystem, startFullSystem } from "../support/full-system";
import { type Bank, onboardBank, providerClient, type TestClient, uniqueDigits } from "../support/system";
import { ALWAYS_OPEN, bankAgent, contractKsc, NEVER_OPEN, online, setRouting } from "./helpers";

/** The main scenarios as Meta drives them: signed webhooks from the simulator, workers, the API. */
let system: FullSystem;
let provider: TestClient;

beforeAll(async () => {
  system = await startFullSystem();
  provider = await providerClient(system);
});
afterAll(() => system?.close());

async function customerWrites(bank: Bank, waId: string, text: string) {
  const res = await system.simPost<{ webhookStatus: number }>("/_sim/inbound", {
    phoneNumberId: bank.phoneNumberId,
    from: waId,
    name: "Erika Muster",
    text,
  });
  expect(res.webhookStatus).toBe(200);
}

async function routedConversationOf(bank: Bank, waId: string) {
  return eventually(async () =>
    system.services.db
      .withSchema(bank.schema)
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select(["c.id", "c.status", "c.assignee_user_id", "c.handled_by", "c.queue", "c.routing"])
      .where("cu.wa_id", "=", waId)
      .where("c.status", "<>", "closed")
      .where("c.routing", "is not", null)
      .executeTakeFirst(),
  );
}

async function assignedEvents(userId: string) {
  return (await replaySince(system.services.redis, system.services.config.QUEUE_PREFIX, userId, "0")).filter(
    (e) => e.type === "conversation.assigned",
  );
}

describe("routing driven by signed WhatsApp webhooks", () => {
  it("capacity_overflow threshold 1: first customer in-house, second to the KSC; each agent is told on the event stream", async () => {
    const bank = await onboardBank(system, provider);
    const ksc = await contractKsc(system, provider, [bank], 1);
    const kscAgent = ksc.agents[0];
    if (!kscAgent) throw new Error("no KSC agent");
    const agent = await bankAgent(system, bank);
    await online(agent);
    await online(kscAgent);
    await setRouting(bank, { mode: "capacity_overflow", capacityThreshold: 1, serviceHours: ALWAYS_OPEN });

    const first = uniqueDigits(12);
    await customerWrites(bank, first, "Hallo, mein Online-Banking ist gesperrt");
    const c1 = await routedConversationOf(bank, first);
    expect(c1).toMatchObject({ assignee_user_id: agent.id, handled_by: "in_house" });

    const second = uniqueDigits(12);
    await customerWrites(bank, second, "Guten Tag, ich möchte mein Tageslimit erhöhen");
    const c2 = await routedConversationOf(bank, second);
    expect(c2).toMatchObject({ assignee_user_id: kscAgent.id, handled_by: "ksc" });
    expect((c2.routing as { rule: string }).rule).toBe("capacity_overflow.over_threshold");

    expect((await assignedEvents(agent.id)).map((e) => e.data.conversationId)).toEqual([c1.id]);
    expect((await assignedEvents(kscAgent.id)).map((e) => e.data.conversationId)).toEqual([c2.id]);

    // A follow-up message of the first customer stays in the same conversation with the same agent.
    await customerWrites(bank, first, "Noch eine Frage");
    await eventually(async () =>
      (await replaySince(system.services.redis, system.services.config.QUEUE_PREFIX, agent.id, "0")).some(
        (e) => e.type === "message.created",
      ),
    );
    expect((await routedConversationOf(bank, first)).id).toBe(c1.id);

    // The KSC agent's inbox shows the chat labelled with its bank; the reason is on the conversation.
    const inbox = await kscAgent.client.get<{ conversations: { id: string; tenant: string }[] }>("/v1/inbox");
    expect(inbox.body.conversations).toEqual([expect.objectContaining({ id: c2.id, tenant: bank.slug })]);
    const detail = await bank.admin.get<{ conversation: { routing: { reason: string } } }>(
      `/v1/tenants/${bank.slug}/conversations/${c2.id}`,
    );
    expect(detail.body.conversation.routing.reason).toContain("threshold 1");
  });

  it("in_house while closed: the customer gets the away message once, however often they write", async () => {
    const bank = await onboardBank(system, provider);
    await setRouting(bank, {
      mode: "in_house",
      serviceHours: NEVER_OPEN,
      awayMessage: "Wir sind gerade nicht da. Nächste Öffnung: {{naechsteOeffnung}}",
    });
    const waId = uniqueDigits(12);
    await customerWrites(bank, waId, "Hallo?");
    const conversation = await routedConversationOf(bank, waId);
    expect(conversation).toMatchObject({ status: "queued", queue: "bank" });
    await customerWrites(bank, waId, "Hallo??");
    await customerWrites(bank, waId, "Ist da jemand?");
    const sent = await eventually(async () => {
      const res = await system.simGet<{ messages: { body: { text?: { body?: string } } }[] }>(
        `/_sim/sent?to=${waId}&phoneNumberId=${bank.phoneNumberId}`,
      );
      return res.messages.length > 0 ? res.messages : undefined;
    });
    await new Promise((r) => setTimeout(r, 500));
    const again = await system.simGet<{ messages: { body: { text?: { body?: string } } }[] }>(
      `/_sim/sent?to=${waId}&phoneNumberId=${bank.phoneNumberId}`,
    );
    expect(again.messages).toHaveLength(1);
    expect(sent[0]?.body.text?.body).toContain("Wir sind gerade nicht da");
  });

  it("an advisor code from the advisor's click-to-chat link routes the first message to that advisor", async () => {
    const bank = await onboardBank(system, provider);
    await bankAgent(system, bank).then(online);
    const advisor = await bankAgent(system, bank, { advisorCode: "MK42" }, "bank_advisor");
    await online(advisor);
    await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
    const waId = uniqueDigits(12);
    await customerWrites(bank, waId, "Hallo! #MK42");
    const conversation = await routedConversationOf(bank, waId);
    expect(conversation).toMatchObject({ assignee_user_id: advisor.id, handled_by: "advisor" });
  });

  it("full_service: a topic the rule book reserves to the bank stays with the bank, and says why", async () => {
    const bank = await onboardBank(system, provider);
    const ksc = await contractKsc(system, provider, [bank], 1);
    const kscAgent = ksc.agents[0];
    if (!kscAgent) throw new Error("no KSC agent");
    const agent = await bankAgent(system, bank);
    await online(agent);
    await online(kscAgent);
    await setRouting(bank, { mode: "full_service", serviceHours: ALWAYS_OPEN });

    const ordinary = uniqueDigits(12);
    await customerWrites(bank, ordinary, "Wie erhöhe ich mein Tageslimit?");
    expect(await routedConversationOf(bank, ordinary)).toMatchObject({
      assignee_user_id: kscAgent.id,
      handled_by: "ksc",
    });

    const personal = uniqueDigits(12);
    await customerWrites(bank, personal, "Ich bin umgezogen und möchte meine Adresse ändern");
    const c = await routedConversationOf(bank, personal);
    expect(c).toMatchObject({ assignee_user_id: agent.id, handled_by: "in_house" });
    expect((c.routing as { rule: string; reason: string }).rule).toBe("rules.bank_only");
    expect((c.routing as { reason: string }).reason).toContain("Adressänderung");
  });
});
