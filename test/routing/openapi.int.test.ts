import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestSystem, type TestSystem } from "../support/system";

let system: TestSystem;
beforeAll(async () => {
  system = await startTestSystem();
});
afterAll(() => system?.close());

it("the routing routes are documented in the generated OpenAPI document", async () => {
  const res = await system.app.request("/openapi.json");
  expect(res.status).toBe(200);
  const doc = (await res.json()) as { paths: Record<string, unknown> };
  for (const path of [
    "/v1/tenants/{tenant}/routing",
    "/v1/tenants/{tenant}/routing/holidays",
    "/v1/tenants/{tenant}/absences",
    "/v1/tenants/{tenant}/users/{id}/absences",
    "/v1/inbox",
    "/v1/tenants/{tenant}/conversations/{id}/handover",
    "/v1/tenants/{tenant}/conversations/{id}/close",
    "/v1/tenants/{tenant}/conversations/{id}/take",
    "/v1/tenants/{tenant}/conversations/{id}/callback",
    "/v1/tenants/{tenant}/conversations/{id}/customer",
  ]) {
    expect(doc.paths[path], path).toBeDefined();
  }
});
