import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentEventPayload } from "@kanal/contracts/events";
import { EventHub, publishToUsers } from "@kanal/core/realtime";
import { newApp, type KanalApp } from "../src/app";
import { apiHooks } from "../src/hooks";
import {
  addBankUser,
  onboardBank,
  PASSWORD,
  providerClient,
  startTestSystem,
  TestClient,
  type Bank,
  type TestSystem,
} from "../../../test/support/system";

/**
 * Two API processes on one Redis: `system.app` (instance A, its own EventHub) and `appB` (instance B,
 * another EventHub on another Redis connection). Streams are opened on A; what ends them happens on B.
 */
let system: TestSystem;
let hubB: EventHub;
let appB: KanalApp;
let bank: Bank;

beforeAll(async () => {
  // The default heartbeat (20 s): what ends a stream in these tests within 2 s is the notice.
  system = await startTestSystem({ env: { EVENT_STREAMS_PER_USER: "2" } });
  hubB = new EventHub(new Redis(system.services.config.REDIS_URL), system.services.config.QUEUE_PREFIX);
  await hubB.start();
  appB = newApp(system.services, hubB, apiHooks(system.services));
  bank = await onboardBank(system, await providerClient(system));
});
afterAll(async () => {
  await hubB.stop();
  await system.close();
});

interface OpenStream {
  /** Reads until the text matches; throws when the stream ends first or nothing matches in time. */
  until(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with everything received once the server closed the stream; throws if it stays open. */
  closed(timeoutMs?: number): Promise<string>;
  cancel(): Promise<void>;
}

async function openStream(app: KanalApp, cookie: string | null): Promise<OpenStream> {
  const res = await app.request("/v1/events", { headers: { cookie: cookie ?? "" } });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let received = "";
  let done = false;
  const read = (timeoutMs: number) =>
    Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timed out")), timeoutMs)),
    ]);
  const stream: OpenStream = {
    async until(pattern, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(received)) {
        if (done) throw new Error(`stream ended before ${pattern}: ${received}`);
        const chunk = await read(Math.max(1, deadline - Date.now())).catch(() => {
          throw new Error(`no ${pattern} within ${timeoutMs} ms: ${received}`);
        });
        if (chunk.done) done = true;
        else received += decoder.decode(chunk.value, { stream: true });
      }
      return received;
    },
    async closed(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done) {
        const chunk = await read(Math.max(1, deadline - Date.now())).catch(() => {
          throw new Error(`stream still open after ${timeoutMs} ms: ${received}`);
        });
        if (chunk.done) done = true;
        else received += decoder.decode(chunk.value, { stream: true });
      }
      return received;
    },
    cancel: () => reader.cancel().catch(() => undefined),
  };
  await stream.until(/event: ready/);
  return stream;
}

const assigned = (n: number) =>
  ({ type: "conversation.assigned", data: { n } }) as unknown as AgentEventPayload;
const publish = (userId: string, n: number) =>
  publishToUsers(system.services.redis, system.services.config.QUEUE_PREFIX, [userId], assigned(n));

async function signedIn(email: string, app: KanalApp = system.app): Promise<TestClient> {
  const client = new TestClient(app);
  await client.login(email, PASSWORD);
  return client;
}

describe("event streams end with their session, across API instances", () => {
  it("logout on instance B closes the stream of that session on instance A; the person's other session keeps its own", async () => {
    const agent = await addBankUser(system, bank, "bank_agent");
    const laptop = await signedIn(agent.email);
    const phone = await signedIn(agent.email);
    const onLaptop = await openStream(system.app, laptop.cookie);
    const onPhone = await openStream(system.app, phone.cookie);
    await publish(agent.id, 1);
    await onLaptop.until(/"n":1/);

    const onB = new TestClient(appB);
    onB.cookie = laptop.cookie;
    expect((await onB.post("/v1/auth/logout")).status).toBe(204);
    const rest = await onLaptop.closed(2_000);
    expect(rest).toMatch(/event: end\ndata: \{"reason":"session_ended"\}/);

    await publish(agent.id, 2);
    await onPhone.until(/"n":2/);
    expect(rest).not.toContain('"n":2');
    await onPhone.cancel();
  });

  it("a password change by the bank admin (on B) closes every stream of that person (on A)", async () => {
    const agent = await addBankUser(system, bank, "bank_agent");
    const stream = await openStream(system.app, (await signedIn(agent.email)).cookie);
    const admin = new TestClient(appB);
    admin.cookie = bank.admin.cookie;
    const res = await admin.patch(`/v1/tenants/${bank.slug}/users/${agent.id}`, {
      password: "a-brand-new-password",
    });
    expect(res.status).toBe(200);
    expect(await stream.closed(2_000)).toMatch(/event: end\ndata: \{"reason":"revoked"\}/);
  });

  it("disabling the person closes their streams", async () => {
    const agent = await addBankUser(system, bank, "bank_agent");
    const stream = await openStream(system.app, (await signedIn(agent.email)).cookie);
    const admin = new TestClient(appB);
    admin.cookie = bank.admin.cookie;
    expect((await admin.patch(`/v1/tenants/${bank.slug}/users/${agent.id}`, { disabled: true })).status).toBe(
      200,
    );
    await stream.closed(2_000);
    await publish(agent.id, 3);
    expect(system.hub.connectionCount(agent.id)).toBe(0);
  });

  it("an expired session ends its stream at the next heartbeat (and so does a session deleted without a notice)", async () => {
    // A third instance whose streams beat every 0.3 s, on the same database and Redis.
    const quick = await startTestSystem({ env: { EVENT_HEARTBEAT_SECONDS: "0.3" } });
    try {
      await expiresAtHeartbeat(quick);
    } finally {
      await quick.close();
    }
  });

  async function expiresAtHeartbeat(quick: TestSystem) {
    const agent = await addBankUser(system, bank, "bank_agent");
    const client = await signedIn(agent.email, quick.app);
    const stream = await openStream(quick.app, client.cookie);
    const hash = createHash("sha256")
      .update(client.cookie?.split("=")[1] ?? "")
      .digest("hex");
    await system.services.db
      .withSchema("control")
      .updateTable("sessions")
      .set({ expires_at: new Date(Date.now() - 1_000) })
      .where("id", "=", hash)
      .execute();
    expect(await stream.closed(3_000)).toMatch(/event: end\ndata: \{"reason":"expired"\}/);

    const other = await signedIn(agent.email, quick.app);
    const second = await openStream(quick.app, other.cookie);
    await system.services.db
      .withSchema("control")
      .deleteFrom("sessions")
      .where(
        "id",
        "=",
        createHash("sha256")
          .update(other.cookie?.split("=")[1] ?? "")
          .digest("hex"),
      )
      .execute();
    await second.closed(3_000);
  }

  it("one person holds at most EVENT_STREAMS_PER_USER streams across instances; a new one ends the oldest", async () => {
    const agent = await addBankUser(system, bank, "bank_agent");
    const client = await signedIn(agent.email);
    const first = await openStream(system.app, client.cookie);
    const second = await openStream(appB, client.cookie);
    const third = await openStream(system.app, client.cookie);
    expect(await first.closed(2_000)).toMatch(/event: end\ndata: \{"reason":"replaced"\}/);
    await publish(agent.id, 4);
    await second.until(/"n":4/);
    await third.until(/"n":4/);
    expect(system.hub.connectionCount(agent.id) + hubB.connectionCount(agent.id)).toBe(2);
    await second.cancel();
    await third.cancel();
  });
});
