import type { Db } from "@kanal/db";
import type { Actor } from "../kernel/actor";
import { auditTenant } from "../kernel/audit";
import { newId, randomToken, sha256Hex } from "../kernel/crypto";
import { notFound } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { TenantAccess } from "../tenants/access";

export const API_KEY_SCOPES = ["customers:read", "customers:write", "notifications"] as const;
type ApiKeyScope = (typeof API_KEY_SCOPES)[number];
const KEY_PREFIX = "knl_";

/** Creates a tenant-scoped key; the secret is returned once and only its SHA-256 is kept. */
export async function createApiKey(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  input: { name: string; scopes: ApiKeyScope[] },
) {
  const id = newId("key");
  const secret = `${KEY_PREFIX}${randomToken(32)}`;
  const prefix = secret.slice(0, 12);
  await db.transaction().execute(async (trx) => {
    await trx
      .withSchema("control")
      .insertInto("api_keys")
      .values({
        id,
        tenant_id: access.tenant.id,
        name: input.name,
        prefix,
        key_hash: sha256Hex(secret),
        scopes: input.scopes,
        created_by: ctx.actor.kind === "user" ? ctx.actor.userId : null,
      })
      .execute();
    await auditTenant(trx, access.schema, ctx.actor, {
      action: "api_key.created",
      targetType: "api_key",
      targetId: id,
      details: { name: input.name, scopes: input.scopes, prefix },
      ip: ctx.ip,
      requestId: ctx.requestId,
    });
  });
  return { id, name: input.name, prefix, scopes: input.scopes, key: secret };
}

export async function listApiKeys(db: Db, access: TenantAccess) {
  const rows = await db
    .withSchema("control")
    .selectFrom("api_keys")
    .select(["id", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"])
    .where("tenant_id", "=", access.tenant.id)
    .orderBy("created_at", "desc")
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes,
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
  }));
}

export async function revokeApiKey(db: Db, ctx: RequestContext, access: TenantAccess, keyId: string) {
  await db.transaction().execute(async (trx) => {
    const revoked = await trx
      .withSchema("control")
      .updateTable("api_keys")
      .set({ revoked_at: new Date() })
      .where("id", "=", keyId)
      .where("tenant_id", "=", access.tenant.id)
      .where("revoked_at", "is", null)
      .returning("id")
      .executeTakeFirst();
    if (!revoked) throw notFound("API key");
    await auditTenant(trx, access.schema, ctx.actor, {
      action: "api_key.revoked",
      targetType: "api_key",
      targetId: keyId,
      ip: ctx.ip,
      requestId: ctx.requestId,
    });
  });
}

/** Looks a presented key up by its hash; unknown or revoked keys authenticate nobody. */
export async function authenticateApiKey(db: Db, presented: string): Promise<Actor | null> {
  if (!presented.startsWith(KEY_PREFIX)) return null;
  const row = await db
    .withSchema("control")
    .updateTable("api_keys")
    .set({ last_used_at: new Date() })
    .where("key_hash", "=", sha256Hex(presented))
    .where("revoked_at", "is", null)
    .returning(["id", "tenant_id", "scopes"])
    .executeTakeFirst();
  return row ? { kind: "api_key", keyId: row.id, tenantId: row.tenant_id, scopes: row.scopes } : null;
}
