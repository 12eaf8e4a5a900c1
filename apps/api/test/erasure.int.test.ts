import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { newId } from "@kanal/core/kernel";
import { STREAM_TTL_SECONDS } from "@kanal/core/realtime";
import { sql } from "@kanal/db";
import { eventually, type FullSystem, startFullSystem } from "../../../test/support/full-system";
import { ALWAYS_OPEN, contractKsc, online, type Person, setRouting } from "../../../test/routing/helpers";
import {
  addBankUser,
  type Bank,
  onboardBank,
  providerClient,
  unique,
  uniqueDigits,
} from "../../../test/support/system";

/**
 * Issue 12, "Retention and erasure": after a bank erases a customer, neither Postgres (a `pg_dump` of
 * the whole database) nor Redis (every key of this run's prefix and every agent event stream) holds the
 * customer's phone number, name, caption or filename — wherever the system copied them on the way
 * (raw webhook events, messages, media, callbacks, the audit log, event streams, limiter keys). And the
 * retention sweep deletes old raw webhook events. See docs/DATA-INVENTORY.md.
 */

let system: FullSystem;
let bank: Bank;
let agent: Person;
let kscAgent: Person;

beforeAll(async () => {
  system = await startFullSystem();
  const provider = await providerClient(system);
  bank = await onboardBank(system, provider);
  const ksc = await contractKsc(system, provider, [bank], 1, 50);
  kscAgent = ksc.agents[0] as Person;
  agent = await addBankUser(system, bank, "bank_agent", { maxChats: 50 });
  await online(agent);
  await online(kscAgent);
  await setRouting(bank, { mode: "in_house", serviceHours: ALWAYS_OPEN });
});
afterAll(() => system?.close());

const t = () => system.services.db.withSchema(bank.schema);
const conversationPath = (id: string) => `/v1/tenants/${bank.slug}/conversations/${id}`;

/** The whole test database as `pg_dump --data-only` writes it. */
function pgDump(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("pg_dump", ["--data-only", inject("databaseUrl")]);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(Buffer.concat(out).toString("utf8"))
        : reject(new Error(`pg_dump exited ${code}: ${Buffer.concat(err).toString("utf8")}`)),
    );
  });
}

/** Every key of this run's prefix (queues, limiter, throttle, event streams): its name and its whole value. */
async function redisDump(): Promise<string> {
  const redis = system.services.redis;
  const parts: string[] = [];
  for (const match of [`${system.services.config.QUEUE_PREFIX}*`]) {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", match, "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        let value: unknown = null;
        if (type === "string") value = await redis.get(key);
        else if (type === "hash") value = await redis.hgetall(key);
        else if (type === "list") value = await redis.lrange(key, "0", "-1");
        else if (type === "set") value = await redis.smembers(key);
        else if (type === "zset") value = await redis.zrange(key, "0", "-1", "WITHSCORES");
        else if (type === "stream") value = await redis.xrange(key, "-", "+");
        parts.push(`${key} ${JSON.stringify(value)}`);
      }
    } while (cursor !== "0");
  }
  return parts.join("\n");
}

/** Which of `needles` occur in `haystack` — as text, JSON-escaped, or hex-encoded (bytea in pg_dump). */
function found(haystack: string, needles: Record<string, string>): string[] {
  const hex = haystack.toLowerCase();
  return Object.entries(needles)
    .filter(
      ([, needle]) =>
        haystack.includes(needle) ||
        haystack.includes(JSON.stringify(needle).slice(1, -1)) ||
        hex.includes(Buffer.from(needle, "utf8").toString("hex")),
    )
    .map(([what]) => what);
}

async function customerWrites(from: string, name: string, message: Record<string, unknown>) {
  const res = await system.simPost<{ wamid: string; webhookStatus: number }>("/_sim/inbound", {
    phoneNumberId: bank.phoneNumberId,
    from,
    name,
    ...message,
  });
  expect(res.webhookStatus).toBe(200);
  return res.wamid;
}

/** Every outbound message read by the customer and every webhook of the run processed. */
async function allSettled(conversationId: string) {
  await eventually(async () => {
    const outbound = await t()
      .selectFrom("messages")
      .select("status")
      .where("conversation_id", "=", conversationId)
      .where("direction", "=", "outbound")
      .execute();
    const pending = await system.services.db
      .withSchema("control")
      .selectFrom("webhook_events")
      .select("id")
      .where("status", "=", "pending")
      // Only this bank's: other test files share the database and leave events pending on purpose.
      .where("body", "like", `%${bank.phoneNumberId}%`)
      .execute();
    return outbound.every((m) => m.status === "read" || m.status === "failed") && pending.length === 0;
  }, 30_000);
}

