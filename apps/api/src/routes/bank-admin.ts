import { BANK_ADMIN_ROLES, BANK_STAFF_ROLES, CONVERSATION_ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { API_KEY_SCOPES, createApiKey, listApiKeys, revokeApiKey } from "@kanal/core/auth";
import { createBankUser, listBankUsers, updateBankUser } from "@kanal/core/people";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { requestContext, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, passwordSchema, tenantParam } from "../schemas";

const ADMIN = { roles: BANK_ADMIN_ROLES };
const idParam = (name: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name, in: "path" } });

const bankUserSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    role: z.string(),
    maxChats: z.number(),
    deputyUserId: z.string().nullable(),
    advisorCode: z.string().nullable(),
    disabled: z.boolean(),
    presence: z.string(),
  })
  .openapi("BankUser");

const bankRole = z.enum(BANK_STAFF_ROLES);
const advisorCode = z.string().regex(/^[A-Za-z0-9]{2,12}$/, "2–12 letters or digits");

const listUsers = createRoute({
  middleware: [tenantRole({ roles: CONVERSATION_ROLES })] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/users",
  tags: ["Bank administration"],
  summary: "People of the bank",
  request: { params: tenantParam },
  responses: { 200: jsonResponse(z.object({ users: z.array(bankUserSchema) }), "Users"), ...errorResponses },
});

const createUser = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/users",
  tags: ["Bank administration"],
  summary: "Add a person (admin, agent or advisor)",
  request: {
    params: tenantParam,
    ...jsonBody(
      z.strictObject({
        email: z.email().max(320),
        name: z.string().min(1).max(120),
        role: bankRole,
        password: passwordSchema,
        maxChats: z.number().int().min(1).max(100).optional(),
        deputyUserId: z.string().nullable().optional(),
        advisorCode: advisorCode.nullable().optional(),
      }),
    ),
  },
  responses: { 201: jsonResponse(z.object({ user: bankUserSchema }), "Created"), ...errorResponses },
});

const patchUser = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "patch",
  path: "/v1/tenants/{tenant}/users/{id}",
  tags: ["Bank administration"],
  summary: "Change a person",
  request: {
    params: tenantParam.extend({ id: idParam("id") }),
    ...jsonBody(
      z.strictObject({
        name: z.string().min(1).max(120).optional(),
        role: bankRole.optional(),
        password: passwordSchema.optional(),
        maxChats: z.number().int().min(1).max(100).optional(),
        deputyUserId: z.string().nullable().optional(),
        advisorCode: advisorCode.nullable().optional(),
        disabled: z.boolean().optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(z.object({ user: bankUserSchema }), "Updated"), ...errorResponses },
});

const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    scopes: z.array(z.string()),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");

const listKeys = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/api-keys",
  tags: ["Bank administration"],
  summary: "API keys of the bank (secrets are never shown again)",
  request: { params: tenantParam },
  responses: { 200: jsonResponse(z.object({ apiKeys: z.array(apiKeySchema) }), "Keys"), ...errorResponses },
});

const createKey = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/api-keys",
  tags: ["Bank administration"],
  summary: "Create an API key for the core banking system (secret shown once)",
  request: {
    params: tenantParam,
    ...jsonBody(
      z.strictObject({
        name: z.string().min(1).max(80),
        scopes: z.array(z.enum(API_KEY_SCOPES)).min(1).default(["customers:read", "customers:write"]),
      }),
    ),
  },
  responses: {
    201: jsonResponse(
      z.object({
        apiKey: z.object({
          id: z.string(),
          name: z.string(),
          prefix: z.string(),
          scopes: z.array(z.string()),
          key: z.string(),
        }),
      }),
      "Created",
    ),
    ...errorResponses,
  },
});

const deleteKey = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "delete",
  path: "/v1/tenants/{tenant}/api-keys/{id}",
  tags: ["Bank administration"],
  summary: "Revoke an API key",
  request: { params: tenantParam.extend({ id: idParam("id") }) },
  responses: { 204: { description: "Revoked" }, ...errorResponses },
});

const auditRoute = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/audit",
  tags: ["Bank administration"],
  summary: "The bank's audit log, newest first",
  request: {
    params: tenantParam,
    query: z.object({
      limit: z.coerce.number().int().min(1).max(500).default(100),
      before: z.coerce.number().int().positive().optional(),
      action: z.string().max(80).optional(),
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({
        entries: z.array(
          z.object({
            id: z.string(),
            at: z.string(),
            actorUserId: z.string().nullable(),
            actorKind: z.string(),
            actorName: z.string().nullable(),
            action: z.string(),
            targetType: z.string().nullable(),
            targetId: z.string().nullable(),
            details: z.record(z.string(), z.unknown()),
          }),
        ),
      }),
      "Audit entries",
    ),
    ...errorResponses,
  },
});

export function registerBankAdmin(app: OpenAPIHono<AppEnv>) {
  app.openapi(listUsers, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json({ users: await listBankUsers(db, access) }, 200);
  });

  app.openapi(createUser, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    return c.json({ user: await createBankUser(db, ctx, access, c.req.valid("json")) }, 201);
  });

  app.openapi(patchUser, async (c) => {
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    return c.json(
      { user: await updateBankUser(c.get("services"), ctx, access, id, c.req.valid("json")) },
      200,
    );
  });

  app.openapi(listKeys, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json({ apiKeys: await listApiKeys(db, access) }, 200);
  });

  app.openapi(createKey, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    return c.json({ apiKey: await createApiKey(db, ctx, access, c.req.valid("json")) }, 201);
  });

  app.openapi(deleteKey, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    await revokeApiKey(db, ctx, access, id);
    return c.body(null, 204);
  });

  app.openapi(auditRoute, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    const { limit, before, action } = c.req.valid("query");
    let query = db
      .withSchema(access.schema)
      .selectFrom("audit_log")
      .selectAll()
      .orderBy("id", "desc")
      .limit(limit);
    if (before) query = query.where("id", "<", String(before));
    if (action) query = query.where("action", "like", `${action.replaceAll("%", "")}%`);
    const rows = await query.execute();
    const userIds = [
      ...new Set(rows.flatMap((r) => (r.actor_kind === "user" && r.actor_user_id ? [r.actor_user_id] : []))),
    ];
    const names = userIds.length
      ? await db
          .withSchema("control")
          .selectFrom("users")
          .select(["id", "name"])
          .where("id", "in", userIds)
          .execute()
      : [];
    const nameOf = new Map(names.map((n) => [n.id, n.name]));
    return c.json(
      {
        entries: rows.map((r) => ({
          id: String(r.id),
          at: r.at.toISOString(),
          actorUserId: r.actor_user_id,
          actorKind: r.actor_kind,
          actorName: r.actor_user_id ? (nameOf.get(r.actor_user_id) ?? null) : null,
          action: r.action,
          targetType: r.target_type,
          targetId: r.target_id,
          details: r.details,
        })),
      },
      200,
    );
  });
}
