import { describe, expect, it } from "vitest";
import { classify, compileRuleBook, defaultRuleBook, explainMatch, type RuleBookInput } from "../src/index";

const compiled = compileRuleBook(defaultRuleBook());

function bookWith(rules: RuleBookInput["rules"]): RuleBookInput {
  return {
    version: 7,
    rules: [
      ...rules,
      {
        id: "fallback",
        topic: "Allgemein",
        priority: 0,
        handling: "ksc_allowed",
        freeTextAllowed: true,
        action: { type: "answer" },
        isDefault: true,
      },
    ],
  };
}

const baseRule = {
  priority: 10,
  handling: "ksc_allowed" as const,
  freeTextAllowed: true,
  action: { type: "answer" as const },
};

describe("classify with the default rule book", () => {
  it.each([
    ["Mein Online-Banking ist gesperrt, können Sie es entsperren?", "online-banking-entsperren"],
    ["Onlinebanking gesperrt", "online-banking-entsperren"],
    ["ONLINE BANKING GESPERRT!!", "online-banking-entsperren"],
    ["Ich bitte um Entsperrung meines Zugangs", "online-banking-entsperren"],
    ["Ich möchte mein Tageslimit erhöhen", "tageslimit-erhoehen"],
    ["tageslimit erhoehen bitte", "tageslimit-erhoehen"],
    ["Wie kann ich den Verfuegungsrahmen ändern?", "tageslimit-erhoehen"],
    ["Ich brauche einen Kredit für ein neues Auto", "kreditanfrage"],
    ["Habt ihr eine Baufinanzierung?", "kreditanfrage"],
    ["Meine Kreditkarte wurde gestohlen", "kartensperre"],
    ["Bitte sperren Sie meine Karte", "kartensperre"],
    ["Kann ich eine Überweisung über WhatsApp machen?", "ueberweisung"],
    ["ueberweisung an meinen vermieter", "ueberweisung"],
    ["Ich will 10 Aktien von Siemens kaufen", "wertpapierorder"],
    ["Ich hätte gern einen Beratungstermin", "termin"],
    ["Ich bin umgezogen und habe eine neue Adresse", "persoenliche-daten"],
    ["Wie ist mein Kontostand?", "kontoinformationen"],
  ])("%s → %s", (message, ruleId) => {
    expect(classify(compiled, message).ruleId).toBe(ruleId);
  });

  it("falls back to the default rule with an explanation when nothing matches", () => {
    const result = classify(compiled, "Hallo, wie geht es Ihnen?");
    expect(result.ruleId).toBe("allgemein");
    expect(result.isDefault).toBe(true);
    expect(result.matched).toEqual([]);
    expect(result.score).toBe(0);
    expect(result.explanation).toContain("Keine Regel");
    expect(result.version).toBe(1);
  });

  it("does not read 'Kreditkarte' as a credit inquiry", () => {
    expect(classify(compiled, "Wo finde ich die Abrechnung meiner Kreditkarte?").ruleId).not.toBe(
      "kreditanfrage",
    );
  });

  it("lets an unlock request beat the transfer it blocks", () => {
    const explanation = explainMatch(compiled, "Online-Banking gesperrt, ich kann keine Überweisung machen");
    expect(explanation.winner.ruleId).toBe("online-banking-entsperren");
    expect(explanation.candidates.map((candidate) => [candidate.ruleId, candidate.won])).toEqual([
      ["online-banking-entsperren", true],
      ["ueberweisung", false],
    ]);
  });
});

