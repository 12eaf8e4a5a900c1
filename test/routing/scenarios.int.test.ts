import { loadBankContext } from "@kanal/core/conversations";
import { processWebhookEvent, WebhookStore } from "@kanal/core/channel";
import { newId } from "@kanal/core/kernel";
import { replaySince } from "@kanal/core/realtime";
import { applyClosingPolicy, routeConversation } from "@kanal/core/routing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
  conversationRow,
  inboundWebhookBody,
  loadOf,
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
afterAll(async () => {
  await system?.close();
});

async function freshBank(): Promise<Bank> {
  return onboardBank(system, provider);
}

describe("routing scenarios (DOMAIN.md)", () => {
  it("in_house: the online bank agent gets the chat and the reason is on the conversation", async () => {
    const bank = await freshBank();
    await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
    const agent = await bankAgent(system, bank);
    await online(agent);
    const outcome = await newRoutedConversation(system, bank);
    expect(outcome).toMatchObject({ status: "assigned", assigneeUserId: agent.id, handledBy: "in_house" });
    const detail = await agent.client.get<{ conversation: { routing: { reason: string; rule: string } } }>(
      `/v1/tenants/${bank.slug}/conversations/${outcome.conversationId}`,
    );
    expect(detail.status).toBe(200);
    expect(detail.body.conversation.routing.rule).toBe("in_house.inside_hours");
    expect(detail.body.conversation.routing.reason).toContain("least-loaded");
    expect(await loadOf(system, agent.id)).toBe(1);
    const decisions = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("routing_decisions")
      .selectAll()
      .where("conversation_id", "=", outcome.conversationId)
      .execute();
    expect(decisions).toHaveLength(1);
  });

  it("in_house outside hours: queued for the bank, away message once per closed period", async () => {
    const bank = await freshBank();
    await setRouting(bank, { mode: "in_house", serviceHours: NEVER_OPEN });
    const agent = await bankAgent(system, bank);
    await online(agent);
    const outcome = await newRoutedConversation(system, bank);
    expect(outcome).toMatchObject({ status: "queued", queue: "bank", rule: "in_house.outside_hours" });
    const ctx = await loadBankContext(system.services.db, bank.tenantId);
    await applyClosingPolicy(system.services, ctx);
    await applyClosingPolicy(system.services, ctx);
    // Routing the same conversation again is a no-op (idempotent job).
    const again = await routeConversation(system.services, {
      tenantId: bank.tenantId,
      conversationId: outcome.conversationId,
      trigger: "new",
    });
    expect(again.status).toBe("skipped");
    const away = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("messages")
      .select(["text", "kind"])
      .where("conversation_id", "=", outcome.conversationId)
      .where("kind", "=", "away")
      .execute();
    expect(away).toHaveLength(1);
    expect(await loadOf(system, agent.id)).toBe(0);
  });

  it("hours_outsourcing: inside hours to the bank, outside hours to the KSC", async () => {
    const bank = await freshBank();
    const ksc = await contractKsc(system, provider, [bank], 1);
    const agent = await bankAgent(system, bank);
    await online(agent);
    await online(ksc.agents[0] as never);
    await setRouting(bank, { mode: "hours_outsourcing", serviceHours: ALWAYS_OPEN });
    const inside = await newRoutedConversation(system, bank);
    expect(inside).toMatchObject({
      status: "assigned",
      assigneeUserId: agent.id,
      rule: "hours_outsourcing.inside_hours",
    });
    await setRouting(bank, { mode: "hours_outsourcing", serviceHours: NEVER_OPEN });
    const outside = await newRoutedConversation(system, bank);
    expect(outside).toMatchObject({
      status: "assigned",
      assigneeUserId: ksc.agents[0]?.id,
      handledBy: "ksc",
      rule: "hours_outsourcing.outside_hours",
    });
  });

  it("hours_outsourcing on a public holiday of the bank's state goes to the KSC", async () => {
    const bank = await freshBank();
    const ksc = await contractKsc(system, provider, [bank], 1);
    await online(ksc.agents[0] as never);
    const agent = await bankAgent(system, bank);
    await online(agent);
    await setRouting(bank, {
      mode: "hours_outsourcing",
      serviceHours: ALWAYS_OPEN,
      observePublicHolidays: true,
    });
    // 3 October: Tag der Deutschen Einheit, 11:00 in Munich.
    const outcome = await newRoutedConversation(system, bank, { now: new Date("2026-10-03T09:00:00Z") });
    expect(outcome).toMatchObject({ handledBy: "ksc", assigneeUserId: ksc.agents[0]?.id });
    expect(outcome.reason).toContain("Tag der Deutschen Einheit");
  });

  it("capacity_overflow: the threshold holds, the rest overflows to the KSC", async () => {
    const bank = await freshBank();
    const ksc = await contractKsc(system, provider, [bank], 1, 50);
    await online(ksc.agents[0] as never);
    const a = await bankAgent(system, bank);
    const b = await bankAgent(system, bank);
    await online(a);
    await online(b);
    await setRouting(bank, { mode: "capacity_overflow", capacityThreshold: 3, serviceHours: ALWAYS_OPEN });
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await newRoutedConversation(system, bank));
    expect(outcomes.map((o) => o.handledBy)).toEqual(["in_house", "in_house", "in_house", "ksc", "ksc"]);
    expect(outcomes[3]?.rule).toBe("capacity_overflow.over_threshold");
    // Least loaded with ties to the longest waiting: a, b, then whoever waited longer (a).
    expect((await loadOf(system, a.id)) + (await loadOf(system, b.id))).toBe(3);
    expect(Math.abs((await loadOf(system, a.id)) - (await loadOf(system, b.id)))).toBe(1);
  });

  it("full_service: everything to the KSC except chats addressed to an advisor", async () => {
    const bank = await freshBank();
    const ksc = await contractKsc(system, provider, [bank], 1);
    await online(ksc.agents[0] as never);
    const advisor = await bankAgent(system, bank, { advisorCode: "B123" }, "bank_advisor");
    await online(advisor);
    await setRouting(bank, { mode: "full_service", serviceHours: ALWAYS_OPEN });
    const plain = await newRoutedConversation(system, bank);
    expect(plain).toMatchObject({ handledBy: "ksc", rule: "full_service.ksc" });
    const coded = await newRoutedConversation(system, bank, { text: "Hallo! #B123 bitte Rückruf" });
    expect(coded).toMatchObject({ assigneeUserId: advisor.id, handledBy: "advisor", rule: "advisor.direct" });
  });

  it("advisor routing via the customer record; absent advisor → deputy; both absent → the mode", async () => {
    const bank = await freshBank();
    const agent = await bankAgent(system, bank);
    await online(agent);
    const deputy = await bankAgent(system, bank, {}, "bank_advisor");
    const advisor = await bankAgent(system, bank, { deputyUserId: deputy.id }, "bank_advisor");
    await online(advisor);
    await online(deputy);
    await setRouting(bank, { mode: "in_house", advisorRouting: true, serviceHours: ALWAYS_OPEN });

    const direct = await newRoutedConversation(system, bank, { advisorUserId: advisor.id });
    expect(direct).toMatchObject({ assigneeUserId: advisor.id, rule: "advisor.direct" });

    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 7 * 24 * 3_600_000).toISOString();
    const absence = await advisor.client.post<{ absence: { id: string } }>(
      `/v1/tenants/${bank.slug}/users/${advisor.id}/absences`,
      { startsAt: from, endsAt: to, reason: "Urlaub" },
    );
    expect(absence.status).toBe(201);
    const viaDeputy = await newRoutedConversation(system, bank, { advisorUserId: advisor.id });
    expect(viaDeputy).toMatchObject({ assigneeUserId: deputy.id, rule: "advisor.deputy" });

    const deputyAbsence = await bank.admin.post(`/v1/tenants/${bank.slug}/users/${deputy.id}/absences`, {
      startsAt: from,
      endsAt: to,
    });
    expect(deputyAbsence.status).toBe(201);
    const byMode = await newRoutedConversation(system, bank, { advisorUserId: advisor.id });
    expect(byMode).toMatchObject({ assigneeUserId: agent.id, rule: "in_house.inside_hours" });
    expect(byMode.reason).toContain("absent");
  });

  it("sticky reopen: a customer back within the window gets the previous handler", async () => {
    const bank = await freshBank();
    const a = await bankAgent(system, bank);
    const b = await bankAgent(system, bank);
    await online(a);
    await online(b);
    await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN, reopenWindowHours: 24 });
    // Load b so that least-loaded alone would pick a.
    const first = await newRoutedConversation(system, bank);
    const handler = first.assigneeUserId === a.id ? a : b;
    const other = handler === a ? b : a;
    await newRoutedConversation(system, bank); // goes to `other`
    const { customerId } = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("conversations")
      .select("customer_id as customerId")
      .where("id", "=", first.conversationId)
      .executeTakeFirstOrThrow();
    const closed = await handler.client.post(
      `/v1/tenants/${bank.slug}/conversations/${first.conversationId}/close`,
    );
    expect(closed.status).toBe(200);
    expect(await loadOf(system, handler.id)).toBe(0);
    expect(await loadOf(system, other.id)).toBe(1);
    await newRoutedConversation(system, bank); // a third chat: least loaded is `handler`
    const reopened = await newRoutedConversation(system, bank, { customerId });
    expect(reopened).toMatchObject({ assigneeUserId: handler.id, rule: "sticky.reopen" });
  });

  it("per-agent maximum: a full agent is skipped; the chat waits and is back-filled oldest first when a slot frees", async () => {
    const bank = await freshBank();
    const agent = await bankAgent(system, bank, { maxChats: 1 });
    await online(agent);
    await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
    const first = await newRoutedConversation(system, bank);
    const second = await newRoutedConversation(system, bank);
    const third = await newRoutedConversation(system, bank);
    expect(first.status).toBe("assigned");
    expect(second).toMatchObject({ status: "queued", queue: "bank" });
    expect(third).toMatchObject({ status: "queued", queue: "bank" });
    const inbox = await agent.client.get<{
      conversations: { id: string }[];
      queues: { queue: string; count: number }[];
    }>("/v1/inbox");
    expect(inbox.body.conversations.map((c) => c.id)).toEqual([first.conversationId]);
    expect(inbox.body.queues.find((q) => q.queue === "bank")?.count).toBe(2);
    const close = await agent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${first.conversationId}/close`,
    );
    expect(close.status).toBe(200);
    const { backfillForUser } = await import("@kanal/core/routing");
    await backfillForUser(system.services, agent.id);
    expect((await conversationRow(system, bank, second.conversationId)).assignee_user_id).toBe(agent.id);
    expect((await conversationRow(system, bank, third.conversationId)).status).toBe("queued");
    expect(await loadOf(system, agent.id)).toBe(1);
  });

  it("a KSC agent's load counts across every bank they serve", async () => {
    const bankA = await freshBank();
    const bankB = await freshBank();
    const ksc = await contractKsc(system, provider, [bankA, bankB], 2, 10);
    for (const k of ksc.agents) await online(k);
    await setRouting(bankA, { mode: "full_service", serviceHours: ALWAYS_OPEN });
    await setRouting(bankB, { mode: "full_service", serviceHours: ALWAYS_OPEN });
    const a1 = await newRoutedConversation(system, bankA);
    const b1 = await newRoutedConversation(system, bankB);
    // The second chat (in another bank) goes to the other agent because the first holds one in bank A.
    expect(a1.assigneeUserId).not.toBe(b1.assigneeUserId);
    const inbox = await ksc.agents[0]?.client.get<{ conversations: { tenant: string }[] }>("/v1/inbox");
    expect(inbox?.body.conversations).toHaveLength(1);
  });

  it("closing time: chats still queued for the bank move to the KSC queue in hours_outsourcing", async () => {
    const bank = await freshBank();
    await contractKsc(system, provider, [bank], 1);
    await setRouting(bank, { mode: "hours_outsourcing", serviceHours: ALWAYS_OPEN });
    // Nobody of the bank online: waiting in the bank queue while open.
    const waiting = await newRoutedConversation(system, bank);
    expect(waiting).toMatchObject({ status: "queued", queue: "bank" });
    await setRouting(bank, { mode: "hours_outsourcing", serviceHours: NEVER_OPEN });
    const ctx = await loadBankContext(system.services.db, bank.tenantId);
    expect(await applyClosingPolicy(system.services, ctx)).toMatchObject({ moved: 1 });
    const row = await conversationRow(system, bank, waiting.conversationId);
    expect(row).toMatchObject({ status: "queued", queue: "ksc", handled_by: "ksc" });
    expect((row.routing as { rule: string }).rule).toBe("closing.queued_to_ksc");
  });

  it("handover with an internal note is announced to the new handler; KSC may hand to the bank and the advisor only", async () => {
    const bank = await freshBank();
    const ksc = await contractKsc(system, provider, [bank], 1);
    const kscAgent = ksc.agents[0];
    if (!kscAgent) throw new Error("no ksc agent");
    await online(kscAgent);
    const advisor = await bankAgent(system, bank, {}, "bank_advisor");
    const colleague = await bankAgent(system, bank);
    await setRouting(bank, { mode: "full_service", serviceHours: ALWAYS_OPEN });
    const chat = await newRoutedConversation(system, bank, {});
    expect(chat.assigneeUserId).toBe(kscAgent.id);
    await system.services.db
      .withSchema(bank.schema)
      .updateTable("customers")
      .set({ advisor_user_id: advisor.id })
      .where("id", "=", (await conversationRow(system, bank, chat.conversationId)).customer_id)
      .execute();

    const refused = await kscAgent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${chat.conversationId}/handover`,
      {
        toUserId: colleague.id,
      },
    );
    expect(refused.status).toBe(403);

    const handed = await kscAgent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${chat.conversationId}/handover`,
      {
        toUserId: advisor.id,
        note: "Kunde fragt nach Baufinanzierung – bitte Beraterin",
      },
    );
    expect(handed.status).toBe(200);
    expect(handed.body).toMatchObject({ conversation: { assigneeUserId: advisor.id, handledBy: "advisor" } });
    expect(await loadOf(system, kscAgent.id)).toBe(0);
    expect(await loadOf(system, advisor.id)).toBe(1);
    const events = await replaySince(
      system.services.redis,
      system.services.config.QUEUE_PREFIX,
      advisor.id,
      "0",
    );
    const assigned = events.find((e) => e.type === "conversation.assigned");
    expect(assigned?.data).toMatchObject({
      conversationId: chat.conversationId,
      tenant: bank.slug,
      by: "handover",
    });
    const notes = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("messages")
      .selectAll()
      .where("conversation_id", "=", chat.conversationId)
      .where("direction", "=", "internal")
      .execute();
    expect(notes.map((n) => n.text)).toEqual(["Kunde fragt nach Baufinanzierung – bitte Beraterin"]);
    const audit = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("audit_log")
      .select("action")
      .where("actor_user_id", "=", kscAgent.id)
      .execute();
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(["ksc.conversation.handover", "conversation.handover"]),
    );
    // The advisor's chat is no longer the KSC's: the KSC agent cannot see or act on it.
    const after = await kscAgent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${chat.conversationId}/close`,
    );
    expect(after.status).toBe(404);
  });

  it("a queued chat is taken by exactly one of several agents racing for it", async () => {
    const bank = await freshBank();
    await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
    const agents = [
      await bankAgent(system, bank),
      await bankAgent(system, bank),
      await bankAgent(system, bank),
    ];
    const chat = await newRoutedConversation(system, bank);
    expect(chat.status).toBe("queued");
    const results = await Promise.all(
      agents.flatMap((a) =>
        [1, 2].map(() => a.client.post(`/v1/tenants/${bank.slug}/conversations/${chat.conversationId}/take`)),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(5);
    const loads = await Promise.all(agents.map((a) => loadOf(system, a.id)));
    expect(loads.reduce((x, y) => x + y, 0)).toBe(1);
  });

  it("an agent coming online takes the waiting chats through the presence hook and the worker", async () => {
    const { startWorkers } = await import("../../apps/worker/src/worker");
    const { routingProcessor } = await import("../../apps/worker/src/processors/routing/index");
    const workers = await startWorkers(system.services, [routingProcessor], { schedule: false });
    try {
      const bank = await freshBank();
      await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
      const agent = await bankAgent(system, bank, { maxChats: 2 });
      const chats = [];
      for (let i = 0; i < 3; i++) chats.push(await newRoutedConversation(system, bank));
      expect(chats.every((c) => c.status === "queued")).toBe(true);
      await online(agent);
      const { waitFor } = await import("./helpers");
      await waitFor(async () => (await loadOf(system, agent.id)) === 2);
      const rows = await Promise.all(chats.map((c) => conversationRow(system, bank, c.conversationId)));
      // Oldest first: the first two are taken, the newest still waits.
      expect(rows.map((r) => r.status)).toEqual(["open", "open", "queued"]);
      const events = await replaySince(
        system.services.redis,
        system.services.config.QUEUE_PREFIX,
        agent.id,
        "0",
      );
      expect(events.filter((e) => e.type === "conversation.assigned")).toHaveLength(2);
    } finally {
      await workers.close();
    }
  });
});

