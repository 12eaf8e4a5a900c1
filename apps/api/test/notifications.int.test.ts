import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectUsage } from "@kanal/core/billing";
import type { DomainEvent } from "@kanal/core/kernel";
import { sql } from "@kanal/db";
import {
  eventually,
  type FullSystem,
  seedTemplates,
  startFullSystem,
} from "../../../test/support/full-system";
import {
  addBankUser,
  type Bank,
  onboardBank,
  providerClient,
  TestClient,
  uniqueDigits,
} from "../../../test/support/system";
import { ALWAYS_OPEN, contractKsc, online, setRouting } from "../../../test/routing/helpers";

/**
 * Issue 14: the bank's systems send notifications — approved templates of the bank's registry, to
 * customers who opted in — through the HTTP API with an API key, and hear back what happened
 * (`notification.status`, `notification.reply`). Real Postgres, Redis, workers and the WhatsApp simulator.
 */

let system: FullSystem;
let bank: Bank;
/** the bank's core banking system: an API key with the `notifications` scope */
let core: TestClient;
let agent: { id: string; client: TestClient };
const events: DomainEvent[] = [];

interface SimSent {
  wamid: string;
  type: string;
  body: {
    text?: { body?: string };
    template?: {
      name: string;
      components?: {
        type: string;
        sub_type?: string;
        index?: string;
        parameters: { text?: string; payload?: string }[];
      }[];
    };
  };
}

const KARTENUMSATZ = {
  name: "kartenumsatz",
  category: "UTILITY" as const,
  body: "Kreditkartenwecker: Ihre Karte {{1}} wurde am {{2}} für {{3}} bei {{4}} eingesetzt. Waren Sie das?",
  footer: "Ihre Sparkasse",
  quickReplies: ["Das war ich", "Das war ich nicht"],
};

beforeAll(async () => {
  system = await startFullSystem();
  const provider = await providerClient(system);
  bank = await onboardBank(system, provider);
  // Full service: every chat goes to the KSC — except what the bank keeps to itself.
  const ksc = await contractKsc(system, provider, [bank], 1, 20);
  await online(ksc.agents[0] as NonNullable<(typeof ksc.agents)[0]>);
  agent = await addBankUser(system, bank, "bank_agent", { maxChats: 20 });
  await online({ ...agent, email: "" });
  await setRouting(bank, { mode: "full_service", serviceHours: ALWAYS_OPEN });
  await seedTemplates(system, bank, [
    KARTENUMSATZ,
    {
      name: "gehaltseingang",
      body: "Guten Tag {{1}}, auf Ihrem Konto ist eine Gutschrift über {{2}} eingegangen.",
    },
    { name: "bausparen_aktion", category: "MARKETING", body: "Jetzt {{1}} sichern.", status: "PAUSED" },
  ]);
  const key = await bank.admin.post<{ apiKey: { key: string } }>(`/v1/tenants/${bank.slug}/api-keys`, {
    name: "Kernbank",
    scopes: ["customers:write", "notifications"],
  });
  expect(key.status).toBe(201);
  core = new TestClient(system.app);
  core.bearer = key.body.apiKey.key;
  (
    system.services.events as unknown as {
      register(name: string, l: (e: readonly DomainEvent[]) => Promise<void>): void;
    }
  ).register("test-notifications", async (batch) => {
    events.push(...batch.filter((e) => e.type.startsWith("notification.")));
  });
});
afterAll(() => system?.close());

const t = () => system.services.db.withSchema(bank.schema);
const path = (rest: string) => `/v1/tenants/${bank.slug}${rest}`;
const sentTo = async (waId: string) =>
  (await system.simGet<{ messages: SimSent[] }>(`/_sim/sent?to=${waId}`)).messages;

/** A customer as the core banking system syncs them, with or without a recorded opt-in. */
async function customer(optIn?: boolean) {
  const externalRef = `K-${uniqueDigits(8)}`;
  const waId = uniqueDigits(12);
  const res = await core.put(path(`/customers/${externalRef}`), {
    name: "Erika Mustermann",
    waId,
    ...(optIn !== undefined && { notificationsOptIn: optIn }),
  });
  expect(res.status).toBe(201);
  return { externalRef, waId };
}

const cardAlert = (externalRef: string) => ({
  customer: { externalRef },
  template: {
    name: "kartenumsatz",
    language: "de",
    params: ["…4242", "02.12.2026", "49,90 €", "Tankstelle Nord"],
  },
});

type NotificationBody = {
  notification: {
    id: string;
    status: string;
    conversationId: string;
    messageId: string;
    reply: { code: string } | null;
    template: { category: string };
  };
};
type ErrorBody = { error: { code: string; message: string; fields?: { path: string }[] } };

