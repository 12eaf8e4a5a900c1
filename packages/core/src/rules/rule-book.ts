import type { Database, Db, Transaction } from "@kanal/db";
import {
  type Classification,
  type CompiledRuleBook,
  classify,
  compileRuleBook,
  type MaskFinding,
  maskInbound,
  type Rule,
} from "@kanal/rules";
import { notFound } from "../kernel/errors";

/** Anything that can run a query: the pool or a transaction (the lead's ingest classifies inside its own). */
export type DbExecutor = Db | Transaction<Database>;

/**
 * Compiled rule books per (schema, version). A version row is immutable, so a compiled book never goes
 * stale; only "which version is the latest" is asked of Postgres per message (one index-only lookup).
 * The map is bounded so a provider with many banks and many edits cannot grow it without limit.
 */
const MAX_CACHED_BOOKS = 500;
const compiledBooks = new Map<string, CompiledRuleBook>();

function cacheKey(schema: string, version: number): string {
  return `${schema}#${version}`;
}

function remember(schema: string, book: CompiledRuleBook): CompiledRuleBook {
  const key = cacheKey(schema, book.version);
  compiledBooks.delete(key);
  compiledBooks.set(key, book);
  while (compiledBooks.size > MAX_CACHED_BOOKS) {
    const oldest = compiledBooks.keys().next().value;
    if (oldest === undefined) break;
    compiledBooks.delete(oldest);
  }
  return book;
}

export async function latestRuleBookVersion(db: DbExecutor, schema: string): Promise<number> {
  const row = await db
    .withSchema(schema)
    .selectFrom("rule_book_versions")
    .select("version")
    .orderBy("version", "desc")
    .limit(1)
    .executeTakeFirst();
  if (!row) throw notFound("Rule book");
  return row.version;
}

/** The compiled book of one version (default: the latest). Throws not_found when the version does not exist. */
export async function compiledRuleBook(
  db: DbExecutor,
  schema: string,
  version?: number,
): Promise<CompiledRuleBook> {
  const wanted = version ?? (await latestRuleBookVersion(db, schema));
  const cached = compiledBooks.get(cacheKey(schema, wanted));
  if (cached) return cached;
  const row = await db
    .withSchema(schema)
    .selectFrom("rule_book_versions")
    .select(["version", "rules"])
    .where("version", "=", wanted)
    .executeTakeFirst();
  if (!row) throw notFound("Rule book version");
  // Stored books were validated when written; compiling validates again, which also covers
  // rows written by an older schema of the rule package.
  return remember(schema, compileRuleBook({ version: row.version, rules: row.rules as Rule[] }));
}

interface InboundClassification {
  ruleId: string;
  topic: string;
  /** the rule-book version used — store it on the message (messages.rule_version) */
  version: number;
  isDefault: boolean;
  /** German: why this rule (for the agent's guidance and the audit) */
  explanation: string;
  action: Rule["action"]["type"];
  handling: Rule["handling"];
  rule: Rule;
}

function toInbound(result: Classification): InboundClassification {
  return {
    ruleId: result.ruleId,
    topic: result.topic,
    version: result.version,
    isDefault: result.isDefault,
    explanation: result.explanation,
    action: result.rule.action.type,
    handling: result.rule.handling,
    rule: result.rule,
  };
}

/**
 * Classifies an inbound customer message with the bank's latest rule book. Pass the MASKED text
 * (maskInbound first): the classifier never needs the clear card number.
 */
async function classifyInbound(
  db: DbExecutor,
  schema: string,
  text: string,
  /** The latest version when the caller has just read it (saves a round trip); default: ask. */
  version?: number,
): Promise<InboundClassification> {
  const book = await compiledRuleBook(db, schema, version);
  return toInbound(classify(book, text));
}

interface MaskedInbound {
  /** the text to store, index, log and show */
  text: string;
  findings: MaskFinding[];
  /** kinds for the `after-inbound` job (`sensitiveKinds`): card_number, pin, tan, password, cvc */
  sensitiveKinds: string[];
  classification: InboundClassification;
}

/** maskInbound + classifyInbound in the right order, with the job's `sensitiveKinds` derived. */
export async function maskAndClassifyInbound(
  db: DbExecutor,
  schema: string,
  rawText: string,
  version?: number,
): Promise<MaskedInbound> {
  const masked = maskInbound(rawText);
  const classification = await classifyInbound(db, schema, masked.text, version);
  const kinds = new Set(
    masked.findings.map((finding) => (finding.kind === "secret" ? finding.secretType : finding.kind)),
  );
  return { text: masked.text, findings: masked.findings, sensitiveKinds: [...kinds], classification };
}
