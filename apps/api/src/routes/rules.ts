import { BANK_ADMIN_ROLES, BANK_STAFF_ROLES, CONVERSATION_ROLES } from "@kanal/contracts/roles";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { invalid, notFound } from "@kanal/core/kernel";
import {
  changeRuleBook,
  checkRuleText,
  conversationGuidance,
  currentRuleBook,
  listRuleBookVersions,
  ruleBookVersion,
  topicCounts,
} from "@kanal/core/rules";
import type { AppEnv } from "../env";
import { errorResponses } from "../errors";
import { requestContext, requireActor, tenantAccess, tenantRole } from "../middleware/auth";
import { jsonBody, jsonResponse, tenantParam } from "../schemas";

const ADMIN = { roles: BANK_ADMIN_ROLES };
/** Agents (and the contracted KSC's agents) work by the current book, so they may read it. */
const READERS = { roles: CONVERSATION_ROLES };
const BANK_STAFF = { roles: BANK_STAFF_ROLES };

const idParam = (name: string) =>
  z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name, in: "path" } });

// The rule's own shape is validated by @kanal/rules (German messages per field); documented here loosely.
const ruleBody = z.record(z.string(), z.unknown()).openapi("RuleInput", {
  description:
    "id, topic, keywords[], patterns[], priority, handling (bank_only|ksc_allowed), allowedDataClasses[], allowedSnippetIds[], freeTextAllowed, action {type: answer|offer_callback|handover_to_advisor|redirect_to_phone, phoneNumber?, reason?}, guidance, isDefault?",
});
const ruleSchemaOut = z.record(z.string(), z.unknown()).openapi("Rule");
const ruleBookOut = z
  .object({
    version: z.number(),
    createdAt: z.string(),
    createdBy: z.string().nullable(),
    rules: z.array(ruleSchemaOut),
  })
  .openapi("RuleBook");

const getRules = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/rules",
  tags: ["Rules"],
  summary: "The current rule book (reaction-structure concept)",
  request: { params: tenantParam },
  responses: { 200: jsonResponse(ruleBookOut, "Current rule book"), ...errorResponses },
});

const replaceRules = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "put",
  path: "/v1/tenants/{tenant}/rules",
  tags: ["Rules"],
  summary: "Publish a whole rule book (new version)",
  request: {
    params: tenantParam,
    ...jsonBody(z.strictObject({ rules: z.array(ruleBody).min(1).max(1000) })),
  },
  responses: { 200: jsonResponse(ruleBookOut, "New version"), ...errorResponses },
});

const createRule = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/rules",
  tags: ["Rules"],
  summary: "Add a rule (new version)",
  request: { params: tenantParam, ...jsonBody(ruleBody) },
  responses: {
    201: jsonResponse(z.object({ version: z.number(), rule: ruleSchemaOut }), "Created"),
    ...errorResponses,
  },
});

const listVersions = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/rules/versions",
  tags: ["Rules"],
  summary: "All versions of the rule book, newest first",
  request: { params: tenantParam },
  responses: {
    200: jsonResponse(
      z.object({
        versions: z.array(
          z.object({
            version: z.number(),
            createdAt: z.string(),
            createdBy: z.string().nullable(),
            ruleCount: z.number(),
          }),
        ),
      }),
      "Versions",
    ),
    ...errorResponses,
  },
});

const getVersion = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/rules/versions/{version}",
  tags: ["Rules"],
  summary: "One (old) version of the rule book",
  request: {
    params: tenantParam.extend({
      version: z.coerce
        .number()
        .int()
        .min(1)
        .openapi({ param: { name: "version", in: "path" } }),
    }),
  },
  responses: { 200: jsonResponse(ruleBookOut, "Rule book version"), ...errorResponses },
});

const checkText = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "post",
  path: "/v1/tenants/{tenant}/rules/check",
  tags: ["Rules"],
  summary: "Which rule matches this text, and why (optionally against unpublished rules)",
  request: {
    params: tenantParam,
    ...jsonBody(
      z.strictObject({
        text: z.string().min(1).max(4096),
        rules: z.array(ruleBody).min(1).max(1000).optional(),
        version: z.number().int().min(1).optional(),
      }),
    ),
  },
  responses: {
    200: jsonResponse(z.record(z.string(), z.unknown()).openapi("RuleCheck"), "Explanation"),
    ...errorResponses,
  },
});

const getRule = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/rules/{id}",
  tags: ["Rules"],
  summary: "One rule of the current book",
  request: { params: tenantParam.extend({ id: idParam("id") }) },
  responses: {
    200: jsonResponse(z.object({ version: z.number(), rule: ruleSchemaOut }), "Rule"),
    ...errorResponses,
  },
});

