import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { purgeExpiredConversations } from "@kanal/core/data-protection";
import { newId } from "@kanal/core/kernel";
import { sql } from "@kanal/db";
import { eventually, type FullSystem, startFullSystem } from "../../../test/support/full-system";
import {
  addBankUser,
  type Bank,
  onboardBank,
  PASSWORD,
  providerClient,
  TestClient,
  unique,
  uniqueDigits,
} from "../../../test/support/system";

let system: FullSystem;
let bank: Bank;
let other: Bank;
let ksc: TestClient;
let kscUserId: string;
let agent: TestClient;

// Luhn-valid Visa test number, written the way customers type it.
const CARD = "4111 1111 1111 1111";
const CARD_DIGITS = "4111111111111111";

beforeAll(async () => {
  system = await startFullSystem();
  const provider = await providerClient(system);
  bank = await onboardBank(system, provider);
  other = await onboardBank(system, provider);
  agent = (await addBankUser(system, bank, "bank_agent")).client;
  const org = unique("ksc-");
  await provider.post("/v1/ksc-orgs", { slug: org, name: "KSC" });
  const email = `${unique("ksc")}@ksc.test`;
  const created = await provider.post<{ agent?: { id: string }; user?: { id: string } }>(
    `/v1/ksc-orgs/${org}/agents`,
    { email, name: "Karl KSC", password: PASSWORD },
  );
  await provider.put(`/v1/tenants/${bank.slug}/ksc`, { kscOrg: org });
  ksc = new TestClient(system.app);
  await ksc.login(email, PASSWORD);
  const me = await ksc.get<{ user: { id: string } }>("/v1/me");
  kscUserId = me.body.user?.id ?? created.body.agent?.id ?? created.body.user?.id ?? "";
});
afterAll(() => system.close());

const t = () => system.services.db.withSchema(bank.schema);

async function customerSays(waId: string, text: string) {
  await system.simPost("/_sim/inbound", {
    phoneNumberId: bank.phoneNumberId,
    from: waId,
    name: "Erika Muster",
    text,
  });
}

async function conversationOf(waId: string) {
  return eventually(async () =>
    t()
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select(["c.id", "c.flags", "cu.id as customerId", "cu.sensitive_hint_sent_at"])
      .where("cu.wa_id", "=", waId)
      .where("c.status", "<>", "closed")
      .executeTakeFirst(),
  );
}

/** The rules' follow-ups run inside the ingest job: done when every event carrying the messages is processed. */
async function afterInboundDone(conversationId: string) {
  const inbound = (await messagesOf(conversationId)).filter((m) => m.direction === "inbound");
  for (const message of inbound) {
    await eventually(async () => {
      const events = await sql<{ status: string }>`
        select status from control.webhook_events where body like ${`%${message.wamid}%`}`.execute(
        system.services.db,
      );
      return events.rows.length > 0 && events.rows.every((e) => e.status === "processed");
    });
  }
}

async function messagesOf(conversationId: string) {
  return t()
    .selectFrom("messages")
    .selectAll()
    .where("conversation_id", "=", conversationId)
    .orderBy("created_at")
    .execute();
}

/** Every text-like column of every table in the bank's schema, and the control tables the webhook touches. */
async function textColumnsContaining(needle: RegExp) {
  const columns = await sql<{ table_schema: string; table_name: string; column_name: string }>`
    select table_schema, table_name, column_name from information_schema.columns
    where table_schema in (${bank.schema}, 'control')
      and data_type in ('text', 'character varying', 'jsonb', 'json', 'ARRAY')`.execute(system.services.db);
  const hits: string[] = [];
  for (const c of columns.rows) {
    const rows = await sql<{
      v: string;
    }>`select ${sql.ref(`${c.table_schema}.${c.table_name}.${c.column_name}`)}::text as v from ${sql.table(`${c.table_schema}.${c.table_name}`)}`.execute(
      system.services.db,
    );
    for (const row of rows.rows)
      if (row.v && needle.test(row.v.replace(/[\s-]/g, "")))
        hits.push(`${c.table_schema}.${c.table_name}.${c.column_name}`);
  }
  return hits;
}

/** Every key this deployment writes lives under its QUEUE_PREFIX (queues, limiter, throttle, event streams). */
async function redisContaining(needle: string) {
  const redis = system.services.redis;
  const hits: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(
      cursor,
      "MATCH",
      `${system.services.config.QUEUE_PREFIX}*`,
      "COUNT",
      500,
    );
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let dump = "";
      if (type === "string") dump = (await redis.get(key)) ?? "";
      else if (type === "hash") dump = JSON.stringify(await redis.hgetall(key));
      else if (type === "list") dump = JSON.stringify(await redis.lrange(key, "0", "-1"));
      else if (type === "zset") dump = JSON.stringify(await redis.zrange(key, "0", "-1"));
      else if (type === "set") dump = JSON.stringify(await redis.smembers(key));
      else if (type === "stream") dump = JSON.stringify(await redis.xrange(key, "-", "+"));
      if (dump.replace(/[\s-]|\\n/g, "").includes(needle)) hits.push(key);
    }
  } while (cursor !== "0");
  return hits;
}