describe("the template registry", () => {
  it("lists the bank's templates with their parameters, buttons and status", async () => {
    const res = await core.get<{
      templates: {
        name: string;
        status: string;
        sendable: boolean;
        parameters: unknown[];
        buttons: { text: string }[];
      }[];
    }>(path("/templates"));
    expect(res.status).toBe(200);
    const card = res.body.templates.find((x) => x.name === "kartenumsatz");
    expect(card).toMatchObject({ status: "APPROVED", sendable: true });
    expect(card?.parameters).toHaveLength(4);
    expect(card?.buttons.map((b) => b.text)).toEqual(["Das war ich", "Das war ich nicht"]);
    expect(res.body.templates.find((x) => x.name === "bausparen_aktion")).toMatchObject({
      status: "PAUSED",
      sendable: false,
    });
  });

  it("follows Meta's status webhook: a paused template is refused with the reason, an approved one sent again", async () => {
    const { externalRef } = await customer(true);
    const pause = await system.simPost<{ webhookStatus: number }>("/_sim/templates", {
      wabaId: bank.wabaId,
      name: "gehaltseingang",
      status: "PAUSED",
      reason: "LOW_QUALITY",
    });
    expect(pause.webhookStatus).toBe(200);
    await eventually(async () => {
      const list = await core.get<{ templates: { name: string; status: string; reason: string | null }[] }>(
        path("/templates"),
      );
      const row = list.body.templates.find((x) => x.name === "gehaltseingang");
      return row?.status === "PAUSED" && row.reason === "LOW_QUALITY";
    });
    const body = {
      customer: { externalRef },
      template: { name: "gehaltseingang", language: "de", params: ["Frau Mustermann", "2.450,00 €"] },
    };
    const refused = await core.post<ErrorBody>(path("/notifications"), body);
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe("template_not_approved");
    expect(refused.body.error.message).toContain("PAUSED");
    expect(refused.body.error.message).toContain("LOW_QUALITY");

    await system.simPost("/_sim/templates", {
      wabaId: bank.wabaId,
      name: "gehaltseingang",
      status: "APPROVED",
    });
    await eventually(async () => (await core.post(path("/notifications"), body)).status === 202);
  });

  it("refuses a template the bank does not have, and parameters that do not fit", async () => {
    const { externalRef } = await customer(true);
    const unknown = await core.post<ErrorBody>(path("/notifications"), {
      customer: { externalRef },
      template: { name: "gibt_es_nicht", language: "de", params: [] },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.code).toBe("template_not_approved");
    const short = await core.post<ErrorBody>(path("/notifications"), {
      customer: { externalRef },
      template: { name: "kartenumsatz", language: "de", params: ["…4242"] },
    });
    expect(short.status).toBe(400);
    expect(short.body.error.fields?.[0]?.path).toBe("template.params");
    const newline = await core.post<ErrorBody>(path("/notifications"), {
      ...cardAlert(externalRef),
      template: {
        ...cardAlert(externalRef).template,
        params: ["…4242", "02.12.", "49,90 €", "Tank\nstelle"],
      },
    });
    expect(newline.status).toBe(400);
    expect(newline.body.error.fields?.[0]?.path).toBe("template.params.3");
  });
});

describe("POST /notifications", () => {
  it("queues, sends once per Idempotency-Key, and reports Meta's statuses", async () => {
    const { externalRef, waId } = await customer(true);
    const key = { "idempotency-key": `salary-${uniqueDigits(6)}` };
    const first = await core.request<NotificationBody>(
      "POST",
      path("/notifications"),
      cardAlert(externalRef),
      key,
    );
    expect(first.status).toBe(202);
    expect(first.body.notification.status).toBe("queued");
    expect(first.body.notification.template.category).toBe("UTILITY");
    const again = await core.request<NotificationBody>(
      "POST",
      path("/notifications"),
      cardAlert(externalRef),
      key,
    );
    expect(again.status).toBe(202);
    expect(again.body.notification.id).toBe(first.body.notification.id);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const other = await core.request<ErrorBody>(
      "POST",
      path("/notifications"),
      {
        ...cardAlert(externalRef),
        template: { ...cardAlert(externalRef).template, params: ["…1111", "x", "y", "z"] },
      },
      key,
    );
    expect(other.status).toBe(409);

    const read = await eventually(async () => {
      const res = await core.get<NotificationBody>(path(`/notifications/${first.body.notification.id}`));
      return res.body.notification.status === "read" ? res.body.notification : undefined;
    });
    expect(read.messageId).toBe(first.body.notification.messageId);
    const sent = (await sentTo(waId)).filter((m) => m.type === "template");
    expect(sent).toHaveLength(1);
    expect(sent[0]?.body.template?.name).toBe("kartenumsatz");
    const body = sent[0]?.body.template?.components?.find((c) => c.type === "body");
    expect(body?.parameters.map((p) => p.text)).toEqual([
      "…4242",
      "02.12.2026",
      "49,90 €",
      "Tankstelle Nord",
    ]);
    // The bank's systems hear every step (a webhook per notification.status, by the bank-webhooks engineer).
    const statuses = events
      .filter((e) => e.type === "notification.status" && e.notificationId === first.body.notification.id)
      .map((e) => (e as { status: string }).status);
    expect(statuses).toEqual(expect.arrayContaining(["sent", "delivered", "read"]));

    // The notification is in the customer's history: their notification thread, no agent holds it.
    const thread = await t()
      .selectFrom("conversations")
      .select(["status", "flags", "assignee_user_id", "handled_by"])
      .where("id", "=", read.conversationId)
      .executeTakeFirstOrThrow();
    expect(thread).toMatchObject({ status: "closed", assignee_user_id: null, handled_by: null });
    expect(thread.flags).toContain("notifications");
    const detail = await bank.admin.get<{ messages: { id: string; text: string; type: string }[] }>(
      path(`/conversations/${read.conversationId}`),
    );
    expect(detail.body.messages.find((m) => m.id === read.messageId)?.text).toContain("Tankstelle Nord");

    // Billed as a template message of its category.
    await collectUsage(system.services.db, bank.schema);
    const usage = await sql<{ category: string | null }>`
      select category from ${sql.id(bank.schema, "billing_usage")} where source_id = ${read.messageId}`.execute(
      system.services.db,
    );
    expect(usage.rows[0]?.category).toBe("UTILITY");
  });

  it("sends nothing without a recorded opt-in, nothing after STOP, nothing to an unknown customer", async () => {
    const never = await customer();
    const refusedNever = await core.post<ErrorBody>(path("/notifications"), cardAlert(never.externalRef));
    expect(refusedNever.status).toBe(422);
    expect(refusedNever.body.error.code).toBe("not_opted_in");

    const stopped = await customer(true);
    await system.simPost("/_sim/inbound", {
      phoneNumberId: bank.phoneNumberId,
      from: stopped.waId,
      text: "STOP",
    });
    await eventually(async () => {
      const row = await t()
        .selectFrom("customers")
        .select("opted_out_at")
        .where("wa_id", "=", stopped.waId)
        .executeTakeFirst();
      return row?.opted_out_at ?? undefined;
    });
    const refusedStop = await core.post<ErrorBody>(path("/notifications"), {
      customer: { waId: stopped.waId },
      template: cardAlert(stopped.externalRef).template,
    });
    expect(refusedStop.status).toBe(422);
    expect(refusedStop.body.error.code).toBe("opted_out");

    const unknown = await core.post<ErrorBody>(path("/notifications"), cardAlert("K-nobody"));
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.code).toBe("unknown_customer");

    await new Promise((r) => setTimeout(r, 500));
    expect((await sentTo(never.waId)).filter((m) => m.type === "template")).toEqual([]);
    expect((await sentTo(stopped.waId)).filter((m) => m.type === "template")).toEqual([]);
    const stored = await sql<{ n: string }>`
      select count(*)::text as n from ${sql.id(bank.schema, "notifications")} n
      join ${sql.id(bank.schema, "customers")} c on c.id = n.customer_id
      where c.wa_id in (${never.waId}, ${stopped.waId})`.execute(system.services.db);
    expect(stored.rows[0]?.n).toBe("0");
  });

  it("a bank admin may send from the console session; an agent may not, nor a key without the scope", async () => {
    const { externalRef } = await customer(true);
    const byAdmin = await bank.admin.post<NotificationBody>(path("/notifications"), cardAlert(externalRef));
    expect(byAdmin.status).toBe(202);
    const byAgent = await agent.client.post(path("/notifications"), cardAlert(externalRef));
    expect(byAgent.status).toBe(403);
    // The role and the scope are checked before the body is read.
    expect((await agent.client.post(path("/notifications/batch"), { nonsense: true })).status).toBe(403);
    const key = await bank.admin.post<{ apiKey: { key: string } }>(path("/api-keys"), {
      name: "nur Kunden",
      scopes: ["customers:write"],
    });
    const customersOnly = new TestClient(system.app);
    customersOnly.bearer = key.body.apiKey.key;
    expect((await customersOnly.post(path("/notifications"), { nonsense: true })).status).toBe(403);
    expect((await customersOnly.get(path("/templates"))).status).toBe(403);
  });
});