describe("keyword matching", () => {
  const book = compileRuleBook(
    bookWith([
      { ...baseRule, id: "ueberweisung", topic: "Überweisung", keywords: ["Überweisung"] },
      { ...baseRule, id: "strasse", topic: "Straße", keywords: ["Strasse"] },
      { ...baseRule, id: "entsperren", topic: "Entsperren", keywords: ["entsperr"] },
      { ...baseRule, id: "email", topic: "E-Mail", keywords: ["e-mail"] },
    ]),
  );

  it("treats umlauts and their ae/oe/ue spelling as equal, both ways", () => {
    expect(classify(book, "UEBERWEISUNG").ruleId).toBe("ueberweisung");
    expect(classify(book, "überweisung").ruleId).toBe("ueberweisung");
    // decomposed ü (u + combining diaeresis) as some keyboards send it
    expect(classify(book, "U\u0308berweisung").ruleId).toBe("ueberweisung");
  });

  it("treats ß and ss as equal", () => {
    expect(classify(book, "In welcher Straße ist die Filiale?").ruleId).toBe("strasse");
  });

  it("matches stems at word starts only", () => {
    expect(classify(book, "Entsperrung").ruleId).toBe("entsperren");
    expect(classify(book, "bitte ENTSPERREN").ruleId).toBe("entsperren");
    expect(classify(book, "Das Passwort ist unentsperrbar").ruleId).toBe("fallback");
  });

  it("matches a separated keyword written with space, hyphen or nothing", () => {
    for (const text of ["meine e-mail", "meine E Mail", "meine Email"]) {
      expect(classify(book, text).ruleId).toBe("email");
    }
  });

  it("shows the customer's own word as excerpt", () => {
    const result = classify(book, "Die Entsperrung klappt nicht");
    expect(result.matched).toEqual([{ kind: "keyword", term: "entsperr", excerpt: "Entsperrung" }]);
  });
});

describe("priorities and ties", () => {
  it("the highest priority wins even with fewer matches", () => {
    const book = compileRuleBook(
      bookWith([
        { ...baseRule, id: "low", topic: "Niedrig", priority: 5, keywords: ["karte", "konto", "geld"] },
        { ...baseRule, id: "high", topic: "Hoch", priority: 50, keywords: ["verloren"] },
      ]),
    );
    expect(classify(book, "Karte, Konto und Geld verloren").ruleId).toBe("high");
  });

  it("ties go to the rule with more matches, then longer matches", () => {
    const book = compileRuleBook(
      bookWith([
        { ...baseRule, id: "one", topic: "Eins", keywords: ["karte"] },
        { ...baseRule, id: "two", topic: "Zwei", keywords: ["karte", "verloren"] },
        { ...baseRule, id: "long", topic: "Lang", keywords: ["kreditkarte"] },
        { ...baseRule, id: "short", topic: "Kurz", keywords: ["kredit"] },
      ]),
    );
    expect(classify(book, "Karte verloren").ruleId).toBe("two");
    expect(classify(book, "Kreditkarte").ruleId).toBe("long");
  });

  it("patterns match against folded text and report the original excerpt", () => {
    const book = compileRuleBook(
      bookWith([{ ...baseRule, id: "betrag", topic: "Betrag", patterns: ["\\d+\\s?euro.{0,20}überweis"] }]),
    );
    const result = classify(book, "Kann ich 50 Euro ueberweisen?");
    expect(result.ruleId).toBe("betrag");
    expect(result.matched[0]).toMatchObject({ kind: "pattern", excerpt: "50 Euro ueberweis" });
  });

  it("patterns are case-insensitive and fold umlauts without the slow i flag", () => {
    const book = compileRuleBook(
      bookWith([{ ...baseRule, id: "gross", topic: "Groß", patterns: ["ÜBERWEIS\\w*\\s+\\D+"] }]),
    );
    expect(classify(book, "überweisung bitte").ruleId).toBe("gross");
    expect(classify(book, "UEBERWEISUNG BITTE").ruleId).toBe("gross");
    expect(classify(book, "Überweisung 123").ruleId).toBe("fallback");
  });

  it("explainMatch lists every matching rule best first and marks the winner", () => {
    const book = compileRuleBook(
      bookWith([
        { ...baseRule, id: "a", topic: "A", priority: 1, keywords: ["termin"] },
        { ...baseRule, id: "b", topic: "B", priority: 2, keywords: ["rueckruf"] },
      ]),
    );
    const explanation = explainMatch(book, "Termin oder Rückruf?");
    expect(explanation.version).toBe(7);
    expect(explanation.candidates.map((candidate) => candidate.ruleId)).toEqual(["b", "a"]);
    expect(explanation.candidates.filter((candidate) => candidate.won)).toHaveLength(1);
    expect(explanation.winner.ruleId).toBe("b");
    expect(explainMatch(book, "nichts").candidates).toEqual([]);
  });
});
