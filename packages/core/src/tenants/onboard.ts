import { CONTROL_SCHEMA, migrateSchema, type Db, type SchemaMigration } from "@kanal/db";
import { defaultRuleBook, defaultSnippets, remapSnippetIds } from "@kanal/rules";
import { defaultRoutingConfig } from "@kanal/routing";
import { auditControl, auditTenant } from "../kernel/audit";
import { hashPassword } from "../auth/passwords";
import { encryptSecret, newId } from "../kernel/crypto";
import { conflict, invalid, uniqueViolation } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import { requireProvider } from "./access";

const SLUG_PATTERN = /^[a-z][a-z0-9-]{1,39}$/;
const RESERVED_SLUGS = new Set([
  "admin",
  "api",
  "app",
  "assets",
  "control",
  "docs",
  "health",
  "internal",
  "kanal",
  "login",
  "metrics",
  "new",
  "provider",
  "public",
  "static",
  "system",
  "webhooks",
  "www",
  "pg",
  "information-schema",
]);

function tenantSchemaName(slug: string): string {
  return `t_${slug.replaceAll("-", "_")}`;
}

export function checkSlug(slug: string, path = "slug"): void {
  if (!SLUG_PATTERN.test(slug)) {
    throw invalid("Invalid slug", [{ path, message: "must match ^[a-z][a-z0-9-]{1,39}$" }]);
  }
  if (RESERVED_SLUGS.has(slug) || slug.startsWith("pg-")) {
    throw invalid("Reserved slug", [{ path, message: `"${slug}" is reserved` }]);
  }
}

interface OnboardTenantInput {
  slug: string;
  name: string;
  timezone: string;
  region: string;
  whatsapp: { phoneNumberId: string; wabaId: string; displayPhoneNumber: string; accessToken: string };
  admin: { email: string; name: string; password: string };
}

interface OnboardDeps {
  db: Db;
  secretsKey: Buffer;
  tenantMigrations: readonly SchemaMigration[];
}

const CONSTRAINT_FIELDS: Record<string, { path: string; message: string }> = {
  tenants_slug_key: { path: "slug", message: "is already taken" },
  tenants_schema_name_key: { path: "slug", message: "is already taken" },
  whatsapp_numbers_pkey: { path: "whatsapp.phoneNumberId", message: "is already connected to another bank" },
  users_email_lower: { path: "admin.email", message: "already has an account" },
};

/**
 * Onboards a bank in ONE transaction: tenant row, schema and its migrations, default rule book, snippets and
 * routing, WhatsApp number (token sealed with AES-256-GCM), first admin. Postgres DDL is transactional, so a
 * failure at any step leaves no row, no schema and no membership behind.
 */
export async function onboardTenant(deps: OnboardDeps, ctx: RequestContext, input: OnboardTenantInput) {
  requireProvider(ctx.actor);
  checkSlug(input.slug);
  const tenantId = newId("ten");
  const adminId = newId("usr");
  const schema = tenantSchemaName(input.slug);
  const passwordHash = await hashPassword(input.admin.password);
  const latest = deps.tenantMigrations.at(-1)?.name ?? null;

  try {
    return await deps.db.transaction().execute(async (trx) => {
      const control = trx.withSchema(CONTROL_SCHEMA);
      const tenant = await control
        .insertInto("tenants")
        .values({
          id: tenantId,
          slug: input.slug,
          name: input.name,
          schema_name: schema,
          timezone: input.timezone,
          region: input.region,
          schema_version: latest,
        })
        .returningAll()
        .executeTakeFirstOrThrow();

      await migrateSchema(trx, schema, deps.tenantMigrations);

      // Default snippets get our own ids; the default rule book refers to them by their default ids.
      const snippets = defaultSnippets().map((s) => ({ ...s, storedId: newId("snp") }));
      await trx
        .withSchema(schema)
        .insertInto("snippets")
        .values(
          snippets.map((s) => ({
            id: s.storedId,
            shortcut: s.shortcut,
            title: s.title,
            body: s.body,
            category: s.category,
            updated_at: new Date(),
          })),
        )
        .execute();
      const book = remapSnippetIds(defaultRuleBook(), new Map(snippets.map((s) => [s.id, s.storedId])));
      await trx
        .withSchema(schema)
        .insertInto("rule_book_versions")
        .values({ version: 1, rules: JSON.stringify(book.rules), created_by: null })
        .execute();
      await trx
        .withSchema(schema)
        .insertInto("settings")
        .values({ key: "routing", value: JSON.stringify(defaultRoutingConfig), updated_at: new Date() })
        .execute();

      await control
        .insertInto("whatsapp_numbers")
        .values({
          phone_number_id: input.whatsapp.phoneNumberId,
          tenant_id: tenantId,
          waba_id: input.whatsapp.wabaId,
          display_phone_number: input.whatsapp.displayPhoneNumber,
          access_token_enc: encryptSecret(input.whatsapp.accessToken, deps.secretsKey),
        })
        .execute();

      await control
        .insertInto("users")
        .values({
          id: adminId,
          email: input.admin.email,
          name: input.admin.name,
          password_hash: passwordHash,
        })
        .execute();
      await control
        .insertInto("memberships")
        .values({
          id: newId("mem"),
          user_id: adminId,
          role: "bank_admin",
          tenant_id: tenantId,
          ksc_org_id: null,
          deputy_user_id: null,
          advisor_code: null,
        })
        .execute();
      await control
        .insertInto("agent_state")
        .values({ user_id: adminId, presence_changed_at: new Date() })
        .execute();

      const entry = { ip: ctx.ip, requestId: ctx.requestId, targetType: "tenant", targetId: tenantId };
      await auditTenant(trx, schema, ctx.actor, {
        ...entry,
        action: "tenant.created",
        details: { slug: input.slug, adminUserId: adminId },
      });
      await auditControl(trx, ctx.actor, {
        ...entry,
        action: "tenant.created",
        tenantId,
        details: { slug: input.slug },
      });

      return { tenant, admin: { id: adminId, email: input.admin.email, name: input.admin.name } };
    });
  } catch (error) {
    const constraint = uniqueViolation(error);
    if (constraint !== null) {
      const field = CONSTRAINT_FIELDS[constraint];
      throw conflict(
        field ? `${field.path} ${field.message}` : "Conflicts with an existing record",
        field ? [field] : undefined,
      );
    }
    throw error;
  }
}
