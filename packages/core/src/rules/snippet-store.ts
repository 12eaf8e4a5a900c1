import { type Db, sql } from "@kanal/db";
import { type Rule, unknownSnippetVariables } from "@kanal/rules";
import { z } from "zod";
import { auditTenant } from "../kernel/audit";
import { newId } from "../kernel/crypto";
import { conflict, invalid, notFound, uniqueViolation } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { TenantAccess } from "../tenants/access";
import { latestRuleBookVersion } from "./rule-book";
import { issueFields } from "./validation";

interface SnippetView {
  id: string;
  shortcut: string;
  title: string;
  body: string;
  category: string | null;
  createdAt: string;
  updatedAt: string;
}

/** WhatsApp text messages are limited to 4096 characters; a snippet must fit after rendering. */
const SNIPPET_BODY_MAX = 3800;

const shortcutSchema = z
  .string()
  .trim()
  .transform((value) => (value.startsWith("/") ? value : `/${value}`).toLowerCase())
  .pipe(
    z
      .string()
      .regex(
        /^\/[\p{L}\p{N}_-]{1,30}$/u,
        "Kürzel: „/“ und 1–30 Buchstaben, Ziffern, _ oder -, z. B. /hallo.",
      ),
  );

const bodySchema = z
  .string()
  .trim()
  .min(1, "Der Text darf nicht leer sein.")
  .max(SNIPPET_BODY_MAX, `Höchstens ${SNIPPET_BODY_MAX} Zeichen.`)
  .superRefine((body, ctx) => {
    const unknown = unknownSnippetVariables(body);
    if (unknown.length > 0) {
      ctx.addIssue({
        code: "custom",
        message: `Unbekannte Variable ${unknown.map((name) => `{{${name}}}`).join(", ")}. Erlaubt: {{customer.name}}, {{agent.name}}, {{bank.name}}, {{bank.phone}}.`,
      });
    }
    // An opened "{{" without a matching "}}" would reach the customer verbatim.
    const stripped = body.replace(/\{\{\s*[a-zA-Z]+(?:\.[a-zA-Z]+)*\s*\}\}/g, "");
    if (stripped.includes("{{") || stripped.includes("}}")) {
      ctx.addIssue({ code: "custom", message: "Unvollständige Variable: {{ und }} müssen zusammengehören." });
    }
  });

const snippetInputSchema = z.strictObject({
  shortcut: shortcutSchema,
  title: z.string().trim().min(1, "Titel fehlt.").max(120),
  body: bodySchema,
  category: z.string().trim().max(60).nullable().optional(),
});
const snippetPatchSchema = snippetInputSchema.partial();

type SnippetInput = z.input<typeof snippetInputSchema>;
type SnippetPatch = z.input<typeof snippetPatchSchema>;

type Row = {
  id: string;
  shortcut: string;
  title: string;
  body: string;
  category: string | null;
  created_at: Date;
  updated_at: Date;
};

