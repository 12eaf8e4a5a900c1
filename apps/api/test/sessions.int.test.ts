import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  onboardBank,
  PASSWORD,
  providerClient,
  startTestSystem,
  TestClient,
  type Bank,
  type TestSystem,
} from "../../../test/support/system";

let system: TestSystem;
let bank: Bank;

beforeAll(async () => {
  system = await startTestSystem();
  bank = await onboardBank(system, await providerClient(system));
});
afterAll(() => system.close());

describe("sessions", () => {
  it("sets an HttpOnly, SameSite=Strict cookie and answers 401 invalid_credentials on a wrong password", async () => {
    const client = new TestClient(system.app);
    const res = await client.login(bank.adminEmail, PASSWORD);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^kanal_session=[^;]{20,}/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\//);
    expect(res.body).toEqual({ user: { id: bank.adminId, email: bank.adminEmail, name: "Anna Admin" } });

    const wrong = await new TestClient(system.app).request<{ error: { code: string } }>(
      "POST",
      "/v1/auth/login",
      { email: bank.adminEmail, password: "nope-nope-nope" },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("invalid_credentials");
  });

  it("stores only a hash: a stolen sessions row cannot be used as a cookie", async () => {
    const client = new TestClient(system.app);
    await client.login(bank.adminEmail, PASSWORD);
    const raw = client.cookie?.split("=")[1] ?? "";
    const rows = await system.services.db
      .withSchema("control")
      .selectFrom("sessions")
      .select("id")
      .where("user_id", "=", bank.adminId)
      .execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.id)).not.toContain(raw);
    for (const row of rows) {
      const thief = new TestClient(system.app);
      thief.cookie = `kanal_session=${row.id}`;
      expect((await thief.get("/v1/me")).status).toBe(401);
    }
    expect((await client.get("/v1/me")).status).toBe(200);
  });

  it("logout ends the session server-side", async () => {
    const client = new TestClient(system.app);
    await client.login(bank.adminEmail, PASSWORD);
    const cookie = client.cookie;
    expect((await client.post("/v1/auth/logout")).status).toBe(204);
    const replay = new TestClient(system.app);
    replay.cookie = cookie;
    expect((await replay.get("/v1/me")).status).toBe(401);
  });

  it("refuses cookie-authenticated writes from another origin or as a form (CSRF)", async () => {
    const client = new TestClient(system.app);
    await client.login(bank.adminEmail, PASSWORD);
    const body = { status: "online" };
    const crossSite = await client.request<{ error: { code: string } }>("PUT", "/v1/me/presence", body, {
      origin: "https://evil.example",
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.error.code).toBe("forbidden");
    const fetchMeta = await client.request("PUT", "/v1/me/presence", body, {
      "sec-fetch-site": "cross-site",
    });
    expect(fetchMeta.status).toBe(403);
    const form = await client.request<{ error: { code: string } }>(
      "PUT",
      "/v1/me/presence",
      "status=online",
      {
        "content-type": "application/x-www-form-urlencoded",
      },
    );
    expect(form.status).toBe(415);
    expect(form.body.error.code).toBe("unsupported_media_type");
    const sameOrigin = await client.request("PUT", "/v1/me/presence", body, {
      origin: "http://localhost",
      host: "localhost",
    });
    expect(sameOrigin.status).toBe(200);
  });

  it("throttles failed logins per account and source (even the right password is refused while blocked)", async () => {
    const email = bank.adminEmail;
    const attacker = new TestClient(system.app);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push(
        (await attacker.request("POST", "/v1/auth/login", { email, password: `wrong-${i}-password` })).status,
      );
    }
    expect(statuses.slice(0, 5).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    const blocked = await new TestClient(system.app).request<{ error: { code: string } }>(
      "POST",
      "/v1/auth/login",
      { email, password: PASSWORD },
    );
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe("rate_limited");
    expect(blocked.headers.get("retry-after")).toMatch(/^\d+$/);
    // In-process requests have no socket: their source is "local" (apps/api/test/security-login covers sources).
    const pairKey = `${createHash("sha256").update(email.toLowerCase()).digest("hex")}:local`;
    await system.services.throttle.pair.delete(pairKey);
    await system.services.throttle.strikes.delete(pairKey);
  });
});
