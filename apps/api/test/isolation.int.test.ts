import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addBankUser,
  onboardBank,
  PASSWORD,
  providerClient,
  startTestSystem,
  TestClient,
  unique,
  type Bank,
  type TestSystem,
} from "../../../test/support/system";

let system: TestSystem;
let provider: TestClient;
let bankA: Bank;
let bankB: Bank;
let bankBUserId: string;
let bankBKeyId: string;
let actors: Record<string, TestClient>;

beforeAll(async () => {
  system = await startTestSystem();
  provider = await providerClient(system);
  bankA = await onboardBank(system, provider);
  bankB = await onboardBank(system, provider);
  bankBUserId = (await addBankUser(system, bankB, "bank_agent")).id;
  bankBKeyId = (
    await bankB.admin.post<{ apiKey: { id: string } }>(`/v1/tenants/${bankB.slug}/api-keys`, { name: "core" })
  ).body.apiKey.id;
  await bankB.admin.put(`/v1/tenants/${bankB.slug}/customers/REF-B-1`, {
    name: "Berta Kundin",
    waId: "4917000000001",
  });

  const org = unique("ksc-");
  expect((await provider.post("/v1/ksc-orgs", { slug: org, name: "KSC Nord" })).status).toBe(201);
  const kscEmail = `${unique("ksc")}@ksc.test`;
  expect(
    (
      await provider.post(`/v1/ksc-orgs/${org}/agents`, {
        email: kscEmail,
        name: "Karl KSC",
        password: PASSWORD,
      })
    ).status,
  ).toBe(201);
  expect((await provider.put(`/v1/tenants/${bankA.slug}/ksc`, { kscOrg: org })).status).toBe(200);
  const ksc = new TestClient(system.app);
  await ksc.login(kscEmail, PASSWORD);

  const keyA = await bankA.admin.post<{ apiKey: { key: string } }>(`/v1/tenants/${bankA.slug}/api-keys`, {
    name: "core",
    scopes: ["customers:read", "customers:write"],
  });
  const apiKeyA = new TestClient(system.app);
  apiKeyA.bearer = keyA.body.apiKey.key;

  actors = {
    bank_admin: bankA.admin,
    bank_agent: (await addBankUser(system, bankA, "bank_agent")).client,
    bank_advisor: (await addBankUser(system, bankA, "bank_advisor")).client,
    ksc_agent: ksc,
    api_key: apiKeyA,
  };
});
afterAll(() => system.close());

/** Every object of bank B, reached by each role of bank A (and bank A's contracted KSC, and its API key). */
const bankBRequests = (): [string, string, unknown?][] => [
  ["GET", `/v1/tenants/${bankB.slug}`],
  ["GET", `/v1/tenants/${bankB.slug}/users`],
  [
    "POST",
    `/v1/tenants/${bankB.slug}/users`,
    { email: `${unique("x")}@x.test`, name: "X", role: "bank_agent", password: PASSWORD },
  ],
  ["PATCH", `/v1/tenants/${bankB.slug}/users/${bankBUserId}`, { name: "Hijacked" }],
  ["GET", `/v1/tenants/${bankB.slug}/api-keys`],
  ["DELETE", `/v1/tenants/${bankB.slug}/api-keys/${bankBKeyId}`],
  ["GET", `/v1/tenants/${bankB.slug}/audit`],
  ["GET", `/v1/tenants/${bankB.slug}/customers?q=Berta`],
  ["PUT", `/v1/tenants/${bankB.slug}/customers/REF-B-1`, { name: "Hijacked", waId: "4917000000001" }],
];

