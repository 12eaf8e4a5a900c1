import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login } from "@kanal/core/auth";
import { createProviderAdmin } from "@kanal/core/people";
import type { Db } from "@kanal/db";
import { createApiServer } from "../src/server";
import { PASSWORD, startTestSystem, type TestSystem, unique } from "../../../test/support/system";

/** Production settings, so that the old "trust X-Forwarded-For in production" would show. */
const PRODUCTION = {
  NODE_ENV: "production",
  SECRETS_KEY: randomBytes(32).toString("base64"),
  WHATSAPP_APP_SECRET: "test-app-secret-production",
  WHATSAPP_VERIFY_TOKEN: "test-verify-token-production",
  PROVIDER_ADMIN_PASSWORD: "test-provider-password-production",
};

let system: TestSystem;
let providerEmail: string;

beforeAll(async () => {
  system = await startTestSystem();
  providerEmail = `${unique("provider")}@kanal.test`;
  await createProviderAdmin(system.services.db, {
    email: providerEmail,
    name: "Provider",
    password: PASSWORD,
  });
});
afterAll(() => system.close());

/** A random documentation-range address: each test its own sources, however often the suite runs. */
const source = () => `198.51.${randomBytes(1)[0]}.${1 + ((randomBytes(1)[0] ?? 0) % 250)}`;

/** POST /v1/auth/login in-process, as if over a socket from `ip` (what @hono/node-server puts in env). */
async function loginFrom(ip: string, email: string, password: string, headers: Record<string, string> = {}) {
  const res = await system.app.request(
    "/v1/auth/login",
    {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ email, password }),
    },
    { incoming: { socket: { remoteAddress: ip }, headers } },
  );
  return { status: res.status, retryAfter: res.headers.get("retry-after") };
}

describe("login throttling", () => {
  it("counts an attempt before the password check: of a parallel burst, at most the limit reach it", async () => {
    const email = `${unique("burst")}@kanal.test`;
    await createProviderAdmin(system.services.db, { email, name: "Burst", password: PASSWORD });
    let lookups = 0;
    // Counts the statements login runs after the throttle let an attempt through (the user's lookup,
    // then argon2); the throttle's own state is in Redis.
    const counting: Parameters<Db["withPlugin"]>[0] = {
      transformQuery: (args) => {
        if (args.node.kind === "SelectQueryNode") lookups++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const deps = { ...system.services, db: system.services.db.withPlugin(counting) };
    const ip = source();
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        login(deps, { email, password: `wrong-password-${i}`, ip }).then(
          () => "ok",
          (error: { code?: string }) => error.code,
        ),
      ),
    );
    expect(lookups).toBeLessThanOrEqual(5);
    expect(outcomes.filter((o) => o === "invalid_credentials").length).toBe(lookups);
    expect(outcomes.filter((o) => o === "rate_limited").length).toBe(20 - lookups);
  });

  it("over HTTP too: a burst gets at most five 401s, the rest 429 with Retry-After", async () => {
    const ip = source();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => loginFrom(ip, providerEmail, `wrong-password-${i}`)),
    );
    expect(results.filter((r) => r.status === 401).length).toBeLessThanOrEqual(5);
    const limited = results.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(7);
    for (const r of limited) expect(r.retryAfter).toMatch(/^\d+$/);
    // The same source is still refused, even with the right password.
    expect((await loginFrom(ip, providerEmail, PASSWORD)).status).toBe(429);
  });

  it("an attacker cannot lock the provider admin out: the right password from another source still works", async () => {
    const attacker = source();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push((await loginFrom(attacker, providerEmail, `guess-${i}-x`)).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5).every((s) => s === 429)).toBe(true);
    expect((await loginFrom(source(), providerEmail, PASSWORD)).status).toBe(200);
  });

  it("blocks a pair for longer each time it trips the limit (backoff), and a success clears it", async () => {
    const email = `${unique("backoff")}@kanal.test`;
    await createProviderAdmin(system.services.db, { email, name: "Backoff", password: PASSWORD });
    const ip = source();
    const { throttle } = system.services;
    const pairKey = (await import("node:crypto"))
      .createHash("sha256")
      .update(email)
      .digest("hex")
      .concat(`:${ip}`);
    const trip = async () => {
      for (let i = 0; i < 5; i++) expect((await loginFrom(ip, email, `wrong-${i}-pw`)).status).toBe(401);
      return loginFrom(ip, email, "wrong-again-pw");
    };
    const first = await trip();
    expect(first.status).toBe(429);
    expect(Number(first.retryAfter)).toBe(60);
    await throttle.pair.delete(pairKey); // the block has run out
    const second = await trip();
    expect(Number(second.retryAfter)).toBe(120);
    await throttle.pair.delete(pairKey);
    expect((await loginFrom(ip, email, PASSWORD)).status).toBe(200);
    // After a success the pair starts afresh: five more attempts, then the first block again.
    expect(Number((await trip()).retryAfter)).toBe(60);
  });

  it("limits one source across accounts more loosely (password spraying)", async () => {
    const ip = source();
    const statuses: number[] = [];
    for (let i = 0; i < 52; i++)
      statuses.push((await loginFrom(ip, `${unique("spray")}@kanal.test`, "Sommer2026!")).status);
    expect(statuses.slice(0, 50).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(50)).toEqual([429, 429]);
  });
});