describe("POST /notifications/batch", () => {
  it("queues the accepted items as one campaign and refuses the others by index", async () => {
    const a = await customer(true);
    const b = await customer(true);
    const noOptIn = await customer();
    const stopped = await customer(true);
    await core.put(path(`/customers/${stopped.externalRef}`), {
      name: "Erika Mustermann",
      waId: stopped.waId,
      notificationsOptIn: false,
    });
    const salary = (params: string[]) => ({ name: "gehaltseingang", language: "de", params });
    const items = [
      { customer: { externalRef: a.externalRef }, template: salary(["Frau A", "100,00 €"]) },
      { customer: { externalRef: "K-unbekannt" }, template: salary(["Herr X", "1,00 €"]) },
      { customer: { externalRef: noOptIn.externalRef }, template: salary(["Frau N", "2,00 €"]) },
      { customer: { externalRef: stopped.externalRef }, template: salary(["Frau S", "3,00 €"]) },
      {
        customer: { externalRef: a.externalRef },
        template: { name: "bausparen_aktion", language: "de", params: ["x"] },
      },
      { customer: { externalRef: a.externalRef }, template: salary(["nur einer"]) },
      { customer: { waId: b.waId }, template: salary(["Frau B", "200,00 €"]) },
    ];
    const key = { "idempotency-key": `batch-${uniqueDigits(6)}` };
    const res = await core.request<{
      campaign: { id: string; items: number; accepted: number; refused: number };
      refused: { index: number; code: string }[];
    }>("POST", path("/notifications/batch"), { items }, key);
    expect(res.status).toBe(202);
    expect(res.body.campaign).toMatchObject({ items: 7, accepted: 2, refused: 5 });
    expect(res.body.refused.map(({ index, code }) => ({ index, code }))).toEqual([
      { index: 1, code: "unknown_customer" },
      { index: 2, code: "not_opted_in" },
      { index: 3, code: "opted_out" },
      { index: 4, code: "template_not_approved" },
      { index: 5, code: "invalid_params" },
    ]);
    const again = await core.request<{ campaign: { id: string } }>(
      "POST",
      path("/notifications/batch"),
      { items },
      key,
    );
    expect(again.body.campaign.id).toBe(res.body.campaign.id);

    const campaign = await eventually(async () => {
      const view = await core.get<{ campaign: { counts: Record<string, number> } }>(
        path(`/campaigns/${res.body.campaign.id}`),
      );
      return view.body.campaign.counts.read === 2 ? view.body.campaign : undefined;
    });
    expect(campaign.counts).toEqual({ queued: 0, sent: 0, delivered: 0, read: 2, failed: 0 });
    expect((await sentTo(a.waId)).filter((m) => m.type === "template")).toHaveLength(1);
    expect((await sentTo(b.waId)).filter((m) => m.type === "template")).toHaveLength(1);
    expect((await sentTo(noOptIn.waId)).filter((m) => m.type === "template")).toEqual([]);
  });

  it("counts a failed notification with Meta's reason", async () => {
    const a = await customer(true);
    const res = await core.post<{ campaign: { id: string } }>(path("/notifications/batch"), {
      items: [
        {
          customer: { externalRef: a.externalRef },
          template: { name: "gehaltseingang", language: "de", params: ["A", "1 €"] },
        },
      ],
    });
    const sent = await eventually(async () => (await sentTo(a.waId)).find((m) => m.type === "template"));
    await system.simPost("/_sim/status", { wamid: sent.wamid, status: "failed" });
    const view = await eventually(async () => {
      const v = await core.get<{
        campaign: { counts: Record<string, number>; failures: { code: number; count: number }[] };
      }>(path(`/campaigns/${res.body.campaign.id}`));
      return v.body.campaign.counts.failed === 1 ? v.body.campaign : undefined;
    });
    expect(view.failures).toEqual([expect.objectContaining({ code: 131049, count: 1 })]);
  });
});

