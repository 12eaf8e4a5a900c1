import { BANK_ADMIN_ROLES, BANK_STAFF_ROLES, CONVERSATION_ROLES } from "@kanal/contracts/roles";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  createAbsence,
  deleteAbsence,
  getRoutingSettings,
  holidaysPreview,
  listAbsences,
  loadRoutingConfig,
  putRoutingSettings,
} from "@kanal/core/routing";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { requestContext, requireUser, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

const ADMIN = { roles: BANK_ADMIN_ROLES };
const STAFF = { roles: CONVERSATION_ROLES };
const BANK_STAFF = { roles: BANK_STAFF_ROLES };

const interval = z.tuple([z.string(), z.string()]).openapi({ example: ["08:00", "18:00"] });
const day = z.array(interval);

/** Documentation and first-line shape check; the domain schema (@kanal/routing) validates fully. */
const routingConfigBody = z
  .strictObject({
    mode: z.enum(["in_house", "hours_outsourcing", "capacity_overflow", "full_service"]).optional(),
    capacityThreshold: z.number().optional(),
    serviceHours: z
      .strictObject({
        mon: day.optional(),
        tue: day.optional(),
        wed: day.optional(),
        thu: day.optional(),
        fri: day.optional(),
        sat: day.optional(),
        sun: day.optional(),
      })
      .optional()
      .openapi({
        description:
          "Per weekday, intervals in the bank's time zone; an end at/before its start runs overnight",
      }),
    closures: z
      .array(z.string())
      .optional()
      .openapi({ example: ["2026-12-24", "2026-12-31"] }),
    awayMessage: z
      .string()
      .optional()
      .openapi({ description: "{{naechsteOeffnung}} becomes the next opening time" }),
    reopenWindowHours: z.number().optional(),
    advisorRouting: z.boolean().optional(),
    observePublicHolidays: z
      .boolean()
      .optional()
      .openapi({ description: "Closed on the public holidays of the bank's German state (default true)" }),
    unansweredReassignMinutes: z.number().nullable().optional(),
    queuedAtClosing: z.enum(["to_ksc", "stay"]).optional(),
    openAtClosing: z.enum(["stay", "to_ksc"]).optional(),
  })
  .openapi("RoutingConfigInput");

const routingView = z
  .object({
    routing: z.record(z.string(), z.unknown()),
    kscContracted: z.boolean(),
    kscOrg: z.string().nullable(),
    opening: z.object({
      open: z.boolean(),
      reason: z.string(),
      holidayName: z.string().nullable(),
      nextOpening: z.string().nullable(),
      closesAt: z.string().nullable(),
    }),
  })
  .openapi("RoutingSettings");

const getRouting = createRoute({
  middleware: [tenantRole(STAFF)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/routing",
  tags: ["Routing"],
  summary: "The bank's routing configuration and whether it is open right now",
  request: { params: tenantParam },
  responses: { 200: jsonResponse(routingView, "Routing configuration"), ...errorResponses },
});

const putRouting = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "put",
  path: "/v1/tenants/{tenant}/routing",
  tags: ["Routing"],
  summary: "Replace the routing configuration (omitted fields take their defaults)",
  description:
    "422 ksc_not_contracted when the mode sends chats to a KSC and none is contracted. Audited with before/after.",
  request: { params: tenantParam, ...jsonBody(routingConfigBody) },
  responses: { 200: jsonResponse(routingView, "Saved"), ...errorResponses },
});

const holidaysRoute = createRoute({
  middleware: [tenantRole(STAFF)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/routing/holidays",
  tags: ["Routing"],
  summary: "Public holidays of the bank's state and its closure days in a year (preview)",
  request: {
    params: tenantParam,
    query: z.object({ year: z.coerce.number().int().min(2000).max(2100).optional() }),
  },
  responses: {
    200: jsonResponse(
      z.object({
        region: z.string(),
        year: z.number(),
        holidays: z.array(z.object({ date: z.string(), name: z.string() })),
        closures: z.array(z.string()),
      }),
      "Holidays",
    ),
    ...errorResponses,
  },
});

const absenceSchema = z
  .object({
    id: z.string(),
    userId: z.string(),
    startsAt: z.string(),
    endsAt: z.string(),
    reason: z.string().nullable(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    current: z.boolean(),
  })
  .openapi("Absence");

const idParam = (name: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name, in: "path" } });

const listAbsencesRoute = createRoute({
  middleware: [tenantRole(BANK_STAFF)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/absences",
  tags: ["Routing"],
  summary: "Current and future absences of the bank's people (deputies take over while absent)",
  request: {
    params: tenantParam,
    query: z.object({
      userId: z.string().max(64).optional(),
      includePast: z
        .enum(["true", "false"])
        .optional()
        .transform((v) => v === "true"),
    }),
  },
  responses: {
    200: jsonResponse(z.object({ absences: z.array(absenceSchema) }), "Absences"),
    ...errorResponses,
  },
});

const createAbsenceRoute = createRoute({
  middleware: [tenantRole(BANK_STAFF)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/users/{id}/absences",
  tags: ["Routing"],
  summary: "Record an absence period (bank_admin, or the person themself)",
  request: {
    params: tenantParam.extend({ id: idParam("id") }),
    ...jsonBody(
      z.strictObject({
        startsAt: z.iso.datetime({ offset: true }),
        endsAt: z.iso.datetime({ offset: true }),
        reason: z.string().max(200).nullable().optional(),
      }),
    ),
  },
  responses: { 201: jsonResponse(z.object({ absence: absenceSchema }), "Recorded"), ...errorResponses },
});

const deleteAbsenceRoute = createRoute({
  middleware: [tenantRole(BANK_STAFF)] as const,
  method: "delete",
  path: "/v1/tenants/{tenant}/absences/{id}",
  tags: ["Routing"],
  summary: "Remove an absence period (bank_admin, or the person themself)",
  request: { params: tenantParam.extend({ id: idParam("id") }) },
  responses: { 204: { description: "Removed" }, ...errorResponses },
});

export function registerRouting(app: OpenAPIHono<AppEnv>) {
  app.openapi(getRouting, async (c) => {
    const services = c.get("services");
    const access = tenantAccess(c);
    return c.json(await getRoutingSettings(services, access), 200);
  });

  app.openapi(putRouting, async (c) => {
    const services = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    return c.json(await putRoutingSettings(services, ctx, access, c.req.valid("json")), 200);
  });

  app.openapi(holidaysRoute, async (c) => {
    const services = c.get("services");
    const access = tenantAccess(c);
    const config = await loadRoutingConfig(services.db, access.schema);
    const year = c.req.valid("query").year ?? new Date().getUTCFullYear();
    return c.json(holidaysPreview(access, config, year), 200);
  });

  app.openapi(listAbsencesRoute, async (c) => {
    const services = c.get("services");
    const access = tenantAccess(c);
    const { userId, includePast } = c.req.valid("query");
    return c.json({ absences: await listAbsences(services, access, { userId, includePast }) }, 200);
  });

  app.openapi(createAbsenceRoute, async (c) => {
    const services = c.get("services");
    const ctx = requestContext(c);
    const user = requireUser(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    const absence = await createAbsence(services, ctx, access, user.userId, id, c.req.valid("json"));
    return c.json({ absence }, 201);
  });

  app.openapi(deleteAbsenceRoute, async (c) => {
    const services = c.get("services");
    const ctx = requestContext(c);
    const user = requireUser(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    await deleteAbsence(services, ctx, access, user.userId, id);
    return c.body(null, 204);
  });
}
