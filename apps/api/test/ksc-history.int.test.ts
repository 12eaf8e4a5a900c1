import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "@kanal/core/kernel";
import { sql } from "@kanal/db";
import { controlMigrations } from "@kanal/migrations";
import {
  ALWAYS_OPEN,
  bankAgent,
  contractKsc,
  conversationRow,
  type Ksc,
  loadOf,
  newRoutedConversation,
  online,
  setRouting,
} from "../../../test/routing/helpers";
import {
  type Bank,
  onboardBank,
  providerClient,
  startTestSystem,
  type TestClient,
  type TestSystem,
  unique,
} from "../../../test/support/system";

/**
 * A bank changes its KSC (issue 12, "KSC history"): the new organisation sees only what it handled while
 * contracted, the previous one's waiting and open chats move to it in the same transaction, and the
 * bank keeps the contract history. Customers write through the ingest's routing (as the webhook does);
 * everything people do goes through the HTTP API.
 */

let system: TestSystem;
let provider: TestClient;

beforeAll(async () => {
  system = await startTestSystem();
  provider = await providerClient(system);
});
afterAll(() => system?.close());

interface Summary {
  id: string;
  status: string;
  queue: string | null;
  handledBy: string | null;
  assigneeUserId: string | null;
}
interface Detail {
  conversation: Summary & { routing: { rule: string; reason: string } | null };
  messages: { id: string }[];
  history: { id: string }[];
}
interface InboxQueue {
  tenant: string;
  queue: string;
  count: number;
  oldest: { id: string }[];
}

/** A customer's image, stored (as the worker's media fetch leaves it), in a conversation. */
async function storedImage(bank: Bank, conversationId: string): Promise<string> {
  const db = system.services.db.withSchema(bank.schema);
  const messageId = newId("msg");
  await db
    .insertInto("messages")
    .values({
      id: messageId,
      conversation_id: conversationId,
      direction: "inbound",
      type: "image",
      text: null,
      media: JSON.stringify({ mimeType: "image/png", filename: "kontoauszug.png" }),
      status: "received",
      kind: "customer",
      created_at: new Date(),
    })
    .execute();
  await db
    .insertInto("media")
    .values({
      id: newId("med"),
      message_id: messageId,
      media_id: `${Date.now()}`,
      mime_type: "image/png",
      filename: "kontoauszug.png",
      content: Buffer.from("png bytes"),
      status: "stored",
      stored_at: new Date(),
    })
    .execute();
  return messageId;
}

