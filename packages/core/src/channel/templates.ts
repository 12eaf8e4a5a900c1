import { sql, type Tenant } from "@kanal/db";
import { auditTenant } from "../kernel/audit";
import { newId } from "../kernel/crypto";
import { AppError, type FieldError } from "../kernel/errors";
import type { Trx } from "../kernel/executor";
import type { RequestContext } from "../kernel/request-context";
import { maskForStorage } from "../rules/guard";
import type { Services } from "../services";
import type { TenantAccess } from "../tenants/access";
import { GraphClient, GraphError, type GraphTemplate } from "./graph";
import { notificationsDb, type TemplateButton, type TemplateParameter } from "./notification-tables";
import { accessToken, bindingForTenant } from "./tenants-by-number";

/**
 * The bank's template registry (issue 14): its WhatsApp message templates as the Graph API lists them —
 * name, language, category, status with Meta's reason, and what a send must fill in (parameters) and
 * may get back (quick-reply buttons). Synced on onboarding, when a bank admin asks, on Meta's
 * `message_template_status_update` webhook, and periodically. Only an APPROVED template may be sent, and
 * a send fills exactly its parameters.
 */

const STATUSES = ["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"] as const;
const CATEGORIES = ["MARKETING", "UTILITY", "AUTHENTICATION"] as const;

/** Meta's statuses outside the five Kanal names (IN_APPEAL, PENDING_DELETION, LIMIT_EXCEEDED …) count as not sendable. */
function statusOf(raw: string | undefined): string {
  const s = (raw ?? "PENDING").toUpperCase();
  return (STATUSES as readonly string[]).includes(s) ? s : s === "DELETED" ? "DISABLED" : "PENDING";
}

function categoryOf(raw: string | undefined): string {
  const c = (raw ?? "UTILITY").toUpperCase();
  return (CATEGORIES as readonly string[]).includes(c) ? c : "UTILITY";
}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/** The distinct placeholders of a text in send order: numeric order when positional, first use when named. */
function placeholders(text: string, named: boolean): string[] {
  const names = [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] as string))];
  return named ? names : names.sort((a, b) => Number(a) - Number(b));
}

type Component = {
  type?: string;
  format?: string;
  text?: string;
  example?: Record<string, unknown>;
  buttons?: { type?: string; text?: string; url?: string; example?: unknown }[];
};

function examplesOf(example: Record<string, unknown> | undefined, kind: "header" | "body", names: string[]) {
  const named = example?.[`${kind}_text_named_params`] as
    | { param_name?: string; example?: string }[]
    | undefined;
  if (named) return names.map((n) => named.find((p) => p.param_name === n)?.example ?? null);
  const positional = example?.[`${kind}_text`] as unknown;
  const list =
    (kind === "body" ? (positional as string[][] | undefined)?.[0] : (positional as string[])) ?? [];
  return names.map((_, i) => list[i] ?? null);
}

/** What a send of this template needs and offers, read from Meta's components. */
function describeComponents(components: Component[], parameterFormat: string) {
  const named = parameterFormat.toUpperCase() === "NAMED";
  const parameters: TemplateParameter[] = [];
  const buttons: TemplateButton[] = [];
  let header: string | null = null;
  let body: string | null = null;
  let footer: string | null = null;
  for (const c of components) {
    const type = (c.type ?? "").toUpperCase();
    if (type === "HEADER") {
      const format = (c.format ?? "TEXT").toUpperCase();
      if (format === "TEXT") {
        header = c.text ?? "";
        const names = placeholders(header, named);
        const examples = examplesOf(c.example, "header", names);
        for (const [i, name] of names.entries())
          parameters.push({ component: "header", name, type: "text", example: examples[i] ?? null });
      } else if (format === "IMAGE" || format === "DOCUMENT" || format === "VIDEO") {
        parameters.push({
          component: "header",
          name: "media",
          type: format.toLowerCase() as "image" | "document" | "video",
          example: ((c.example?.header_handle as string[] | undefined) ?? [])[0] ?? null,
        });
      }
    } else if (type === "BODY") {
      body = c.text ?? "";
      const names = placeholders(body, named);
      const examples = examplesOf(c.example, "body", names);
      for (const [i, name] of names.entries())
        parameters.push({ component: "body", name, type: "text", example: examples[i] ?? null });
    } else if (type === "FOOTER") {
      footer = c.text ?? null;
    } else if (type === "BUTTONS") {
      (c.buttons ?? []).forEach((b, index) => {
        const buttonType = (b.type ?? "").toUpperCase();
        buttons.push({ index, type: buttonType, text: b.text ?? "" });
        if (buttonType === "URL" && b.url && /\{\{\s*[A-Za-z0-9_]+\s*\}\}/.test(b.url)) {
          const example = Array.isArray(b.example) ? (b.example[0] as string | undefined) : undefined;
          parameters.push({
            component: "button",
            name: "1",
            type: "text",
            buttonIndex: index,
            example: example ?? null,
          });
        }
      });
    }
  }
  return { header, body, footer, parameters, buttons };
}

