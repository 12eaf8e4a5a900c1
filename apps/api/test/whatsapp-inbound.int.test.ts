import { readFileSync } from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventBatchJobs,
  signWebhookBody,
  type StoredWebhook,
  sweepPendingWebhooks,
  WebhookRelay,
  WebhookStore,
} from "@kanal/core/channel";
import { sql } from "@kanal/db";
import { eventually, startFullSystem, type FullSystem } from "../../../test/support/full-system";
import {
  onboardBank,
  providerClient,
  startTestSystem,
  uniqueDigits,
  type Bank,
} from "../../../test/support/system";

const fixture = (name: string) =>
  readFileSync(new URL(`../../../../shared/whatsapp/fixtures/${name}.json`, import.meta.url), "utf8");
const FIXTURE_NUMBER = "106540352242922";

let system: FullSystem;
let bank: Bank;

beforeAll(async () => {
  system = await startFullSystem();
  bank = await onboardBank(system, await providerClient(system));
});
afterAll(() => system.close());

async function postWebhook(
  body: string,
  signature = signWebhookBody(body, system.env.WHATSAPP_APP_SECRET as string),
) {
  return fetch(`${system.apiUrl}/webhooks/whatsapp`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
    body,
  });
}

/** Meta's fixture, addressed to this test's bank and a fresh customer and message id. */
function forBank(name: string, waId = uniqueDigits(12), wamidSuffix = uniqueDigits(8)) {
  return fixture(name)
    .replaceAll(FIXTURE_NUMBER, bank.phoneNumberId)
    .replaceAll("16505551234", waId)
    .replace(/"id":"(wamid\.[^"]+)"/, `"id":"$1${wamidSuffix}"`);
}

const t = () => system.services.db.withSchema(bank.schema);
const countEvents = async () =>
  Number(
    (
      await sql<{ n: string }>`select count(*)::text as n from control.webhook_events`.execute(
        system.services.db,
      )
    ).rows[0]?.n,
  );

describe("GET /webhooks/whatsapp", () => {
  it("answers the challenge for the right token and 403 otherwise", async () => {
    const ok = await fetch(
      `${system.apiUrl}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=dev-verify-token&hub.challenge=12345`,
    );
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("12345");
    const wrong = await fetch(
      `${system.apiUrl}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=12345`,
    );
    expect(wrong.status).toBe(403);
  });
});

