import { sql, type Database, type Db, type Transaction } from "@kanal/db";
import {
  compileRuleBook,
  explainMatch,
  type MatchExplanation,
  type Rule,
  ruleBookSchema,
  ruleSchema,
} from "@kanal/rules";
import { auditTenant } from "../kernel/audit";
import { conflict, invalid, notFound, type FieldError } from "../kernel/errors";
import type { RequestContext } from "../kernel/request-context";
import type { TenantAccess } from "../tenants/access";
import { compiledRuleBook, latestRuleBookVersion } from "./rule-book";
import { invalidFrom, issueFields } from "./validation";

interface RuleBookView {
  version: number;
  createdAt: string;
  createdBy: string | null;
  rules: Rule[];
}

interface RuleBookVersionSummary {
  version: number;
  createdAt: string;
  createdBy: string | null;
  ruleCount: number;
}

type RuleChange =
  | { kind: "created"; rule: unknown }
  | { kind: "updated"; ruleId: string; patch: Record<string, unknown> }
  | { kind: "deleted"; ruleId: string }
  | { kind: "replaced"; rules: unknown[] };

type Row = { version: number; rules: unknown[]; created_by: string | null; created_at: Date };

function view(row: Row): RuleBookView {
  return {
    version: row.version,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    rules: row.rules as Rule[],
  };
}

export async function currentRuleBook(db: Db, access: TenantAccess): Promise<RuleBookView> {
  const version = await latestRuleBookVersion(db, access.schema);
  return ruleBookVersion(db, access, version);
}

export async function ruleBookVersion(db: Db, access: TenantAccess, version: number): Promise<RuleBookView> {
  const row = await db
    .withSchema(access.schema)
    .selectFrom("rule_book_versions")
    .selectAll()
    .where("version", "=", version)
    .executeTakeFirst();
  if (!row) throw notFound("Rule book version");
  return view(row);
}

export async function listRuleBookVersions(db: Db, access: TenantAccess): Promise<RuleBookVersionSummary[]> {
  const rows = await db
    .withSchema(access.schema)
    .selectFrom("rule_book_versions")
    .select([
      "version",
      "created_by",
      "created_at",
      sql<number>`jsonb_array_length(rules)::int`.as("rule_count"),
    ])
    .orderBy("version", "desc")
    .execute();
  return rows.map((row) => ({
    version: row.version,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    ruleCount: row.rule_count,
  }));
}

function changedRules(rules: Rule[], change: RuleChange): unknown[] {
  switch (change.kind) {
    case "created": {
      const parsed = ruleSchema.safeParse(change.rule);
      if (!parsed.success) throw invalidFrom(parsed.error, "Invalid rule");
      if (rules.some((rule) => rule.id === parsed.data.id)) {
        throw conflict(`A rule with the id "${parsed.data.id}" exists`, [
          { path: "id", message: `Regel-ID „${parsed.data.id}“ ist schon vergeben.` },
        ]);
      }
      return [...rules, parsed.data];
    }
    case "updated": {
      const index = rules.findIndex((rule) => rule.id === change.ruleId);
      const existing = rules[index];
      if (existing === undefined) throw notFound("Rule");
      if ("id" in change.patch && change.patch.id !== change.ruleId) {
        throw invalid("The id of a rule cannot change", [
          { path: "id", message: "Die Regel-ID kann nicht geändert werden." },
        ]);
      }
      const parsed = ruleSchema.safeParse({ ...existing, ...change.patch, id: change.ruleId });
      if (!parsed.success) throw invalidFrom(parsed.error, "Invalid rule");
      return rules.map((rule, i) => (i === index ? parsed.data : rule));
    }
    case "deleted": {
      const existing = rules.find((rule) => rule.id === change.ruleId);
      if (existing === undefined) throw notFound("Rule");
      if (existing.isDefault === true) {
        throw conflict("The default rule cannot be deleted", [
          {
            path: "id",
            message: "Die Standardregel kann nicht gelöscht werden; ändern Sie sie stattdessen.",
          },
        ]);
      }
      return rules.filter((rule) => rule.id !== change.ruleId);
    }
    case "replaced":
      return change.rules;
  }
}

async function unknownSnippetFields(
  trx: Transaction<Database>,
  schema: string,
  rules: readonly Rule[],
  singleRule: boolean,
): Promise<FieldError[]> {
  const wanted = [...new Set(rules.flatMap((rule) => rule.allowedSnippetIds))];
  if (wanted.length === 0) return [];
  const found = await trx
    .withSchema(schema)
    .selectFrom("snippets")
    .select("id")
    .where("id", "in", wanted)
    .execute();
  const known = new Set(found.map((row) => row.id));
  const fields: FieldError[] = [];
  rules.forEach((rule, ruleIndex) => {
    rule.allowedSnippetIds.forEach((id, index) => {
      if (known.has(id)) return;
      const path = singleRule
        ? `allowedSnippetIds.${index}`
        : `rules.${ruleIndex}.allowedSnippetIds.${index}`;
      fields.push({ path, message: `Textbaustein „${id}“ gibt es nicht.` });
    });
  });
  return fields;
}