describe("a bank changes its KSC", () => {
  let bank: Bank;
  let kscA: Ksc;
  let kscB: Ksc;
  let a: Ksc["agents"][number];
  let b: Ksc["agents"][number];
  /** handled and closed by A's agent, with a stored image */
  let handled: string;
  let imageId: string;
  /** the same customer again, open with A's agent at the change */
  let open: string;
  /** another customer, waiting in the KSC queue at the change */
  let waiting: string;

  beforeAll(async () => {
    bank = await onboardBank(system, provider);
    kscA = await contractKsc(system, provider, [bank], 1);
    await setRouting(bank, { mode: "full_service", serviceHours: ALWAYS_OPEN });
    a = kscA.agents[0] as Ksc["agents"][number];
    await online(a);

    const first = await newRoutedConversation(system, bank);
    expect(first).toMatchObject({ status: "assigned", assigneeUserId: a.id, handledBy: "ksc" });
    handled = first.conversationId;
    imageId = await storedImage(bank, handled);
    // A's agent reads the chat and its image, and closes it.
    expect((await a.client.get(`/v1/tenants/${bank.slug}/conversations/${handled}`)).status).toBe(200);
    expect((await a.client.get(`/v1/tenants/${bank.slug}/messages/${imageId}/media`)).status).toBe(200);
    expect((await a.client.post(`/v1/tenants/${bank.slug}/conversations/${handled}/close`)).status).toBe(200);

    const customerId = (await conversationRow(system, bank, handled)).customer_id;
    const again = await newRoutedConversation(system, bank, { customerId });
    expect(again).toMatchObject({ status: "assigned", assigneeUserId: a.id });
    open = again.conversationId;
    expect(await loadOf(system, a.id)).toBe(1);

    await online(a, "offline");
    const queued = await newRoutedConversation(system, bank);
    expect(queued).toMatchObject({ status: "queued", queue: "ksc" });
    waiting = queued.conversationId;

    // B's agent is a stranger to the bank while A is contracted.
    kscB = await contractKsc(system, provider, [], 1);
    b = kscB.agents[0] as Ksc["agents"][number];
    expect((await b.client.get(`/v1/tenants/${bank.slug}`)).status).toBe(404);

    const switched = await provider.put(`/v1/tenants/${bank.slug}/ksc`, { kscOrg: kscB.slug });
    expect(switched.status).toBe(200);
  });

  it("B's agent does not list the chat A handled", async () => {
    const list = await b.client.get<{ conversations: Summary[] }>(`/v1/tenants/${bank.slug}/conversations`);
    expect(list.status).toBe(200);
    const ids = list.body.conversations.map((c) => c.id);
    expect(ids).not.toContain(handled);
    const closed = await b.client.get<{ conversations: Summary[] }>(
      `/v1/tenants/${bank.slug}/conversations?status=closed`,
    );
    expect(closed.body.conversations).toEqual([]);
  });

  it("B's agent cannot read the chat A handled, nor its guidance", async () => {
    const detail = await b.client.get(`/v1/tenants/${bank.slug}/conversations/${handled}`);
    expect(detail.status).toBe(404);
    expect(detail.body).toMatchObject({ error: { code: "not_found" } });
    expect((await b.client.get(`/v1/tenants/${bank.slug}/conversations/${handled}/guidance`)).status).toBe(
      404,
    );
    // The bank's own staff still see it.
    expect((await bank.admin.get(`/v1/tenants/${bank.slug}/conversations/${handled}`)).status).toBe(200);
  });

  it("B's agent cannot act on the chat A handled", async () => {
    const base = `/v1/tenants/${bank.slug}/conversations/${handled}`;
    expect((await b.client.post(`${base}/callback`, { note: "Rückruf bitte" })).status).toBe(404);
    expect((await b.client.post(`${base}/handover`, { toQueue: "bank" })).status).toBe(404);
  });

  it("B's agent cannot fetch the media of the chat A handled", async () => {
    expect((await b.client.get(`/v1/tenants/${bank.slug}/messages/${imageId}/media`)).status).toBe(404);
    expect((await bank.admin.get(`/v1/tenants/${bank.slug}/messages/${imageId}/media`)).status).toBe(200);
  });

  it("B's agent does not see the chat A handled in the customer's history", async () => {
    const detail = await b.client.get<Detail>(`/v1/tenants/${bank.slug}/conversations/${open}`);
    expect(detail.status).toBe(200);
    expect(detail.body.history.map((h) => h.id)).not.toContain(handled);
    // The bank sees the customer's whole history.
    const asBank = await bank.admin.get<Detail>(`/v1/tenants/${bank.slug}/conversations/${open}`);
    expect(asBank.body.history.map((h) => h.id)).toEqual([handled]);
  });

  it("the chat that waited is in B's queue, with the change as its routing reason", async () => {
    const inbox = await b.client.get<{ queues: InboxQueue[] }>("/v1/inbox");
    expect(inbox.status).toBe(200);
    const queue = inbox.body.queues.find((q) => q.tenant === bank.slug && q.queue === "ksc");
    // both the waiting chat and the one A's agent held
    expect(queue?.count).toBe(2);
    expect(queue?.oldest.map((c) => c.id)).toEqual([waiting, open]);

    const detail = await b.client.get<Detail>(`/v1/tenants/${bank.slug}/conversations/${waiting}`);
    expect(detail.status).toBe(200);
    expect(detail.body.conversation).toMatchObject({ status: "queued", queue: "ksc", handledBy: "ksc" });
    expect(detail.body.conversation.routing?.rule).toBe("ksc.contract_changed");
    expect((await conversationRow(system, bank, waiting)).ksc_org_id).not.toBeNull();
  });

  it("A's open chat went back to the KSC queue and A's agent's slot is free", async () => {
    expect(await loadOf(system, a.id)).toBe(0);
    const row = await conversationRow(system, bank, open);
    expect(row).toMatchObject({ status: "queued", queue: "ksc", assignee_user_id: null });
    const detail = await bank.admin.get<Detail>(`/v1/tenants/${bank.slug}/conversations/${open}`);
    expect(detail.body.conversation.routing?.rule).toBe("ksc.contract_changed");
  });

  it("B's agent takes both chats", async () => {
    const took = await b.client.post(`/v1/tenants/${bank.slug}/conversations/${waiting}/take`);
    expect(took.status).toBe(200);
    expect(took.body).toMatchObject({
      conversation: { status: "open", assigneeUserId: b.id, handledBy: "ksc" },
    });
    expect((await b.client.post(`/v1/tenants/${bank.slug}/conversations/${open}/take`)).status).toBe(200);
    expect(await loadOf(system, b.id)).toBe(2);
    const list = await b.client.get<{ conversations: Summary[] }>(`/v1/tenants/${bank.slug}/conversations`);
    expect(list.body.conversations.map((c) => c.id).sort()).toEqual([open, waiting].sort());
  });

  it("the bank and the provider see both contract periods; the change is audited", async () => {
    for (const client of [bank.admin, provider]) {
      const res = await client.get<{
        current: { kscOrg: string; since: string } | null;
        history: { kscOrg: string; name: string; startedAt: string; endedAt: string | null }[];
      }>(`/v1/tenants/${bank.slug}/ksc`);
      expect(res.status).toBe(200);
      expect(res.body.current?.kscOrg).toBe(kscB.slug);
      expect(res.body.history.map((p) => p.kscOrg)).toEqual([kscB.slug, kscA.slug]);
      const [now, before] = res.body.history;
      expect(now?.endedAt).toBeNull();
      expect(before?.endedAt).toBe(now?.startedAt);
      expect(res.body.current?.since).toBe(now?.startedAt);
      expect(before?.name).toBe(`KSC ${kscA.slug}`);
    }
    // Bank staff other than admins, and the KSC itself, may not read the contracts.
    const agent = await bankAgent(system, bank);
    expect((await agent.client.get(`/v1/tenants/${bank.slug}/ksc`)).status).toBe(403);
    expect((await b.client.get(`/v1/tenants/${bank.slug}/ksc`)).status).toBe(403);

    const audit = await bank.admin.get<{ entries: { action: string; details: Record<string, unknown> }[] }>(
      `/v1/tenants/${bank.slug}/audit?action=ksc.contracted`,
    );
    expect(audit.body.entries[0]?.details).toMatchObject({
      kscOrg: kscB.slug,
      previousKscOrg: kscA.slug,
      movedWaiting: 1,
      movedHeld: 1,
    });
  });

  it("contracting the same organisation again changes nothing", async () => {
    expect((await provider.put(`/v1/tenants/${bank.slug}/ksc`, { kscOrg: kscB.slug })).status).toBe(200);
    const res = await bank.admin.get<{ history: unknown[] }>(`/v1/tenants/${bank.slug}/ksc`);
    expect(res.body.history).toHaveLength(2);
    expect(await loadOf(system, b.id)).toBe(2);
  });

  it("A's agents get 404 on the bank and its chats", async () => {
    expect((await a.client.get(`/v1/tenants/${bank.slug}`)).status).toBe(404);
    expect((await a.client.get(`/v1/tenants/${bank.slug}/conversations/${handled}`)).status).toBe(404);
    expect((await a.client.get(`/v1/tenants/${bank.slug}/messages/${imageId}/media`)).status).toBe(404);
    const inbox = await a.client.get<{ conversations: unknown[]; queues: InboxQueue[] }>("/v1/inbox");
    expect(inbox.body.conversations).toEqual([]);
    expect(inbox.body.queues.filter((q) => q.tenant === bank.slug)).toEqual([]);
  });
});