describe("the client's address", () => {
  let production: TestSystem;
  let server: Server;
  let url: string;
  let behindProxy: TestSystem;
  let proxyServer: Server;
  let proxyUrl: string;

  const listen = async (s: TestSystem) => {
    const srv = createApiServer(s.app);
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    return { srv, url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` };
  };

  beforeAll(async () => {
    production = await startTestSystem({ env: PRODUCTION });
    ({ srv: server, url } = await listen(production));
    behindProxy = await startTestSystem({ env: { ...PRODUCTION, TRUSTED_PROXIES: "loopback" } });
    ({ srv: proxyServer, url: proxyUrl } = await listen(behindProxy));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await new Promise((r) => proxyServer.close(r));
    await production.close();
    await behindProxy.close();
  });

  const post = (base: string, email: string, password: string, forwardedFor: string) =>
    fetch(`${base}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor },
      body: JSON.stringify({ email, password }),
    });

  const sessionIps = async (email: string) =>
    (
      await system.services.db
        .withSchema("control")
        .selectFrom("sessions as s")
        .innerJoin("users as u", "u.id", "s.user_id")
        .select("s.ip")
        .where("u.email", "=", email)
        .execute()
    ).map((r) => r.ip);

  it("ignores X-Forwarded-For from a client that is no trusted proxy (none by default)", async () => {
    const email = `${unique("xff")}@kanal.test`;
    await createProviderAdmin(system.services.db, { email, name: "XFF", password: PASSWORD });
    expect((await post(url, email, PASSWORD, "203.0.113.77")).status).toBe(200);
    const [ip] = await sessionIps(email);
    expect(ip).not.toBe("203.0.113.77");
    expect(ip).toMatch(/127\.0\.0\.1$/);
    // A new spoofed address per attempt is no new source: the sixth attempt is refused.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await post(url, email, `wrong-${i}-password`, `203.0.113.${i + 1}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it("takes the address a trusted proxy reports (TRUSTED_PROXIES)", async () => {
    const email = `${unique("proxied")}@kanal.test`;
    await createProviderAdmin(system.services.db, { email, name: "Proxied", password: PASSWORD });
    // The client's own X-Forwarded-For entry (first) is not trusted; the proxy's (last) is.
    expect((await post(proxyUrl, email, PASSWORD, "10.9.9.9, 203.0.113.88")).status).toBe(200);
    expect(await sessionIps(email)).toEqual(["203.0.113.88"]);
  });
});