function auditSummary(change: RuleChange): Record<string, unknown> {
  switch (change.kind) {
    case "created":
      return { change: "created", ruleId: (change.rule as { id?: unknown }).id ?? null };
    case "updated":
      return { change: "updated", ruleId: change.ruleId, fields: Object.keys(change.patch).sort() };
    case "deleted":
      return { change: "deleted", ruleId: change.ruleId };
    case "replaced":
      return { change: "replaced", ruleCount: change.rules.length };
  }
}

/**
 * Every change writes a new immutable version (old versions stay readable and messages keep pointing at
 * the version that classified them). One transaction: lock, read the latest, apply, validate the whole
 * book, check snippet ids, insert, audit. The advisory lock serialises concurrent admins per bank, so
 * two edits can never both become "version n+1" nor silently drop each other's change.
 */
export async function changeRuleBook(
  db: Db,
  ctx: RequestContext,
  access: TenantAccess,
  change: RuleChange,
): Promise<{ version: number; book: RuleBookView; rule?: Rule }> {
  const result = await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${`${access.schema}:rule_book`}))`.execute(trx);
    const latest = await trx
      .withSchema(access.schema)
      .selectFrom("rule_book_versions")
      .selectAll()
      .orderBy("version", "desc")
      .limit(1)
      .executeTakeFirst();
    if (!latest) throw notFound("Rule book");
    const version = latest.version + 1;
    const candidate = changedRules(latest.rules as Rule[], change);
    const parsed = ruleBookSchema.safeParse({ version, rules: candidate });
    if (!parsed.success) {
      // A single-rule change reports fields relative to that rule's body ("keywords.0", not "rules.7.keywords.0").
      const issues =
        change.kind === "replaced"
          ? parsed.error.issues
          : parsed.error.issues.map((issue) =>
              issue.path[0] === "rules" && typeof issue.path[1] === "number"
                ? { ...issue, path: issue.path.slice(2) }
                : issue,
            );
      throw invalid("Invalid rule book", issueFields(issues));
    }
    const singleRule = change.kind !== "replaced";
    const touched =
      change.kind === "created"
        ? parsed.data.rules.slice(-1)
        : change.kind === "updated"
          ? parsed.data.rules.filter((rule) => rule.id === change.ruleId)
          : change.kind === "deleted"
            ? []
            : parsed.data.rules;
    const snippetFields = await unknownSnippetFields(trx, access.schema, touched, singleRule);
    if (snippetFields.length > 0) throw invalid("Unknown snippet", snippetFields);

    const row = await trx
      .withSchema(access.schema)
      .insertInto("rule_book_versions")
      .values({
        version,
        rules: JSON.stringify(parsed.data.rules),
        created_by: ctx.actor.kind === "user" ? ctx.actor.userId : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await auditTenant(trx, access.schema, ctx.actor, {
      action: "rules.changed",
      targetType: "rule_book",
      targetId: String(version),
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      details: { ...auditSummary(change), version, previousVersion: latest.version },
    });
    const rule =
      change.kind === "created"
        ? parsed.data.rules.at(-1)
        : change.kind === "updated"
          ? parsed.data.rules.find((r) => r.id === change.ruleId)
          : undefined;
    return { version, book: view(row), ...(rule ? { rule } : {}) };
  });
  return result;
}

interface RuleCheckResult extends MatchExplanation {
  /** true when the text was checked against rules sent with the request instead of the published book */
  draft: boolean;
}

/**
 * "Which rule matches this text, and why?" — against the published book, or against a draft list of
 * rules the admin has not published yet (validated like a publish, nothing is stored).
 */
export async function checkRuleText(
  db: Db,
  access: TenantAccess,
  input: { text: string; rules?: unknown[]; version?: number },
): Promise<RuleCheckResult> {
  if (input.rules !== undefined) {
    const version = (await latestRuleBookVersion(db, access.schema)) + 1;
    const parsed = ruleBookSchema.safeParse({ version, rules: input.rules });
    if (!parsed.success) throw invalidFrom(parsed.error, "Invalid rule book");
    return { ...explainMatch(compileRuleBook(parsed.data), input.text), draft: true };
  }
  const book = await compiledRuleBook(db, access.schema, input.version);
  return { ...explainMatch(book, input.text), draft: false };
}
