import { BANK_ADMIN_ROLES, CONVERSATION_ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { contractKsc, endKscContract } from "@kanal/core/conversations";
import { addKscAgent, createKscOrg, kscContractHistory, listKscOrgs } from "@kanal/core/people";
import { onboardTenant } from "@kanal/core/tenants";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { providerOnly, requestContext, requireActor, tenantAccess, tenantRole } from "../middleware/auth";
import {
  jsonBody,
  jsonResponse,
  passwordSchema,
  slugSchema,
  tenantParam,
  tenantSchema,
  tenantView,
} from "../schemas";

const timezoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat("de-DE", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, "is not an IANA time zone");

const GERMAN_STATES = [
  "BW",
  "BY",
  "BE",
  "BB",
  "HB",
  "HH",
  "HE",
  "MV",
  "NI",
  "NW",
  "RP",
  "SL",
  "SN",
  "ST",
  "SH",
  "TH",
] as const;

const createTenantBody = z
  .strictObject({
    slug: slugSchema,
    name: z.string().min(2).max(120),
    timezone: timezoneSchema.default("Europe/Berlin"),
    region: z.enum(GERMAN_STATES.map((s) => `DE-${s}`) as [string, ...string[]]).default("DE-BY"),
    whatsapp: z.strictObject({
      phoneNumberId: z.string().regex(/^\d{5,30}$/, "must be Meta's numeric phone number id"),
      wabaId: z.string().regex(/^\d{5,30}$/, "must be Meta's numeric WABA id"),
      displayPhoneNumber: z.string().min(5).max(30),
      accessToken: z.string().min(10).max(2000),
    }),
    admin: z.strictObject({
      email: z.email().max(320),
      name: z.string().min(1).max(120),
      password: passwordSchema,
    }),
  })
  .openapi("CreateTenant");

const createTenantRoute = createRoute({
  middleware: [providerOnly] as const,
  method: "post",
  path: "/v1/tenants",
  tags: ["Provider"],
  summary: "Onboard a bank (all-or-nothing)",
  request: jsonBody(createTenantBody),
  responses: {
    201: jsonResponse(
      z.object({ tenant: tenantSchema, admin: z.object({ id: z.string(), email: z.string() }) }),
      "Onboarded",
    ),
    ...errorResponses,
  },
});

const listTenantsRoute = createRoute({
  method: "get",
  path: "/v1/tenants",
  tags: ["Provider"],
  summary: "Banks (all for the provider, own for bank staff)",
  responses: { 200: jsonResponse(z.object({ tenants: z.array(tenantSchema) }), "Banks"), ...errorResponses },
});

const getTenantRoute = createRoute({
  middleware: [tenantRole({ roles: CONVERSATION_ROLES, provider: true })] as const,
  method: "get",
  path: "/v1/tenants/{tenant}",
  tags: ["Provider"],
  summary: "One bank",
  request: { params: tenantParam },
  responses: { 200: jsonResponse(z.object({ tenant: tenantSchema }), "Bank"), ...errorResponses },
});

const contractRoute = createRoute({
  middleware: [providerOnly] as const,
  method: "put",
  path: "/v1/tenants/{tenant}/ksc",
  tags: ["Provider"],
  summary: "Contract a KSC organisation to the bank",
  description:
    "Replaces an earlier contract: its period ends and a new one starts (GET …/ksc). The previous KSC's chats of the bank move in the same transaction: those waiting in the KSC queue to the new KSC's queue, those its agents held back into that queue; the previous KSC's agents lose access to the bank. Contracting the KSC already contracted changes nothing.",
  request: { params: tenantParam, ...jsonBody(z.strictObject({ kscOrg: slugSchema })) },
  responses: {
    200: jsonResponse(z.object({ tenant: z.string(), kscOrg: z.string() }), "Contracted"),
    ...errorResponses,
  },
});

const endContractRoute = createRoute({
  middleware: [providerOnly] as const,
  method: "delete",
  path: "/v1/tenants/{tenant}/ksc",
  tags: ["Provider"],
  summary: "End the bank's KSC contract",
  description:
    "Ends the current contract period. The KSC's chats of the bank go to the bank's queue (waiting ones and those its agents held), and the KSC's agents lose access to the bank. 404 when no KSC is contracted.",
  request: { params: tenantParam },
  responses: {
    200: jsonResponse(
      z.object({
        tenant: z.string(),
        kscOrg: z.string(),
        endedAt: z.string(),
        moved: z.object({ waiting: z.number(), held: z.number() }),
      }),
      "Contract ended",
    ),
    ...errorResponses,
  },
});

const kscContractsSchema = z
  .object({
    current: z
      .object({ kscOrg: z.string(), name: z.string(), since: z.string() })
      .nullable()
      .openapi({ description: "The KSC contracted now (null: none)" }),
    history: z
      .array(
        z.object({
          kscOrg: z.string(),
          name: z.string(),
          startedAt: z.string(),
          endedAt: z.string().nullable(),
        }),
      )
      .openapi({ description: "Every contract period, newest first (the current one with endedAt null)" }),
  })
  .openapi("KscContracts");

const contractHistoryRoute = createRoute({
  middleware: [tenantRole({ roles: BANK_ADMIN_ROLES, provider: true })] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/ksc",
  tags: ["Provider"],
  summary: "The bank's KSC contract and its history (provider and the bank's admins)",
  request: { params: tenantParam },
  responses: { 200: jsonResponse(kscContractsSchema, "KSC contracts"), ...errorResponses },
});

const kscOrgSchema = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    banks: z.array(z.string()),
    agents: z.array(z.object({ id: z.string(), email: z.string(), name: z.string(), maxChats: z.number() })),
  })
  .openapi("KscOrg");

