import { BANK_ADMIN_ROLES, CONVERSATION_ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { createSnippet, deleteSnippet, getSnippet, listSnippets, updateSnippet } from "@kanal/core/rules";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { requestContext, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

const ADMIN = { roles: BANK_ADMIN_ROLES };
const READERS = { roles: CONVERSATION_ROLES };

const idParam = tenantParam.extend({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});

const snippetOut = z
  .object({
    id: z.string(),
    shortcut: z.string(),
    title: z.string(),
    body: z.string(),
    category: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Snippet");

// Field rules (shortcut format, known variables) are checked in core with German messages per field.
const snippetFields = {
  shortcut: z.string().max(40).openapi({ example: "/hallo" }),
  title: z.string().max(200),
  body: z
    .string()
    .max(5000)
    .openapi({ description: "Variables: {{customer.name}}, {{agent.name}}, {{bank.name}}, {{bank.phone}}" }),
  category: z.string().max(100).nullable().optional(),
};

const list = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/snippets",
  tags: ["Snippets"],
  summary: "Text snippets (Textbausteine)",
  request: { params: tenantParam },
  responses: {
    200: jsonResponse(z.object({ snippets: z.array(snippetOut) }), "Snippets"),
    ...errorResponses,
  },
});

const getOne = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/snippets/{id}",
  tags: ["Snippets"],
  summary: "One snippet",
  request: { params: idParam },
  responses: { 200: jsonResponse(z.object({ snippet: snippetOut }), "Snippet"), ...errorResponses },
});

const create = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/snippets",
  tags: ["Snippets"],
  summary: "Add a snippet",
  request: { params: tenantParam, ...jsonBody(z.strictObject(snippetFields)) },
  responses: { 201: jsonResponse(z.object({ snippet: snippetOut }), "Created"), ...errorResponses },
});

const patch = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "patch",
  path: "/v1/tenants/{tenant}/snippets/{id}",
  tags: ["Snippets"],
  summary: "Change a snippet",
  request: { params: idParam, ...jsonBody(z.strictObject(snippetFields).partial()) },
  responses: { 200: jsonResponse(z.object({ snippet: snippetOut }), "Updated"), ...errorResponses },
});

const remove = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "delete",
  path: "/v1/tenants/{tenant}/snippets/{id}",
  tags: ["Snippets"],
  summary: "Delete a snippet (refused while a rule allows it)",
  request: { params: idParam },
  responses: { 204: { description: "Deleted" }, ...errorResponses },
});

export function registerSnippets(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json({ snippets: await listSnippets(db, access) }, 200);
  });

  app.openapi(getOne, async (c) => {
    const { db } = c.get("services");
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    return c.json({ snippet: await getSnippet(db, access, id) }, 200);
  });

  app.openapi(create, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    return c.json({ snippet: await createSnippet(db, ctx, access, c.req.valid("json")) }, 201);
  });

  app.openapi(patch, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    return c.json({ snippet: await updateSnippet(db, ctx, access, id, c.req.valid("json")) }, 200);
  });

  app.openapi(remove, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    await deleteSnippet(db, ctx, access, id);
    return c.body(null, 204);
  });
}
