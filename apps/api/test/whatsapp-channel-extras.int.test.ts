import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startFullSystem, type FullSystem } from "../../../test/support/full-system";
import {
  addBankUser,
  onboardBank,
  providerClient,
  uniqueDigits,
  type Bank,
  type TestClient,
} from "../../../test/support/system";

let system: FullSystem;
let bank: Bank;
let agent: { id: string; client: TestClient };

beforeAll(async () => {
  system = await startFullSystem();
  bank = await onboardBank(system, await providerClient(system));
  agent = await addBankUser(system, bank, "bank_agent");
});
afterAll(() => system.close());

const t = () => system.services.db.withSchema(bank.schema);

async function customerSends(body: Record<string, unknown>) {
  const waId = uniqueDigits(12);
  const res = await system.simPost<{ wamid: string; mediaId?: string }>("/_sim/inbound", {
    phoneNumberId: bank.phoneNumberId,
    from: waId,
    name: "Mia",
    ...body,
  });
  const conversation = await eventually(async () =>
    t()
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select("c.id")
      .where("cu.wa_id", "=", waId)
      .executeTakeFirst(),
  );
  await t()
    .updateTable("conversations")
    .set({ status: "open", assignee_user_id: agent.id, handled_by: "in_house", queue: null })
    .where("id", "=", conversation.id)
    .execute();
  return { waId, wamid: res.wamid, mediaId: res.mediaId, conversationId: conversation.id };
}

describe("media", () => {
  it("is fetched from the Graph API with the bank's token, stored, and opened by the agent", async () => {
    const { conversationId } = await customerSends({ type: "image", text: "Foto vom Beleg" });
    const detailUrl = `/v1/tenants/${bank.slug}/conversations/${conversationId}`;
    const message = await eventually(async () => {
      const d = await agent.client.get<{
        messages: {
          type: string;
          text: string;
          media: { url: string; status: string; mimeType: string } | null;
        }[];
      }>(detailUrl);
      const m = d.body.messages.find((x) => x.type === "image");
      return m?.media?.status === "stored" ? m : undefined;
    });
    expect(message.text).toBe("Foto vom Beleg");
    const res = await agent.client.request("GET", message.media?.url ?? "");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^image\//);
    expect(res.headers.get("cache-control")).toContain("no-store");
    // Another bank cannot open it.
    const other = await onboardBank(system, await providerClient(system));
    expect((await other.admin.request("GET", message.media?.url ?? "")).status).toBe(404);
  });

  it("stores location and unsupported messages in a form the agent can read", async () => {
    const location = await customerSends({
      type: "location",
      location: { latitude: 48.137, longitude: 11.575, name: "Filiale Marienplatz" },
    });
    const unknown = await customerSends({ type: "unknown" });
    const loc = await eventually(async () =>
      t()
        .selectFrom("messages")
        .select(["type", "text", "payload"])
        .where("conversation_id", "=", location.conversationId)
        .where("direction", "=", "inbound")
        .executeTakeFirst(),
    );
    expect(loc.type).toBe("location");
    expect(loc.payload).toMatchObject({ latitude: 48.137, longitude: 11.575 });
    const unsupported = await eventually(async () =>
      t()
        .selectFrom("messages")
        .select(["type", "payload"])
        .where("conversation_id", "=", unknown.conversationId)
        .where("direction", "=", "inbound")
        .executeTakeFirst(),
    );
    expect(unsupported.type).toBe("unsupported");
    expect(JSON.stringify(unsupported.payload)).toContain("131051");
  });
});

describe("read receipts", () => {
  it("the customer's messages are marked read at Meta when the assigned agent opens the chat", async () => {
    const { wamid, conversationId } = await customerSends({ text: "Bitte um Rückruf" });
    expect(
      (
        await system.simGet<{ reads: { messageId?: string; wamid?: string }[] }>(
          `/_sim/reads?phoneNumberId=${bank.phoneNumberId}`,
        )
      ).reads.map((r) => r.messageId ?? r.wamid),
    ).not.toContain(wamid);
    await agent.client.get(`/v1/tenants/${bank.slug}/conversations/${conversationId}`);
    await eventually(async () => {
      const reads = (
        await system.simGet<{ reads: Record<string, unknown>[] }>(
          `/_sim/reads?phoneNumberId=${bank.phoneNumberId}`,
        )
      ).reads;
      return reads.some((r) => JSON.stringify(r).includes(wamid)) || undefined;
    });
    const inbound = await eventually(async () => {
      const m = await t()
        .selectFrom("messages")
        .select("status")
        .where("wamid", "=", wamid)
        .executeTakeFirst();
      return m?.status === "read" ? m : undefined;
    });
    expect(inbound.status).toBe("read");
  });
});