describe("the data-protection guard", () => {
  it("a card number never reaches Postgres or Redis in clear; the customer gets the hint once", async () => {
    const waId = uniqueDigits(12);
    await customerSays(waId, `Hallo, meine Karte ${CARD} geht nicht mehr, PIN ist 4711`);
    const conversation = await conversationOf(waId);
    const stored = await eventually(async () => {
      const all = await messagesOf(conversation.id);
      return all.some((m) => m.kind === "hint") ? all : undefined;
    });
    const inbound = stored.find((m) => m.direction === "inbound");
    expect(inbound?.text).toContain("**** **** **** 1111");
    expect(inbound?.text).not.toContain("4711");
    await customerSays(waId, `Nochmal: ${CARD}`);
    await eventually(
      async () => (await messagesOf(conversation.id)).filter((m) => m.direction === "inbound").length === 2,
    );
    // Let the second after-inbound job finish; it must not send a second hint.
    await afterInboundDone(conversation.id);
    const after = await messagesOf(conversation.id);
    expect(after.filter((m) => m.kind === "hint")).toHaveLength(1);
    const customer = await t()
      .selectFrom("customers")
      .select("sensitive_hint_sent_at")
      .where("wa_id", "=", waId)
      .executeTakeFirstOrThrow();
    expect(customer.sensitive_hint_sent_at).not.toBeNull();

    expect(await textColumnsContaining(new RegExp(CARD_DIGITS))).toEqual([]);
    expect(await redisContaining(CARD_DIGITS)).toEqual([]);
    const audit = await t()
      .selectFrom("audit_log")
      .select("details")
      .where("action", "=", "data_protection.sensitive_data_received")
      .execute();
    expect(audit.length).toBeGreaterThanOrEqual(2);
  });

  it("card blocking gets one polite automatic reply per conversation and topic, and the chat is flagged", async () => {
    const waId = uniqueDigits(12);
    await customerSays(waId, "Meine Kreditkarte wurde gestohlen!");
    const conversation = await conversationOf(waId);
    await eventually(async () => (await messagesOf(conversation.id)).some((m) => m.kind === "auto_reply"));
    await customerSays(waId, "Bitte Karte sperren, sie ist gestohlen");
    await eventually(
      async () => (await messagesOf(conversation.id)).filter((m) => m.direction === "inbound").length === 2,
    );
    await afterInboundDone(conversation.id);
    const replies = (await messagesOf(conversation.id)).filter((m) => m.kind === "auto_reply");
    expect(replies).toHaveLength(1);
    expect(replies[0]?.text).toMatch(/116 116/);
    const flagged = await t()
      .selectFrom("conversations")
      .select("flags")
      .where("id", "=", conversation.id)
      .executeTakeFirstOrThrow();
    expect(flagged.flags).toEqual(expect.arrayContaining(["redirected", "auto_reply:kartensperre"]));
  });

  it("messages classified before a rule change keep the old version", async () => {
    const waId = uniqueDigits(12);
    await customerSays(waId, "Frage zu meinem Bausparvertrag");
    const conversation = await conversationOf(waId);
    const before = (await agent.get<{ version: number }>(`/v1/tenants/${bank.slug}/rules`)).body.version;
    const first = await eventually(async () =>
      (await messagesOf(conversation.id)).find((m) => m.direction === "inbound"),
    );
    expect(first.rule_version).toBe(before);
    const changed = await bank.admin.post<{ version: number }>(`/v1/tenants/${bank.slug}/rules`, {
      id: "bausparen",
      topic: "Bausparen",
      keywords: ["Bauspar"],
      priority: 45,
      handling: "ksc_allowed",
      freeTextAllowed: true,
      action: { type: "answer" },
    });
    expect(changed.status).toBe(201);
    await customerSays(waId, "Noch eine Frage zum Bausparvertrag");
    const second = await eventually(async () => {
      const inbound = (await messagesOf(conversation.id)).filter((m) => m.direction === "inbound");
      return inbound.length === 2 ? inbound[1] : undefined;
    });
    expect(second).toMatchObject({
      rule_version: changed.body.version,
      rule_id: "bausparen",
      topic: "Bausparen",
    });
    const firstAgain = await t()
      .selectFrom("messages")
      .selectAll()
      .where("id", "=", first.id)
      .executeTakeFirstOrThrow();
    expect(firstAgain.rule_version).toBe(before);
    expect(firstAgain.rule_id).not.toBe("bausparen");
  });

  it("a KSC agent is refused a forbidden request and the audit shows it; bank staff get a warning", async () => {
    const waId = uniqueDigits(12);
    await customerSays(waId, "Ich möchte mein Tageslimit erhöhen");
    const conversation = await conversationOf(waId);
    await t()
      .updateTable("conversations")
      // as the KSC's assignment records it: the agent, the KSC side and their organisation
      .set({
        status: "open",
        assignee_user_id: kscUserId,
        handled_by: "ksc",
        queue: null,
        ksc_org_id: sql<string>`(select ksc_org_id from control.memberships where user_id = ${kscUserId})`,
      })
      .where("id", "=", conversation.id)
      .execute();
    const path = `/v1/tenants/${bank.slug}/conversations/${conversation.id}/messages`;
    const refused = await ksc.post<{ error: { code: string; message: string } }>(path, {
      text: "Nennen Sie mir bitte Ihre PIN.",
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe("rule_violation");
    expect(refused.body.error.message).toMatch(/PIN/);
    const audit = await t()
      .selectFrom("audit_log")
      .selectAll()
      .where("action", "=", "message.refused")
      .where("target_id", "=", conversation.id)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]?.actor_user_id).toBe(kscUserId);
    expect(JSON.stringify(audit[0]?.details)).toMatch(/forbidden_data_request/);
    expect(
      (await messagesOf(conversation.id)).filter((m) => m.direction === "outbound" && m.kind === "reply"),
    ).toHaveLength(0);

    const allowed = await ksc.post(path, { text: "Ihre Postleitzahl bitte, dann helfe ich gern weiter." });
    expect([202, 422]).toContain(allowed.status);
    const warned = await bank.admin.post<{ message: { warnings: Array<{ code: string }> } }>(path, {
      text: "Nennen Sie mir bitte Ihre PIN.",
    });
    expect(warned.status).toBe(202);
    expect(warned.body.message.warnings.map((w) => w.code)).toContain("forbidden_data_request");

    const guidance = await ksc.get<{
      guidance: { ruleId: string; allowedDataClasses: Array<{ label: string }> };
    }>(`/v1/tenants/${bank.slug}/conversations/${conversation.id}/guidance`);
    expect(guidance.status).toBe(200);
    expect(guidance.body.guidance.ruleId).toBe("tageslimit-erhoehen");
    expect(
      (await other.admin.get(`/v1/tenants/${bank.slug}/conversations/${conversation.id}/guidance`)).status,
    ).toBe(404);
  });

  it("counts topics per period", async () => {
    const res = await agent.get<{ topics: Array<{ ruleId: string; conversations: number }> }>(
      `/v1/tenants/${bank.slug}/stats/topics`,
    );
    expect(res.status).toBe(200);
    expect(res.body.topics.find((x) => x.ruleId === "kartensperre")?.conversations).toBe(1);
    const empty = await agent.get<{ topics: unknown[] }>(
      `/v1/tenants/${bank.slug}/stats/topics?from=2020-01-01&to=2020-02-01`,
    );
    expect(empty.body.topics).toEqual([]);
    expect(
      (await agent.get(`/v1/tenants/${bank.slug}/stats/topics?from=2020-02-01&to=2020-01-01`)).status,
    ).toBe(400);
    expect((await ksc.get(`/v1/tenants/${bank.slug}/stats/topics`)).status).toBe(403);
  });
});

