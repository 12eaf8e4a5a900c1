import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addBankUser,
  onboardBank,
  providerClient,
  startTestSystem,
  TestClient,
  type Bank,
  type TestSystem,
} from "../../../test/support/system";

interface ErrorBody {
  error: { code: string; message: string; requestId: string; fields?: unknown[] };
}

let system: TestSystem;
let bank: Bank;
let other: Bank;
let agent: TestClient;
let apiKey: TestClient;

beforeAll(async () => {
  system = await startTestSystem();
  const provider = await providerClient(system);
  bank = await onboardBank(system, provider);
  other = await onboardBank(system, provider);
  agent = (await addBankUser(system, bank, "bank_agent")).client;
  const key = await bank.admin.post<{ apiKey: { key: string } }>(`/v1/tenants/${bank.slug}/api-keys`, {
    name: "core banking",
    scopes: ["customers:read", "customers:write"],
  });
  apiKey = new TestClient(system.app);
  apiKey.bearer = key.body.apiKey.key;
});
afterAll(() => system.close());

/** Bodies a route would refuse with 400 and its schema's fields, had it looked at them. */
const INVALID = { nonsense: true };

describe("authentication and role come before validation", () => {
  it("answers an anonymous request 401 before looking at its path parameters or body", async () => {
    const anonymous = new TestClient(system.app);
    const cases: [string, string, unknown][] = [
      ["POST", "/v1/tenants", INVALID],
      ["POST", "/v1/tenants", "not json at all"],
      ["PUT", `/v1/tenants/${bank.slug}/routing`, INVALID],
      ["POST", "/v1/tenants/NOT_A_SLUG!/users", INVALID],
      ["PUT", `/v1/tenants/${bank.slug}/customers/ref-1`, INVALID],
      ["POST", "/v1/ksc-orgs", INVALID],
      ["PUT", "/v1/me/presence", { status: "sleeping" }],
      ["GET", `/v1/tenants/${bank.slug}/conversations?status=bogus`, undefined],
      ["GET", `/v1/tenants/${bank.slug}/audit?limit=100000`, undefined],
      ["GET", "/v1/no-such-route", undefined],
    ];
    for (const [method, path, body] of cases) {
      const headers: Record<string, string> =
        typeof body === "string" ? { "content-type": "text/plain" } : {};
      const res = await anonymous.request<ErrorBody>(method, path, body, headers);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error.code).toBe("unauthenticated");
      expect(res.body.error.fields, `${method} ${path} lists no fields`).toBeUndefined();
    }
  });

  it("still lets anybody sign in (the one public /v1 route), and validates that body", async () => {
    const res = await new TestClient(system.app).request<ErrorBody>("POST", "/v1/auth/login", { email: "" });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
  });

  it("answers 403 to a signed-in person without the role before validating the body", async () => {
    const cases: [TestClient, string, string][] = [
      [bank.admin, "POST", "/v1/tenants"],
      [bank.admin, "POST", "/v1/ksc-orgs"],
      [bank.admin, "PUT", "/v1/billing/plans/basic"],
      [bank.admin, "PUT", `/v1/tenants/${bank.slug}/ksc`],
      [bank.admin, "PUT", `/v1/tenants/${bank.slug}/whatsapp`],
      [agent, "PUT", `/v1/tenants/${bank.slug}/routing`],
      [agent, "POST", `/v1/tenants/${bank.slug}/users`],
      [agent, "POST", `/v1/tenants/${bank.slug}/rules`],
      [agent, "POST", `/v1/tenants/${bank.slug}/snippets`],
      [agent, "PUT", `/v1/tenants/${bank.slug}/settings/retention`],
    ];
    for (const [client, method, path] of cases) {
      const res = await client.request<ErrorBody>(method, path, INVALID);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
      expect(res.body.error.fields).toBeUndefined();
    }
  });

  it("answers 404 for another bank's routes before validating (its existence is not revealed)", async () => {
    for (const path of [`/v1/tenants/${other.slug}/routing`, `/v1/tenants/${other.slug}/users/usr_x`]) {
      const res = await bank.admin.request<ErrorBody>(
        path.endsWith("routing") ? "PUT" : "PATCH",
        path,
        INVALID,
      );
      expect(res.status, path).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
  });

  it("answers 403 to an API key on a provider route or a person's route before validating", async () => {
    for (const [method, path] of [
      ["POST", "/v1/tenants"],
      ["POST", "/v1/ksc-orgs"],
      ["PUT", "/v1/me/presence"],
    ] as const) {
      const res = await apiKey.request<ErrorBody>(method, path, INVALID);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
  });
});

describe("a body that is not JSON", () => {
  it("is 415 unsupported_media_type in the error shape, for a key as for a session", async () => {
    const cases: [TestClient, string, string, string][] = [
      [apiKey, "PUT", `/v1/tenants/${bank.slug}/customers/ref-415`, "text/plain"],
      [apiKey, "PUT", `/v1/tenants/${bank.slug}/customers/ref-415`, "application/xml"],
      [bank.admin, "POST", `/v1/tenants/${bank.slug}/snippets`, "text/plain"],
      [bank.admin, "POST", `/v1/tenants/${bank.slug}/snippets`, "application/xml"],
      [bank.admin, "PUT", "/v1/me/presence", "application/x-www-form-urlencoded"],
    ];
    for (const [client, method, path, type] of cases) {
      const res = await client.request<ErrorBody>(method, path, "name=Mia", { "content-type": type });
      expect(res.status, `${type} to ${method} ${path}`).toBe(415);
      expect(res.body.error.code).toBe("unsupported_media_type");
      expect(res.body.error.requestId).toBe(res.headers.get("x-request-id"));
    }
  });

  it("is documented: the OpenAPI error responses include 415", async () => {
    const doc = (await (await system.app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: {
        schemas: { Error: { properties: { error: { properties: { code: { enum: string[] } } } } } };
      };
    };
    expect(doc.paths["/v1/tenants"]?.post?.responses["415"]).toBeDefined();
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toContain(
      "unsupported_media_type",
    );
  });
});
