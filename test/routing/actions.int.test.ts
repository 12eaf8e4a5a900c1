import { loadBankContext } from "@kanal/core/conversations";
import { applyClosingPolicy, routingTickForTenant } from "@kanal/core/routing";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
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
  conversationRow,
  insertQueuedConversation,
  NEVER_OPEN,
  newRoutedConversation,
  online,
  setRouting,
} from "./helpers";

let system: TestSystem;
let provider: TestClient;
beforeAll(async () => {
  system = await startTestSystem();
  provider = await providerClient(system);
});
afterAll(() => system?.close());

it("a KSC agent hands a chat to the bank queue: it is reserved to the bank and does not go back at closing", async () => {
  const bank = await onboardBank(system, provider);
  const ksc = await contractKsc(system, provider, [bank], 1);
  const kscAgent = ksc.agents[0];
  if (!kscAgent) throw new Error("no KSC agent");
  await online(kscAgent);
  await setRouting(bank, { mode: "full_service", serviceHours: ALWAYS_OPEN });
  const chat = await newRoutedConversation(system, bank);
  const res = await kscAgent.client.post(
    `/v1/tenants/${bank.slug}/conversations/${chat.conversationId}/handover`,
    {
      toQueue: "bank",
      note: "Kreditanfrage – darf das KSC nicht beantworten",
    },
  );
  expect(res.status).toBe(200);
  const row = await conversationRow(system, bank, chat.conversationId);
  expect(row).toMatchObject({
    status: "queued",
    queue: "bank",
    handled_by: "in_house",
    assignee_user_id: null,
  });
  expect(row.flags).toContain("reserved_to_bank");
  await setRouting(bank, { mode: "hours_outsourcing", serviceHours: NEVER_OPEN });
  await applyClosingPolicy(system.services, await loadBankContext(system.services.db, bank.tenantId));
  expect(await conversationRow(system, bank, chat.conversationId)).toMatchObject({ queue: "bank" });
  // The KSC no longer sees it; the bank's agents do.
  expect(
    (await kscAgent.client.post(`/v1/tenants/${bank.slug}/conversations/${chat.conversationId}/close`))
      .status,
  ).toBe(404);
  const agent = await bankAgent(system, bank);
  const inbox = await agent.client.get<{ queues: { queue: string; count: number }[] }>("/v1/inbox");
  expect(inbox.body.queues.find((q) => q.queue === "bank")?.count).toBe(1);
});

it("callback request and customer link; strangers get 404, a record with another number is refused", async () => {
  const bank = await onboardBank(system, provider);
  const other = await onboardBank(system, provider);
  const agent = await bankAgent(system, bank);
  await online(agent);
  await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
  const chat = await newRoutedConversation(system, bank);
  const base = `/v1/tenants/${bank.slug}/conversations/${chat.conversationId}`;

  const cb = await agent.client.post<{ callback: { id: string; note: string } }>(`${base}/callback`, {
    note: "Bitte zur Baufinanzierung zurückrufen",
    preferredTime: "morgen ab 10 Uhr",
  });
  expect(cb.status).toBe(201);
  expect(cb.body.callback.note).toContain("Baufinanzierung");
  expect((await agent.client.post(`${base}/callback`, {})).status).toBe(400);
  expect((await other.admin.post(`${base}/callback`, { note: "x" })).status).toBe(404);

  const record = await bank.admin.request<{ customer: { id: string } }>(
    "PUT",
    `/v1/tenants/${bank.slug}/customers/KD-4711`,
    {
      name: "Erika Muster",
      waId: "4915100000001",
    },
  );
  expect([200, 201]).toContain(record.status);
  const before = await conversationRow(system, bank, chat.conversationId);
  const linked = await agent.client.post<{ conversation: { customerId: string } }>(`${base}/customer`, {
    customerId: record.body.customer.id,
  });
  // The record already has another WhatsApp number than this contact: refused, nothing changes.
  expect(linked.status).toBe(409);
  expect((await conversationRow(system, bank, chat.conversationId)).customer_id).toBe(before.customer_id);
  const plain = await bank.admin.request<{ customer: { id: string } }>(
    "PUT",
    `/v1/tenants/${bank.slug}/customers/KD-4712`,
    {
      name: "Max Muster",
      waId:
        (
          await system.services.db
            .withSchema(bank.schema)
            .selectFrom("customers")
            .select("wa_id")
            .where("id", "=", before.customer_id)
            .executeTakeFirstOrThrow()
        ).wa_id ?? "",
    },
  );
  // The core-banking sync adopted the contact (same wa_id): the conversation is already that customer's.
  expect([200, 201]).toContain(plain.status);
  const same = await agent.client.post<{ conversation: { customerId: string } }>(`${base}/customer`, {
    customerId: plain.body.customer.id,
  });
  expect(same.status).toBe(200);
  expect(same.body.conversation.customerId).toBe(plain.body.customer.id);
});

it("the routing tick routes a new conversation whose routing never happened (routing and its job both failed)", async () => {
  const bank = await onboardBank(system, provider);
  const agent = await bankAgent(system, bank);
  await online(agent);
  await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
  // As the ingest leaves it when routing in the job failed and the routing queue was unreachable.
  const fresh = await insertQueuedConversation(system, bank);
  const stale = await insertQueuedConversation(system, bank);
  await system.services.db
    .withSchema(bank.schema)
    .updateTable("conversations")
    .set({ queued_at: new Date(Date.now() - 60_000) })
    .where("id", "=", stale.conversationId)
    .execute();
  const tick = await routingTickForTenant(system.services, bank.tenantId);
  expect(tick.unrouted).toBe(1);
  expect(await conversationRow(system, bank, stale.conversationId)).toMatchObject({
    status: "open",
    assignee_user_id: agent.id,
  });
  // A conversation opened moments ago is left to its own routing, not raced by the tick.
  expect(await conversationRow(system, bank, fresh.conversationId)).toMatchObject({
    status: "queued",
    routing: null,
  });
});
