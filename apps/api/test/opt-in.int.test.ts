import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueNotifications, queueSystemMessage } from "@kanal/core/channel";
import { sql, type Tenant } from "@kanal/db";
import {
  eventually,
  seedTemplates,
  startFullSystem,
  type FullSystem,
} from "../../../test/support/full-system";
import {
  addBankUser,
  onboardBank,
  providerClient,
  uniqueDigits,
  type Bank,
  type TestClient,
} from "../../../test/support/system";

// DOMAIN.md: anything the bank sends on its own needs a recorded opt-in, and "STOP" always works.

let system: FullSystem;
let bank: Bank;
let tenant: Tenant;
let agent: { id: string; client: TestClient };

interface SimSent {
  to: string;
  body: { text?: { body?: string } };
}

beforeAll(async () => {
  system = await startFullSystem();
  bank = await onboardBank(system, await providerClient(system));
  agent = await addBankUser(system, bank, "bank_agent");
  await seedTemplates(system, bank, [
    { name: "termin_erinnerung", body: "Wir erinnern an Ihren Termin am {{1}}." },
  ]);
  tenant = await system.services.db
    .withSchema("control")
    .selectFrom("tenants")
    .selectAll()
    .where("id", "=", bank.tenantId)
    .executeTakeFirstOrThrow();
});
afterAll(() => system.close());

const t = () => system.services.db.withSchema(bank.schema);

async function write(waId: string, text: string) {
  await system.simPost("/_sim/inbound", {
    phoneNumberId: bank.phoneNumberId,
    from: waId,
    name: "Erika",
    text,
  });
}

/** A customer writes; the conversation is handed to the agent as routing would. */
async function customerWrites(text = "Hallo") {
  const waId = uniqueDigits(12);
  await write(waId, text);
  const conversation = await eventually(async () =>
    t()
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select(["c.id", "cu.id as customerId"])
      .where("cu.wa_id", "=", waId)
      .executeTakeFirst(),
  );
  await t()
    .updateTable("conversations")
    .set({ status: "open", assignee_user_id: agent.id, handled_by: "in_house", queue: null })
    .where("id", "=", conversation.id)
    .execute();
  return { waId, conversationId: conversation.id, customerId: conversation.customerId };
}

const sentTexts = async (waId: string) =>
  (await system.simGet<{ messages: SimSent[] }>(`/_sim/sent?to=${waId}`)).messages.map(
    (m) => m.body.text?.body ?? "",
  );

const customer = (id: string) =>
  t()
    .selectFrom("customers")
    .select(["opted_in_at", "opted_out_at"])
    .where("id", "=", id)
    .executeTakeFirstOrThrow();

const messagesIn = (conversationId: string) =>
  t()
    .selectFrom("messages")
    .select(["direction", "text"])
    .where("conversation_id", "=", conversationId)
    .execute();

async function closeWindow(waId: string) {
  await sql`update ${sql.id(bank.schema, "customers")} set last_inbound_at = now() - interval '25 hours' where wa_id = ${waId}`.execute(
    system.services.db,
  );
}

const template = { template: { name: "termin_erinnerung", language: "de", params: ["Montag"] } };