describe("POST /webhooks/whatsapp", () => {
  it("stores every fixture type usefully", async () => {
    const waId = uniqueDigits(12);
    for (const name of ["inbound-text", "inbound-button-reply", "inbound-document"]) {
      const res = await postWebhook(forBank(name, waId));
      expect(res.status).toBe(200);
    }
    const messages = await eventually(async () => {
      const all = await t()
        .selectFrom("messages as m")
        .innerJoin("conversations as cv", "cv.id", "m.conversation_id")
        .innerJoin("customers as cu", "cu.id", "cv.customer_id")
        .select(["m.type", "m.text", "m.context_wamid", "m.media", "m.payload", "cu.profile_name"])
        .where("cu.wa_id", "=", waId)
        .execute();
      return all.length === 3 ? all : undefined;
    });
    const byType = Object.fromEntries(messages.map((m) => [m.type, m]));
    expect(byType.text?.text).toBe("Does it come in another color?");
    expect(byType.text?.profile_name).toBe("Sheena Nelson");
    expect(byType.interactive?.text).toBe("Cancel");
    expect(byType.interactive?.context_wamid).toMatch(/^wamid\./);
    expect(byType.interactive?.payload).toMatchObject({ replyId: "cancel-button" });
    expect(byType.document?.text).toBe("my receipt");
    expect(byType.document?.media).toMatchObject({
      mediaId: "622684793477189",
      mimeType: "application/pdf",
      filename: "receipt.pdf",
    });
    const conversations = await t()
      .selectFrom("conversations as c")
      .innerJoin("customers as cu", "cu.id", "c.customer_id")
      .select("c.id")
      .where("cu.wa_id", "=", waId)
      .execute();
    expect(conversations).toHaveLength(1);
  });

  it("stores a replayed webhook only once", async () => {
    const body = forBank("inbound-text");
    for (let i = 0; i < 3; i++) expect((await postWebhook(body)).status).toBe(200);
    const wamid =
      (JSON.parse(body) as { entry: { changes: { value: { messages: { id: string }[] } }[] }[] }).entry[0]
        ?.changes[0]?.value.messages[0]?.id ?? "";
    // All three deliveries of this webhook processed (other test files share the event table).
    await eventually(async () => {
      const mine = await sql<{
        status: string;
      }>`select status from control.webhook_events where body like ${`%${wamid}%`}`.execute(
        system.services.db,
      );
      return mine.rows.length === 3 && mine.rows.every((r) => r.status === "processed");
    }, 30_000);
    const rows = await t().selectFrom("messages").select("id").where("wamid", "=", wamid).execute();
    expect(rows).toHaveLength(1);
  });

  it("refuses a missing or wrong signature with 401 and stores nothing", async () => {
    const before = await countEvents();
    const body = forBank("inbound-text");
    expect((await postWebhook(body, "sha256=deadbeef")).status).toBe(401);
    expect((await postWebhook(body, signWebhookBody(body, "another-secret"))).status).toBe(401);
    const unsigned = await fetch(`${system.apiUrl}/webhooks/whatsapp`, { method: "POST", body });
    expect(unsigned.status).toBe(401);
    // A valid signature over different bytes: re-serialised JSON is not the raw body.
    const reformatted = JSON.stringify(JSON.parse(body), null, 2);
    expect(
      (await postWebhook(reformatted, signWebhookBody(body, system.env.WHATSAPP_APP_SECRET as string)))
        .status,
    ).toBe(401);
    expect(await countEvents()).toBe(before);
  });

  it("keeps malformed JSON with a valid signature as a dead letter and answers 200", async () => {
    const body = '{"object":"whatsapp_business_account","entry":[{';
    const res = await postWebhook(body);
    expect(res.status).toBe(200);
    const dead = await system.services.db
      .withSchema("control")
      .selectFrom("webhook_events")
      .selectAll()
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirstOrThrow();
    expect(dead.status).toBe("dead");
    expect(dead.error).toMatch(/malformed/);
  });

  it("keeps and reports events for an unknown phone_number_id", async () => {
    const body = fixture("inbound-text").replaceAll(FIXTURE_NUMBER, uniqueDigits(15));
    expect((await postWebhook(body)).status).toBe(200);
    const row = await eventually(async () => {
      const r = await system.services.db
        .withSchema("control")
        .selectFrom("webhook_events")
        .selectAll()
        .where("status", "=", "unknown_number")
        .orderBy("id", "desc")
        .executeTakeFirst();
      return r;
    });
    expect(row.error).toMatch(/unknown phone_number_id/);
    // Reported to the provider's operations team (without the body) and on /metrics.
    const provider = await providerClient(system);
    const ops = await provider.get<{
      events: { id: string; status: string }[];
      counts: Record<string, number>;
    }>("/v1/ops/webhook-events");
    expect(ops.body.events.map((e) => e.id)).toContain(String(row.id));
    expect(JSON.stringify(ops.body)).not.toContain("another color");
    expect(ops.body.counts.unknown_number).toBeGreaterThan(0);
    expect((await bank.admin.get("/v1/ops/webhook-events")).status).toBe(403);
    expect(await (await system.app.request("/metrics")).text()).toMatch(
      /kanal_webhook_events\{status="unknown_number"\} [1-9]/,
    );
  });

  it("opens exactly one conversation for 20 concurrent webhooks from one new customer", async () => {
    const waId = uniqueDigits(12);
    const bodies = Array.from({ length: 20 }, (_, i) =>
      forBank("inbound-text", waId, `c${i}${uniqueDigits(6)}`),
    );
    const statuses = await Promise.all(bodies.map((b) => postWebhook(b).then((r) => r.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    const messages = await eventually(async () => {
      const rows = await t()
        .selectFrom("messages as m")
        .innerJoin("conversations as c", "c.id", "m.conversation_id")
        .innerJoin("customers as cu", "cu.id", "c.customer_id")
        .select(["m.id", "c.id as conversation_id"])
        .where("cu.wa_id", "=", waId)
        .execute();
      return rows.length === 20 ? rows : undefined;
    }, 20_000);
    expect(new Set(messages.map((m) => m.conversation_id)).size).toBe(1);
    const customers = await t().selectFrom("customers").select("id").where("wa_id", "=", waId).execute();
    expect(customers).toHaveLength(1);
  });

  it("stores 60 concurrent webhooks (written in batches) each exactly once, byte for byte, and processes all", async () => {
    const bodies = Array.from({ length: 60 }, () => forBank("inbound-text"));
    const answers = await Promise.all(bodies.map((b) => postWebhook(b)));
    expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));
    const wamids = bodies.map((b) => /"id":"(wamid\.[^"]+)"/.exec(b)?.[1] ?? "");
    const stored = await sql<{ body: string; status: string }>`
      select body, status from control.webhook_events
      where body like any (${wamids.map((w) => `%${w}%`)}::text[])`.execute(system.services.db);
    // Nothing to mask: the raw bytes Meta signed are what is kept, one row per POST.
    expect(stored.rows.map((r) => r.body).sort()).toEqual([...bodies].sort());
    await eventually(async () => {
      const messages = await t()
        .selectFrom("messages")
        .select("wamid")
        .where("wamid", "in", wamids)
        .execute();
      return messages.length === 60;
    }, 30_000);
  });

  it("refuses a body above 4 MB by its Content-Length with 413 and stores nothing", async () => {
    const before = await countEvents();
    const body = `{"object":"whatsapp_business_account","entry":[],"pad":"${"x".repeat(4 * 1024 * 1024)}"}`;
    const res = await postWebhook(body);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
    expect(await countEvents()).toBe(before);
  });

  it("answers 401 and 413 in the error shape, with the request id of its X-Request-Id header", async () => {
    const body = forBank("inbound-text");
    for (const res of [
      await postWebhook(body, "sha256=deadbeef"),
      await postWebhook(`{"entry":[],"pad":"${"x".repeat(4 * 1024 * 1024)}"}`),
    ]) {
      const requestId = res.headers.get("x-request-id");
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get("content-type")).toContain("application/json");
      const code = res.status === 401 ? "unauthenticated" : "payload_too_large";
      expect(await res.json()).toEqual({ error: { code, message: expect.any(String), requestId } });
    }
  });

  it("stores a body sent without Content-Length (chunked) and refuses one growing past 4 MB with 413", async () => {
    const secret = system.env.WHATSAPP_APP_SECRET as string;
    const postChunked = (chunks: string[], signature: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          `${system.apiUrl}/webhooks/whatsapp`,
          {
            method: "POST",
            headers: { "content-type": "application/json", "x-hub-signature-256": signature },
          },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => {
              text += c;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on("error", reject);
        // Several writes and no length: Node sends the body with Transfer-Encoding: chunked.
        for (const chunk of chunks) req.write(chunk);
        req.end();
      });
    const body = forBank("inbound-text");
    const wamid = /"id":"(wamid\.[^"]+)"/.exec(body)?.[1] ?? "";
    const half = Math.floor(body.length / 2);
    const ok = await postChunked([body.slice(0, half), body.slice(half)], signWebhookBody(body, secret));
    expect(ok).toEqual({ status: 200, body: '{"received":true}' });
    const stored = await sql<{ body: string }>`
      select body from control.webhook_events where body like ${`%${wamid}%`}`.execute(system.services.db);
    expect(stored.rows.map((r) => r.body)).toEqual([body]);

    const before = await countEvents();
    const piece = "x".repeat(64 * 1024);
    const big = [`{"entry":[],"pad":"`, ...Array.from({ length: 70 }, () => piece), `"}`];
    const refused = await postChunked(big, signWebhookBody(big.join(""), secret));
    expect(refused.status).toBe(413);
    expect((JSON.parse(refused.body) as { error: { code: string } }).error.code).toBe("payload_too_large");
    expect(await countEvents()).toBe(before);
  });

  it("masks a card number before it is stored anywhere in Postgres", async () => {
    const card = "4111 1111 1111 1111";
    const body = forBank("inbound-text").replace(
      "Does it come in another color?",
      `Meine Karte ${card} ist weg`,
    );
    expect((await postWebhook(body)).status).toBe(200);
    const stored = await eventually(async () =>
      t().selectFrom("messages").select("text").where("text", "like", "Meine Karte%").executeTakeFirst(),
    );
    expect(stored.text).not.toContain("4111 1111 1111 1111");
    expect(stored.text).toContain("1111");
    const raw = await sql<{
      n: string;
    }>`select count(*)::text as n from control.webhook_events where body like '%4111 1111 1111 1111%' or body like '%4111111111111111%'`.execute(
      system.services.db,
    );
    expect(raw.rows[0]?.n).toBe("0");
  });

  it("when Redis is down the webhook still answers 200 and the sweeper enqueues it later", async () => {
    const offline = await startTestSystem({
      env: {
        REDIS_URL: "redis://127.0.0.1:1",
        WHATSAPP_APP_SECRET: system.env.WHATSAPP_APP_SECRET as string,
      },
    });
    try {
      const body = forBank("inbound-text");
      const wamid =
        (JSON.parse(body) as { entry: { changes: { value: { messages: { id: string }[] } }[] }[] }).entry[0]
          ?.changes[0]?.value.messages[0]?.id ?? "";
      const res = await offline.app.request("/webhooks/whatsapp", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-hub-signature-256": signWebhookBody(body, system.env.WHATSAPP_APP_SECRET as string),
        },
        body,
      });
      expect(res.status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      expect(
        await t().selectFrom("messages").select("id").where("wamid", "=", wamid).executeTakeFirst(),
      ).toBeUndefined();
      await sql`update control.webhook_events set received_at = now() - interval '1 minute' where status = 'pending'`.execute(
        system.services.db,
      );
      expect(await sweepPendingWebhooks(system.services.db, system.services.queues)).toBeGreaterThan(0);
      await eventually(async () =>
        t().selectFrom("messages").select("id").where("wamid", "=", wamid).executeTakeFirst(),
      );
      // Sweeping again changes nothing: the event is processed and its message exists once.
      await sweepPendingWebhooks(system.services.db, system.services.queues, { olderThanSeconds: 0 });
      await new Promise((r) => setTimeout(r, 300));
      expect(await t().selectFrom("messages").select("id").where("wamid", "=", wamid).execute()).toHaveLength(
        1,
      );
    } finally {
      await offline.close();
    }
  });
});