describe("routing configuration API", () => {
  it("bank admin saves a config; agents may read; an agent may not write", async () => {
    const bank = await freshBank();
    const agent = await bankAgent(system, bank);
    const saved = await bank.admin.put<{ routing: { mode: string; closures: string[] } }>(
      `/v1/tenants/${bank.slug}/routing`,
      { mode: "in_house", closures: ["2026-12-24"], reopenWindowHours: 12 },
    );
    expect(saved.status).toBe(200);
    expect(saved.body.routing).toMatchObject({ mode: "in_house", closures: ["2026-12-24"] });
    const read = await agent.client.get<{ routing: { reopenWindowHours: number } }>(
      `/v1/tenants/${bank.slug}/routing`,
    );
    expect(read.status).toBe(200);
    expect(read.body.routing.reopenWindowHours).toBe(12);
    const write = await agent.client.put(`/v1/tenants/${bank.slug}/routing`, { mode: "in_house" });
    expect(write.status).toBe(403);
    const audit = await bank.admin.get<{ entries: { action: string }[] }>(
      `/v1/tenants/${bank.slug}/audit?action=routing`,
    );
    expect(audit.body.entries.map((e) => e.action)).toContain("routing.updated");
  });

  it("a KSC mode without a contracted KSC is refused with ksc_not_contracted; bad hours with the field", async () => {
    const bank = await freshBank();
    const res = await bank.admin.put<{ error: { code: string; message: string } }>(
      `/v1/tenants/${bank.slug}/routing`,
      {
        mode: "capacity_overflow",
      },
    );
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("ksc_not_contracted");
    expect(res.body.error.message).toContain("no KSC contracted");
    const bad = await bank.admin.put<{ error: { fields: { path: string }[] } }>(
      `/v1/tenants/${bank.slug}/routing`,
      {
        serviceHours: {
          mon: [
            ["08:00", "12:00"],
            ["11:00", "14:00"],
          ],
        },
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields.map((f) => f.path)).toContain("serviceHours.mon.1");
    const unknown = await bank.admin.put(`/v1/tenants/${bank.slug}/routing`, { capcityThreshold: 3 });
    expect(unknown.status).toBe(400);
  });

  it("strangers get 404; the holidays preview lists the state's holidays", async () => {
    const bank = await freshBank();
    const other = await freshBank();
    const res = await other.admin.get(`/v1/tenants/${bank.slug}/routing`);
    expect(res.status).toBe(404);
    const holidays = await bank.admin.get<{ holidays: { date: string; name: string }[] }>(
      `/v1/tenants/${bank.slug}/routing/holidays?year=2026`,
    );
    expect(holidays.status).toBe(200);
    // DE-BY (default region) has Epiphany; Bavaria-specific.
    expect(holidays.body.holidays.map((h) => h.date)).toContain("2026-01-06");
  });

  it("absences: only the admin or the person themself may record them", async () => {
    const bank = await freshBank();
    const a = await bankAgent(system, bank);
    const b = await bankAgent(system, bank);
    const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();
    const body = { startsAt: inDays(30), endsAt: inDays(44) };
    expect((await a.client.post(`/v1/tenants/${bank.slug}/users/${b.id}/absences`, body)).status).toBe(403);
    const own = await a.client.post<{ absence: { id: string } }>(
      `/v1/tenants/${bank.slug}/users/${a.id}/absences`,
      body,
    );
    expect(own.status).toBe(201);
    const backwards = await a.client.post(`/v1/tenants/${bank.slug}/users/${a.id}/absences`, {
      startsAt: body.endsAt,
      endsAt: body.startsAt,
    });
    expect(backwards.status).toBe(400);
    const list = await bank.admin.get<{ absences: { userId: string }[] }>(
      `/v1/tenants/${bank.slug}/absences`,
    );
    expect(list.body.absences.map((x) => x.userId)).toEqual([a.id]);
    expect((await b.client.delete(`/v1/tenants/${bank.slug}/absences/${own.body.absence.id}`)).status).toBe(
      403,
    );
    expect((await a.client.delete(`/v1/tenants/${bank.slug}/absences/${own.body.absence.id}`)).status).toBe(
      204,
    );
  });
  it("a first message routed to the KSC in its ingest whose rule hands over to the advisor goes to the bank", async () => {
    const bank = await freshBank();
    const ksc = await contractKsc(system, provider, [bank], 1);
    const kscAgent = ksc.agents[0];
    if (!kscAgent) throw new Error("no KSC agent");
    await online(kscAgent);
    const advisor = await bankAgent(system, bank, {}, "bank_advisor"); // offline: not a candidate now
    await setRouting(bank, { mode: "full_service", serviceHours: ALWAYS_OPEN });
    const rule = await bank.admin.post(`/v1/tenants/${bank.slug}/rules`, {
      id: "sparbuch-berater",
      topic: "Sparbuch",
      keywords: ["Sparbuch"],
      priority: 90,
      handling: "ksc_allowed",
      allowedDataClasses: [],
      freeTextAllowed: true,
      action: { type: "handover_to_advisor" },
      guidance: "Sparbuchfragen gehen an die Beraterin oder den Berater.",
    });
    expect(rule.status).toBe(201);
    const waId = `49${uniqueDigits(11)}`;
    const customerId = newId("cus");
    await system.services.db
      .withSchema(bank.schema)
      .insertInto("customers")
      .values({ id: customerId, wa_id: waId, advisor_user_id: advisor.id, updated_at: new Date() })
      .execute();
    const ids: string[] = [];
    const store = new WebhookStore(system.services.db, (events) => ids.push(...events.map((e) => e.id)));
    await store.store(inboundWebhookBody(bank, waId, "Ich habe eine Frage zu meinem Sparbuch"));
    // The ingest routes the new conversation and writes the rule's follow-up job to the outbox; the
    // worker's inbound queue runs it.
    const { startWorkers } = await import("../../apps/worker/src/worker");
    const { inboundProcessor } = await import("../../apps/worker/src/processors/inbound/index");
    const workers = await startWorkers(system.services, [inboundProcessor], { schedule: false });
    const { waitFor } = await import("./helpers");
    const conversation = () =>
      system.services.db
        .withSchema(bank.schema)
        .selectFrom("conversations")
        .selectAll()
        .where("customer_id", "=", customerId)
        .executeTakeFirstOrThrow();
    try {
      await processWebhookEvent(system.services, ids[0] ?? "");
      await waitFor(async () => (await conversation()).queue === "bank");
    } finally {
      await workers.close();
    }
    const row = await conversation();
    // Routed to the KSC agent first (in the ingest), then moved by the rule: the advisor is offline, so
    // it waits in the bank queue with the advisor preselected, and the KSC agent's slot is free again.
    expect(row).toMatchObject({
      status: "queued",
      queue: "bank",
      handled_by: "in_house",
      assignee_user_id: null,
    });
    expect(row.flags).toEqual(expect.arrayContaining(["handover_by_rule", "reserved_to_bank"]));
    expect((row.routing as { rule: string; preselectedAdvisorUserId: string }).rule).toBe(
      "rsk.handover_to_advisor",
    );
    expect((row.routing as { preselectedAdvisorUserId: string }).preselectedAdvisorUserId).toBe(advisor.id);
    const decisions = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("routing_decisions")
      .select("rule")
      .where("conversation_id", "=", row.id)
      .orderBy("decided_at")
      .execute();
    expect(decisions.map((d) => d.rule)).toEqual(["full_service.ksc", "rsk.handover_to_advisor"]);
    expect(await loadOf(system, kscAgent.id)).toBe(0);
  });
});