describe("STOP and START on WhatsApp", () => {
  it("STOP records the opt-out (audited), confirms once, and a repeated STOP sends nothing more", async () => {
    const { waId, conversationId, customerId } = await customerWrites();
    await write(waId, "STOP");
    const optedOut = await eventually(async () => {
      const c = await customer(customerId);
      return c.opted_out_at ? c : undefined;
    });
    expect(optedOut.opted_out_at).toBeInstanceOf(Date);
    const confirmation = await eventually(async () =>
      (await sentTexts(waId)).find((text) => text.includes("keine Benachrichtigungen")),
    );
    expect(confirmation).toContain("START");
    const audit = await t()
      .selectFrom("audit_log")
      .select(["action", "details"])
      .where("target_id", "=", customerId)
      .where("action", "=", "customer.opted_out")
      .execute();
    expect(audit).toHaveLength(1);

    await write(waId, "Stopp!");
    // The second STOP is stored like any message, but changes nothing and is not confirmed again.
    await eventually(
      async () =>
        (await messagesIn(conversationId)).filter((m) => m.direction === "inbound").length === 3 || undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await sentTexts(waId)).filter((text) => text.includes("keine Benachrichtigungen"))).toHaveLength(
      1,
    );
    expect((await customer(customerId)).opted_out_at?.getTime()).toBe(optedOut.opted_out_at?.getTime());
  });

  it("a sentence with 'Stopp' in it is a conversation, not an opt-out", async () => {
    const { waId, conversationId, customerId } = await customerWrites();
    await write(waId, "Stopp, ich meinte die andere Karte");
    await eventually(
      async () =>
        (await messagesIn(conversationId)).filter((m) => m.direction === "inbound").length === 2 || undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await customer(customerId)).opted_out_at).toBeNull();
  });

  it("after STOP a template outside the window is refused (422 opted_out); START allows it again", async () => {
    const { waId, conversationId, customerId } = await customerWrites();
    await write(waId, "STOP");
    await eventually(async () => ((await customer(customerId)).opted_out_at ? true : undefined));
    await closeWindow(waId);
    const refused = await agent.client.post<{ error: { code: string } }>(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      template,
    );
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe("opted_out");
    const before = await messagesIn(conversationId);
    expect(before.some((m) => m.text?.includes("termin_erinnerung"))).toBe(false);

    await write(waId, "START");
    await eventually(async () => {
      const c = await customer(customerId);
      return c.opted_in_at && !c.opted_out_at ? c : undefined;
    });
    await eventually(async () => (await sentTexts(waId)).find((text) => text.includes("Mit STOP")));
    await closeWindow(waId);
    const allowed = await agent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      template,
    );
    expect(allowed.status).toBe(202);
  });

  it("inside the window the agent still answers a customer who said STOP", async () => {
    const { waId, conversationId, customerId } = await customerWrites();
    await write(waId, "STOP");
    await eventually(async () => ((await customer(customerId)).opted_out_at ? true : undefined));
    const reply = await agent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      {
        text: "Gern, und Ihre Frage beantworte ich trotzdem.",
      },
    );
    expect(reply.status).toBe(202);
  });
});

describe("notifications need a recorded opt-in", () => {
  it("without an opt-in nothing is queued; the core banking system records one; STOP ends it", async () => {
    const { waId, conversationId, customerId } = await customerWrites();
    const notify = () =>
      queueSystemMessage(system.services, {
        tenant,
        conversationId,
        text: "Ihr Gehalt ist eingegangen.",
        kind: "notification",
      });
    expect(await notify()).toBeNull();

    const key = await bank.admin.post<{ apiKey: { key: string } }>(`/v1/tenants/${bank.slug}/api-keys`, {
      name: "core banking",
      scopes: ["customers:write"],
    });
    expect(key.status).toBe(201);
    const headers = { authorization: `Bearer ${key.body.apiKey.key}`, "content-type": "application/json" };
    const put = (body: unknown) =>
      system.app.request(`/v1/tenants/${bank.slug}/customers/KD-${waId}`, {
        method: "PUT",
        headers,
        body: JSON.stringify(body),
      });

    const bad = await put({ name: "Erika Muster", waId, notificationsOptIn: "ja" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("invalid_request");
    expect((await customer(customerId)).opted_in_at).toBeNull();

    const ok = await put({ name: "Erika Muster", waId, notificationsOptIn: true });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { customer: { id: string; notifications: { allowed: boolean } } };
    expect(body.customer.id).toBe(customerId);
    expect(body.customer.notifications.allowed).toBe(true);
    const queued = await notify();
    expect(queued).not.toBeNull();
    await eventually(async () => (await sentTexts(waId)).find((text) => text.includes("Gehalt")));

    await write(waId, "STOP");
    await eventually(async () => ((await customer(customerId)).opted_out_at ? true : undefined));
    expect(await notify()).toBeNull();
  });

  it("the bulk verb queues only customers with an opt-in and no STOP since", async () => {
    const optedIn = await customerWrites();
    const never = await customerWrites();
    const stopped = await customerWrites();
    await t()
      .updateTable("customers")
      .set({ opted_in_at: new Date() })
      .where("id", "in", [optedIn.customerId, stopped.customerId])
      .execute();
    await write(stopped.waId, "STOP");
    await eventually(async () => ((await customer(stopped.customerId)).opted_out_at ? true : undefined));
    const { queued, skipped } = await queueNotifications(system.services, {
      tenant,
      notifications: [optedIn, never, stopped].map((c) => ({
        conversationId: c.conversationId,
        text: "Ihre Karte ist unterwegs.",
      })),
    });
    expect(queued.map((q) => q.conversationId)).toEqual([optedIn.conversationId]);
    expect(skipped.sort()).toEqual([never.conversationId, stopped.conversationId].sort());
  });
});
