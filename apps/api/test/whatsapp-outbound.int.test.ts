import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueSystemMessage, signWebhookBody } from "@kanal/core/channel";
import { sql } from "@kanal/db";
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

let system: FullSystem;
let provider: TestClient;
let bank: Bank;
let agent: { id: string; client: TestClient };

interface SimSent {
  wamid: string;
  to: string;
  type: string;
  body: Record<string, unknown>;
  bizOpaqueCallbackData?: string;
  acceptedAtMs: number;
}

beforeAll(async () => {
  system = await startFullSystem();
  provider = await providerClient(system);
  bank = await onboardBank(system, provider);
  agent = await addBankUser(system, bank, "bank_agent");
});
afterAll(() => system.close());

const t = (b: Bank = bank) => system.services.db.withSchema(b.schema);

/** A customer writes through the simulator; the conversation is then handed to `userId` as routing would. */
async function customerWrites(b: Bank, userId: string | null, text = "Hallo, ich habe eine Frage") {
  const waId = uniqueDigits(12);
  await system.simPost("/_sim/inbound", {
    phoneNumberId: b.phoneNumberId,
    from: waId,
    name: "Erika Muster",
    text,
  });
  const conversation = await eventually(async () =>
    t(b)
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select("c.id")
      .where("cu.wa_id", "=", waId)
      .executeTakeFirst(),
  );
  if (userId) {
    await t(b)
      .updateTable("conversations")
      .set({ status: "open", assignee_user_id: userId, handled_by: "in_house", queue: null })
      .where("id", "=", conversation.id)
      .execute();
  }
  return { waId, conversationId: conversation.id };
}

async function sentTo(waId: string) {
  return (await system.simGet<{ messages: SimSent[] }>(`/_sim/sent?to=${waId}`)).messages;
}

async function postStatus(b: Bank, wamid: string, status: string, extra: Record<string, unknown> = {}) {
  const fixture = JSON.parse(
    readFileSync(new URL("../../../../shared/whatsapp/fixtures/status-sent.json", import.meta.url), "utf8"),
  );
  const s = fixture.entry[0].changes[0].value;
  s.metadata.phone_number_id = b.phoneNumberId;
  s.statuses[0] = {
    ...s.statuses[0],
    id: wamid,
    status,
    timestamp: String(Math.floor(Date.now() / 1000)),
    ...extra,
  };
  const body = JSON.stringify(fixture);
  await postSignedWebhook(body);
}