async function seedConversation(status: "open" | "closed" | "queued", closedDaysAgo: number | null) {
  const customerId = newId("cus");
  await t()
    .insertInto("customers")
    .values({ id: customerId, name: "Alt", wa_id: uniqueDigits(12), updated_at: new Date() })
    .execute();
  const id = newId("cnv");
  const closedAt = closedDaysAgo === null ? null : new Date(Date.now() - closedDaysAgo * 86_400_000);
  await t()
    .insertInto("conversations")
    .values({
      id,
      customer_id: customerId,
      status,
      closed_at: closedAt,
      opened_at: new Date(Date.now() - 400 * 86_400_000),
    })
    .execute();
  for (let i = 0; i < 2; i++) {
    await t()
      .insertInto("messages")
      .values({
        id: newId("msg"),
        conversation_id: id,
        direction: "inbound",
        type: "text",
        text: "alt",
        status: "received",
        created_at: new Date(Date.now() - 400 * 86_400_000),
      })
      .execute();
  }
  return { id, customerId };
}

describe("retention", () => {
  it("deletes closed conversations older than the period (by the scheduled job), nothing else, and audits the count", async () => {
    expect((await agent.put(`/v1/tenants/${bank.slug}/settings/retention`, { days: 90 })).status).toBe(403);
    expect((await bank.admin.put(`/v1/tenants/${bank.slug}/settings/retention`, { days: 0 })).status).toBe(
      400,
    );
    const set = await bank.admin.put<{ retention: { days: number } }>(
      `/v1/tenants/${bank.slug}/settings/retention`,
      { days: 90 },
    );
    expect(set.body.retention.days).toBe(90);

    const old = await seedConversation("closed", 120);
    const recent = await seedConversation("closed", 30);
    const openOld = await seedConversation("open", null);
    const queuedOld = await seedConversation("queued", null);
    // The other bank keeps everything: it has no retention set.
    const otherCustomer = newId("cus");
    await system.services.db
      .withSchema(other.schema)
      .insertInto("customers")
      .values({ id: otherCustomer, wa_id: uniqueDigits(12), updated_at: new Date() })
      .execute();
    const otherOld = newId("cnv");
    await system.services.db
      .withSchema(other.schema)
      .insertInto("conversations")
      .values({
        id: otherOld,
        customer_id: otherCustomer,
        status: "closed",
        closed_at: new Date(Date.now() - 900 * 86_400_000),
      })
      .execute();

    await system.services.queues.maintenance.add("retention-sweep", {}, { jobId: `retention-${unique()}` });
    await eventually(
      async () =>
        !(await t().selectFrom("conversations").select("id").where("id", "=", old.id).executeTakeFirst()),
    );
    const left = await t()
      .selectFrom("conversations")
      .select("id")
      .where("id", "in", [old.id, recent.id, openOld.id, queuedOld.id])
      .execute();
    expect(left.map((r) => r.id).sort()).toEqual([recent.id, openOld.id, queuedOld.id].sort());
    expect(
      await t().selectFrom("messages").select("id").where("conversation_id", "=", old.id).execute(),
    ).toEqual([]);
    expect(
      await t().selectFrom("messages").select("id").where("conversation_id", "=", recent.id).execute(),
    ).toHaveLength(2);
    expect(
      await system.services.db
        .withSchema(other.schema)
        .selectFrom("conversations")
        .select("id")
        .where("id", "=", otherOld)
        .executeTakeFirst(),
    ).toBeDefined();
    const audit = await t()
      .selectFrom("audit_log")
      .selectAll()
      .where("action", "=", "retention.purged")
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]?.details).toMatchObject({ conversations: 1, messages: 2, days: 90 });

    // Running again finds nothing more and writes no empty audit rows.
    const again = await purgeExpiredConversations(system.services.db, bank.schema);
    expect(again.conversations).toBe(0);
    expect(
      await t().selectFrom("audit_log").select("id").where("action", "=", "retention.purged").execute(),
    ).toHaveLength(1);
  });
});

