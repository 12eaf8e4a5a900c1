import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addBankUser,
  type Bank,
  onboardBank,
  PASSWORD,
  providerClient,
  startTestSystem,
  TestClient,
  type TestSystem,
  unique,
} from "../../../test/support/system";

let system: TestSystem;
let bank: Bank;
let other: Bank;
let agent: TestClient;
let ksc: TestClient;

type Book = {
  version: number;
  rules: Array<{ id: string; topic: string; keywords: string[]; allowedSnippetIds: string[] }>;
};
type Fields = { error: { code: string; fields?: Array<{ path: string; message: string }> } };

const newRule = (id: string) => ({
  id,
  topic: "Sparbuch",
  keywords: ["Sparbuch", "Sparbücher"],
  priority: 40,
  handling: "ksc_allowed",
  allowedDataClasses: ["name"],
  freeTextAllowed: true,
  action: { type: "answer" },
  guidance: "Sparbuchfragen beantworten.",
});

beforeAll(async () => {
  system = await startTestSystem();
  const provider = await providerClient(system);
  bank = await onboardBank(system, provider);
  other = await onboardBank(system, provider);
  agent = (await addBankUser(system, bank, "bank_agent")).client;
  const org = unique("ksc-");
  await provider.post("/v1/ksc-orgs", { slug: org, name: "KSC" });
  const email = `${unique("ksc")}@ksc.test`;
  await provider.post(`/v1/ksc-orgs/${org}/agents`, { email, name: "Karl KSC", password: PASSWORD });
  await provider.put(`/v1/tenants/${bank.slug}/ksc`, { kscOrg: org });
  ksc = new TestClient(system.app);
  await ksc.login(email, PASSWORD);
});
afterAll(() => system.close());

