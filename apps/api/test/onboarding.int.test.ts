import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decryptSecret } from "@kanal/core/kernel";
import { sql, type SchemaMigration } from "@kanal/db";
import { tenantMigrations } from "@kanal/migrations";
import {
  onboardBank,
  PASSWORD,
  providerClient,
  startTestSystem,
  TestClient,
  unique,
  uniqueDigits,
  type TestSystem,
} from "../../../test/support/system";

let system: TestSystem;
let provider: TestClient;

beforeAll(async () => {
  system = await startTestSystem();
  provider = await providerClient(system);
});
afterAll(() => system.close());

async function schemaExists(schema: string) {
  const r = await sql<{
    n: string;
  }>`select count(*)::text as n from information_schema.schemata where schema_name = ${schema}`.execute(
    system.services.db,
  );
  return r.rows[0]?.n === "1";
}

function tenantBody(overrides: Record<string, unknown> = {}) {
  const slug = unique("bank-");
  return {
    slug,
    name: "Sparkasse Test",
    whatsapp: {
      phoneNumberId: uniqueDigits(15),
      wabaId: uniqueDigits(15),
      displayPhoneNumber: "+49 89 1",
      accessToken: "EAAGsecret-token-value",
    },
    admin: { email: `admin@${slug}.test`, name: "Anna Admin", password: PASSWORD },
    ...overrides,
  };
}

