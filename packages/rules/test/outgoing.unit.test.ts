import { describe, expect, it } from "vitest";
import {
  checkOutgoing,
  defaultRuleBook,
  defaultSnippets,
  renderSnippet,
  type Rule,
  ruleSchema,
} from "../src/index";

const rule: Rule = ruleSchema.parse({
  id: "online-banking",
  topic: "Online-Banking entsperren",
  priority: 10,
  handling: "ksc_allowed",
  allowedDataClasses: ["name", "postcode"],
  allowedSnippetIds: ["snp_entsperren"],
  freeTextAllowed: true,
  action: { type: "answer" },
});

function ksc(text: string, overrides: Partial<Rule> = {}, snippetId?: string) {
  return checkOutgoing({
    text,
    rule: { ...rule, ...overrides },
    actor: "ksc",
    ...(snippetId ? { snippetId } : {}),
  });
}

describe("forbidden data requests", () => {
  it.each([
    ["Nennen Sie mir bitte Ihre PIN", "pin"],
    ["Ihre PIN bitte", "pin"],
    ["Ihre PIN?", "pin"],
    ["Wie lautet Ihre TAN?", "tan"],
    ["Bitte schicken Sie mir die pushTAN", "tan"],
    ["Bitte senden Sie uns Ihre Kartennummer.", "full_card_number"],
    ["Kreditkartennummer bitte", "full_card_number"],
    ["Schicken Sie mir ein Foto Ihrer Kreditkarte", "full_card_number"],
    ["Wie lautet Ihr Passwort?", "password"],
    ["Geben Sie Ihr Kennwort", "password"],
    ["Könnten Sie mir Ihre Zugangsdaten durchgeben?", "online_banking_credentials"],
    ["Wie lautet die Prüfziffer auf der Rückseite?", "cvc"],
    ["Ich bräuchte noch den CVC-Code", "cvc"],
    ["Keine Sorge, nennen Sie mir einfach Ihre PIN.", "pin"],
    ["Kein Problem! Wie lautet Ihre TAN?", "tan"],
  ])("refuses %j (%s)", (text, dataClass) => {
    const result = ksc(text);
    expect(result.allowed).toBe(false);
    expect(result.violations).toContainEqual(
      expect.objectContaining({ code: "forbidden_data_request", dataClass, excerpt: expect.any(String) }),
    );
    expect(result.violations[0]?.message).toMatch(/niemals/);
    expect(result.violations[0]?.messageEn).toMatch(/Never/);
  });

  it.each([
    "Bitte geben Sie niemals Ihre PIN weiter.",
    "Geben Sie niemals Ihre PIN, TAN oder Ihr Passwort weiter.",
    "Ihre PIN, TAN und Ihr Passwort geben Sie bitte keinesfalls weiter.",
    "Wir fragen Sie nie nach Ihrer TAN.",
    "Ihre Kartennummer brauchen wir nicht.",
    "Bitte halten Sie Ihre PIN geheim.",
    "Wir senden Ihnen einen neuen PIN-Brief per Post zu.",
    "Ihre neue PIN erhalten Sie in wenigen Tagen per Post.",
    "Aus Sicherheitsgründen fragen wir über WhatsApp niemals nach PIN, TAN oder Passwort.",
    "Eine Tante von mir war auch Kundin bei uns.",
  ])("allows warnings and mentions: %j", (text) => {
    const result = ksc(text);
    expect(result.violations).toEqual([]);
    expect(result.allowed).toBe(true);
  });
});

