import { z } from "zod";
import { dataClassIds, dataClassLabel, isForbiddenDataClass } from "./data-classes";
import { rewriteLegacyPattern } from "./legacy-patterns";
import { foldGerman } from "./normalize";
import { compileForEngine, MAX_BOOK_PATTERN_COST, type PatternCompilation } from "./pattern-engine";

/** Placeholder for the bank's own service number in `redirect_to_phone` actions. */
export const BANK_SERVICE_PHONE_PLACEHOLDER = "{{bank.phone}}";

const UMLAUT_IN_PATTERN: Record<string, string> = {
  ä: "(?:ae)",
  ö: "(?:oe)",
  ü: "(?:ue)",
  ß: "(?:ss)",
  Ä: "(?:ae)",
  Ö: "(?:oe)",
  Ü: "(?:ue)",
  ẞ: "(?:ss)",
};

/**
 * Patterns run against folded text (lower case, umlauts as ae/oe/ue/ss), so the source
 * is folded the same way: letters are lowered (escapes such as \D, \S, \p{Lu} are kept)
 * and umlauts become "(?:ae)" etc. This lets the regex run without the "i" flag, which
 * together with "u" is about ten times slower in V8. Inside a character class ("[äa]")
 * umlauts stay single characters: a class matches one character and cannot hold "ae".
 */
export function foldPatternSource(source: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i] as string;
    if (ch === "\\") {
      const next = source[i + 1] ?? "";
      if ((next === "p" || next === "P") && source[i + 2] === "{") {
        // Unicode property escape: copy verbatim, names are case-sensitive.
        const close = source.indexOf("}", i + 2);
        const end = close === -1 ? source.length : close + 1;
        out += source.slice(i, end);
        i = end - 1;
        continue;
      }
      out += ch + next;
      i++;
      continue;
    }
    if (inClass) {
      if (ch === "]") inClass = false;
      out += ch.toLowerCase();
      continue;
    }
    if (ch === "[") inClass = true;
    out += UMLAUT_IN_PATTERN[ch] ?? ch.toLowerCase();
  }
  return out;
}

/** Flags of the JS compile check: a pattern must be valid JavaScript (what admins write) as well. */
const PATTERN_FLAGS = "u";

const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)/;

/** At most this many patterns in one rule book: each inbound message runs through all of them. */
export const MAX_BOOK_PATTERNS = 1000;

// Compiled patterns by source, shared by all books (a bank's versions mostly repeat the same patterns).
// Bounded: insertion order is use order, the oldest entry goes first.
const MAX_CACHED_PATTERNS = 5000;
const compiledPatterns = new Map<string, PatternCompilation>();