function view(row: Row): SnippetView {
  return {
    id: row.id,
    shortcut: row.shortcut,
    title: row.title,
    body: row.body,
    category: row.category,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function shortcutTaken(error: unknown): never {
  if (uniqueViolation(error) !== null) {
    throw conflict("Shortcut already in use", [
      { path: "shortcut", message: "Dieses Kürzel ist schon vergeben." },
    ]);
  }
  throw error;
}

export async function listSnippets(db: Db, access: TenantAccess): Promise<SnippetView[]> {
  const rows = await db
    .withSchema(access.schema)
    .selectFrom("snippets")
    .selectAll()
    .orderBy("category")
    .orderBy("shortcut")
    .execute();
  return rows.map(view);
}

export async function getSnippet(db: Db, access: TenantAccess, id: string): Promise<SnippetView> {
  const row = await db
    .withSchema(access.schema)
    .selectFrom("snippets")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound("Snippet");
  return view(row);
}

export async function createSnippet(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  input: SnippetInput,
): Promise<SnippetView> {
  const parsed = snippetInputSchema.safeParse(input);
  if (!parsed.success) throw invalid("Invalid snippet", issueFields(parsed.error.issues));
  const data = parsed.data;
  try {
    return await db.transaction().execute(async (trx) => {
      const row = await trx
        .withSchema(access.schema)
        .insertInto("snippets")
        .values({
          id: newId("snp"),
          shortcut: data.shortcut,
          title: data.title,
          body: data.body,
          category: data.category ?? null,
          updated_at: new Date(),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await auditTenant(trx, access.schema, ctx.actor, {
        action: "snippet.created",
        targetType: "snippet",
        targetId: row.id,
        ip: ctx.ip ?? null,
        requestId: ctx.requestId ?? null,
        details: { shortcut: row.shortcut, title: row.title, body: row.body },
      });
      return view(row);
    });
  } catch (error) {
    return shortcutTaken(error);
  }
}

export async function updateSnippet(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  id: string,
  patch: SnippetPatch,
): Promise<SnippetView> {
  const parsed = snippetPatchSchema.safeParse(patch);
  if (!parsed.success) throw invalid("Invalid snippet", issueFields(parsed.error.issues));
  const data = parsed.data;
  try {
    return await db.transaction().execute(async (trx) => {
      const before = await trx
        .withSchema(access.schema)
        .selectFrom("snippets")
        .selectAll()
        .where("id", "=", id)
        .forUpdate()
        .executeTakeFirst();
      if (!before) throw notFound("Snippet");
      const row = await trx
        .withSchema(access.schema)
        .updateTable("snippets")
        .set({
          ...(data.shortcut !== undefined ? { shortcut: data.shortcut } : {}),
          ...(data.title !== undefined ? { title: data.title } : {}),
          ...(data.body !== undefined ? { body: data.body } : {}),
          ...(data.category !== undefined ? { category: data.category } : {}),
          updated_at: new Date(),
        })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirstOrThrow();
      // The approved wording is what compliance signs off: keep the previous text in the audit.
      await auditTenant(trx, access.schema, ctx.actor, {
        action: "snippet.updated",
        targetType: "snippet",
        targetId: id,
        ip: ctx.ip ?? null,
        requestId: ctx.requestId ?? null,
        details: {
          fields: Object.keys(data).sort(),
          before: {
            shortcut: before.shortcut,
            title: before.title,
            body: before.body,
            category: before.category,
          },
          after: { shortcut: row.shortcut, title: row.title, body: row.body, category: row.category },
        },
      });
      return view(row);
    });
  } catch (error) {
    return shortcutTaken(error);
  }
}

/** A snippet the current rule book allows for some topic cannot be deleted (KSC agents would lose it). */
export async function deleteSnippet(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  id: string,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    // Same lock as a rule-book change, so a rule cannot start allowing the snippet while it is deleted.
    await sql`select pg_advisory_xact_lock(hashtext(${`${access.schema}:rule_book`}))`.execute(trx);
    const version = await latestRuleBookVersion(trx, access.schema);
    const book = await trx
      .withSchema(access.schema)
      .selectFrom("rule_book_versions")
      .select("rules")
      .where("version", "=", version)
      .executeTakeFirstOrThrow();
    const users = (book.rules as Rule[]).filter((rule) => rule.allowedSnippetIds.includes(id));
    const row = await trx
      .withSchema(access.schema)
      .deleteFrom("snippets")
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound("Snippet");
    if (users.length > 0) {
      throw conflict("The snippet is used by rules", [
        {
          path: "id",
          message: `Der Textbaustein ist in diesen Regeln freigegeben: ${users.map((rule) => `„${rule.topic}“`).join(", ")}. Entfernen Sie ihn zuerst dort.`,
        },
      ]);
    }
    await auditTenant(trx, access.schema, ctx.actor, {
      action: "snippet.deleted",
      targetType: "snippet",
      targetId: id,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      details: { shortcut: row.shortcut, title: row.title, body: row.body },
    });
  });
}