/** The registry row of a template as the Graph API lists it. */
function rowOf(t: GraphTemplate, now: Date) {
  const parameterFormat = (t.parameter_format ?? "POSITIONAL").toUpperCase();
  const components = (t.components ?? []) as Component[];
  const described = describeComponents(components, parameterFormat);
  const status = statusOf(t.status);
  const reason = t.rejected_reason && t.rejected_reason !== "NONE" ? t.rejected_reason : null;
  return {
    meta_id: t.id ?? null,
    name: String(t.name ?? ""),
    language: String(t.language ?? ""),
    category: categoryOf(t.category),
    status,
    reason: status === "APPROVED" ? null : reason,
    parameter_format: parameterFormat,
    components: JSON.stringify(components),
    body: described.body,
    parameters: JSON.stringify(described.parameters),
    buttons: JSON.stringify(described.buttons),
    synced_at: now,
    updated_at: now,
  };
}

/** The bank's WABA and a token to read its templates with. */
async function wabaOf(services: Services, tenantId: string) {
  const binding = await bindingForTenant(services.db, tenantId);
  if (!binding) return null;
  const number = await services.db
    .withSchema("control")
    .selectFrom("whatsapp_numbers")
    .select("waba_id")
    .where("phone_number_id", "=", binding.phoneNumberId)
    .executeTakeFirst();
  if (!number) return null;
  return { binding, wabaId: number.waba_id, token: accessToken(binding, services.config.secretsKey) };
}

const graphClients = new WeakMap<Services, GraphClient>();
function graphOf(services: Services): GraphClient {
  let graph = graphClients.get(services);
  if (!graph) {
    const { config } = services;
    graph = new GraphClient({
      baseUrl: config.WHATSAPP_API_BASE_URL,
      version: config.WHATSAPP_API_VERSION,
      connections: 4,
    });
    graphClients.set(services, graph);
  }
  return graph;
}

/** Pages read at most per sync (100 templates each; Meta allows 250 templates per WABA by default). */
const MAX_PAGES = 50;

/**
 * Reads every template of the bank's WABA from the Graph API (all pages) and makes the registry match:
 * new and changed ones upserted, ones Meta no longer lists removed. Throws the Graph error when Meta
 * cannot be read (the job retries; the API answers 503).
 */
export async function syncTemplates(
  services: Services,
  tenantId: string,
): Promise<{ synced: number; removed: number }> {
  const waba = await wabaOf(services, tenantId);
  if (!waba) return { synced: 0, removed: 0 };
  const listed: GraphTemplate[] = [];
  let after: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await graphOf(services).listTemplates(waba.wabaId, waba.token, after);
    listed.push(...(answer.data ?? []));
    after = answer.paging?.cursors?.after;
    if (!answer.paging?.next || !after) break;
  }
  const now = new Date();
  const rows = listed.filter((t) => t.name && t.language).map((t) => rowOf(t, now));
  const schema = waba.binding.tenant.schema_name;
  return services.db.transaction().execute(async (trx) => {
    const t = notificationsDb(trx).withSchema(schema);
    for (const row of rows) {
      await t
        .insertInto("templates")
        .values({ id: newId("tpl"), ...row })
        .onConflict((oc) =>
          oc.columns(["name", "language"]).doUpdateSet((eb) => ({
            meta_id: eb.ref("excluded.meta_id"),
            category: eb.ref("excluded.category"),
            status: eb.ref("excluded.status"),
            reason: eb.ref("excluded.reason"),
            parameter_format: eb.ref("excluded.parameter_format"),
            components: eb.ref("excluded.components"),
            body: eb.ref("excluded.body"),
            parameters: eb.ref("excluded.parameters"),
            buttons: eb.ref("excluded.buttons"),
            synced_at: eb.ref("excluded.synced_at"),
            updated_at: eb.ref("excluded.updated_at"),
          })),
        )
        .execute();
    }
    const removed = await t.deleteFrom("templates").where("synced_at", "<", now).executeTakeFirst();
    return { synced: rows.length, removed: Number(removed.numDeletedRows) };
  });
}