function compileUncached(source: string): PatternCompilation {
  const folded = foldPatternSource(source);
  try {
    new RegExp(folded, PATTERN_FLAGS);
  } catch (error) {
    return {
      ok: false,
      problem: `Ungültiger regulärer Ausdruck: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  const compiled = compileForEngine(folded);
  if (!compiled.ok) return compiled;
  // A pattern that matches the empty text would match every message.
  if (compiled.pattern.firstMatch("") !== null) {
    return { ok: false, problem: "Das Muster passt auf jede Nachricht (auch auf leeren Text)." };
  }
  // Not a safety measure any more (the engine runs "(a+)+" in linear time, and this check misses
  // "((a+))+" anyway): nested repetition is hard to read and almost always has a simpler form.
  if (NESTED_QUANTIFIER.test(source)) {
    return {
      ok: false,
      problem:
        "Verschachtelte Wiederholungen wie (a+)+ sind nicht erlaubt: schwer zu lesen und fast immer einfacher zu schreiben (a+).",
    };
  }
  return compiled;
}

/**
 * Compiles a rule pattern for the linear-time engine (pattern-engine.ts), or gives the German reason it is
 * refused: not valid JavaScript, needs backtracking (lookaround, backreference), too big for the time
 * bound, or matches the empty text.
 */
export function compileRulePattern(source: string): PatternCompilation {
  const cached = compiledPatterns.get(source);
  if (cached !== undefined) {
    compiledPatterns.delete(source);
    compiledPatterns.set(source, cached);
    return cached;
  }
  const compiled = compileUncached(source);
  compiledPatterns.set(source, compiled);
  if (compiledPatterns.size > MAX_CACHED_PATTERNS) {
    const oldest = compiledPatterns.keys().next().value;
    if (oldest !== undefined) compiledPatterns.delete(oldest);
  }
  return compiled;
}

/** Forgets compiled patterns (tests that measure a first, cold match). */
export function clearCompiledPatterns(): void {
  compiledPatterns.clear();
}

/** Returns the German reason a pattern is unusable, or undefined when it is fine. */
export function patternProblem(source: string): string | undefined {
  const compiled = compileRulePattern(source);
  return compiled.ok ? undefined : compiled.problem;
}

const keywordSchema = z
  .string()
  .trim()
  .min(2, "Ein Schlüsselwort braucht mindestens zwei Zeichen.")
  .max(80)
  .refine((keyword) => /[\p{L}\p{N}]{2}/u.test(foldGerman(keyword)), {
    message: "Ein Schlüsselwort muss Buchstaben oder Ziffern enthalten.",
  });

const patternTextSchema = z
  .string()
  .min(1)
  .max(300, "Ein Muster darf höchstens 300 Zeichen lang sein.")
  .overwrite(rewriteLegacyPattern);

const patternSchema = patternTextSchema.superRefine((source, ctx) => {
  const problem = patternProblem(source);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

const dataClassSchema = z.enum(dataClassIds, {
  error: (issue) =>
    typeof issue.input === "string" && isForbiddenDataClass(issue.input)
      ? `${dataClassLabel(issue.input).label} darf niemals abgefragt werden und kann nicht freigegeben werden.`
      : "Unbekannte Datenart.",
});

const phoneNumberSchema = z
  .string()
  .trim()
  .min(3)
  .max(40)
  .refine((value) => value === BANK_SERVICE_PHONE_PLACEHOLDER || /^\+?[0-9][0-9 ()/-]*[0-9]$/.test(value), {
    message: `Telefonnummer nur aus Ziffern, Leerzeichen, + ( ) / - oder ${BANK_SERVICE_PHONE_PLACEHOLDER}.`,
  });

export const ruleActionSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("answer") }),
  z.object({ type: z.literal("offer_callback") }),
  z.object({ type: z.literal("handover_to_advisor") }),
  z.object({
    type: z.literal("redirect_to_phone"),
    phoneNumber: phoneNumberSchema,
    reason: z.string().trim().max(300).optional(),
  }),
]);

function ruleSchemaWith(pattern: typeof patternTextSchema) {
  return z.object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "Regel-ID: Buchstaben, Ziffern, _ . - (max. 64 Zeichen)."),
    topic: z.string().trim().min(1).max(120),
    keywords: z.array(keywordSchema).max(200).default([]),
    patterns: z.array(pattern).max(50).default([]),
    priority: z.number().int().min(0).max(10_000),
    handling: z.enum(["bank_only", "ksc_allowed"]),
    allowedDataClasses: z
      .array(dataClassSchema)
      .default([])
      .refine((classes) => new Set(classes).size === classes.length, {
        message: "Jede Datenart nur einmal angeben.",
      }),
    allowedSnippetIds: z.array(z.string().min(1).max(100)).default([]),
    freeTextAllowed: z.boolean(),
    action: ruleActionSchema,
    guidance: z.string().max(4000).default(""),
    isDefault: z.boolean().optional(),
  });
}

export const ruleSchema = ruleSchemaWith(patternSchema);

type BookShape = {
  rules: ReadonlyArray<{ id: string; isDefault?: boolean | undefined; patterns: string[] }>;
};

function checkBook(book: BookShape, ctx: z.RefinementCtx): void {
  const defaults = book.rules.filter((rule) => rule.isDefault === true);
  if (defaults.length !== 1) {
    ctx.addIssue({
      code: "custom",
      path: ["rules"],
      message: `Ein Regelwerk braucht genau eine Standardregel (gefunden: ${defaults.length}).`,
    });
  }
  const seen = new Set<string>();
  book.rules.forEach((rule, index) => {
    if (seen.has(rule.id)) {
      ctx.addIssue({
        code: "custom",
        path: ["rules", index, "id"],
        message: `Regel-ID „${rule.id}“ kommt mehrfach vor.`,
      });
    }
    seen.add(rule.id);
  });
}

/** Every inbound message runs through every pattern of the book: bound their number and summed cost. */
function checkPatternBudget(book: BookShape, ctx: z.RefinementCtx): void {
  let count = 0;
  let cost = 0;
  for (const rule of book.rules) {
    for (const source of rule.patterns) {
      count++;
      const compiled = compileRulePattern(source);
      if (compiled.ok) cost += compiled.cost;
    }
  }
  if (count > MAX_BOOK_PATTERNS) {
    ctx.addIssue({
      code: "custom",
      path: ["rules"],
      message: `Ein Regelwerk darf höchstens ${MAX_BOOK_PATTERNS} Muster enthalten (gefunden: ${count}); jede Nachricht wird gegen alle geprüft.`,
    });
  } else if (cost > MAX_BOOK_PATTERN_COST) {
    ctx.addIssue({
      code: "custom",
      path: ["rules"],
      message: `Die Muster des Regelwerks sind zusammen zu aufwendig (Aufwand ${cost}, erlaubt sind ${MAX_BOOK_PATTERN_COST}); jede Nachricht wird gegen alle geprüft. Muster vereinfachen oder zusammenfassen.`,
    });
  }
}

/** A rule book to save (or to check as a draft): every pattern must run on the engine, within the budget. */
export const ruleBookSchema = z
  .object({
    version: z.number().int().min(1),
    rules: z.array(ruleSchema).min(1).max(1000),
  })
  .superRefine((book, ctx) => {
    checkBook(book, ctx);
    checkPatternBudget(book, ctx);
  });

/**
 * A stored rule book version as compileRuleBook reads it: like ruleBookSchema, but a pattern is only
 * checked to be text. A version saved before the pattern engine changed may hold patterns the engine
 * cannot run; compileRuleBook skips those (and reports them) instead of failing every message of the bank.
 */
export const storedRuleBookSchema = z
  .object({
    version: z.number().int().min(1),
    rules: z.array(ruleSchemaWith(patternTextSchema)).min(1).max(1000),
  })
  .superRefine(checkBook);

export type RuleAction = z.infer<typeof ruleActionSchema>;
export type Rule = z.infer<typeof ruleSchema>;
export type RuleInput = z.input<typeof ruleSchema>;
export type RuleBook = z.infer<typeof ruleBookSchema>;
export type RuleBookInput = z.input<typeof ruleBookSchema>;
export type RuleHandling = Rule["handling"];