describe("customer export and erasure", () => {
  it("exports everything as JSON and erases on request, audited; open chats block erasure", async () => {
    const waId = uniqueDigits(12);
    await customerSays(waId, "Wie sind Ihre Öffnungszeiten?");
    const conversation = await conversationOf(waId);
    const path = `/v1/tenants/${bank.slug}/customers/${conversation.customerId}`;

    expect((await agent.get(`${path}/export`)).status).toBe(403);
    expect(
      (await other.admin.get(`/v1/tenants/${bank.slug}/customers/${conversation.customerId}/export`)).status,
    ).toBe(404);
    const exported = await bank.admin.get<{
      customer: { waId: string };
      conversations: Array<{ messages: Array<{ text: string }> }>;
    }>(`${path}/export`);
    expect(exported.status).toBe(200);
    expect(exported.body.customer.waId).toBe(waId);
    expect(exported.body.conversations[0]?.messages.some((m) => m.text.includes("Öffnungszeiten"))).toBe(
      true,
    );

    expect((await bank.admin.delete(path)).status).toBe(409);
    await t()
      .updateTable("conversations")
      .set({ status: "closed", closed_at: new Date(), assignee_user_id: null })
      .where("customer_id", "=", conversation.customerId)
      .execute();
    const erased = await bank.admin.delete<{ erased: { conversations: number; messages: number } }>(path);
    expect(erased.status).toBe(200);
    expect(erased.body.erased.conversations).toBe(1);
    expect(
      await t()
        .selectFrom("customers")
        .select("id")
        .where("id", "=", conversation.customerId)
        .executeTakeFirst(),
    ).toBeUndefined();
    expect(
      await t().selectFrom("messages").select("id").where("conversation_id", "=", conversation.id).execute(),
    ).toEqual([]);
    const actions = await t()
      .selectFrom("audit_log")
      .select("action")
      .where("target_id", "=", conversation.customerId)
      .execute();
    expect(actions.map((a) => a.action)).toEqual(
      expect.arrayContaining(["customer.exported", "customer.erased"]),
    );
    expect((await bank.admin.delete(path)).status).toBe(404);
  });
});