describe("the card alert with an answer (Kreditkartenwecker)", () => {
  /** Sends the card alert and waits until the customer's phone has it; returns it with its buttons' payloads. */
  async function alertOnPhone() {
    const c = await customer(true);
    const res = await core.post<NotificationBody>(path("/notifications"), cardAlert(c.externalRef));
    expect(res.status).toBe(202);
    const sent = await eventually(async () => (await sentTo(c.waId)).find((m) => m.type === "template"));
    const payloads = (sent.body.template?.components ?? [])
      .filter((x) => x.sub_type === "quick_reply")
      .map((x) => x.parameters[0]?.payload ?? "");
    expect(payloads).toHaveLength(2);
    return { ...c, notification: res.body.notification, wamid: sent.wamid, payloads };
  }

  /** The customer taps a quick reply: Meta's `button` message with the payload and the template's wamid. */
  const tap = (c: { waId: string; wamid: string }, text: string, payload: string) =>
    system.simPost("/_sim/inbound", {
      phoneNumberId: bank.phoneNumberId,
      from: c.waId,
      type: "button",
      text,
      buttonId: payload,
      contextId: c.wamid,
    });

  it("'Das war ich nicht' reaches the bank at once, whatever the mode, and answers with the hotline", async () => {
    const c = await alertOnPhone();
    await tap(c, "Das war ich nicht", c.payloads[1] as string);
    const chat = await eventually(async () =>
      t()
        .selectFrom("conversations as cv")
        .innerJoin("customers as cu", "cu.id", "cv.customer_id")
        .select([
          "cv.id",
          "cv.status",
          "cv.topic",
          "cv.handled_by",
          "cv.assignee_user_id",
          "cv.routing",
          "cv.flags",
        ])
        .where("cu.wa_id", "=", c.waId)
        .where("cv.status", "=", "open")
        .executeTakeFirst(),
    );
    // Full service sends every chat to the KSC; this one stays with the bank.
    expect(chat).toMatchObject({
      topic: "Kartenumsatz nicht erkannt",
      handled_by: "in_house",
      assignee_user_id: agent.id,
    });
    expect((chat.routing as { rule: string }).rule).toBe("rules.bank_only");
    expect(chat.flags).toContain("reserved_to_bank");
    const hotline = await eventually(async () =>
      (await sentTo(c.waId)).find((m) => m.type === "text" && m.body.text?.body?.includes("116 116")),
    );
    expect(hotline.body.text?.body).toContain("Sperr-Notruf");
    const view = await core.get<NotificationBody>(path(`/notifications/${c.notification.id}`));
    expect(view.body.notification.reply?.code).toBe("card_tx_not_me");
    const reply = events.find(
      (e) => e.type === "notification.reply" && e.notificationId === c.notification.id,
    );
    expect(reply).toMatchObject({
      answer: { code: "card_tx_not_me", text: "Das war ich nicht" },
      escalated: true,
      conversationId: chat.id,
    });
  });

  it("'Das war ich' only records the answer: no chat, no message to the customer", async () => {
    const c = await alertOnPhone();
    await tap(c, "Das war ich", c.payloads[0] as string);
    const answered = await eventually(async () => {
      const view = await core.get<NotificationBody>(path(`/notifications/${c.notification.id}`));
      return view.body.notification.reply ? view.body.notification : undefined;
    });
    expect(answered.reply?.code).toBe("card_tx_confirmed");
    const reply = events.find(
      (e) => e.type === "notification.reply" && e.notificationId === c.notification.id,
    );
    expect(reply).toMatchObject({ answer: { code: "card_tx_confirmed" }, escalated: false });
    await new Promise((r) => setTimeout(r, 800));
    const chats = await t()
      .selectFrom("conversations as cv")
      .innerJoin("customers as cu", "cu.id", "cv.customer_id")
      .select(["cv.status", "cv.flags"])
      .where("cu.wa_id", "=", c.waId)
      .execute();
    expect(chats).toEqual([{ status: "closed", flags: ["notifications"] }]);
    // The answer is stored with the notification, in the customer's history.
    const stored = await t()
      .selectFrom("messages")
      .select(["conversation_id", "text"])
      .where("direction", "=", "inbound")
      .where("conversation_id", "=", answered.conversationId)
      .execute();
    expect(stored.map((m) => m.text)).toEqual(["Das war ich"]);
    expect((await sentTo(c.waId)).filter((m) => m.type !== "template")).toEqual([]);
  });

  it("an answer without Kanal's payload (an interactive reply to the wamid) is recognised by its text", async () => {
    const c = await alertOnPhone();
    await system.simPost("/_sim/inbound", {
      phoneNumberId: bank.phoneNumberId,
      from: c.waId,
      type: "interactive",
      text: "Das war ich nicht",
      buttonId: "irgendwas",
      contextId: c.wamid,
    });
    await eventually(async () => {
      const view = await core.get<NotificationBody>(path(`/notifications/${c.notification.id}`));
      return view.body.notification.reply?.code === "card_tx_not_me";
    });
  });
});