describe("a bank ends its KSC contract", () => {
  it("the KSC's chats go to the bank queue, handled in-house, and the KSC loses the bank", async () => {
    const bank = await onboardBank(system, provider);
    const ksc = await contractKsc(system, provider, [bank], 1);
    await setRouting(bank, { mode: "full_service", serviceHours: ALWAYS_OPEN });
    const agent = ksc.agents[0] as Ksc["agents"][number];
    await online(agent);
    const held = await newRoutedConversation(system, bank);
    expect(held).toMatchObject({ status: "assigned", assigneeUserId: agent.id });
    await online(agent, "offline");
    const queued = await newRoutedConversation(system, bank);
    expect(queued).toMatchObject({ status: "queued", queue: "ksc" });

    const ended = await provider.delete(`/v1/tenants/${bank.slug}/ksc`);
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ tenant: bank.slug, kscOrg: ksc.slug, moved: { waiting: 1, held: 1 } });

    for (const id of [held.conversationId, queued.conversationId]) {
      const detail = await bank.admin.get<Detail>(`/v1/tenants/${bank.slug}/conversations/${id}`);
      expect(detail.body.conversation).toMatchObject({
        status: "queued",
        queue: "bank",
        handledBy: "in_house",
        assigneeUserId: null,
      });
      expect(detail.body.conversation.routing?.rule).toBe("ksc.contract_ended");
    }
    expect(await loadOf(system, agent.id)).toBe(0);
    expect((await agent.client.get(`/v1/tenants/${bank.slug}`)).status).toBe(404);
    expect(
      (await agent.client.get(`/v1/tenants/${bank.slug}/conversations/${held.conversationId}`)).status,
    ).toBe(404);

    const contracts = await bank.admin.get<{ current: unknown; history: { endedAt: string | null }[] }>(
      `/v1/tenants/${bank.slug}/ksc`,
    );
    expect(contracts.body.current).toBeNull();
    expect(contracts.body.history).toHaveLength(1);
    expect(contracts.body.history[0]?.endedAt).not.toBeNull();
    expect(
      (await bank.admin.get<{ tenant: { kscOrg: string | null } }>(`/v1/tenants/${bank.slug}`)).body.tenant,
    ).toMatchObject({ kscOrg: null });

    // The bank's own staff take it from the bank queue.
    const staff = await bankAgent(system, bank);
    const took = await staff.client.post(
      `/v1/tenants/${bank.slug}/conversations/${held.conversationId}/take`,
    );
    expect(took.status).toBe(200);
    expect(took.body).toMatchObject({ conversation: { assigneeUserId: staff.id, handledBy: "in_house" } });

    // Nothing left to end; and only the provider ends contracts.
    expect((await provider.delete(`/v1/tenants/${bank.slug}/ksc`)).status).toBe(404);
    expect((await bank.admin.delete(`/v1/tenants/${bank.slug}/ksc`)).status).toBe(403);
  });

  it("the new routes are in the OpenAPI document", async () => {
    const res = await system.app.request("/openapi.json");
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    const ksc = doc.paths["/v1/tenants/{tenant}/ksc"];
    expect(Object.keys(ksc ?? {}).sort()).toEqual(["delete", "get", "put"]);
  });
});