/** A Meta webhook body for this test's bank with the given `value` fields. */
function webhookBody(value: Record<string, unknown>): string {
  return JSON.stringify({
    object: "whatsapp_business_account",
    entry: [
      {
        id: "1",
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "4989", phone_number_id: bank.phoneNumberId },
              ...value,
            },
          },
        ],
      },
    ],
  });
}

describe("erasure", () => {
  it("leaves no trace of the customer's number, name, caption or filename in Postgres or Redis", async () => {
    const tag = unique("").toUpperCase();
    const phone = `49${uniqueDigits(11)}`;
    const needles = {
      phone,
      name: `Quirina Zaunkoenig-${tag}`,
      caption: `Belegfoto Wohnzimmer ${tag}`,
      filename: `Kontoauszug-${tag}.pdf`,
    };

    await customerWrites(phone, needles.name, { text: `Guten Tag, hier schreibt ${needles.name}.` });
    const conversation = await eventually(async () =>
      t()
        .selectFrom("conversations as c")
        .innerJoin("customers as cu", "cu.id", "c.customer_id")
        .select(["c.id", "cu.id as customerId"])
        .where("cu.wa_id", "=", phone)
        .where("c.status", "=", "open")
        .where("c.assignee_user_id", "=", agent.id)
        .executeTakeFirst(),
    );
    await customerWrites(phone, needles.name, { type: "image", text: needles.caption });
    await customerWrites(phone, needles.name, {
      type: "document",
      text: needles.caption,
      filename: needles.filename,
    });
    await eventually(async () => {
      const media = await t()
        .selectFrom("media as md")
        .innerJoin("messages as m", "m.id", "md.message_id")
        .select("md.status")
        .where("m.conversation_id", "=", conversation.id)
        .execute();
      return media.length === 2 && media.every((m) => m.status === "stored");
    });

    // The agent answers by name, asks for a callback, and hands the chat to the KSC with a note.
    const reply = await agent.client.post(`${conversationPath(conversation.id)}/messages`, {
      text: `Hallo ${needles.name}, danke für die Unterlagen.`,
    });
    expect(reply.status).toBe(202);
    const callback = await agent.client.post(`${conversationPath(conversation.id)}/callback`, {
      note: `Rückruf an ${needles.name}`,
      preferredTime: `morgen ab 17 Uhr, ${needles.name} fragen`,
    });
    expect(callback.status).toBe(201);
    const handover = await agent.client.post(`${conversationPath(conversation.id)}/handover`, {
      toUserId: kscAgent.id,
      note: `Bitte übernehmen, ${needles.name}`,
    });
    expect(handover.status).toBe(200);
    const kscReply = await kscAgent.client.post(`${conversationPath(conversation.id)}/messages`, {
      text: `Guten Abend ${needles.name}, ich übernehme.`,
    });
    // Accepted, or refused by the rule book (then audited with a masked excerpt that quotes the name).
    expect([202, 422]).toContain(kscReply.status);
    await customerWrites(phone, needles.name, { text: "Danke!" });
    await eventually(async () => {
      const inbound = await t()
        .selectFrom("messages")
        .select("id")
        .where("conversation_id", "=", conversation.id)
        .where("direction", "=", "inbound")
        .execute();
      return inbound.length === 4;
    });
    await allSettled(conversation.id);

    // The copies exist before the erasure, so the scans below can see them.
    const dumpBefore = await pgDump();
    expect(found(dumpBefore, needles)).toEqual(["phone", "name", "caption", "filename"]);
    const redisBefore = await redisDump();
    expect(found(redisBefore, needles)).toContain("name");
    // Streams only serve a reconnect's replay: each publish sets them to expire a day later.
    const ttl = await system.services.redis.ttl(`${system.services.config.QUEUE_PREFIX}:events:${agent.id}`);
    expect(ttl).toBeGreaterThan(STREAM_TTL_SECONDS - 600);
    expect(ttl).toBeLessThanOrEqual(STREAM_TTL_SECONDS);
    const events = await system.services.db
      .withSchema("control")
      .selectFrom("webhook_events")
      .select(["status", "tenant_id", "wa_ids"])
      .where(sql<boolean>`body like ${`%${phone}%`}`)
      .execute();
    expect(events.length).toBeGreaterThanOrEqual(4);
    for (const event of events)
      expect(event).toMatchObject({ status: "processed", tenant_id: bank.tenantId, wa_ids: [phone] });

    const path = `/v1/tenants/${bank.slug}/customers/${conversation.customerId}`;
    expect((await bank.admin.delete(path)).status).toBe(409); // the chat is still open
    expect((await kscAgent.client.post(`${conversationPath(conversation.id)}/close`)).status).toBe(200);
    const erased = await bank.admin.delete<{ erased: { conversations: number; messages: number } }>(path);
    expect(erased.status).toBe(200);
    expect(erased.body.erased.conversations).toBe(1);

    expect(
      await system.services.db
        .withSchema("control")
        .selectFrom("webhook_events")
        .select("id")
        .where(sql<boolean>`body like ${`%${phone}%`}`)
        .execute(),
    ).toEqual([]);
    expect(found(await pgDump(), needles)).toEqual([]);
    expect(found(await redisDump(), needles)).toEqual([]);
    const audit = await t()
      .selectFrom("audit_log")
      .select("details")
      .where("action", "=", "customer.erased")
      .where("target_id", "=", conversation.customerId)
      .executeTakeFirstOrThrow();
    expect(audit.details).toMatchObject({ conversations: 1, webhookEvents: events.length });
  });

  it("is refused while a message of the customer is still being received, and waits for nothing else", async () => {
    const phone = `49${uniqueDigits(11)}`;
    await customerWrites(phone, "Kunde Eins", { text: "Guten Tag" });
    const conversation = await eventually(async () =>
      t()
        .selectFrom("conversations as c")
        .innerJoin("customers as cu", "cu.id", "c.customer_id")
        .select(["c.id", "cu.id as customerId"])
        .where("cu.wa_id", "=", phone)
        .where("c.status", "=", "open")
        .executeTakeFirst(),
    );
    expect((await agent.client.post(`${conversationPath(conversation.id)}/close`)).status).toBe(200);
    // A message of the customer that the worker has not processed yet (as while Redis is away).
    const body = webhookBody({
      contacts: [{ wa_id: phone, profile: { name: "Kunde Eins" } }],
      messages: [
        {
          from: phone,
          id: `wamid.${uniqueDigits(20)}`,
          timestamp: "1700000000",
          type: "text",
          text: { body: "Noch eine Frage" },
        },
      ],
    });
    const statusOnly = webhookBody({
      statuses: [
        { id: `wamid.${uniqueDigits(20)}`, status: "read", timestamp: "1700000000", recipient_id: phone },
      ],
    });
    const pending = await system.services.db
      .withSchema("control")
      .insertInto("webhook_events")
      .values({ body, status: "pending", error: null })
      .returning("id")
      .executeTakeFirstOrThrow();
    const path = `/v1/tenants/${bank.slug}/customers/${conversation.customerId}`;
    const refused = await bank.admin.delete<{ error: { code: string } }>(path);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("conflict");

    // Statuses alone do not hold the erasure up: they are deleted with it.
    await system.services.db
      .withSchema("control")
      .deleteFrom("webhook_events")
      .where("id", "=", String(pending.id))
      .execute();
    await system.services.db
      .withSchema("control")
      .insertInto("webhook_events")
      .values({ body: statusOnly, status: "pending", error: null })
      .execute();
    expect((await bank.admin.delete(path)).status).toBe(200);
    expect(
      await system.services.db
        .withSchema("control")
        .selectFrom("webhook_events")
        .select("id")
        .where(sql<boolean>`body like ${`%${phone}%`}`)
        .execute(),
    ).toEqual([]);
  });
});