/** `POST /v1/tenants/:tenant/templates/sync`: a bank admin asks for the registry to be read again now. */
export async function syncTemplatesNow(services: Services, ctx: RequestContext, access: TenantAccess) {
  let result: { synced: number; removed: number };
  try {
    result = await syncTemplates(services, access.tenant.id);
  } catch (error) {
    if (error instanceof GraphError)
      throw new AppError("unavailable", `The Graph API did not list the templates: ${error.title}`);
    throw error;
  }
  await auditTenant(services.db, access.schema, ctx.actor, {
    action: "templates.synced",
    targetType: "templates",
    details: result,
    ip: ctx.ip,
    requestId: ctx.requestId,
  });
  return { ...result, templates: await listTemplates(services, access) };
}

type TemplateRow = {
  name: string;
  language: string;
  category: string;
  status: string;
  reason: string | null;
  parameter_format: string;
  components: unknown[];
  parameters: TemplateParameter[];
  buttons: TemplateButton[];
  synced_at: Date;
};

function templateView(r: TemplateRow) {
  const { header, body, footer } = describeComponents(r.components as Component[], r.parameter_format);
  return {
    name: r.name,
    language: r.language,
    category: r.category as (typeof CATEGORIES)[number],
    status: r.status as (typeof STATUSES)[number],
    reason: r.reason,
    sendable: r.status === "APPROVED",
    parameterFormat: r.parameter_format,
    header,
    body,
    footer,
    parameters: r.parameters.map((p) => ({
      component: p.component,
      name: p.name,
      type: p.type,
      example: p.example,
    })),
    buttons: r.buttons.map((b) => ({ index: b.index, type: b.type, text: b.text })),
    syncedAt: r.synced_at.toISOString(),
  };
}

const TEMPLATE_COLUMNS = [
  "name",
  "language",
  "category",
  "status",
  "reason",
  "parameter_format",
  "components",
  "parameters",
  "buttons",
  "synced_at",
] as const;

/** The bank's templates, approved ones first. */
export async function listTemplates(services: Services, access: TenantAccess) {
  const rows = await notificationsDb(services.db)
    .withSchema(access.schema)
    .selectFrom("templates")
    .select(TEMPLATE_COLUMNS)
    .orderBy(sql`status = 'APPROVED'`, "desc")
    .orderBy("name")
    .orderBy("language")
    .execute();
  return rows.map(templateView);
}

/** Which bank a WhatsApp Business Account belongs to (template webhooks name the WABA, not a number). */
async function tenantOfWaba(services: Services, wabaId: string): Promise<Tenant | null> {
  const row = await services.db
    .withSchema("control")
    .selectFrom("whatsapp_numbers as n")
    .innerJoin("tenants as t", "t.id", "n.tenant_id")
    .selectAll("t")
    .where("n.waba_id", "=", wabaId)
    .executeTakeFirst();
  return row ?? null;
}

export interface TemplateUpdateValue {
  event?: string;
  message_template_id?: string | number;
  message_template_name?: string;
  message_template_language?: string;
  reason?: string | null;
  new_category?: string;
}

/**
 * Meta's `message_template_status_update` (and `template_category_update`) webhook change for one WABA:
 * the registry row gets the new status and reason (category) at once. A template the registry does not
 * know yet (created or approved since the last sync) is read with a full sync. Returns the bank, or null
 * for an unknown WABA.
 */