/** POSTs a webhook body signed as Meta would and expects the 200. */
async function postSignedWebhook(body: string) {
  const res = await fetch(`${system.apiUrl}/webhooks/whatsapp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": signWebhookBody(body, system.env.WHATSAPP_APP_SECRET as string),
    },
    body,
  });
  expect(res.status).toBe(200);
}

describe("agent replies", () => {
  it("are written queued, sent through the simulator with the bank's token, and follow sent → delivered → read", async () => {
    const { waId, conversationId } = await customerWrites(bank, agent.id);
    const res = await agent.client.post<{ message: { id: string; status: string } }>(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      {
        text: "Guten Tag, wie kann ich helfen?",
      },
    );
    expect(res.status).toBe(202);
    expect(res.body.message.status).toBe("queued");
    const sent = await eventually(async () =>
      (await sentTo(waId)).find((m) => m.bizOpaqueCallbackData === res.body.message.id),
    );
    expect(sent?.type).toBe("text");
    expect(JSON.stringify(sent?.body)).toContain("Guten Tag, wie kann ich helfen?");
    expect(sent?.bizOpaqueCallbackData).toBe(res.body.message.id);
    const read = await eventually(async () => {
      const m = await t()
        .selectFrom("messages")
        .select(["status", "wamid"])
        .where("id", "=", res.body.message.id)
        .executeTakeFirst();
      return m?.status === "read" ? m : undefined;
    });
    expect(read.wamid).toBe(sent?.wamid);
    expect((sent as SimSent & { token?: string }).token).toBe(bank.accessToken);
  });

  it("sends a snippet with its variables filled in", async () => {
    const { waId, conversationId } = await customerWrites(bank, agent.id);
    const snippet = await t()
      .selectFrom("snippets")
      .selectAll()
      .where("body", "like", "%{{customer.name}}%")
      .executeTakeFirstOrThrow();
    const res = await agent.client.post<{ message: { text: string } }>(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      { snippetId: snippet.id },
    );
    expect(res.status).toBe(202);
    expect(res.body.message.text).toContain("Erika Muster");
    expect(res.body.message.text).not.toContain("{{");
    await eventually(
      async () =>
        (await sentTo(waId)).some((m) => JSON.stringify(m.body).includes("Erika Muster")) || undefined,
    );
  });

  it("refuses free text once the 24-hour window has closed (422 window_closed) but sends a template", async () => {
    const { waId, conversationId } = await customerWrites(bank, agent.id);
    await sql`update ${sql.id(bank.schema, "customers")} set last_inbound_at = now() - interval '25 hours' where wa_id = ${waId}`.execute(
      system.services.db,
    );
    const refused = await agent.client.post<{ error: { code: string } }>(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      { text: "Noch da?" },
    );
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe("window_closed");
    const count = await t()
      .selectFrom("messages")
      .select("id")
      .where("conversation_id", "=", conversationId)
      .where("kind", "=", "reply")
      .execute();
    expect(count).toHaveLength(0);
    await seedTemplates(system, bank, [
      { name: "rueckfrage", body: "Guten Tag {{1}}, wir haben eine Antwort für Sie." },
    ]);
    const template = await agent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      {
        template: { name: "rueckfrage", language: "de", params: ["Erika"] },
      },
    );
    expect(template.status).toBe(202);
    const sent = await eventually(async () => (await sentTo(waId)).find((m) => m.type === "template"));
    expect(sent.type).toBe("template");
  });

  it("validates input and permissions", async () => {
    const { conversationId } = await customerWrites(bank, agent.id);
    const path = `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`;
    expect((await agent.client.post(path, { text: "" })).status).toBe(400);
    expect((await agent.client.post(path, { text: "x", extra: 1 })).status).toBe(400);
    const other = await addBankUser(system, bank, "bank_agent");
    expect((await other.client.post(path, { text: "Ich bin nicht zuständig" })).status).toBe(403);
    const otherBank = await onboardBank(system, provider);
    expect((await otherBank.admin.post(path.replace(bank.slug, otherBank.slug), { text: "x" })).status).toBe(
      404,
    );
    expect((await otherBank.admin.post(path, { text: "x" })).status).toBe(404);
  });
});

describe("status webhooks", () => {
  it("several statuses in one webhook are applied together, by the same rules", async () => {
    const { conversationId } = await customerWrites(bank, agent.id);
    const start = { accepted: "accepted", read: "read", delivered: "delivered", sending: "sending" };
    const rows = Object.entries({
      m1: start.accepted,
      m2: start.read,
      m3: start.delivered,
      m4: start.accepted,
      m5: start.sending,
    }).map(([key, status]) => ({
      id: `msg_batch_${key}_${uniqueDigits(6)}`,
      wamid: `wamid.batch.${key}.${uniqueDigits(8)}`,
      status,
    }));
    await t()
      .insertInto("messages")
      .values(
        rows.map((r) => ({
          id: r.id,
          conversation_id: conversationId,
          direction: "outbound",
          type: "text",
          text: "Batch",
          status: r.status,
          kind: "reply",
          wamid: r.status === "sending" ? null : r.wamid,
        })),
      )
      .execute();
    const [m1, m2, m3, m4, m5] = rows as [
      (typeof rows)[0],
      (typeof rows)[0],
      (typeof rows)[0],
      (typeof rows)[0],
      (typeof rows)[0],
    ];
    const ts = String(Math.floor(Date.now() / 1000));
    const status = (r: (typeof rows)[0], s: string, extra: Record<string, unknown> = {}) => ({
      id: r.wamid,
      status: s,
      timestamp: ts,
      recipient_id: "4917000000000",
      ...extra,
    });
    const statuses = [
      status(m1, "delivered"), // forward: applied
      status(m2, "sent"), // backwards: ignored
      status(m3, "failed", { errors: [{ code: 131026, title: "Message undeliverable" }] }), // after delivered: ignored
      status(m4, "failed", { errors: [{ code: 131026, title: "Message undeliverable" }] }), // applied, with the reason
      // The send's answer never arrived (no wamid yet): found by our id, twice in one webhook, in order.
      status(m5, "sent", { biz_opaque_callback_data: m5.id }),
      status(m5, "delivered", { biz_opaque_callback_data: m5.id }),
    ];
    const body = JSON.stringify({
      object: "whatsapp_business_account",
      entry: [
        {
          id: "WABA",
          changes: [
            {
              field: "messages",
              value: {
                messaging_product: "whatsapp",
                metadata: { display_phone_number: "4930000000", phone_number_id: bank.phoneNumberId },
                statuses,
              },
            },
          ],
        },
      ],
    });
    await postSignedWebhook(body);
    const after = await eventually(async () => {
      const found = await t()
        .selectFrom("messages")
        .select(["id", "status", "wamid", "error"])
        .where(
          "id",
          "in",
          rows.map((r) => r.id),
        )
        .execute();
      const byId = new Map(found.map((f) => [f.id, f]));
      return byId.get(m1.id)?.status === "delivered" && byId.get(m5.id)?.status === "delivered"
        ? byId
        : undefined;
    });
    expect(after.get(m2.id)?.status).toBe("read");
    expect(after.get(m3.id)?.status).toBe("delivered");
    expect(after.get(m4.id)).toMatchObject({ status: "failed", error: { code: 131026 } });
    expect(after.get(m5.id)?.wamid).toBe(m5.wamid);
  });

  it("never move a status backwards, and a failure shows the agent why", async () => {
    const { conversationId } = await customerWrites(bank, agent.id);
    const res = await agent.client.post<{ message: { id: string } }>(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      { text: "Status-Test" },
    );
    const row = await eventually(async () => {
      const m = await t()
        .selectFrom("messages")
        .select(["wamid", "status"])
        .where("id", "=", res.body.message.id)
        .executeTakeFirst();
      return m?.status === "read" && m.wamid ? m : undefined;
    });
    await postStatus(bank, row.wamid as string, "delivered");
    await postStatus(bank, row.wamid as string, "sent");
    await new Promise((r) => setTimeout(r, 500));
    expect(
      (
        await t()
          .selectFrom("messages")
          .select("status")
          .where("id", "=", res.body.message.id)
          .executeTakeFirstOrThrow()
      ).status,
    ).toBe("read");

    const second = await agent.client.post<{ message: { id: string } }>(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      { text: "Zweite" },
    );
    const sent = await eventually(async () => {
      const m = await t()
        .selectFrom("messages")
        .select(["wamid", "status"])
        .where("id", "=", second.body.message.id)
        .executeTakeFirst();
      return m?.wamid ? m : undefined;
    });
    await system.simPost("/_sim/config", { sendRead: false });
    await postStatus(bank, sent.wamid as string, "failed", {
      errors: [
        {
          code: 131049,
          title: "This message was not delivered to maintain healthy ecosystem engagement.",
          error_data: { details: "healthy ecosystem" },
        },
      ],
    });
    const detail = await eventually(async () => {
      const d = await agent.client.get<{
        messages: { id: string; status: string; error: { code: number; title: string } | null }[];
      }>(`/v1/tenants/${bank.slug}/conversations/${conversationId}`);
      const m = d.body.messages.find((x) => x.id === second.body.message.id);
      return m?.status === "failed" || m?.status === "read" ? m : undefined;
    });
    // A failure after delivery is ignored; before it, the agent sees the code and reason.
    if (detail.status === "failed") expect(detail.error).toMatchObject({ code: 131049 });
    await system.simPost("/_sim/config", { sendRead: true });
  });
});

describe("dispatch under faults", () => {
  it("retries 5xx and sends exactly once", async () => {
    const { waId, conversationId } = await customerWrites(bank, agent.id);
    await system.simPost("/_sim/faults", { phoneNumberId: bank.phoneNumberId, kind: "5xx", count: 2 });
    const res = await agent.client.post<{ message: { id: string } }>(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      { text: "Trotz Störung" },
    );
    await eventually(
      async () =>
        (await sentTo(waId)).some((m) => m.bizOpaqueCallbackData === res.body.message.id) || undefined,
      20_000,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const sent = await sentTo(waId);
    expect(sent.filter((s) => s.bizOpaqueCallbackData === res.body.message.id)).toHaveLength(1);
  });

  it("fails at once on a permanent error with the reason on the message", async () => {
    const { conversationId } = await customerWrites(bank, agent.id);
    // Meta's window is closed although ours looks open (e.g. a clock difference): 131047 is permanent.
    await system.simPost("/_sim/clock", { offsetMs: 25 * 3_600_000 });
    try {
      const res = await agent.client.post<{ message: { id: string } }>(
        `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
        { text: "Zu spät" },
      );
      const failed = await eventually(async () => {
        const m = await t()
          .selectFrom("messages")
          .select(["status", "error", "send_attempts"])
          .where("id", "=", res.body.message.id)
          .executeTakeFirst();
        return m?.status === "failed" ? m : undefined;
      });
      expect(failed.error).toMatchObject({ code: 131047 });
      expect(failed.send_attempts).toBe(1);
    } finally {
      await system.simPost("/_sim/clock", { offsetMs: 0 });
    }
  });

  it("pauses the number on 190 (token invalid), alerts, keeps the message, and resumes with a new token", async () => {
    const other = await onboardBank(system, provider);
    const otherAgent = await addBankUser(system, other, "bank_agent");
    const { waId, conversationId } = await customerWrites(other, otherAgent.id);
    await system.simPost("/_sim/faults", { phoneNumberId: other.phoneNumberId, kind: "token_expired" });
    const res = await otherAgent.client.post<{ message: { id: string } }>(
      `/v1/tenants/${other.slug}/conversations/${conversationId}/messages`,
      { text: "Token-Test" },
    );
    const status = await eventually(async () => {
      const s = await provider.get<{ whatsapp: { sendingPaused: boolean; pausedReason: string } }>(
        `/v1/tenants/${other.slug}/whatsapp`,
      );
      return s.body.whatsapp?.sendingPaused ? s.body.whatsapp : undefined;
    });
    expect(status.pausedReason).toMatch(/190/);
    const adminView = await other.admin.get<{ whatsapp: { sendingPaused: boolean } }>(
      `/v1/tenants/${other.slug}/whatsapp`,
    );
    expect(adminView.body.whatsapp.sendingPaused).toBe(true);
    const audit = await other.admin.get<{ entries: { action: string }[] }>(
      `/v1/tenants/${other.slug}/audit?action=whatsapp`,
    );
    expect(audit.body.entries.map((e) => e.action)).toContain("whatsapp.sending_paused");
    expect(
      (
        await t(other)
          .selectFrom("messages")
          .select("status")
          .where("id", "=", res.body.message.id)
          .executeTakeFirstOrThrow()
      ).status,
    ).toBe("queued");

    await fetch(`${system.simUrl}/_sim/faults`, { method: "DELETE" });
    const resumed = await provider.put<{ whatsapp: { sendingPaused: boolean } }>(
      `/v1/tenants/${other.slug}/whatsapp`,
      { accessToken: "EAAG-a-fresh-token-value" },
    );
    expect(resumed.status).toBe(200);
    expect(resumed.body.whatsapp.sendingPaused).toBe(false);
    // The parked job wakes up on its own schedule; promote it so the test need not wait a minute.
    const job = await system.services.queues.dispatch.getJob(`send-${res.body.message.id}`);
    await job?.promote().catch(() => undefined);
    const sent = await eventually(
      async () => (await sentTo(waId)).find((m) => m.bizOpaqueCallbackData === res.body.message.id),
      20_000,
    );
    expect((sent as SimSent & { token?: string }).token).toBe("EAAG-a-fresh-token-value");
  });
});