describe("tenant isolation", () => {
  for (const role of ["bank_admin", "bank_agent", "bank_advisor", "ksc_agent", "api_key"]) {
    it(`${role} of bank A gets 404 for every object of bank B`, async () => {
      const client = actors[role];
      if (!client) throw new Error(role);
      for (const [method, path, body] of bankBRequests()) {
        const res = await client.request<{ error: { code: string } }>(method, path, body);
        expect({ method, path, status: res.status, code: res.body.error?.code }).toEqual({
          method,
          path,
          status: 404,
          code: "not_found",
        });
      }
      // Nothing of bank B changed.
      const user = await system.services.db
        .withSchema("control")
        .selectFrom("users")
        .select("name")
        .where("id", "=", bankBUserId)
        .executeTakeFirstOrThrow();
      expect(user.name).not.toBe("Hijacked");
      const key = await system.services.db
        .withSchema("control")
        .selectFrom("api_keys")
        .select("revoked_at")
        .where("id", "=", bankBKeyId)
        .executeTakeFirstOrThrow();
      expect(key.revoked_at).toBeNull();
    });
  }

  it("a KSC agent reaches the contracted bank but not its admin routes", async () => {
    const ksc = actors.ksc_agent as TestClient;
    expect((await ksc.get(`/v1/tenants/${bankA.slug}`)).status).toBe(200);
    expect((await ksc.get(`/v1/tenants/${bankA.slug}/api-keys`)).status).toBe(403);
    expect((await ksc.get(`/v1/tenants/${bankA.slug}/audit`)).status).toBe(403);
    const list = await ksc.get<{ tenants: { slug: string }[] }>("/v1/tenants");
    expect(list.body.tenants.map((t) => t.slug)).toEqual([bankA.slug]);
  });

  it("bank staff cannot use provider routes; agents cannot use their own bank's admin routes", async () => {
    for (const role of ["bank_admin", "bank_agent", "bank_advisor", "ksc_agent"]) {
      const client = actors[role] as TestClient;
      expect((await client.get("/v1/ksc-orgs")).status).toBe(403);
      expect((await client.post("/v1/ksc-orgs", { slug: unique("k-"), name: "Evil KSC" })).status).toBe(403);
      expect((await client.put(`/v1/tenants/${bankA.slug}/ksc`, { kscOrg: "whatever" })).status).toBe(403);
    }
    const agent = actors.bank_agent as TestClient;
    const res = await agent.post<{ error: { code: string } }>(`/v1/tenants/${bankA.slug}/users`, {
      email: `${unique("y")}@y.test`,
      name: "Y",
      role: "bank_admin",
      password: PASSWORD,
    });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("forbidden");
  });

  it("without a session every tenant route answers 401", async () => {
    const anonymous = new TestClient(system.app);
    for (const [method, path, body] of bankBRequests()) {
      expect((await anonymous.request(method, path, body)).status).toBe(401);
    }
  });
});

describe("API keys", () => {
  it("are shown once, stored as a hash, limited to their scopes, and dead once revoked", async () => {
    const created = await bankA.admin.post<{ apiKey: { id: string; key: string } }>(
      `/v1/tenants/${bankA.slug}/api-keys`,
      { name: "read only", scopes: ["customers:read"] },
    );
    expect(created.status).toBe(201);
    const { id, key } = created.body.apiKey;
    const stored = await system.services.db
      .withSchema("control")
      .selectFrom("api_keys")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(stored)).not.toContain(key);
    const listed = await bankA.admin.get(`/v1/tenants/${bankA.slug}/api-keys`);
    expect(JSON.stringify(listed.body)).not.toContain(key);

    const client = new TestClient(system.app);
    client.bearer = key;
    expect((await client.get(`/v1/tenants/${bankA.slug}/customers?q=`)).status).toBe(200);
    const write = await client.put<{ error: { code: string } }>(`/v1/tenants/${bankA.slug}/customers/R1`, {
      name: "N",
      waId: "4917000000002",
    });
    expect(write.status).toBe(403);
    // An API key is not a person: it cannot reach user administration even of its own bank.
    expect((await client.get(`/v1/tenants/${bankA.slug}/users`)).status).toBe(403);
    expect((await client.get("/v1/me")).status).toBe(403);

    expect((await bankA.admin.delete(`/v1/tenants/${bankA.slug}/api-keys/${id}`)).status).toBe(204);
    const after = await client.get<{ error: { code: string } }>(`/v1/tenants/${bankA.slug}/customers?q=`);
    expect(after.status).toBe(401);
    const audit = await bankA.admin.get<{ entries: { action: string }[] }>(
      `/v1/tenants/${bankA.slug}/audit?action=api_key`,
    );
    expect(audit.body.entries.map((e) => e.action)).toEqual(
      expect.arrayContaining(["api_key.created", "api_key.revoked"]),
    );
  });

  it("core banking sync upserts customers by reference and links an earlier WhatsApp contact", async () => {
    const key = actors.api_key as TestClient;
    const first = await key.put<{ customer: { id: string; advisorUserId: string | null } }>(
      `/v1/tenants/${bankA.slug}/customers/KD-100`,
      { name: "Max Muster", waId: "4915112345678" },
    );
    expect(first.status).toBe(201);
    const again = await key.put<{ customer: { id: string } }>(`/v1/tenants/${bankA.slug}/customers/KD-100`, {
      name: "Max Mustermann",
      waId: "4915112345678",
    });
    expect(again.status).toBe(200);
    expect(again.body.customer.id).toBe(first.body.customer.id);
    const found = await key.get<{ customers: { name: string }[] }>(
      `/v1/tenants/${bankA.slug}/customers?q=mustermann`,
    );
    expect(found.body.customers.map((c) => c.name)).toEqual(["Max Mustermann"]);
    const bad = await key.put<{ error: { fields: { path: string }[] } }>(
      `/v1/tenants/${bankA.slug}/customers/KD-101`,
      { name: "X", waId: "+49 151" },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields[0]?.path).toBe("waId");
  });
});