const createKscRoute = createRoute({
  middleware: [providerOnly] as const,
  method: "post",
  path: "/v1/ksc-orgs",
  tags: ["Provider"],
  summary: "Create a KSC organisation",
  request: jsonBody(z.strictObject({ slug: slugSchema, name: z.string().min(2).max(120) })),
  responses: {
    201: jsonResponse(
      z.object({ kscOrg: z.object({ id: z.string(), slug: z.string(), name: z.string() }) }),
      "Created",
    ),
    ...errorResponses,
  },
});

const listKscRoute = createRoute({
  middleware: [providerOnly] as const,
  method: "get",
  path: "/v1/ksc-orgs",
  tags: ["Provider"],
  summary: "KSC organisations with their banks and agents",
  responses: {
    200: jsonResponse(z.object({ kscOrgs: z.array(kscOrgSchema) }), "KSC organisations"),
    ...errorResponses,
  },
});

const addAgentRoute = createRoute({
  middleware: [providerOnly] as const,
  method: "post",
  path: "/v1/ksc-orgs/{org}/agents",
  tags: ["Provider"],
  summary: "Add an agent to a KSC organisation",
  request: {
    params: z.object({ org: slugSchema.openapi({ param: { name: "org", in: "path" } }) }),
    ...jsonBody(
      z.strictObject({
        email: z.email().max(320),
        name: z.string().min(1).max(120),
        password: passwordSchema,
        maxChats: z.number().int().min(1).max(100).optional(),
      }),
    ),
  },
  responses: {
    201: jsonResponse(
      z.object({
        user: z.object({
          id: z.string(),
          email: z.string(),
          name: z.string(),
          kscOrg: z.string(),
          maxChats: z.number(),
        }),
      }),
      "Created",
    ),
    ...errorResponses,
  },
});

export function registerTenants(
  app: OpenAPIHono<AppEnv>,
  afterOnboard?: (tenantId: string) => Promise<void>,
) {
  app.openapi(createTenantRoute, async (c) => {
    const services = c.get("services");
    const input = c.req.valid("json");
    const result = await onboardTenant(
      {
        db: services.db,
        secretsKey: services.config.secretsKey,
        tenantMigrations: services.tenantMigrations,
      },
      requestContext(c),
      input,
    );
    await afterOnboard?.(result.tenant.id);
    return c.json(
      { tenant: tenantView(result.tenant), admin: { id: result.admin.id, email: result.admin.email } },
      201,
    );
  });

  app.openapi(listTenantsRoute, async (c) => {
    const actor = requireActor(c);
    const { db } = c.get("services");
    let query = db
      .withSchema("control")
      .selectFrom("tenants as t")
      .leftJoin("ksc_contracts as c", "c.tenant_id", "t.id")
      .leftJoin("ksc_orgs as k", "k.id", "c.ksc_org_id")
      .selectAll("t")
      .select("k.slug as ksc_slug")
      .orderBy("t.slug");
    if (actor.kind !== "user") return c.json({ tenants: [] }, 200);
    if (!actor.memberships.some((m) => m.role === "provider_admin")) {
      const ids = actor.memberships.flatMap((m) => (m.tenantId ? [m.tenantId] : []));
      const orgs = actor.memberships.flatMap((m) => (m.kscOrgId ? [m.kscOrgId] : []));
      if (ids.length === 0 && orgs.length === 0) return c.json({ tenants: [] }, 200);
      query = query.where((eb) =>
        eb.or([
          ...(ids.length ? [eb("t.id", "in", ids)] : []),
          ...(orgs.length ? [eb("c.ksc_org_id", "in", orgs)] : []),
        ]),
      );
    }
    const rows = await query.execute();
    return c.json({ tenants: rows.map((r) => tenantView(r, r.ksc_slug)) }, 200);
  });

  app.openapi(getTenantRoute, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    const contract = await db
      .withSchema("control")
      .selectFrom("ksc_contracts as c")
      .innerJoin("ksc_orgs as k", "k.id", "c.ksc_org_id")
      .select("k.slug")
      .where("c.tenant_id", "=", access.tenant.id)
      .executeTakeFirst();
    return c.json({ tenant: tenantView(access.tenant, contract?.slug ?? null) }, 200);
  });

  app.openapi(contractRoute, async (c) => {
    const { tenant } = c.req.valid("param");
    const { kscOrg } = c.req.valid("json");
    return c.json(await contractKsc(c.get("services"), requestContext(c), tenant, kscOrg), 200);
  });

  app.openapi(endContractRoute, async (c) => {
    const { tenant } = c.req.valid("param");
    return c.json(await endKscContract(c.get("services"), requestContext(c), tenant), 200);
  });

  app.openapi(contractHistoryRoute, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json(await kscContractHistory(db, access), 200);
  });

  app.openapi(createKscRoute, async (c) => {
    const org = await createKscOrg(c.get("services").db, requestContext(c), c.req.valid("json"));
    return c.json({ kscOrg: { id: org.id, slug: org.slug, name: org.name } }, 201);
  });

  app.openapi(listKscRoute, async (c) => {
    const ctx = requestContext(c);
    return c.json({ kscOrgs: await listKscOrgs(c.get("services").db, ctx) }, 200);
  });

  app.openapi(addAgentRoute, async (c) => {
    const { org } = c.req.valid("param");
    const user = await addKscAgent(c.get("services").db, requestContext(c), org, c.req.valid("json"));
    return c.json({ user }, 201);
  });
}