export async function applyTemplateUpdate(
  services: Services,
  wabaId: string,
  field: string,
  value: TemplateUpdateValue,
): Promise<Tenant | null> {
  const tenant = await tenantOfWaba(services, wabaId);
  if (!tenant) return null;
  const name = value.message_template_name;
  const language = value.message_template_language;
  const metaId = value.message_template_id === undefined ? null : String(value.message_template_id);
  const t = notificationsDb(services.db).withSchema(tenant.schema_name);
  const now = new Date();
  const set =
    field === "template_category_update"
      ? { category: categoryOf(value.new_category), updated_at: now }
      : (() => {
          const status = statusOf(value.event);
          const reason = value.reason && value.reason !== "NONE" ? value.reason : null;
          return { status, reason: status === "APPROVED" ? null : reason, updated_at: now };
        })();
  let query = t.updateTable("templates").set(set);
  query =
    metaId !== null
      ? query.where((eb) =>
          eb.or([
            eb("meta_id", "=", metaId),
            eb.and([eb("name", "=", name ?? ""), eb("language", "=", language ?? "")]),
          ]),
        )
      : query.where("name", "=", name ?? "").where("language", "=", language ?? "");
  const updated = await query.executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) await syncTemplates(services, tenant.id);
  return tenant;
}

/** Meta refuses text parameters with line breaks, tabs or more than four spaces in a row (#132018). */
const BAD_TEXT = /[\n\r\t]| {5,}/;

/** A template ready to be written as a message: its stored text, its parameters and its Graph components. */
export interface PreparedTemplate {
  name: string;
  language: string;
  category: string;
  /** the parameters as stored and sent (masked by the guard) */
  params: string[];
  /** the filled-in text (header, body, footer), masked, for the conversation and the console */
  text: string;
  quickReplies: TemplateButton[];
  /** Meta's `components` for the send; quick-reply payloads name the message they answer */
  components(messageId: string): Record<string, unknown>[];
}

/** Why a registry row cannot be sent, or null when it can. */
function notApproved(row: Pick<TemplateRow, "name" | "language" | "status" | "reason">): string | null {
  if (row.status === "APPROVED") return null;
  const reason = row.reason ? ` (${row.reason})` : "";
  return `The template „${row.name}“ (${row.language}) is ${row.status}${reason}: only approved templates can be sent`;
}

/** The payload Kanal gives a quick-reply button: the message it answers and the answer's code. */
function quickReplyPayload(messageId: string, code: string): string {
  return `kanal:${messageId}:${code}`;
}

/**
 * The answer codes Kanal gives known quick-reply buttons (the card alert's, "Kreditkartenwecker"); any
 * other button answers `button_<index>`.
 */
const KNOWN_ANSWERS: Record<string, string> = {
  "das war ich": "card_tx_confirmed",
  "das war ich nicht": "card_tx_not_me",
};

export function answerCodeOf(button: Pick<TemplateButton, "index" | "text">): string {
  const key = button.text
    .trim()
    .toLowerCase()
    .replace(/\s+/g, " ")
    .replace(/[.!]+$/, "");
  return KNOWN_ANSWERS[key] ?? `button_${button.index}`;
}

type TemplateFailure =
  | { code: "template_not_approved"; message: string }
  | { code: "invalid_params"; message: string; fields: FieldError[] };

/**
 * Looks a template up in the bank's registry and checks a send of it: approved, and exactly its
 * parameters with values Meta accepts (text without line breaks and long runs of spaces, an https link
 * for a media header). Returns the prepared template or why it cannot be sent.
 */