describe("rule book", () => {
  it("starts from the default book, readable by agents and the contracted KSC", async () => {
    const res = await agent.get<Book>(`/v1/tenants/${bank.slug}/rules`);
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(1);
    expect(res.body.rules.map((r) => r.id)).toEqual(
      expect.arrayContaining(["kartensperre", "kreditanfrage"]),
    );
    expect((await ksc.get(`/v1/tenants/${bank.slug}/rules`)).status).toBe(200);
  });

  it("every change is a new version; old versions stay readable; changes are audited", async () => {
    const path = `/v1/tenants/${bank.slug}/rules`;
    const created = await bank.admin.post<{ version: number }>(path, newRule("sparbuch"));
    expect(created.status).toBe(201);
    const patched = await bank.admin.patch<{ version: number; rule: { keywords: string[]; topic: string } }>(
      `${path}/sparbuch`,
      { keywords: ["Sparbuch", "Sparkonto"] },
    );
    expect(patched.status).toBe(200);
    expect(patched.body.version).toBe(created.body.version + 1);
    expect(patched.body.rule).toMatchObject({ topic: "Sparbuch", keywords: ["Sparbuch", "Sparkonto"] });
    const deleted = await bank.admin.delete<{ version: number }>(`${path}/sparbuch`);
    expect(deleted.body.version).toBe(patched.body.version + 1);

    const versions = await agent.get<{ versions: Array<{ version: number }> }>(`${path}/versions`);
    expect(versions.body.versions.map((v) => v.version).slice(0, 4)).toEqual([
      deleted.body.version,
      patched.body.version,
      created.body.version,
      1,
    ]);
    const old = await agent.get<Book>(`${path}/versions/${created.body.version}`);
    expect(old.body.rules.find((r) => r.id === "sparbuch")?.keywords).toEqual(["Sparbuch", "Sparbücher"]);
    const current = await agent.get<Book>(path);
    expect(current.body.rules.some((r) => r.id === "sparbuch")).toBe(false);

    const audit = await bank.admin.get<{
      entries: Array<{ action: string; details: Record<string, unknown> }>;
    }>(`/v1/tenants/${bank.slug}/audit?action=rules.changed`);
    expect(audit.body.entries.map((e) => e.details.change).slice(0, 3)).toEqual([
      "deleted",
      "updated",
      "created",
    ]);
  });

  it("rejects invalid rules with the failing fields and keeps the version", async () => {
    const path = `/v1/tenants/${bank.slug}/rules`;
    const before = (await agent.get<Book>(path)).body.version;
    const bad = await bank.admin.post<Fields>(path, {
      ...newRule("bad"),
      allowedDataClasses: ["pin"],
      patterns: ["(a+)+"],
      priority: -1,
    });
    expect(bad.status).toBe(400);
    const paths = bad.body.error.fields?.map((f) => f.path) ?? [];
    expect(paths).toEqual(expect.arrayContaining(["allowedDataClasses.0", "patterns.0", "priority"]));
    expect(bad.body.error.fields?.find((f) => f.path === "allowedDataClasses.0")?.message).toMatch(/PIN/);

    const unknownSnippet = await bank.admin.post<Fields>(path, {
      ...newRule("x1"),
      allowedSnippetIds: ["snp_nope"],
    });
    expect(unknownSnippet.status).toBe(400);
    expect(unknownSnippet.body.error.fields?.[0]?.path).toBe("allowedSnippetIds.0");

    const secondDefault = await bank.admin.post<Fields>(path, { ...newRule("x2"), isDefault: true });
    expect(secondDefault.status).toBe(400);
    const deleteDefault = await bank.admin.delete<Fields>(`${path}/allgemein`);
    expect(deleteDefault.status).toBe(409);
    const duplicate = await bank.admin.post<Fields>(path, newRule("kartensperre"));
    expect(duplicate.status).toBe(409);
    expect((await agent.get<Book>(path)).body.version).toBe(before);
  });

  it("only the bank admin writes; strangers learn nothing", async () => {
    const path = `/v1/tenants/${bank.slug}/rules`;
    expect((await agent.post(path, newRule("agent-rule"))).status).toBe(403);
    expect((await ksc.patch(`${path}/kartensperre`, { priority: 1 })).status).toBe(403);
    expect((await other.admin.get(path)).status).toBe(404);
    expect((await other.admin.post(path, newRule("foreign"))).status).toBe(404);
  });

  it("explains which rule matches a text, also for unpublished rules", async () => {
    const path = `/v1/tenants/${bank.slug}/rules/check`;
    const res = await bank.admin.post<{ winner: { ruleId: string; explanation: string }; draft: boolean }>(
      path,
      {
        text: "Meine Kreditkarte wurde gestern gestohlen!",
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.winner.ruleId).toBe("kartensperre");
    expect(res.body.winner.explanation).toMatch(/Kartensperre/);
    const book = (await agent.get<Book>(`/v1/tenants/${bank.slug}/rules`)).body;
    const draft = await bank.admin.post<{ winner: { ruleId: string }; draft: boolean }>(path, {
      text: "Ich habe eine Frage zu meinem Sparbuch",
      rules: [...book.rules, newRule("sparbuch-neu")],
    });
    expect(draft.body).toMatchObject({ draft: true, winner: { ruleId: "sparbuch-neu" } });
    expect((await agent.post(path, { text: "x" })).status).toBe(403);
  });
});

describe("snippets", () => {
  const path = () => `/v1/tenants/${bank.slug}/snippets`;

  it("CRUD with variables, audited; readable by agents and KSC", async () => {
    const created = await bank.admin.post<{ snippet: { id: string; shortcut: string } }>(path(), {
      shortcut: "Sparbuch",
      title: "Sparbuch",
      body: "Guten Tag {{customer.name}}, hier ist {{agent.name}} von der {{bank.name}}.",
      category: "Sparen",
    });
    expect(created.status).toBe(201);
    expect(created.body.snippet.shortcut).toBe("/sparbuch");
    const id = created.body.snippet.id;
    const patched = await bank.admin.patch<{ snippet: { title: string } }>(`${path()}/${id}`, {
      title: "Sparbuch-Info",
    });
    expect(patched.body.snippet.title).toBe("Sparbuch-Info");
    const list = await ksc.get<{ snippets: Array<{ id: string }> }>(path());
    expect(list.status).toBe(200);
    expect(list.body.snippets.some((s) => s.id === id)).toBe(true);
    expect((await bank.admin.delete(`${path()}/${id}`)).status).toBe(204);
    expect((await agent.get(`${path()}/${id}`)).status).toBe(404);
    const audit = await bank.admin.get<{ entries: Array<{ action: string; targetId: string }> }>(
      `/v1/tenants/${bank.slug}/audit?action=snippet.`,
    );
    expect(audit.body.entries.filter((e) => e.targetId === id).map((e) => e.action)).toEqual([
      "snippet.deleted",
      "snippet.updated",
      "snippet.created",
    ]);
  });

  it("refuses unknown variables, taken shortcuts and deleting a snippet a rule allows", async () => {
    const unknownVar = await bank.admin.post<Fields>(path(), {
      shortcut: "/x",
      title: "x",
      body: "Hallo {{kunde.iban}}",
    });
    expect(unknownVar.status).toBe(400);
    expect(unknownVar.body.error.fields?.[0]).toMatchObject({ path: "body" });
    const taken = await bank.admin.post<Fields>(path(), { shortcut: "/HALLO", title: "x", body: "Hallo" });
    expect(taken.status).toBe(409);
    const book = (await agent.get<Book>(`/v1/tenants/${bank.slug}/rules`)).body;
    const used = book.rules.find((r) => r.id === "kartensperre")?.allowedSnippetIds[0] ?? "";
    expect((await bank.admin.delete(`${path()}/${used}`)).status).toBe(409);
    expect((await agent.get(`${path()}/${used}`)).status).toBe(200);
  });

  it("only the admin writes snippets", async () => {
    expect((await agent.post(path(), { shortcut: "/a", title: "a", body: "a" })).status).toBe(403);
    expect((await ksc.post(path(), { shortcut: "/a", title: "a", body: "a" })).status).toBe(403);
    expect((await other.admin.get(path())).status).toBe(404);
  });
});
