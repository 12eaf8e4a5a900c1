import { z } from "zod";
import { dataClassIds, dataClassLabel, isForbiddenDataClass } from "./data-classes";
import { foldGerman } from "./normalize";

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

export const PATTERN_FLAGS = "u";

const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)/;

/** Returns the German reason a pattern is unusable, or undefined when it is fine. */
export function patternProblem(source: string): string | undefined {
  let regex: RegExp;
  try {
    regex = new RegExp(foldPatternSource(source), PATTERN_FLAGS);
  } catch (error) {
    return `Ungültiger regulärer Ausdruck: ${error instanceof Error ? error.message : String(error)}`;
  }
  // Nested repetition ("(a+)+", "(\\w*\\s?)*") can take exponential time on a crafted message,
  // and every inbound message runs through every pattern.
  if (NESTED_QUANTIFIER.test(source)) {
    return "Verschachtelte Wiederholungen wie (a+)+ sind nicht erlaubt (zu langsam bei manchen Nachrichten).";
  }
  // A pattern that matches the empty text would match every message.
  if (regex.test("")) return "Das Muster passt auf jede Nachricht (auch auf leeren Text).";
  return undefined;
}

const keywordSchema = z
  .string()
  .trim()
  .min(2, "Ein Schlüsselwort braucht mindestens zwei Zeichen.")
  .max(80)
  .refine((keyword) => /[\p{L}\p{N}]{2}/u.test(foldGerman(keyword)), {
    message: "Ein Schlüsselwort muss Buchstaben oder Ziffern enthalten.",
  });

const patternSchema = z
  .string()
  .min(1)
  .max(300, "Ein Muster darf höchstens 300 Zeichen lang sein.")
  .superRefine((source, ctx) => {
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

export const ruleSchema = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "Regel-ID: Buchstaben, Ziffern, _ . - (max. 64 Zeichen)."),
  topic: z.string().trim().min(1).max(120),
  keywords: z.array(keywordSchema).max(200).default([]),
  patterns: z.array(patternSchema).max(50).default([]),
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

export const ruleBookSchema = z
  .object({
    version: z.number().int().min(1),
    rules: z.array(ruleSchema).min(1).max(1000),
  })
  .superRefine((book, ctx) => {
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
  });

export type RuleAction = z.infer<typeof ruleActionSchema>;
export type Rule = z.infer<typeof ruleSchema>;
export type RuleInput = z.input<typeof ruleSchema>;
export type RuleBook = z.infer<typeof ruleBookSchema>;
export type RuleBookInput = z.input<typeof ruleBookSchema>;
export type RuleHandling = Rule["handling"];