describe("POST /v1/tenants (onboarding)", () => {
  it("creates tenant, schema, encrypted number, admin, default rules and snippets in German", async () => {
    const bank = await onboardBank(system, provider);
    const db = system.services.db;
    expect(await schemaExists(bank.schema)).toBe(true);

    const number = await db
      .withSchema("control")
      .selectFrom("whatsapp_numbers")
      .selectAll()
      .where("tenant_id", "=", bank.tenantId)
      .executeTakeFirstOrThrow();
    expect(number.access_token_enc).not.toContain(bank.accessToken);
    expect(decryptSecret(number.access_token_enc, system.services.config.secretsKey)).toBe(bank.accessToken);

    const book = await db
      .withSchema(bank.schema)
      .selectFrom("rule_book_versions")
      .selectAll()
      .executeTakeFirstOrThrow();
    const topics = (book.rules as { topic: string }[]).map((r) => r.topic).join(" | ");
    expect(topics).toMatch(/Kartensperre/);
    expect(topics).toMatch(/Online-Banking/);
    const snippets = await db.withSchema(bank.schema).selectFrom("snippets").selectAll().execute();
    expect(snippets.length).toBeGreaterThanOrEqual(5);
    expect(snippets.map((s) => s.title).join(" ")).toMatch(/Begrüßung/);

    const me = await bank.admin.get<{ memberships: { tenant: string; role: string }[] }>("/v1/me");
    expect(me.body.memberships).toEqual([expect.objectContaining({ tenant: bank.slug, role: "bank_admin" })]);

    const audit = await db.withSchema(bank.schema).selectFrom("audit_log").selectAll().execute();
    expect(audit.map((a) => a.action)).toContain("tenant.created");
  });

  it("answers 409 on a taken slug and a taken phoneNumberId, with the field", async () => {
    const first = tenantBody();
    expect((await provider.post("/v1/tenants", first)).status).toBe(201);
    const sameSlug = await provider.post<{ error: { code: string; fields: { path: string }[] } }>(
      "/v1/tenants",
      tenantBody({ slug: first.slug }),
    );
    expect(sameSlug.status).toBe(409);
    expect(sameSlug.body.error.fields[0]?.path).toBe("slug");
    const sameNumber = await provider.post<{ error: { code: string; fields: { path: string }[] } }>(
      "/v1/tenants",
      tenantBody({ whatsapp: { ...first.whatsapp } }),
    );
    expect(sameNumber.status).toBe(409);
    expect(sameNumber.body.error.fields[0]?.path).toBe("whatsapp.phoneNumberId");
  });

  it("rolls everything back when the last step fails (admin email taken): no row, no schema, no number", async () => {
    const existing = await onboardBank(system, provider);
    const body = tenantBody({ admin: { email: existing.adminEmail, name: "Dup", password: PASSWORD } });
    const res = await provider.post<{ error: { code: string } }>("/v1/tenants", body);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("conflict");
    const db = system.services.db;
    expect(
      await db
        .withSchema("control")
        .selectFrom("tenants")
        .select("id")
        .where("slug", "=", body.slug)
        .executeTakeFirst(),
    ).toBeUndefined();
    expect(await schemaExists(`t_${body.slug.replaceAll("-", "_")}`)).toBe(false);
    expect(
      await db
        .withSchema("control")
        .selectFrom("whatsapp_numbers")
        .select("tenant_id")
        .where("phone_number_id", "=", body.whatsapp.phoneNumberId)
        .executeTakeFirst(),
    ).toBeUndefined();
  });

  it("rolls everything back when a tenant migration fails midway", async () => {
    const broken: SchemaMigration = {
      name: "9999_broken",
      up: async (trx, schema) => {
        await sql`create table ${sql.id(schema, "half_done")} (id int)`.execute(trx);
        throw new Error("disk on fire");
      },
    };
    const brokenSystem = await startTestSystem({ tenantMigrations: [...tenantMigrations, broken] });
    try {
      const brokenProvider = await providerClient(brokenSystem);
      const body = tenantBody();
      const res = await brokenProvider.post<{ error: { code: string } }>("/v1/tenants", body);
      expect(res.status).toBe(500);
      expect(res.body.error.code).toBe("internal");
      const db = system.services.db;
      expect(
        await db
          .withSchema("control")
          .selectFrom("tenants")
          .select("id")
          .where("slug", "=", body.slug)
          .executeTakeFirst(),
      ).toBeUndefined();
      expect(await schemaExists(`t_${body.slug.replaceAll("-", "_")}`)).toBe(false);
      const memberships = await db
        .withSchema("control")
        .selectFrom("users")
        .select("id")
        .where("email", "=", body.admin.email)
        .execute();
      expect(memberships).toEqual([]);
    } finally {
      await brokenSystem.close();
    }
  });

  it("refuses bad input with clear 4xx errors and writes nothing", async () => {
    const count = async () =>
      Number(
        (
          await system.services.db
            .withSchema("control")
            .selectFrom("tenants")
            .select((eb) => eb.fn.countAll<string>().as("n"))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const malformed = await provider.request<{ error: { code: string } }>(
      "POST",
      "/v1/tenants",
      "{not json",
      { "content-type": "application/json" },
    );
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("invalid_request");

    const unknownField = await provider.post<{ error: { fields: { path: string; message: string }[] } }>(
      "/v1/tenants",
      tenantBody({ color: "red" }),
    );
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.fields).toContainEqual({ path: "color", message: "unknown field" });

    const badSlug = await provider.post<{ error: { fields: { path: string }[] } }>(
      "/v1/tenants",
      tenantBody({ slug: "Bad_Slug" }),
    );
    expect(badSlug.status).toBe(400);
    expect(badSlug.body.error.fields[0]?.path).toBe("slug");

    const reserved = await provider.post<{ error: { message: string } }>(
      "/v1/tenants",
      tenantBody({ slug: "admin" }),
    );
    expect(reserved.status).toBe(400);
    expect(reserved.body.error.message).toMatch(/Reserved/);

    const missingNumber = await provider.post<{ error: { fields: { path: string }[] } }>(
      "/v1/tenants",
      tenantBody({ whatsapp: undefined }),
    );
    expect(missingNumber.status).toBe(400);
    expect(missingNumber.body.error.fields[0]?.path).toBe("whatsapp");

    const huge = await provider.post<{ error: { code: string } }>(
      "/v1/tenants",
      tenantBody({ name: "x".repeat(2 * 1024 * 1024) }),
    );
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe("payload_too_large");

    expect(await count()).toBe(before);
  });

  it("is for provider admins only", async () => {
    const bank = await onboardBank(system, provider);
    const res = await bank.admin.post<{ error: { code: string } }>("/v1/tenants", tenantBody());
    expect(res.status).toBe(403);
    const anonymous = await new TestClient(system.app).post<{ error: { code: string } }>(
      "/v1/tenants",
      tenantBody(),
    );
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe("unauthenticated");
  });
});
