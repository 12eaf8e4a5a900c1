import { BANK_ADMIN_ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import {
  assignPlan,
  billingOverview,
  enqueueBillingSetup,
  listPlans,
  savePlan,
  stripeClient,
} from "@kanal/core/billing";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { providerOnly, requestContext, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, slugSchema, tenantParam } from "../schemas";

const priceId = z.string().regex(/^price_[A-Za-z0-9_]{1,200}$/, "must be a Stripe price id (price_…)");

const planSchema = z
  .object({
    id: z.string(),
    code: z.string(),
    name: z.string(),
    currency: z.string(),
    prices: z.object({
      base: z.string(),
      inHouseConversation: z.string(),
      kscConversation: z.string(),
      templateMessage: z.string(),
    }),
    amounts: z.record(z.string(), z.number().nullable()),
    isDefault: z.boolean(),
    active: z.boolean(),
  })
  .openapi("BillingPlan");

const kindUsage = z.object({ count: z.number(), reported: z.number(), unreportable: z.number() });

const overviewSchema = z
  .object({
    enabled: z.boolean(),
    billingStatus: z.string(),
    plan: planSchema.nullable(),
    subscription: z
      .object({
        status: z.string().nullable(),
        currentPeriodStart: z.string().nullable(),
        currentPeriodEnd: z.string().nullable(),
      })
      .nullable(),
    stripe: z
      .object({
        customerId: z.string().nullable(),
        subscriptionId: z.string().nullable(),
        lastError: z.string().nullable(),
        setupAttempts: z.number(),
      })
      .optional(),
    period: z.object({
      from: z.string(),
      to: z.string(),
      source: z.enum(["subscription", "calendar_month"]),
    }),
    usage: z.object({
      from: z.string(),
      to: z.string(),
      byKind: z.object({
        in_house_conversation: kindUsage,
        ksc_conversation: kindUsage,
        template_message: kindUsage,
      }),
      templatesByCategory: z.record(z.string(), z.number()).openapi({
        description:
          "template messages by category (MARKETING, UTILITY, AUTHENTICATION; unknown: before the registry)",
      }),
      total: z.number(),
      pendingReport: z.number(),
    }),
    invoices: z.array(
      z.object({
        id: z.string(),
        number: z.string().nullable(),
        status: z.string(),
        currency: z.string(),
        amountDue: z.number(),
        amountPaid: z.number(),
        periodStart: z.string().nullable(),
        periodEnd: z.string().nullable(),
        url: z.string().nullable(),
        createdAt: z.string(),
      }),
    ),
  })
  .openapi("BillingOverview");

const listPlansRoute = createRoute({
  middleware: [providerOnly] as const,
  method: "get",
  path: "/v1/billing/plans",
  tags: ["Billing"],
  summary: "Billing plans (provider)",
  responses: { 200: jsonResponse(z.object({ plans: z.array(planSchema) }), "Plans"), ...errorResponses },
});

const savePlanRoute = createRoute({
  middleware: [providerOnly] as const,
  method: "put",
  path: "/v1/billing/plans/{code}",
  tags: ["Billing"],
  summary: "Create or change a plan: Stripe price ids for the base fee and the three usage kinds",
  request: {
    params: z.object({ code: slugSchema.openapi({ param: { name: "code", in: "path" } }) }),
    ...jsonBody(
      z.strictObject({
        name: z.string().min(2).max(120),
        prices: z.strictObject({
          base: priceId,
          inHouseConversation: priceId,
          kscConversation: priceId,
          templateMessage: priceId,
        }),
        isDefault: z.boolean().optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(z.object({ plan: planSchema }), "Saved"), ...errorResponses },
});

const overviewRoute = createRoute({
  middleware: [tenantRole({ roles: BANK_ADMIN_ROLES, provider: true })] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/billing",
  tags: ["Billing"],
  summary: "The bank's plan, usage of the current period by kind, invoices (provider and bank admins)",
  request: {
    params: tenantParam,
    query: z.object({
      month: z
        .string()
        .regex(/^\d{4}-(0[1-9]|1[0-2])$/, "must be YYYY-MM")
        .optional(),
    }),
  },
  responses: { 200: jsonResponse(overviewSchema, "Billing of the bank"), ...errorResponses },
});

const assignPlanRoute = createRoute({
  middleware: [providerOnly, tenantRole({ provider: true })] as const,
  method: "put",
  path: "/v1/tenants/{tenant}/billing/plan",
  tags: ["Billing"],
  summary: "Set the bank's plan (before its subscription exists); queues the Stripe set-up",
  request: { params: tenantParam, ...jsonBody(z.strictObject({ plan: slugSchema })) },
  responses: {
    200: jsonResponse(
      z.object({ plan: z.string(), setup: z.enum(["queued", "pending", "off"]) }),
      "Assigned",
    ),
    ...errorResponses,
  },
});

const setupRoute = createRoute({
  middleware: [providerOnly, tenantRole({ provider: true })] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/billing/setup",
  tags: ["Billing"],
  summary: "Queue the bank's Stripe set-up again (after an outage); safe to repeat",
  request: { params: tenantParam },
  responses: {
    202: jsonResponse(z.object({ setup: z.enum(["queued", "pending", "off"]) }), "Queued"),
    ...errorResponses,
  },
});

export function registerBilling(app: OpenAPIHono<AppEnv>) {
  app.openapi(listPlansRoute, async (c) => {
    return c.json({ plans: await listPlans(c.get("services").db, requestContext(c)) }, 200);
  });

  app.openapi(savePlanRoute, async (c) => {
    const services = c.get("services");
    const { code } = c.req.valid("param");
    const plan = await savePlan(services.db, stripeClient(services.config), requestContext(c), {
      code,
      ...c.req.valid("json"),
    });
    return c.json({ plan }, 200);
  });

  app.openapi(overviewRoute, async (c) => {
    const services = c.get("services");
    const access = tenantAccess(c);
    return c.json(await billingOverview(services, access, { month: c.req.valid("query").month }), 200);
  });

  app.openapi(assignPlanRoute, async (c) => {
    const services = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    const { plan } = c.req.valid("json");
    await assignPlan(services.db, ctx, access, plan);
    const setup = stripeClient(services.config)
      ? await enqueueBillingSetup(services.queues, access.tenant.id)
      : "off";
    return c.json({ plan, setup }, 200);
  });

  app.openapi(setupRoute, async (c) => {
    const services = c.get("services");
    const access = tenantAccess(c);
    const setup = stripeClient(services.config)
      ? await enqueueBillingSetup(services.queues, access.tenant.id)
      : "off";
    return c.json({ setup }, 202);
  });
}
