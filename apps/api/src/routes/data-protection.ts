import { BANK_ADMIN_ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import {
  eraseCustomer,
  exportCustomer,
  getRetention,
  MAX_RETENTION_DAYS,
  setRetention,
} from "@kanal/core/data-protection";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { requestContext, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

const ADMIN = { roles: BANK_ADMIN_ROLES };

const retentionOut = z
  .object({ days: z.number().nullable(), updatedAt: z.string().nullable() })
  .openapi("Retention");

const getRetentionRoute = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/settings/retention",
  tags: ["Data protection"],
  summary: "How long closed conversations are kept (null: kept until deleted by hand)",
  request: { params: tenantParam },
  responses: { 200: jsonResponse(z.object({ retention: retentionOut }), "Retention"), ...errorResponses },
});

const putRetentionRoute = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "put",
  path: "/v1/tenants/{tenant}/settings/retention",
  tags: ["Data protection"],
  summary: "Set the retention period in days (closed conversations older than this are deleted daily)",
  request: {
    params: tenantParam,
    ...jsonBody(z.strictObject({ days: z.number().int().min(1).max(MAX_RETENTION_DAYS).nullable() })),
  },
  responses: { 200: jsonResponse(z.object({ retention: retentionOut }), "Retention"), ...errorResponses },
});

const customerParam = tenantParam.extend({
  id: z
    .string()
    .min(1)
    .max(128)
    .openapi({ param: { name: "id", in: "path" }, description: "Customer id or the core banking reference" }),
});

const exportRoute = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/customers/{id}/export",
  tags: ["Data protection"],
  summary: "Everything stored about a customer as JSON (access request)",
  request: { params: customerParam },
  responses: {
    200: jsonResponse(z.record(z.string(), z.unknown()).openapi("CustomerExport"), "Export"),
    ...errorResponses,
  },
});

const eraseRoute = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "delete",
  path: "/v1/tenants/{tenant}/customers/{id}",
  tags: ["Data protection"],
  summary:
    "Erase a customer with all conversations, messages, media and raw webhook events naming them (refused while a chat is open or a message of theirs is still being received)",
  request: { params: customerParam },
  responses: {
    200: jsonResponse(
      z.object({
        erased: z.object({ customerId: z.string(), conversations: z.number(), messages: z.number() }),
      }),
      "Erased",
    ),
    ...errorResponses,
  },
});

export function registerDataProtection(app: OpenAPIHono<AppEnv>) {
  app.openapi(getRetentionRoute, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json({ retention: await getRetention(db, access.schema) }, 200);
  });

  app.openapi(putRetentionRoute, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    return c.json({ retention: await setRetention(db, ctx, access, c.req.valid("json")) }, 200);
  });

  app.openapi(exportRoute, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    const exported = await exportCustomer(db, ctx, access, id);
    c.header("Content-Disposition", `attachment; filename="kunde-${exported.customer.id}.json"`);
    c.header("Cache-Control", "no-store");
    return c.json(JSON.parse(JSON.stringify(exported)) as Record<string, unknown>, 200);
  });

  app.openapi(eraseRoute, async (c) => {
    const services = c.get("services");
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    return c.json({ erased: await eraseCustomer(services, ctx, access, id) }, 200);
  });
}
