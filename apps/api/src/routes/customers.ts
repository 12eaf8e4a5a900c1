import { BANK_STAFF_ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { searchCustomers, upsertCustomer } from "@kanal/core/customers";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { requestContext, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

const customerSchema = z
  .object({
    id: z.string(),
    externalRef: z.string().nullable(),
    name: z.string().nullable(),
    profileName: z.string().nullable(),
    waId: z.string().nullable(),
    advisorUserId: z.string().nullable(),
    notifications: z.object({
      optedInAt: z.string().nullable(),
      optedOutAt: z.string().nullable(),
      allowed: z.boolean().openapi({ description: "recorded opt-in and no STOP since" }),
    }),
    createdAt: z.string(),
  })
  .openapi("Customer");

const putCustomer = createRoute({
  middleware: [tenantRole({ roles: BANK_STAFF_ROLES, scope: "customers:write" })] as const,
  method: "put",
  path: "/v1/tenants/{tenant}/customers/{externalRef}",
  tags: ["Customers"],
  summary: "Create or update a customer by the core banking reference (API key scope customers:write)",
  request: {
    params: tenantParam.extend({
      externalRef: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,64}$/, "1–64 letters, digits, . _ -")
        .openapi({ param: { name: "externalRef", in: "path" } }),
    }),
    ...jsonBody(
      z.strictObject({
        name: z.string().min(1).max(200),
        waId: z
          .string()
          .regex(/^\d{6,20}$/, "must be the WhatsApp id (digits, international format without +)"),
        advisorUserId: z.string().nullable().optional(),
        notificationsOptIn: z.boolean().optional().openapi({
          description:
            "the customer's opt-in (true) or opt-out (false) for notifications, given e.g. in online banking",
        }),
      }),
    ),
  },
  responses: {
    200: jsonResponse(z.object({ customer: customerSchema }), "Updated"),
    201: jsonResponse(z.object({ customer: customerSchema }), "Created"),
    ...errorResponses,
  },
});

const searchRoute = createRoute({
  middleware: [tenantRole({ roles: BANK_STAFF_ROLES, scope: "customers:read" })] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/customers",
  tags: ["Customers"],
  summary: "Person search by name, phone or reference",
  request: { params: tenantParam, query: z.object({ q: z.string().max(100).default("") }) },
  responses: {
    200: jsonResponse(z.object({ customers: z.array(customerSchema) }), "Customers"),
    ...errorResponses,
  },
});

export function registerCustomers(app: OpenAPIHono<AppEnv>) {
  app.openapi(putCustomer, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const { externalRef } = c.req.valid("param");
    const access = tenantAccess(c);
    const { customer, created } = await upsertCustomer(db, ctx, access, externalRef, c.req.valid("json"));
    return created ? c.json({ customer }, 201) : c.json({ customer }, 200);
  });

  app.openapi(searchRoute, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json({ customers: await searchCustomers(db, access, c.req.valid("query").q) }, 200);
  });
}