describe("business profile", () => {
  it("the bank admin reads and updates about, address, description, email and websites through Kanal", async () => {
    const path = `/v1/tenants/${bank.slug}/whatsapp/profile`;
    const update = {
      about: "Ihre Sparkasse – Mo–Fr 8–18 Uhr",
      address: "Marktplatz 1, 80331 München",
      description: "Servicenummer 089 1234-0. Keine Aufträge per WhatsApp.",
      email: "service@sparkasse.test",
      websites: ["https://www.sparkasse.test/"],
    };
    const put = await bank.admin.put<{ profile: Record<string, unknown> }>(path, update);
    expect(put.status).toBe(200);
    expect(put.body.profile).toMatchObject(update);
    const get = await bank.admin.get<{ profile: Record<string, unknown> }>(path);
    expect(get.body.profile).toMatchObject(update);
    expect((await bank.admin.put(path, { email: "not-an-email" })).status).toBe(400);
    expect((await bank.admin.put(path, { about: "x".repeat(200) })).status).toBe(400);
    expect((await agent.client.put(path, { about: "Agent darf nicht" })).status).toBe(403);
    const audit = await bank.admin.get<{ entries: { action: string }[] }>(
      `/v1/tenants/${bank.slug}/audit?action=whatsapp.profile`,
    );
    expect(audit.body.entries.map((e) => e.action)).toContain("whatsapp.profile_updated");
  });
});

describe("priorities", () => {
  it("a conversational reply overtakes a bank's queued bulk notifications", async () => {
    const provider = await providerClient(system);
    const limited = await onboardBank(system, provider);
    const limitedAgent = await addBankUser(system, limited, "bank_agent");
    // Through the provider's API, as operations set a number's tier: the processes' cached binding follows.
    const tier = await provider.put(`/v1/tenants/${limited.slug}/whatsapp`, { throughputPerSecond: 5 });
    expect(tier.status).toBe(200);
    const tl = system.services.db.withSchema(limited.schema);
    const waIds = Array.from({ length: 10 }, () => uniqueDigits(12));
    const conversations: string[] = [];
    for (const waId of waIds) {
      await system.simPost("/_sim/inbound", {
        phoneNumberId: limited.phoneNumberId,
        from: waId,
        name: "Bulk",
        text: "Hallo",
      });
      const c = await eventually(async () =>
        tl
          .selectFrom("conversations as c")
          .innerJoin("customers as cu", "cu.id", "c.customer_id")
          .select("c.id")
          .where("cu.wa_id", "=", waId)
          .executeTakeFirst(),
      );
      conversations.push(c.id);
    }
    const tenant = await system.services.db
      .withSchema("control")
      .selectFrom("tenants")
      .selectAll()
      .where("id", "=", limited.tenantId)
      .executeTakeFirstOrThrow();
    // Notifications go only to customers with a recorded opt-in (DOMAIN.md).
    await tl.updateTable("customers").set({ opted_in_at: new Date() }).where("wa_id", "in", waIds).execute();
    const { queueSystemMessage } = await import("@kanal/core/channel");
    for (let round = 0; round < 5; round++) {
      for (const id of conversations)
        await queueSystemMessage(system.services, {
          tenant,
          conversationId: id,
          text: `Info ${round}`,
          kind: "notification",
        });
    }
    // 50 bulk messages at 5 msg/s take 10 s; the reply must not wait for them.
    const target = conversations[0] as string;
    await tl
      .updateTable("conversations")
      .set({ status: "open", assignee_user_id: limitedAgent.id, handled_by: "in_house", queue: null })
      .where("id", "=", target)
      .execute();
    const queuedAt = Date.now();
    const reply = await limitedAgent.client.post<{ message: { id: string } }>(
      `/v1/tenants/${limited.slug}/conversations/${target}/messages`,
      { text: "Dringende Antwort" },
    );
    expect(reply.status).toBe(202);
    await eventually(async () => {
      const m = await tl
        .selectFrom("messages")
        .select("status")
        .where("id", "=", reply.body.message.id)
        .executeTakeFirst();
      return m && !["queued", "sending"].includes(m.status) ? m : undefined;
    }, 8_000);
    const pendingBulk = await tl
      .selectFrom("messages")
      .select("id")
      .where("kind", "=", "notification")
      .where("status", "in", ["queued", "sending"])
      .execute();
    expect(Date.now() - queuedAt).toBeLessThan(5_000);
    expect(pendingBulk.length).toBeGreaterThan(10);
  }, 60_000);
});