describe("the contract history migration", () => {
  it("opens one period per existing contract, starting when the contract was made", async () => {
    const db = system.services.db;
    const schema = unique("kch_");
    const at = controlMigrations.findIndex((m) => m.name === "0006_ksc_contract_history");
    expect(at).toBeGreaterThan(0);
    const table = (name: string) => sql.id(schema, name);
    const since = new Date("2025-03-01T08:00:00Z");
    await sql`create schema ${sql.id(schema)}`.execute(db);
    try {
      await db.transaction().execute(async (trx) => {
        // the control schema as it was before, with one bank under contract and one without
        for (const m of controlMigrations.slice(0, at)) await m.up(trx, schema);
        await sql`insert into ${table("ksc_orgs")} (id, slug, name) values ('ksc_1', 'ksc-eins', 'KSC Eins')`.execute(
          trx,
        );
        await sql`insert into ${table("tenants")} (id, slug, name, schema_name, timezone, region) values
          ('ten_1', 'bank-eins', 'Bank Eins', 't_bank_eins', 'Europe/Berlin', 'DE-BY'),
          ('ten_2', 'bank-zwei', 'Bank Zwei', 't_bank_zwei', 'Europe/Berlin', 'DE-BY')`.execute(trx);
        await sql`insert into ${table("ksc_contracts")} (tenant_id, ksc_org_id, created_at)
          values ('ten_1', 'ksc_1', ${since})`.execute(trx);

        await controlMigrations[at]?.up(trx, schema);

        const periods = await sql`select tenant_id, ksc_org_id, started_at, ended_at
          from ${table("ksc_contract_history")}`.execute(trx);
        expect(periods.rows).toEqual([
          { tenant_id: "ten_1", ksc_org_id: "ksc_1", started_at: since, ended_at: null },
        ]);
        // at most one open period per bank
        await expect(
          sql`insert into ${table("ksc_contract_history")} (id, tenant_id, ksc_org_id)
            values ('kch_x', 'ten_1', 'ksc_1')`.execute(trx),
        ).rejects.toThrow(/ksc_contract_history_open/);
      });
    } finally {
      await sql`drop schema ${sql.id(schema)} cascade`.execute(db);
    }
  });
});
