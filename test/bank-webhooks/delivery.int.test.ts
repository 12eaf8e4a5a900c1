import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweepBankWebhooks } from "@kanal/core/bank-webhooks";
import { sweepOutbox } from "@kanal/core/outbox";
import { eventually, type FullSystem, seedTemplates, startFullSystem } from "../support/full-system";
import {
  addBankUser,
  type Bank,
  onboardBank,
  providerClient,
  TestClient,
  uniqueDigits,
} from "../support/system";
import { type Behaviour, TestReceiver, verify } from "./receiver";

// Events to the bank's systems (issue 14): the whole system (API, simulator, workers, Postgres, Redis)
// delivering to a real HTTP receiver that refuses, times out, answers late and out of order. The backoff
// is shrunk (base 150 ms, at most 1 s; a 1 s timeout) so three days of retries run in seconds.

const FAST = {
  BANK_WEBHOOK_BACKOFF_BASE_MS: "150",
  BANK_WEBHOOK_BACKOFF_MAX_MS: "1000",
  BANK_WEBHOOK_TIMEOUT_MS: "1000",
};
const ALL_DAY = [["00:00", "24:00"]];
const ALWAYS_OPEN = Object.fromEntries(
  ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((d) => [d, ALL_DAY]),
);
const ALL_EVENTS = [
  "message.received",
  "message.status",
  "conversation.assigned",
  "conversation.closed",
  "notification.status",
  "notification.reply",
  "customer.opted_out",
  "customer.opted_in",
  "callback.requested",
];
const CARD = "4111 1111 1111 1111";
const CARD_PATTERN = /4111[\s-]?1111[\s-]?1111[\s-]?1111/;

interface EndpointAnswer {
  endpoint: { id: string; secret: string; state: string; disabledReason: string | null; events: string[] };
}

async function inHouseBank(
  system: FullSystem,
): Promise<{ bank: Bank; agent: { id: string; client: TestClient } }> {
  const bank = await onboardBank(system, await providerClient(system));
  const routing = await bank.admin.put(`/v1/tenants/${bank.slug}/routing`, {
    mode: "in_house",
    serviceHours: ALWAYS_OPEN,
    observePublicHolidays: false,
  });
  expect(routing.status).toBe(200);
  const agent = await addBankUser(system, bank, "bank_agent");
  expect((await agent.client.put("/v1/me/presence", { status: "online" })).status).toBe(200);
  return { bank, agent };
}

async function createEndpoint(bank: Bank, url: string, events: string[]) {
  const res = await bank.admin.post<EndpointAnswer>(`/v1/tenants/${bank.slug}/webhook-endpoints`, {
    url,
    events,
  });
  expect(res.status).toBe(201);
  return res.body.endpoint;
}

async function customerWrites(system: FullSystem, bank: Bank, waId: string, text: string) {
  const answer = await system.simPost<{ webhookStatus: number }>("/_sim/inbound", {
    phoneNumberId: bank.phoneNumberId,
    from: waId,
    name: "Erika Musterfrau",
    text,
  });
  expect(answer.webhookStatus).toBe(200);
}

async function openConversation(system: FullSystem, bank: Bank, waId: string): Promise<string> {
  return eventually(async () => {
    const row = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select("c.id")
      .where("cu.wa_id", "=", waId)
      .where("c.status", "=", "open")
      .executeTakeFirst();
    return row?.id;
  });
}

const deliveriesOf = (system: FullSystem, bank: Bank, endpointId: string) =>
  system.services.db
    .withSchema(bank.schema)
    .selectFrom("webhook_deliveries")
    .selectAll()
    .where("endpoint_id", "=", endpointId)
    .execute();