describe("catalogue data classes", () => {
  it("allows a data class the rule allows", () => {
    expect(ksc("Ihre Postleitzahl bitte").allowed).toBe(true);
    expect(ksc("Nennen Sie mir bitte Ihren vollständigen Namen.").allowed).toBe(true);
  });

  it("refuses a data class the rule does not allow", () => {
    const result = ksc("Ihr Geburtsdatum bitte");
    expect(result.allowed).toBe(false);
    expect(result.violations).toEqual([
      expect.objectContaining({
        code: "data_class_not_allowed",
        dataClass: "date_of_birth",
        excerpt: "Ihr Geburtsdatum bitte",
      }),
    ]);
    expect(ksc("Ihr Geburtsdatum bitte", { allowedDataClasses: ["date_of_birth"] }).allowed).toBe(true);
  });

  it("reads 'E-Mail-Adresse' as e-mail, not as postal address", () => {
    const result = ksc("Wie lautet Ihre E-Mail-Adresse?");
    expect(result.violations.map((violation) => violation.dataClass)).toEqual(["email"]);
  });

  it("reads the last four digits of the card as card_last4, not the full number", () => {
    const result = ksc("Die letzten vier Ziffern Ihrer Kartennummer bitte", {
      allowedDataClasses: ["card_last4"],
    });
    expect(result.allowed).toBe(true);
  });

  it("reports several requested classes of one sentence", () => {
    const result = ksc("Bitte nennen Sie mir Ihre Kundennummer und Ihre Telefonnummer.");
    expect(result.violations.map((violation) => violation.dataClass).sort()).toEqual([
      "customer_reference",
      "phone",
    ]);
  });
});

describe("rule constraints for KSC agents", () => {
  it("refuses free text where only snippets are allowed", () => {
    const result = ksc("Hallo!", { freeTextAllowed: false });
    expect(result.violations.map((violation) => violation.code)).toEqual(["free_text_not_allowed"]);
    expect(ksc("Hallo!", { freeTextAllowed: false }, "snp_entsperren").allowed).toBe(true);
  });

  it("refuses snippets the rule does not list", () => {
    expect(ksc("Hallo!", {}, "snp_other").violations.map((violation) => violation.code)).toEqual([
      "snippet_not_allowed",
    ]);
  });

  it("refuses bank-only topics", () => {
    const result = ksc("Ich kümmere mich darum.", { handling: "bank_only" });
    expect(result.violations.map((violation) => violation.code)).toEqual(["bank_only_topic"]);
  });
});

describe("bank staff", () => {
  it("gets warnings instead of violations and ignores KSC-only limits", () => {
    const result = checkOutgoing({
      text: "Nennen Sie mir bitte Ihre PIN und Ihr Geburtsdatum",
      rule: { ...rule, handling: "bank_only", freeTextAllowed: false },
      actor: "bank",
    });
    expect(result.allowed).toBe(true);
    expect(result.violations).toEqual([]);
    expect(result.warnings.map((warning) => warning.code).sort()).toEqual([
      "data_class_not_allowed",
      "forbidden_data_request",
    ]);
  });
});

describe("sensitive data in the draft", () => {
  it("warns when the draft itself contains a card number", () => {
    const result = ksc("Ihre Karte 4111 1111 1111 1111 ist gesperrt.");
    expect(result.warnings.map((warning) => warning.code)).toEqual(["contains_sensitive_data"]);
    expect(result.warnings[0]?.excerpt).not.toContain("4111 1111 1111 1111");
  });
});

describe("default snippets under the default rule book", () => {
  const vars = {
    customer: { name: "Frau Huber" },
    agent: { name: "Anna" },
    bank: { name: "Sparkasse Fürstenfeldbruck", phone: "08141 407-0" },
  };
  const snippets = new Map(defaultSnippets().map((snippet) => [snippet.id, snippet]));

  for (const bookRule of defaultRuleBook().rules.filter(
    (candidate) => candidate.handling === "ksc_allowed",
  )) {
    it(`every snippet allowed for "${bookRule.topic}" passes the KSC check`, () => {
      for (const snippetId of bookRule.allowedSnippetIds) {
        const snippet = snippets.get(snippetId);
        expect(snippet).toBeDefined();
        const result = checkOutgoing({
          text: renderSnippet(snippet?.body ?? "", vars),
          snippetId,
          rule: bookRule,
          actor: "ksc",
        });
        expect({ snippetId, violations: result.violations, warnings: result.warnings }).toEqual({
          snippetId,
          violations: [],
          warnings: [],
        });
      }
    });
  }
});