const patchRule = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "patch",
  path: "/v1/tenants/{tenant}/rules/{id}",
  tags: ["Rules"],
  summary: "Change a rule (new version)",
  request: { params: tenantParam.extend({ id: idParam("id") }), ...jsonBody(ruleBody) },
  responses: {
    200: jsonResponse(z.object({ version: z.number(), rule: ruleSchemaOut }), "Updated"),
    ...errorResponses,
  },
});

const deleteRule = createRoute({
  middleware: [tenantRole(ADMIN)] as const,
  method: "delete",
  path: "/v1/tenants/{tenant}/rules/{id}",
  tags: ["Rules"],
  summary: "Remove a rule (new version; the default rule cannot be removed)",
  request: { params: tenantParam.extend({ id: idParam("id") }) },
  responses: { 200: jsonResponse(z.object({ version: z.number() }), "Removed"), ...errorResponses },
});

const guidance = createRoute({
  middleware: [tenantRole(READERS)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/conversations/{id}/guidance",
  tags: ["Rules"],
  summary: "The conversation's topic and what the rule allows the agent",
  request: { params: tenantParam.extend({ id: idParam("id") }) },
  responses: {
    200: jsonResponse(
      z.object({ guidance: z.record(z.string(), z.unknown()).openapi("Guidance") }),
      "Guidance",
    ),
    ...errorResponses,
  },
});

const DAY_MS = 86_400_000;
const MAX_PERIOD_DAYS = 400;

const topicStats = createRoute({
  middleware: [tenantRole(BANK_STAFF)] as const,
  method: "get",
  path: "/v1/tenants/{tenant}/stats/topics",
  tags: ["Rules"],
  summary: "Top requests: conversations and messages per topic in a period (default: last 30 days)",
  request: {
    params: tenantParam,
    query: z.object({
      from: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
      to: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({
        from: z.string(),
        to: z.string(),
        totalConversations: z.number(),
        topics: z.array(
          z.object({
            ruleId: z.string(),
            topic: z.string(),
            conversations: z.number(),
            messages: z.number(),
          }),
        ),
      }),
      "Counts",
    ),
    ...errorResponses,
  },
});

export function registerRules(app: OpenAPIHono<AppEnv>) {
  app.openapi(getRules, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json(await currentRuleBook(db, access), 200);
  });

  app.openapi(replaceRules, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    const { book } = await changeRuleBook(db, ctx, access, {
      kind: "replaced",
      rules: c.req.valid("json").rules,
    });
    return c.json(book, 200);
  });

  app.openapi(createRule, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const access = tenantAccess(c);
    const { version, rule } = await changeRuleBook(db, ctx, access, {
      kind: "created",
      rule: c.req.valid("json"),
    });
    return c.json({ version, rule: rule ?? {} }, 201);
  });

  app.openapi(listVersions, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json({ versions: await listRuleBookVersions(db, access) }, 200);
  });

  app.openapi(getVersion, async (c) => {
    const { db } = c.get("services");
    const { version } = c.req.valid("param");
    const access = tenantAccess(c);
    return c.json(await ruleBookVersion(db, access, version), 200);
  });

  app.openapi(checkText, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    return c.json(await checkRuleText(db, access, c.req.valid("json")), 200);
  });

  app.openapi(getRule, async (c) => {
    const { db } = c.get("services");
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    const book = await currentRuleBook(db, access);
    const rule = book.rules.find((r) => r.id === id);
    if (!rule) throw notFound("Rule");
    return c.json({ version: book.version, rule }, 200);
  });

  app.openapi(patchRule, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    const { version, rule } = await changeRuleBook(db, ctx, access, {
      kind: "updated",
      ruleId: id,
      patch: c.req.valid("json"),
    });
    return c.json({ version, rule: rule ?? {} }, 200);
  });

  app.openapi(deleteRule, async (c) => {
    const { db } = c.get("services");
    const ctx = requestContext(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    const { version } = await changeRuleBook(db, ctx, access, { kind: "deleted", ruleId: id });
    return c.json({ version }, 200);
  });

  app.openapi(guidance, async (c) => {
    const { db } = c.get("services");
    const actor = requireActor(c);
    const { id } = c.req.valid("param");
    const access = tenantAccess(c);
    const viewer = actor.kind === "user" ? actor.userId : null;
    return c.json({ guidance: { ...(await conversationGuidance(db, access, id, viewer)) } }, 200);
  });

  app.openapi(topicStats, async (c) => {
    const { db } = c.get("services");
    const access = tenantAccess(c);
    const query = c.req.valid("query");
    const to = query.to ? new Date(query.to) : new Date();
    const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * DAY_MS);
    if (from >= to) throw invalid("Invalid period", [{ path: "from", message: "must be before to" }]);
    if (to.getTime() - from.getTime() > MAX_PERIOD_DAYS * DAY_MS) {
      throw invalid("Period too long", [{ path: "from", message: `at most ${MAX_PERIOD_DAYS} days` }]);
    }
    return c.json(await topicCounts(db, access, { from, to }), 200);
  });
}