describe("retention of raw webhook events", () => {
  it("the sweep deletes processed events older than the platform's period or the bank's, keeps recent and pending ones; quoting audit details go with their conversation", async () => {
    const other = await onboardBank(system, await providerClient(system));
    const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
    const insert = async (
      label: string,
      values: { days: number; status: "processed" | "pending" | "dead"; tenantId: string | null },
    ) => {
      const row = await system.services.db
        .withSchema("control")
        .insertInto("webhook_events")
        .values({
          body: JSON.stringify({ object: "whatsapp_business_account", entry: [], label }),
          status: values.status,
          error: null,
          tenant_id: values.tenantId,
          wa_ids: values.status === "pending" ? null : [],
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      await sql`update control.webhook_events set received_at = ${daysAgo(values.days)},
        processed_at = ${values.status === "pending" ? null : daysAgo(values.days)}
        where id = ${row.id}`.execute(system.services.db);
      return String(row.id);
    };
    // The platform's period is 7 days (WEBHOOK_EVENT_RETENTION_DAYS); this bank keeps chats 2 days.
    expect((await bank.admin.put(`/v1/tenants/${bank.slug}/settings/retention`, { days: 2 })).status).toBe(
      200,
    );
    const ids = {
      oldProcessed: await insert("old", { days: 10, status: "processed", tenantId: other.tenantId }),
      oldDead: await insert("old dead", { days: 10, status: "dead", tenantId: null }),
      oldPending: await insert("old pending", { days: 10, status: "pending", tenantId: null }),
      recent: await insert("recent", { days: 1, status: "processed", tenantId: other.tenantId }),
      otherBank3Days: await insert("other bank", { days: 3, status: "processed", tenantId: other.tenantId }),
      bank3Days: await insert("short retention", { days: 3, status: "processed", tenantId: bank.tenantId }),
      bank1Day: await insert("inside retention", { days: 1, status: "processed", tenantId: bank.tenantId }),
    };
    // A conversation past the bank's retention goes, and its audit rows lose what quoted it.
    const customerId = newId("cus");
    await t()
      .insertInto("customers")
      .values({
        id: customerId,
        wa_id: `49${uniqueDigits(11)}`,
        created_at: daysAgo(4),
        updated_at: new Date(),
      })
      .execute();
    const conversationId = newId("conv");
    await t()
      .insertInto("conversations")
      .values({
        id: conversationId,
        customer_id: customerId,
        status: "closed",
        opened_at: daysAgo(4),
        closed_at: daysAgo(3),
      })
      .execute();
    await t()
      .insertInto("audit_log")
      .values({
        at: daysAgo(3.5),
        actor_kind: "system",
        action: "callback.requested",
        target_type: "conversation",
        target_id: conversationId,
        details: JSON.stringify({ callbackId: "cb_1", preferredTime: "abends, Frau Alt fragen" }),
      })
      .execute();
    // A bare WhatsApp contact with nothing left goes too; a core-banking customer and an opted-in contact stay.
    const contact = async (values: { external_ref?: string; opted_in_at?: Date }) => {
      const id = newId("cus");
      await t()
        .insertInto("customers")
        .values({
          id,
          wa_id: `49${uniqueDigits(11)}`,
          created_at: daysAgo(30),
          last_inbound_at: daysAgo(20),
          updated_at: daysAgo(20),
          ...values,
        })
        .execute();
      return id;
    };
    const bare = await contact({});
    const known = await contact({ external_ref: unique("ref-") });
    const optedIn = await contact({ opted_in_at: daysAgo(25) });
    // A stream written before streams expired by themselves gets an expiry from the sweep.
    const legacyStream = `${system.services.config.QUEUE_PREFIX}:events:${unique("usr_legacy")}`;
    await system.services.redis.xadd(legacyStream, "*", "e", "{}");
    expect(await system.services.redis.ttl(legacyStream)).toBe(-1);
    const job = await system.services.queues.maintenance.add(
      "retention-sweep",
      {},
      { jobId: `retention-${unique()}` },
    );
    await eventually(async () => (await job.isCompleted()) || undefined);
    const left = await system.services.db
      .withSchema("control")
      .selectFrom("webhook_events")
      .select("id")
      .where("id", "in", Object.values(ids))
      .execute();
    expect(left.map((r) => String(r.id)).sort()).toEqual(
      [ids.oldPending, ids.recent, ids.otherBank3Days, ids.bank1Day].sort(),
    );
    expect((await system.services.queues.maintenance.getJob(String(job.id)))?.returnvalue).toMatchObject({
      webhookEvents: 3,
    });
    expect(
      await t().selectFrom("conversations").select("id").where("id", "=", conversationId).execute(),
    ).toEqual([]);
    const customersLeft = await t()
      .selectFrom("customers")
      .select("id")
      .where("id", "in", [customerId, bare, known, optedIn])
      .execute();
    expect(customersLeft.map((c) => c.id).sort()).toEqual([known, optedIn].sort());
    const audit = await t()
      .selectFrom("audit_log")
      .select("details")
      .where("target_id", "=", conversationId)
      .executeTakeFirstOrThrow();
    expect(audit.details).toEqual({ callbackId: "cb_1" });
    expect(await system.services.redis.ttl(legacyStream)).toBeGreaterThan(STREAM_TTL_SECONDS - 600);
    await system.services.redis.del(legacyStream);
  });
});
