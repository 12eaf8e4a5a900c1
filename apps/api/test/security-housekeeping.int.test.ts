import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteExpiredSessions } from "@kanal/core/auth";
import { bindingForNumber, cachedBindings } from "@kanal/core/channel";
import { createProviderAdmin } from "@kanal/core/people";
import { createApiServer } from "../src/server";
import {
  onboardBank,
  PASSWORD,
  providerClient,
  startTestSystem,
  TestClient,
  type Bank,
  type TestSystem,
  unique,
} from "../../../test/support/system";

const logLines: string[] = [];
const capture = new Writable({
  write(chunk, _encoding, done) {
    logLines.push(...chunk.toString().split("\n").filter(Boolean));
    done();
  },
});

let system: TestSystem;
let bank: Bank;

beforeAll(async () => {
  system = await startTestSystem({ env: { LOG_LEVEL: "info" }, logDestination: capture });
  bank = await onboardBank(system, await providerClient(system));
});
afterAll(() => system.close());

describe("expired sessions", () => {
  it("are deleted by the sweep; live ones stay", async () => {
    const userId = await createProviderAdmin(system.services.db, {
      email: `${unique("sweep")}@kanal.test`,
      name: "Sweep",
      password: PASSWORD,
    });
    const sessions = system.services.db.withSchema("control");
    const expired = randomBytes(16).toString("hex");
    const live = randomBytes(16).toString("hex");
    await sessions
      .insertInto("sessions")
      .values([
        { id: expired, user_id: userId, expires_at: new Date(Date.now() - 60_000) },
        { id: live, user_id: userId, expires_at: new Date(Date.now() + 3_600_000) },
      ])
      .execute();
    expect(await deleteExpiredSessions(system.services.db)).toBeGreaterThanOrEqual(1);
    const left = await sessions.selectFrom("sessions").select("id").where("user_id", "=", userId).execute();
    expect(left.map((r) => r.id)).toEqual([live]);
  });
});

describe("the number → bank binding cache", () => {
  it("is bounded: lookups of ever new numbers do not grow it past its maximum", async () => {
    expect(await bindingForNumber(system.services.db, bank.phoneNumberId)).toMatchObject({
      tenant: { slug: bank.slug },
    });
    const { max } = cachedBindings();
    const ids = Array.from({ length: max + 200 }, (_, i) => `9${String(i).padStart(14, "0")}`);
    for (let i = 0; i < ids.length; i += 100) {
      await Promise.all(ids.slice(i, i + 100).map((id) => bindingForNumber(system.services.db, id)));
    }
    expect(cachedBindings().numbers).toBeLessThanOrEqual(max);
    expect(await bindingForNumber(system.services.db, bank.phoneNumberId)).not.toBeNull();
  });
});

describe("/metrics", () => {
  /** As if over a socket from `ip` (what @hono/node-server puts in env). */
  const scrapeFrom = (target: TestSystem, ip: string, headers: Record<string, string> = {}) =>
    target.app.request("/metrics", { headers }, { incoming: { socket: { remoteAddress: ip }, headers } });

  it("answers loopback clients only when no METRICS_TOKEN is set", async () => {
    const server = createApiServer(system.app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
      expect(res.status).toBe(200);
    } finally {
      await new Promise((r) => server.close(r));
    }
    const outside = await scrapeFrom(system, "203.0.113.9");
    expect(outside.status).toBe(403);
    expect(((await outside.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    // Nor does a spoofed X-Forwarded-For make a remote client local (no trusted proxy).
    expect((await scrapeFrom(system, "203.0.113.9", { "x-forwarded-for": "127.0.0.1" })).status).toBe(403);
  });

  it("wants the bearer token from everybody when METRICS_TOKEN is set", async () => {
    const token = randomBytes(24).toString("hex");
    const guarded = await startTestSystem({ env: { METRICS_TOKEN: token } });
    try {
      expect((await scrapeFrom(guarded, "127.0.0.1")).status).toBe(401);
      expect((await scrapeFrom(guarded, "203.0.113.9", { authorization: "Bearer wrong-token" })).status).toBe(
        401,
      );
      const ok = await scrapeFrom(guarded, "203.0.113.9", { authorization: `Bearer ${token}` });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("kanal_webhook_events");
    } finally {
      await guarded.close();
    }
  });

  it("does not query Postgres on every scrape: the webhook backlog gauge is read at most every few seconds", async () => {
    const pending = async () => {
      const text = await (await system.app.request("/metrics")).text();
      return Number(/kanal_webhook_events\{status="pending"\} (\d+)/.exec(text)?.[1]);
    };
    const before = await pending();
    await system.services.db
      .withSchema("control")
      .insertInto("webhook_events")
      .values({ body: "{}", status: "pending", received_at: new Date(Date.now() - 86_400_000) })
      .execute();
    expect(await pending()).toBe(before);
    await system.services.db
      .withSchema("control")
      .deleteFrom("webhook_events")
      .where("body", "=", "{}")
      .where("status", "=", "pending")
      .execute();
  });
});

describe("rejected requests", () => {
  it("are logged as one line each with their code, never with a stack trace", async () => {
    const key = await bank.admin.post<{ apiKey: { key: string } }>(`/v1/tenants/${bank.slug}/api-keys`, {
      name: "log test",
      scopes: ["customers:write"],
    });
    const machine = new TestClient(system.app);
    machine.bearer = key.body.apiKey.key;
    const anonymous = new TestClient(system.app);
    const refused = [
      await anonymous.request("POST", "/v1/tenants", { slug: "x" }),
      await machine.request("PUT", `/v1/tenants/${bank.slug}/customers/r1`, "text", {
        "content-type": "text/plain",
      }),
      await anonymous.request("POST", "/v1/auth/login", { email: "nobody@kanal.test", password: "wrong-pw" }),
      await anonymous.request("GET", "/nope"),
      await bank.admin.request("POST", "/v1/tenants", {}),
      await anonymous.request(
        "POST",
        "/webhooks/whatsapp",
        { entry: [] },
        { "x-hub-signature-256": "sha256=00" },
      ),
    ];
    expect(refused.map((r) => r.status)).toEqual([401, 415, 401, 404, 403, 401]);
    await new Promise((r) => setTimeout(r, 50));
    for (const res of refused) {
      const requestId = res.headers.get("x-request-id") ?? "";
      const lines = logLines.filter((l) => l.includes(requestId));
      expect(lines, `log lines of ${res.status}`).toHaveLength(1);
      const line = JSON.parse(lines[0] ?? "{}") as Record<string, unknown>;
      expect(line).toMatchObject({
        status: res.status,
        code: (res.body as { error: { code: string } }).error.code,
      });
      expect(lines[0]).not.toMatch(/stack|"err"/);
    }
    expect(logLines.some((l) => l.includes('"unhandled error"'))).toBe(false);
  });
});
