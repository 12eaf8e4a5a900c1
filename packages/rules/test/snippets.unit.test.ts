import { describe, expect, it } from "vitest";
import { defaultSnippets, renderSnippet, unknownSnippetVariables } from "../src/index";

describe("renderSnippet", () => {
  it("fills the known variables", () => {
    expect(
      renderSnippet("Guten Tag {{customer.name}}, hier ist {{ agent.name }} von der {{bank.name}}.", {
        customer: { name: "Frau Huber" },
        agent: { name: "Anna" },
        bank: { name: "Sparkasse FFB" },
      }),
    ).toBe("Guten Tag Frau Huber, hier ist Anna von der Sparkasse FFB.");
  });

  it("drops a missing customer name with its space or comma", () => {
    expect(renderSnippet("Guten Tag {{customer.name}}, wie kann ich helfen?")).toBe(
      "Guten Tag, wie kann ich helfen?",
    );
    expect(renderSnippet("Vielen Dank, {{customer.name}}!", { customer: { name: "  " } })).toBe(
      "Vielen Dank!",
    );
    expect(renderSnippet("Hallo {{customer.name}}")).toBe("Hallo");
  });

  it("uses German fallbacks for agent, bank and phone", () => {
    expect(renderSnippet("{{agent.name}} · {{bank.name}} · unter {{bank.phone}}")).toBe(
      "Ihr Service-Team · Sparkasse · unter der Telefonnummer Ihrer Sparkasse",
    );
  });

  it("leaves unknown variables visible and reports them", () => {
    expect(renderSnippet("Ihr Termin am {{termin.datum}}")).toBe("Ihr Termin am {{termin.datum}}");
    expect(unknownSnippetVariables("{{customer.name}} {{termin.datum}}")).toEqual(["termin.datum"]);
  });
});

describe("defaultSnippets", () => {
  const snippets = defaultSnippets();

  it("has about ten German snippets with unique ids and shortcuts, and only known variables", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(10);
    expect(new Set(snippets.map((snippet) => snippet.id)).size).toBe(snippets.length);
    expect(new Set(snippets.map((snippet) => snippet.shortcut)).size).toBe(snippets.length);
    for (const snippet of snippets) expect(unknownSnippetVariables(snippet.body)).toEqual([]);
  });

  it("includes the card-blocking emergency number", () => {
    expect(snippets.find((snippet) => snippet.title.startsWith("Kartensperre"))?.body).toContain("116 116");
  });
});
