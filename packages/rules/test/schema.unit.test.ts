import { describe, expect, it } from "vitest";
import {
  compileRuleBook,
  dataClassCatalogue,
  defaultRuleBook,
  defaultSnippets,
  forbiddenDataClasses,
  type RuleBookInput,
  ruleBookSchema,
  ruleSchema,
} from "../src/index";

const validRule = {
  id: "termin",
  topic: "Termin",
  keywords: ["Termin"],
  patterns: [],
  priority: 10,
  handling: "ksc_allowed",
  allowedDataClasses: ["name", "phone"],
  allowedSnippetIds: [],
  freeTextAllowed: true,
  action: { type: "answer" },
  guidance: "Termin aufnehmen.",
};

describe("ruleSchema", () => {
  it("accepts a valid rule", () => {
    expect(ruleSchema.safeParse(validRule).success).toBe(true);
  });

  it.each(forbiddenDataClasses.map((entry) => entry.id))("refuses the forbidden data class %s", (id) => {
    const result = ruleSchema.safeParse({ ...validRule, allowedDataClasses: ["name", id] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain("niemals");
  });

  it("refuses unknown data classes", () => {
    expect(ruleSchema.safeParse({ ...validRule, allowedDataClasses: ["shoe_size"] }).success).toBe(false);
  });

  it("refuses patterns that do not compile or match everything", () => {
    expect(ruleSchema.safeParse({ ...validRule, patterns: ["(unclosed"] }).success).toBe(false);
    expect(ruleSchema.safeParse({ ...validRule, patterns: ["a*"] }).success).toBe(false);
    expect(ruleSchema.safeParse({ ...validRule, patterns: ["über\\w+"] }).success).toBe(true);
    expect(ruleSchema.safeParse({ ...validRule, patterns: ["(?:karte|konto)\\s+(?:weg)?"] }).success).toBe(
      true,
    );
  });

  it("refuses simple nested repetition (readability; the engine would run it in linear time)", () => {
    for (const pattern of ["(a+)+b", "(\\w*\\s?)*x", "(?:ab*){2,}"]) {
      expect(ruleSchema.safeParse({ ...validRule, patterns: [pattern] }).success).toBe(false);
    }
  });

  it("refuses what the engine cannot run: lookarounds, backreferences, huge repetitions", () => {
    for (const pattern of ["konto(?!auszug)", "(?<=giro)konto", "(a)\\1", ".{0,900}x"]) {
      expect(ruleSchema.safeParse({ ...validRule, patterns: [pattern] }).success).toBe(false);
    }
  });

  it("checks the redirect phone number", () => {
    const redirect = (phoneNumber: string) =>
      ruleSchema.safeParse({ ...validRule, action: { type: "redirect_to_phone", phoneNumber } }).success;
    expect(redirect("116 116")).toBe(true);
    expect(redirect("+49 8141 407-0")).toBe(true);
    expect(redirect("{{bank.phone}}")).toBe(true);
    expect(redirect("ruf an")).toBe(false);
    expect(ruleSchema.safeParse({ ...validRule, action: { type: "redirect_to_phone" } }).success).toBe(false);
  });
});

describe("ruleBookSchema", () => {
  const fallback = { ...validRule, id: "allgemein", keywords: [], isDefault: true };

  it("needs exactly one default rule", () => {
    expect(ruleBookSchema.safeParse({ version: 1, rules: [validRule] }).success).toBe(false);
    expect(ruleBookSchema.safeParse({ version: 1, rules: [validRule, fallback] }).success).toBe(true);
    expect(
      ruleBookSchema.safeParse({ version: 1, rules: [fallback, { ...fallback, id: "zweite" }] }).success,
    ).toBe(false);
  });

  it("refuses duplicate rule ids", () => {
    expect(ruleBookSchema.safeParse({ version: 1, rules: [validRule, validRule, fallback] }).success).toBe(
      false,
    );
  });

  it("compileRuleBook throws on an invalid book", () => {
    // a book as it could come from the database, not checked by the compiler
    const stored: unknown = { version: 1, rules: [validRule] };
    expect(() => compileRuleBook(stored as RuleBookInput)).toThrow(/Standardregel/);
  });
});

describe("default rule book", () => {
  const book = defaultRuleBook();

  it("is valid and compiles", () => {
    expect(ruleBookSchema.parse(book)).toEqual(book);
    expect(compileRuleBook(book).version).toBe(1);
  });

  it("covers the topics a bank starts with", () => {
    const topics = book.rules.map((rule) => rule.topic);
    for (const topic of [
      "Online-Banking entsperren",
      "Tageslimit erhöhen",
      "Kreditanfrage",
      "Kartensperre",
      "Überweisung",
      "Wertpapierorder",
      "Termin",
    ]) {
      expect(topics).toContain(topic);
    }
  });

  it("sends card blocking to the Sperr-Notruf and orders to the phone", () => {
    const byId = new Map(book.rules.map((rule) => [rule.id, rule]));
    expect(byId.get("kartensperre")?.action).toMatchObject({
      type: "redirect_to_phone",
      phoneNumber: "116 116",
    });
    expect(byId.get("ueberweisung")?.action.type).toBe("redirect_to_phone");
    expect(byId.get("wertpapierorder")?.action.type).toBe("redirect_to_phone");
    expect(byId.get("persoenliche-daten")).toMatchObject({
      handling: "bank_only",
      action: { type: "handover_to_advisor" },
    });
  });

  it("only names snippets that exist among the default snippets", () => {
    const snippetIds = new Set(defaultSnippets().map((snippet) => snippet.id));
    for (const rule of book.rules) {
      for (const id of rule.allowedSnippetIds) expect(snippetIds.has(id)).toBe(true);
    }
  });

  it("has German labels for every data class", () => {
    for (const entry of [...dataClassCatalogue, ...forbiddenDataClasses])
      expect(entry.label.length).toBeGreaterThan(0);
  });
});