describe("throughput", () => {
  it("a number limited to 10 msg/s never gets more than 10 in any second while 500 messages drain, none lost", async () => {
    const limited = await onboardBank(system, provider);
    expect(
      (await provider.put(`/v1/tenants/${limited.slug}/whatsapp`, { throughputPerSecond: 10 })).status,
    ).toBe(200);
    await system.simPost("/_sim/config", { throughput: { [limited.phoneNumberId]: 10 } });
    const customers = await Promise.all(Array.from({ length: 50 }, () => customerWrites(limited, null)));
    const tenant = await system.services.db
      .withSchema("control")
      .selectFrom("tenants")
      .selectAll()
      .where("id", "=", limited.tenantId)
      .executeTakeFirstOrThrow();
    const ids: string[] = [];
    for (let round = 0; round < 10; round++) {
      for (const c of customers) {
        const queued = await queueSystemMessage(system.services, {
          tenant,
          conversationId: c.conversationId,
          text: `Nachricht ${round}`,
          kind: "hint",
        });
        if (queued) ids.push(queued.id);
      }
    }
    expect(ids).toHaveLength(500);
    const started = Date.now();
    await eventually(
      async () => {
        const pending = await t(limited)
          .selectFrom("messages")
          .select("id")
          .where("direction", "=", "outbound")
          .where("status", "in", ["queued", "sending"])
          .execute();
        return pending.length === 0;
      },
      150_000,
      500,
    );
    console.info(`500 messages at 10/s drained in ${Date.now() - started} ms`);
    const stats = await system.simGet<
      {
        numbers?: Record<
          string,
          { accepted: number; rejected: Record<string, number>; maxAcceptedPerSecond: number }
        >;
      } & Record<string, unknown>
    >("/_sim/stats");
    const mine = (stats.numbers ??
      (stats as Record<
        string,
        { accepted: number; rejected: Record<string, number>; maxAcceptedPerSecond: number }
      >))[limited.phoneNumberId];
    const accepted = (
      await system.simGet<{ messages: SimSent[] }>(`/_sim/sent?phoneNumberId=${limited.phoneNumberId}`)
    ).messages;
    const mineSent = accepted.filter((m) => m.bizOpaqueCallbackData && ids.includes(m.bizOpaqueCallbackData));
    expect(mineSent).toHaveLength(500);
    expect(new Set(mineSent.map((m) => m.bizOpaqueCallbackData)).size).toBe(500);
    expect(mine?.maxAcceptedPerSecond).toBeLessThanOrEqual(10);
    expect(mine?.rejected["130429"] ?? 0).toBe(0);
    const failed = await t(limited)
      .selectFrom("messages")
      .select(["id", "error", "kind"])
      .where("direction", "=", "outbound")
      .where("status", "=", "failed")
      .execute();
    expect(failed).toEqual([]);
  }, 200_000);
});