function prepare(
  row: TemplateRow | undefined,
  input: { name: string; language: string; params?: string[] },
  path: string,
): PreparedTemplate | TemplateFailure {
  if (!row)
    return {
      code: "template_not_approved",
      message: `The bank has no template „${input.name}“ (${input.language}); its templates are synced from WhatsApp`,
    };
  const refused = notApproved(row);
  if (refused) return { code: "template_not_approved", message: refused };
  const params = input.params ?? [];
  const expected = row.parameters;
  const fields: FieldError[] = [];
  if (params.length !== expected.length)
    fields.push({
      path,
      message: `the template „${row.name}“ expects ${expected.length} parameter${expected.length === 1 ? "" : "s"}, got ${params.length}`,
    });
  expected.forEach((p, i) => {
    const value = params[i];
    if (value === undefined) return;
    if (p.type === "text") {
      if (value.trim() === "") fields.push({ path: `${path}.${i}`, message: "must not be empty" });
      else if (BAD_TEXT.test(value))
        fields.push({
          path: `${path}.${i}`,
          message: "must not contain line breaks, tabs or more than four spaces in a row",
        });
      else if (value.length > (p.component === "body" ? 1024 : 60))
        fields.push({
          path: `${path}.${i}`,
          message: `at most ${p.component === "body" ? 1024 : 60} characters`,
        });
    } else if (!/^https:\/\/\S+$/.test(value)) {
      fields.push({ path: `${path}.${i}`, message: `must be an https link to the ${p.type}` });
    }
  });
  if (fields.length > 0)
    return { code: "invalid_params", message: "The template's parameters do not fit it", fields };

  const masked = params.map((p, i) => (expected[i]?.type === "text" ? maskForStorage(p).text : p));
  const filled = new Map(expected.map((p, i) => [`${p.component}:${p.name}`, masked[i] ?? ""]));
  const fill = (text: string | null, component: "header" | "body") =>
    text?.replace(PLACEHOLDER, (whole, name: string) => filled.get(`${component}:${name}`) ?? whole) ?? null;
  const parts = describeComponents(row.components as Component[], row.parameter_format);
  const text = [fill(parts.header, "header"), fill(parts.body, "body"), parts.footer]
    .filter((part): part is string => Boolean(part?.trim()))
    .join("\n\n");
  const named = row.parameter_format === "NAMED";
  const quickReplies = row.buttons.filter((b) => b.type === "QUICK_REPLY");
  return {
    name: row.name,
    language: row.language,
    category: row.category,
    params: masked,
    text: text || `Vorlage „${row.name}“`,
    quickReplies,
    components(messageId: string) {
      const textParameter = (p: TemplateParameter, value: string) => ({
        type: "text",
        text: value,
        ...(named && p.component !== "button" && { parameter_name: p.name }),
      });
      const components: Record<string, unknown>[] = [];
      const of = (component: TemplateParameter["component"]) =>
        expected.map((p, i) => ({ p, value: masked[i] ?? "" })).filter(({ p }) => p.component === component);
      const header = of("header");
      if (header.length > 0)
        components.push({
          type: "header",
          parameters: header.map(({ p, value }) =>
            p.type === "text" ? textParameter(p, value) : { type: p.type, [p.type]: { link: value } },
          ),
        });
      const body = of("body");
      if (body.length > 0)
        components.push({ type: "body", parameters: body.map(({ p, value }) => textParameter(p, value)) });
      for (const { p, value } of of("button"))
        components.push({
          type: "button",
          sub_type: "url",
          index: String(p.buttonIndex ?? 0),
          parameters: [{ type: "text", text: value }],
        });
      for (const b of quickReplies)
        components.push({
          type: "button",
          sub_type: "quick_reply",
          index: String(b.index),
          parameters: [{ type: "payload", payload: quickReplyPayload(messageId, answerCodeOf(b)) }],
        });
      return components;
    },
  };
}

/** The registry rows of the given templates, keyed `name|language`. */
export async function registryRows(
  db: Services["db"] | Trx,
  schema: string,
  templates: readonly { name: string; language: string }[],
): Promise<Map<string, TemplateRow>> {
  const wanted = [...new Map(templates.map((t) => [`${t.name}|${t.language}`, t])).values()];
  if (wanted.length === 0) return new Map();
  const rows = await notificationsDb(db)
    .withSchema(schema)
    .selectFrom("templates")
    .select(TEMPLATE_COLUMNS)
    .where((eb) =>
      eb.or(wanted.map((t) => eb.and([eb("name", "=", t.name), eb("language", "=", t.language)]))),
    )
    .execute();
  return new Map(rows.map((r) => [`${r.name}|${r.language}`, r]));
}

const templateKey = (t: { name: string; language: string }) => `${t.name}|${t.language}`;

/** `prepare` against a row already read (the batch path reads the registry once). */
export function prepareFromRegistry(
  rows: Map<string, TemplateRow>,
  input: { name: string; language: string; params?: string[] },
  path = "template.params",
): PreparedTemplate | TemplateFailure {
  return prepare(rows.get(templateKey(input)), input, path);
}

/** Like `prepareFromRegistry`, throwing the refusal as the API's error (422 / 400). */
export async function prepareTemplate(
  db: Services["db"] | Trx,
  schema: string,
  input: { name: string; language: string; params?: string[] },
): Promise<PreparedTemplate> {
  const prepared = prepareFromRegistry(await registryRows(db, schema, [input]), input);
  if ("components" in prepared) return prepared;
  if (prepared.code === "invalid_params")
    throw new AppError("invalid_request", prepared.message, { fields: prepared.fields });
  throw new AppError("template_not_approved", prepared.message);
}