describe("events to the bank's systems", () => {
  let system: FullSystem;
  let receiver: TestReceiver;
  /** Per path, how the receiver treats each request (default: 200 at once). */
  const behaviours = new Map<string, Behaviour>();

  beforeAll(async () => {
    receiver = new TestReceiver((request) =>
      (behaviours.get(request.path) ?? (() => ({ status: 200 })))(request),
    );
    await receiver.start();
    system = await startFullSystem({ env: { ...FAST, BANK_WEBHOOK_DISABLE_AFTER_FAILURES: "1000" } });
  });
  afterAll(async () => {
    await system?.close();
    await receiver?.close();
  });

  it("delivers every event at least once to a receiver that refuses, times out and answers out of order; each verifies and is deduplicated by its id; a card number never leaves", async () => {
    // Per delivery: the 1st attempt is refused, the 2nd is accepted but answered after Kanal's timeout (so
    // Kanal sends it again: the receiver sees the id twice), the 3rd is answered after a random delay.
    behaviours.set("/all", ({ nth }) =>
      nth === 1
        ? { status: 500 }
        : nth === 2
          ? { status: 200, delayMs: 1_400 }
          : { status: 200, delayMs: Math.round(Math.random() * 300) },
    );
    const { bank, agent } = await inHouseBank(system);
    const endpoint = await createEndpoint(bank, receiver.url("/all"), ALL_EVENTS);
    expect(endpoint.secret).toMatch(/^whsec_/);

    const waId = uniqueDigits(12);
    await customerWrites(system, bank, waId, `Hallo, meine Karte ist ${CARD}, bitte Limit erhöhen`);
    const conversationId = await openConversation(system, bank, waId);
    await customerWrites(system, bank, waId, "Noch eine Frage");
    const reply = await agent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/messages`,
      {
        text: "Gerne, ich kümmere mich darum.",
      },
    );
    expect(reply.status).toBe(202);
    const callback = await agent.client.post(
      `/v1/tenants/${bank.slug}/conversations/${conversationId}/callback`,
      {
        note: `Rückruf wegen Karte ${CARD}`,
      },
    );
    expect(callback.status).toBe(201);
    // The reply's statuses first (sent, delivered, read come from the simulator), then close.
    await eventually(async () => {
      const rows = await deliveriesOf(system, bank, endpoint.id);
      return rows.some(
        (r) => r.event_type === "message.status" && JSON.stringify(r.payload).includes('"read"'),
      );
    });
    expect(
      (await agent.client.post(`/v1/tenants/${bank.slug}/conversations/${conversationId}/close`)).status,
    ).toBe(200);
    await customerWrites(system, bank, waId, "STOP");
    await eventually(async () => {
      const rows = await deliveriesOf(system, bank, endpoint.id);
      return rows.some((r) => r.event_type === "customer.opted_out");
    });
    await customerWrites(system, bank, waId, "START");

    const expected = [
      "message.received",
      "conversation.assigned",
      "message.status",
      "callback.requested",
      "conversation.closed",
      "customer.opted_out",
      "customer.opted_in",
    ];
    // Every delivery written ends delivered (none lost), and the receiver accepted each id once.
    const rows = await eventually(
      async () => {
        const all = await deliveriesOf(system, bank, endpoint.id);
        const types = new Set(all.map((r) => r.event_type));
        if (!expected.every((t) => types.has(t))) return undefined;
        return all.every((r) => r.status === "delivered") ? all : undefined;
      },
      60_000,
      200,
    );
    const accepted = receiver.acceptedAt("/all");
    expect(new Set(accepted.map((a) => a.id))).toEqual(new Set(rows.map((r) => r.id)));
    expect(new Set(accepted.map((a) => a.type))).toEqual(new Set(expected));
    // The receiver saw ids more than once (the late answer) and deduplicated them.
    const requests = receiver.requests.filter((r) => r.path === "/all");
    expect(requests.length).toBeGreaterThanOrEqual(rows.length * 3);
    for (const row of rows) expect(row.attempts).toBeGreaterThanOrEqual(3);
    // Every request verifies with the endpoint's secret, and carries Standard Webhooks headers.
    for (const request of requests) {
      expect(() => verify(endpoint.secret, request)).not.toThrow();
      expect(request.headers["webhook-id"]).toMatch(/^whd_/);
    }
    // Answers came back out of order: some request was answered after one that arrived later.
    const answered = requests.filter((r) => r.answeredAt !== null);
    const overtaken = answered.some((early) =>
      answered.some((late) => late.at > early.at && (late.answeredAt ?? 0) < (early.answeredAt ?? 0)),
    );
    expect(overtaken).toBe(true);
    // The card number never left: not in any request body, nor in a stored payload.
    for (const request of requests) expect(request.body).not.toMatch(CARD_PATTERN);
    for (const row of rows) expect(JSON.stringify(row.payload)).not.toMatch(CARD_PATTERN);
    // The payloads name the bank and carry what an integrator needs.
    const received = accepted.find((a) => a.type === "message.received");
    expect(received?.data).toMatchObject({
      bank: bank.slug,
      conversationId,
      customer: { waId, name: "Erika Musterfrau" },
    });
    expect(JSON.stringify(received?.data)).toContain("Limit erhöhen");
    const assigned = accepted.find((a) => a.type === "conversation.assigned");
    expect(assigned?.data).toMatchObject({
      conversationId,
      assignee: { id: agent.id },
      handledBy: "in_house",
    });
    const statuses = accepted
      .filter((a) => a.type === "message.status")
      .map((a) => (a.data.message as { status: string }).status);
    expect(statuses).toEqual(expect.arrayContaining(["sent", "delivered", "read"]));
    const callbackEvent = accepted.find((a) => a.type === "callback.requested");
    expect((callbackEvent?.data.callback as { note?: string } | undefined)?.note).toContain(
      "Rückruf wegen Karte",
    );

    // The delivery log in the API: paged, with the attempts of one delivery.
    const page = await bank.admin.get<{
      deliveries: { id: string; status: string }[];
      nextCursor: string | null;
    }>(`/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}/deliveries?limit=2`);
    expect(page.status).toBe(200);
    expect(page.body.deliveries).toHaveLength(2);
    expect(page.body.nextCursor).not.toBeNull();
    const next = await bank.admin.get<{ deliveries: { id: string }[] }>(
      `/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}/deliveries?limit=2&cursor=${page.body.nextCursor}`,
    );
    expect(next.body.deliveries.map((d) => d.id)).not.toContain(page.body.deliveries[0]?.id);
    const detail = await bank.admin.get<{
      delivery: { attemptLog: { outcome: string; statusCode: number | null; error: string | null }[] };
    }>(`/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}/deliveries/${page.body.deliveries[0]?.id}`);
    expect(detail.status).toBe(200);
    const log = detail.body.delivery.attemptLog;
    expect(log[0]).toMatchObject({ outcome: "failure", statusCode: 500 });
    expect(log[1]?.error).toMatch(/timeout/);
    expect(log.at(-1)).toMatchObject({ outcome: "success", statusCode: 200 });
  });

  it("retries with growing waits, and the delivery log records each attempt", async () => {
    behaviours.set("/flaky", ({ nth }) => ({ status: nth <= 3 ? 503 : 200 }));
    const { bank } = await inHouseBank(system);
    const endpoint = await createEndpoint(bank, receiver.url("/flaky"), ["message.received"]);
    await customerWrites(system, bank, uniqueDigits(12), "Guten Tag");
    const [row] = await eventually(async () => {
      const rows = await deliveriesOf(system, bank, endpoint.id);
      return rows.length === 1 && rows[0]?.status === "delivered" ? rows : undefined;
    });
    expect(row?.attempts).toBe(4);
    const times = receiver.requests.filter((r) => r.headers["webhook-id"] === row?.id).map((r) => r.at);
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // 150 ms, 300 ms, 600 ms (±20 %): each wait longer than the one before.
    expect(gaps[0]).toBeGreaterThanOrEqual(100);
    expect(gaps[2] as number).toBeGreaterThan(gaps[0] as number);
    const attempts = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("webhook_delivery_attempts")
      .select(["attempt", "status_code", "outcome", "response_excerpt"])
      .where("delivery_id", "=", row?.id ?? "")
      .orderBy("attempt")
      .execute();
    expect(attempts.map((a) => a.status_code)).toEqual([503, 503, 503, 200]);
    expect(attempts[0]?.response_excerpt).toBe("nope");
  });

  it("signs with both secrets during a rotation's overlap, and only with the new one after it", async () => {
    const { bank } = await inHouseBank(system);
    const endpoint = await createEndpoint(bank, receiver.url("/rotate"), ["message.received"]);
    const rotated = await bank.admin.post<EndpointAnswer>(
      `/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}/rotate-secret`,
      { overlapHours: 1 },
    );
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.endpoint.secret;
    expect(newSecret).not.toBe(endpoint.secret);
    await customerWrites(system, bank, uniqueDigits(12), "Nach der Rotation");
    const during = await eventually(async () => receiver.acceptedAt("/rotate").at(0));
    expect(String(during.raw.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    expect(() => verify(endpoint.secret, during.raw)).not.toThrow();
    expect(() => verify(newSecret, during.raw)).not.toThrow();

    // A rotation without overlap: the previous secret stops signing at once.
    const again = await bank.admin.post<EndpointAnswer>(
      `/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}/rotate-secret`,
      { overlapHours: 0 },
    );
    const newest = again.body.endpoint.secret;
    await customerWrites(system, bank, uniqueDigits(12), "Nach der zweiten Rotation");
    const after = await eventually(async () => receiver.acceptedAt("/rotate").at(1));
    expect(String(after.raw.headers["webhook-signature"]).split(" ")).toHaveLength(1);
    expect(() => verify(newest, after.raw)).not.toThrow();
    expect(() => verify(newSecret, after.raw)).toThrow();
    const audit = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("audit_log")
      .select("action")
      .where("target_id", "=", endpoint.id)
      .execute();
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(["webhook_endpoint.created", "webhook_endpoint.secret_rotated"]),
    );
  });

  it("a crash between commit and relay still delivers: the outbox sweeper relays the delivery's job", async () => {
    const { bank } = await inHouseBank(system);
    const endpoint = await createEndpoint(bank, receiver.url("/crash"), ["message.received"]);
    // The relay right after commit fails (as if the process died there): the job stays in the outbox.
    const queue = system.services.queues.webhooks;
    const addBulk = queue.addBulk.bind(queue);
    queue.addBulk = () => Promise.reject(new Error("process died before the relay"));
    try {
      await customerWrites(system, bank, uniqueDigits(12), "Hallo nach dem Absturz");
      await eventually(async () => (await deliveriesOf(system, bank, endpoint.id)).length === 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.acceptedAt("/crash")).toHaveLength(0);
      const left = await system.services.db
        .withSchema("control")
        .selectFrom("outbox")
        .select(["name", "data"])
        .where("name", "=", "deliver-webhook")
        .execute();
      expect(left.length).toBeGreaterThanOrEqual(1);
    } finally {
      queue.addBulk = addBulk;
    }
    expect(await sweepOutbox(system.services, { olderThanMs: 0 })).toBeGreaterThanOrEqual(1);
    await eventually(async () => receiver.acceptedAt("/crash").length === 1);
  });

  it("a retry Redis lost is enqueued again by the delivery sweeper", async () => {
    behaviours.set("/lost", ({ nth }) => ({ status: nth === 1 ? 500 : 200 }));
    const { bank } = await inHouseBank(system);
    const endpoint = await createEndpoint(bank, receiver.url("/lost"), ["message.received"]);
    // The next attempt waits long enough for the test to remove its job, as a Redis restart would.
    await customerWrites(system, bank, uniqueDigits(12), "Hallo");
    const [row] = await eventually(async () => {
      const rows = await deliveriesOf(system, bank, endpoint.id);
      return rows[0]?.attempts === 1 && rows[0].status === "pending" && rows[0].last_status_code === 500
        ? rows
        : undefined;
    });
    const job = await system.services.queues.webhooks.getJob(`${row?.id}-2`);
    await job?.remove().catch(() => undefined);
    await system.services.db
      .withSchema(bank.schema)
      .updateTable("webhook_deliveries")
      .set({ next_attempt_at: new Date(Date.now() - 60_000) })
      .where("id", "=", row?.id ?? "")
      .execute();
    expect(await sweepBankWebhooks(system.services, { graceMs: 0 })).toBeGreaterThanOrEqual(1);
    await eventually(async () => receiver.acceptedAt("/lost").length === 1);
    expect(receiver.acceptedAt("/lost")[0]?.id).toBe(row?.id);
  });

  it("410 Gone disables the endpoint (audited, shown); enabling resumes, and a delivery can be resent by hand", async () => {
    let gone = true;
    behaviours.set("/gone", () => ({ status: gone ? 410 : 200 }));
    const { bank } = await inHouseBank(system);
    const endpoint = await createEndpoint(bank, receiver.url("/gone"), ["message.received"]);
    await customerWrites(system, bank, uniqueDigits(12), "Hallo");
    const disabled = await eventually(async () => {
      const res = await bank.admin.get<EndpointAnswer>(
        `/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}`,
      );
      return res.body.endpoint.state === "disabled" ? res.body.endpoint : undefined;
    });
    expect(disabled.disabledReason).toBe("gone");
    expect(disabled).not.toHaveProperty("secret");
    const [row] = await deliveriesOf(system, bank, endpoint.id);
    expect(row?.status).toBe("failed");
    // A resend while disabled is refused; enabled again, the resend arrives with the same webhook-id.
    const refused = await bank.admin.post(
      `/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}/deliveries/${row?.id}/resend`,
    );
    expect(refused.status).toBe(409);
    gone = false;
    const enabled = await bank.admin.patch<EndpointAnswer>(
      `/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}`,
      {
        enabled: true,
      },
    );
    expect(enabled.body.endpoint.state).toBe("enabled");
    const resent = await bank.admin.post(
      `/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}/deliveries/${row?.id}/resend`,
    );
    expect(resent.status).toBe(202);
    await eventually(async () => receiver.acceptedAt("/gone").length === 1);
    expect(receiver.acceptedAt("/gone")[0]?.id).toBe(row?.id);
    const audit = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("audit_log")
      .select(["action", "details"])
      .where("target_id", "in", [endpoint.id, row?.id ?? ""])
      .execute();
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining([
        "webhook_endpoint.disabled",
        "webhook_endpoint.enabled",
        "webhook_delivery.resent",
      ]),
    );
  });

  it("tells the bank's systems a notification's statuses and the customer's answer to it", async () => {
    const { bank } = await inHouseBank(system);
    const endpoint = await createEndpoint(bank, receiver.url("/notifications"), [
      "notification.status",
      "notification.reply",
    ]);
    await seedTemplates(system, bank, [
      {
        name: "kartenumsatz",
        category: "UTILITY",
        body: "Kreditkartenwecker: Ihre Karte {{1}} wurde am {{2}} für {{3}} bei {{4}} eingesetzt. Waren Sie das?",
        quickReplies: ["Das war ich", "Das war ich nicht"],
      },
    ]);
    const key = await bank.admin.post<{ apiKey: { key: string } }>(`/v1/tenants/${bank.slug}/api-keys`, {
      name: "Kernbank",
      scopes: ["customers:write", "notifications"],
    });
    const core = new TestClient(system.app);
    core.bearer = key.body.apiKey.key;
    const waId = uniqueDigits(12);
    const externalRef = `K-${uniqueDigits(8)}`;
    expect(
      (
        await core.put(`/v1/tenants/${bank.slug}/customers/${externalRef}`, {
          name: "Erika Mustermann",
          waId,
          notificationsOptIn: true,
        })
      ).status,
    ).toBeLessThan(300);
    const sent = await core.post<{ notification: { id: string } }>(`/v1/tenants/${bank.slug}/notifications`, {
      customer: { externalRef },
      template: {
        name: "kartenumsatz",
        language: "de",
        params: ["…4242", "02.12.2026", "49,90 €", "Tankstelle"],
      },
    });
    expect(sent.status).toBe(202);
    const onPhone = await eventually(async () =>
      (
        await system.simGet<{
          messages: {
            wamid: string;
            type: string;
            body: { template?: { components?: { sub_type?: string; parameters: { payload?: string }[] }[] } };
          }[];
        }>(`/_sim/sent?to=${waId}`)
      ).messages.find((m) => m.type === "template"),
    );
    const payload = (onPhone.body.template?.components ?? []).find((c) => c.sub_type === "quick_reply")
      ?.parameters[0]?.payload;
    await system.simPost("/_sim/inbound", {
      phoneNumberId: bank.phoneNumberId,
      from: waId,
      type: "button",
      text: "Das war ich",
      buttonId: payload,
      contextId: onPhone.wamid,
    });
    const accepted = await eventually(async () => {
      const all = receiver.acceptedAt("/notifications");
      const statuses = all.filter((a) => a.type === "notification.status").map((a) => a.data.status);
      return all.some((a) => a.type === "notification.reply") && statuses.includes("read") ? all : undefined;
    });
    for (const a of accepted) {
      expect(() => verify(endpoint.secret, a.raw)).not.toThrow();
      expect(a.data).toMatchObject({
        bank: bank.slug,
        notificationId: sent.body.notification.id,
        customer: { waId, externalRef },
      });
    }
    const reply = accepted.find((a) => a.type === "notification.reply");
    expect(reply?.data).toMatchObject({ answer: { code: "card_tx_confirmed" }, escalated: false });
  });

  it("erasing a customer deletes their deliveries, pending ones included, with their attempts", async () => {
    behaviours.set("/erase", () => ({ status: 503 }));
    const { bank, agent } = await inHouseBank(system);
    const endpoint = await createEndpoint(bank, receiver.url("/erase"), [
      "message.received",
      "conversation.closed",
    ]);
    const waId = uniqueDigits(12);
    await customerWrites(system, bank, waId, "Bitte löschen Sie meine Daten");
    const conversationId = await openConversation(system, bank, waId);
    expect(
      (await agent.client.post(`/v1/tenants/${bank.slug}/conversations/${conversationId}/close`)).status,
    ).toBe(200);
    const rows = await eventually(async () => {
      const all = await deliveriesOf(system, bank, endpoint.id);
      return all.length === 2 && all.every((r) => r.attempts >= 1) ? all : undefined;
    });
    const customer = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("customers")
      .select("id")
      .where("wa_id", "=", waId)
      .executeTakeFirstOrThrow();
    const erased = await bank.admin.delete(`/v1/tenants/${bank.slug}/customers/${customer.id}`);
    expect(erased.status).toBe(200);
    expect(await deliveriesOf(system, bank, endpoint.id)).toHaveLength(0);
    const attempts = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("webhook_delivery_attempts")
      .select("id")
      .where(
        "delivery_id",
        "in",
        rows.map((r) => r.id),
      )
      .execute();
    expect(attempts).toHaveLength(0);
  });

  it("endpoints: bank admins only, HTTPS (or loopback http outside production), known events; the secret is shown once", async () => {
    const { bank, agent } = await inHouseBank(system);
    const base = `/v1/tenants/${bank.slug}/webhook-endpoints`;
    const http = await bank.admin.post<{ error: { code: string; fields: { path: string }[] } }>(base, {
      url: "http://core.sparkasse.example/hook",
      events: ["message.received"],
    });
    expect(http.status).toBe(400);
    expect(http.body.error.fields.map((f) => f.path)).toContain("url");
    const unknown = await bank.admin.post(base, {
      url: "https://core.sparkasse.example/hook",
      events: ["chat.opened"],
    });
    expect(unknown.status).toBe(400);
    const withCredentials = await bank.admin.post(base, {
      url: "https://user:pw@core.sparkasse.example/hook",
      events: ["message.received"],
    });
    expect(withCredentials.status).toBe(400);
    expect((await agent.client.get(base)).status).toBe(403);
    // The role is checked before the body: an agent's invalid body is 403, not 400.
    expect((await agent.client.post(base, { nonsense: true })).status).toBe(403);
    const created = await createEndpoint(bank, "https://core.sparkasse.example/hook", [
      "conversation.closed",
    ]);
    const listed = await bank.admin.get<{ endpoints: Record<string, unknown>[] }>(base);
    expect(listed.body.endpoints).toHaveLength(1);
    expect(listed.body.endpoints[0]).not.toHaveProperty("secret");
    expect(JSON.stringify(listed.body)).not.toContain(created.secret);
    // The secret is stored encrypted, never in clear.
    const stored = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("webhook_endpoints")
      .select("secret")
      .executeTakeFirstOrThrow();
    expect(stored.secret).not.toContain(created.secret.slice(6));
    const patched = await bank.admin.patch<EndpointAnswer>(`${base}/${created.id}`, {
      events: ["conversation.closed", "message.received"],
    });
    expect(patched.body.endpoint.events).toEqual(["conversation.closed", "message.received"]);
    // Another bank's admin does not see it.
    const other = await inHouseBank(system);
    expect(
      (await other.bank.admin.get(`/v1/tenants/${other.bank.slug}/webhook-endpoints/${created.id}`)).status,
    ).toBe(404);
    expect((await bank.admin.delete(`${base}/${created.id}`)).status).toBe(204);
    expect((await bank.admin.get(`${base}/${created.id}`)).status).toBe(404);
  });
});

describe("an endpoint that keeps failing", () => {
  let system: FullSystem;
  let receiver: TestReceiver;
  let healthy = false;

  beforeAll(async () => {
    receiver = new TestReceiver(() => ({ status: healthy ? 200 : 500 }));
    await receiver.start();
    system = await startFullSystem({
      env: { ...FAST, BANK_WEBHOOK_DISABLE_AFTER_FAILURES: "4", BANK_WEBHOOK_DISABLE_AFTER_HOURS: "0" },
    });
  });
  afterAll(async () => {
    await system?.close();
    await receiver?.close();
  });

  it("is disabled after the threshold, its admins are alerted (audit, state), and nothing pending is lost once it is enabled again", async () => {
    const { bank } = await inHouseBank(system);
    const endpoint = await createEndpoint(bank, receiver.url("/down"), ["message.received"]);
    await customerWrites(system, bank, uniqueDigits(12), "Erste Nachricht");
    const disabled = await eventually(async () => {
      const res = await bank.admin.get<EndpointAnswer>(
        `/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}`,
      );
      return res.body.endpoint.state === "disabled" ? res.body.endpoint : undefined;
    });
    expect(disabled.disabledReason).toBe("failing");
    const alert = await system.services.db
      .withSchema(bank.schema)
      .selectFrom("audit_log")
      .select(["action", "details"])
      .where("target_id", "=", endpoint.id)
      .where("action", "=", "webhook_endpoint.disabled")
      .executeTakeFirstOrThrow();
    expect(alert.details).toMatchObject({ reason: "failing", failureStreak: 4 });
    // Pending deliveries wait; events while disabled are not written for it.
    const [pending] = await deliveriesOf(system, bank, endpoint.id);
    expect(pending?.status).toBe("pending");
    await customerWrites(system, bank, uniqueDigits(12), "Während es aus ist");
    await new Promise((r) => setTimeout(r, 500));
    expect(await deliveriesOf(system, bank, endpoint.id)).toHaveLength(1);
    // The next attempt's job has run meanwhile and found the endpoint disabled: enabling must not depend on it.
    await eventually(async () => {
      const job = await system.services.queues.webhooks.getJob(
        `${pending?.id}-${(pending?.attempts ?? 0) + 1}`,
      );
      return job ? (await job.getState()) === "completed" : false;
    });
    healthy = true;
    await bank.admin.patch(`/v1/tenants/${bank.slug}/webhook-endpoints/${endpoint.id}`, { enabled: true });
    await eventually(async () => receiver.accepted.size === 1);
    const [delivered] = await deliveriesOf(system, bank, endpoint.id);
    expect(delivered?.status).toBe("delivered");
    expect(delivered?.id).toBe(pending?.id);
  });
});