describe("sensitive data seen at the edge", () => {
  it("is reported to the rules' follow-up although only the masked text is stored", async () => {
    const body = forBank("inbound-text").replace(
      "Does it come in another color?",
      "Karte 4111-1111-1111-1111 und PIN 4711",
    );
    expect((await postWebhook(body)).status).toBe(200);
    const stored = await eventually(async () =>
      t().selectFrom("messages").select(["id"]).where("text", "like", "Karte%").executeTakeFirst(),
    );
    const job = await eventually(async () => system.services.queues.inbound.getJob(`after-${stored.id}`));
    expect(job.data.sensitiveKinds).toEqual(expect.arrayContaining(["card_number", "pin"]));
  });
});

describe("an event that keeps failing", () => {
  it("is retired as a dead letter after repeated attempts instead of being retried forever", async () => {
    const { processWebhookEvent, MAX_EVENT_ATTEMPTS } = await import("@kanal/core/channel");
    const row = await system.services.db
      .withSchema("control")
      .insertInto("webhook_events")
      .values({ body: forBank("inbound-text"), status: "pending", error: null, attempts: MAX_EVENT_ATTEMPTS })
      .returning("id")
      .executeTakeFirstOrThrow();
    await processWebhookEvent(system.services, String(row.id));
    const after = await system.services.db
      .withSchema("control")
      .selectFrom("webhook_events")
      .selectAll()
      .where("id", "=", String(row.id))
      .executeTakeFirstOrThrow();
    expect(after.status).toBe("dead");
    expect(after.error).toMatch(/failed 20 times/);
  });
});

describe("one job per batch of stored events", () => {
  const wamidOf = (body: string) => /"id":"(wamid\.[^"]+)"/.exec(body)?.[1] ?? "";
  const eventsOf = (ids: string[]) =>
    system.services.db
      .withSchema("control")
      .selectFrom("webhook_events")
      .select(["id", "status", "attempts"])
      .where("id", "in", ids)
      .orderBy("id")
      .execute();
  const messagesOf = (wamids: string[]) =>
    t().selectFrom("messages").select("wamid").where("wamid", "in", wamids).execute();
  async function storeAll(bodies: string[]): Promise<StoredWebhook[]> {
    const store = new WebhookStore(system.services.db, () => {});
    return Promise.all(bodies.map((b) => store.store(b)));
  }

  it("splits at 100 events, with ids that name the batch and no colon", () => {
    const events = Array.from({ length: 250 }, (_, i) => ({
      id: String(1000 + i),
      receivedAt: new Date(1_700_000_000_000 + i),
    }));
    const jobs = eventBatchJobs(events);
    expect(jobs.map((j) => j.data.eventIds.length)).toEqual([100, 100, 50]);
    expect(jobs.flatMap((j) => j.data.eventIds)).toEqual(events.map((e) => e.id));
    expect(jobs.map((j) => j.opts.jobId)).toEqual([
      "evts-1000-1700000000000-100",
      "evts-1100-1700000000100-100",
      "evts-1200-1700000000200-50",
    ]);
    expect(eventBatchJobs(events).map((j) => j.opts.jobId)).toEqual(jobs.map((j) => j.opts.jobId));
  });

  it("the relay enqueues one job for several events, a re-add is deduplicated, and each is processed once", async () => {
    const bodies = Array.from({ length: 5 }, () => forBank("inbound-text"));
    const events = await storeAll(bodies);
    const relay = new WebhookRelay(system.services.queues, (error) => {
      throw error;
    });
    for (const event of events) relay.push(event);
    await relay.flush();
    const [batch] = eventBatchJobs(events);
    const jobId = batch?.opts.jobId ?? "";
    const job = await system.services.queues.inbound.getJob(jobId);
    expect(job?.name).toBe("process-events");
    expect(job?.data).toEqual({ eventIds: events.map((e) => e.id) });
    // The same batch added again is the same job, not a second one.
    const [again] = await system.services.queues.inbound.addBulk(eventBatchJobs(events));
    expect(again?.id).toBe(jobId);
    await eventually(async () => (await messagesOf(bodies.map(wamidOf))).length === 5);
    const processed = await eventually(async () => {
      const rows = await eventsOf(events.map((e) => e.id));
      return rows.every((r) => r.status === "processed") ? rows : undefined;
    });
    expect(processed.map((r) => r.attempts)).toEqual([1, 1, 1, 1, 1]);
    // The events are marked in their ingest's transactions, a moment before the job itself completes.
    const done = await eventually(async () => {
      const stored = await system.services.queues.inbound.getJob(jobId);
      return (await stored?.isCompleted()) ? stored : undefined;
    });
    expect(done.attemptsMade).toBe(1);
  });

  it("a replayed batch job stores nothing new", async () => {
    const bodies = Array.from({ length: 4 }, () => forBank("inbound-text"));
    const events = await storeAll(bodies);
    const ids = events.map((e) => e.id);
    await system.services.queues.inbound.add(
      "process-events",
      { eventIds: ids },
      { jobId: `replay-a-${ids[0]}` },
    );
    await eventually(async () =>
      (await eventsOf(ids)).every((r) => r.status === "processed") ? true : undefined,
    );
    // A second job with the same events (a replay under another id, so BullMQ does not deduplicate it).
    const replay = await system.services.queues.inbound.add(
      "process-events",
      { eventIds: ids },
      { jobId: `replay-b-${ids[0]}` },
    );
    await eventually(async () => (await replay.isCompleted()) || undefined);
    expect(await messagesOf(bodies.map(wamidOf))).toHaveLength(4);
    expect((await eventsOf(ids)).map((r) => [r.status, r.attempts])).toEqual(ids.map(() => ["processed", 1]));
  });

  it("one failing event does not block the others; it is retried, and one out of attempts becomes a dead letter", async () => {
    const { MAX_EVENT_ATTEMPTS } = await import("@kanal/core/channel");
    const bodies = Array.from({ length: 3 }, () => forBank("inbound-text"));
    const good = await storeAll(bodies);
    // Stored as pending but unreadable to the worker: processing it throws until it is repaired.
    const insertBroken = (attempts: number) =>
      system.services.db
        .withSchema("control")
        .insertInto("webhook_events")
        .values({ body: "{not json", status: "pending", error: null, attempts })
        .returning("id")
        .executeTakeFirstOrThrow()
        .then((r) => String(r.id));
    const failing = await insertBroken(0);
    const exhausted = await insertBroken(MAX_EVENT_ATTEMPTS);
    const ids = [good[0]?.id ?? "", failing, good[1]?.id ?? "", exhausted, good[2]?.id ?? ""];
    const job = await system.services.queues.inbound.add(
      "process-events",
      { eventIds: ids },
      { jobId: `failing-${failing}` },
    );
    // The others are processed in the first attempt although the broken one fails in it.
    await eventually(async () => (await messagesOf(bodies.map(wamidOf))).length === 3);
    await eventually(async () => ((await job.getState()) === "delayed" ? true : undefined));
    const afterFirst = new Map((await eventsOf(ids)).map((r) => [String(r.id), r]));
    expect(afterFirst.get(failing)).toMatchObject({ status: "pending", attempts: 1 });
    expect(afterFirst.get(exhausted)?.status).toBe("dead");
    for (const e of good) expect(afterFirst.get(e.id)).toMatchObject({ status: "processed", attempts: 1 });
    // Repaired before its retry: the retry processes it and skips the events already done.
    await system.services.db
      .withSchema("control")
      .updateTable("webhook_events")
      .set({ body: forBank("inbound-text") })
      .where("id", "=", failing)
      .execute();
    await eventually(async () => ((await job.isCompleted()) ? true : undefined), 20_000);
    const final = new Map((await eventsOf(ids)).map((r) => [String(r.id), r]));
    expect(final.get(failing)).toMatchObject({ status: "processed", attempts: 2 });
    for (const e of good) expect(final.get(e.id)).toMatchObject({ status: "processed", attempts: 1 });
    expect(await messagesOf(bodies.map(wamidOf))).toHaveLength(3);
    expect((await system.services.queues.inbound.getJob(`failing-${failing}`))?.attemptsMade).toBe(2);
  });
});
