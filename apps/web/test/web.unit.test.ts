import { describe, expect, it } from "vitest";
import { ApiError, parseFieldErrors } from "../src/api";
import { formatCountdown, formatDateTime, WINDOW_MS } from "../src/format";
import { hasKey, translate } from "../src/i18n";
import { matchPath, splitLocation } from "../src/router";
import { fillSnippet, searchSnippets, slashQuery } from "../src/snippets";

const snippets = [
  {
    id: "s1",
    shortcut: "gruss",
    title: "Begrüßung",
    body: "Hallo {{customer.name}}, hier ist {{agent.name}} von der {{bank.name}}.",
  },
  {
    id: "s2",
    shortcut: "limit",
    title: "Tageslimit erhöhen",
    body: "Das Limit ändern Sie im Online-Banking.",
  },
  { id: "s3", shortcut: "sperre", title: "Karte sperren", body: "Bitte rufen Sie 116 116 an." },
];

describe("snippets", () => {
  it("fills the three variables and leaves unknown ones visible", () => {
    const text = fillSnippet(`${snippets[0]?.body} {{unknown}}`, {
      customerName: "Erika Muster",
      agentName: "Jonas",
      bankName: "Sparkasse Musterstadt",
    });
    expect(text).toBe("Hallo Erika Muster, hier ist Jonas von der Sparkasse Musterstadt. {{unknown}}");
  });

  it("finds the slash query only at a word start", () => {
    expect(slashQuery("/gr", 3)).toEqual({ start: 0, query: "gr" });
    expect(slashQuery("Hallo /lim", 10)).toEqual({ start: 6, query: "lim" });
    expect(slashQuery("und/oder", 8)).toBeNull();
    expect(slashQuery("/gr weiter", 10)).toBeNull();
  });

  it("ranks shortcut prefixes before title matches", () => {
    expect(searchSnippets(snippets, "li").map((s) => s.id)).toEqual(["s2"]);
    expect(searchSnippets(snippets, "karte").map((s) => s.id)).toEqual(["s3"]);
    expect(searchSnippets(snippets, "").length).toBe(3);
    expect(searchSnippets(snippets, "zzz")).toEqual([]);
  });
});

describe("api errors", () => {
  it("reads field errors from error.fields", () => {
    const fields = parseFieldErrors({ fields: [{ path: "whatsapp.phoneNumberId", message: "taken" }] });
    expect(fields).toEqual([{ path: "whatsapp.phoneNumberId", message: "taken" }]);
    const error = new ApiError(400, "invalid_request", "bad", fields);
    expect(error.fieldMessage("whatsapp.phoneNumberId")).toBe("taken");
    expect(error.fieldMessage("slug")).toBeUndefined();
  });

  it("reads zod-style issues with array paths under details", () => {
    const fields = parseFieldErrors({
      details: { issues: [{ path: ["admin", "email"], message: "invalid" }] },
    });
    expect(fields).toEqual([{ path: "admin.email", message: "invalid" }]);
  });
});

describe("i18n", () => {
  it("interpolates single-brace placeholders but keeps snippet variables", () => {
    expect(translate("de", "inbox.newChat", { name: "Erika" })).toBe("Neuer Chat von Erika");
    expect(translate("en", "snippets.variables", { x: 1 })).toContain("{{customer.name}}");
  });

  it("knows server error codes shown to users", () => {
    expect(hasKey("error.window_closed")).toBe(true);
    expect(hasKey("error.rule_violation")).toBe(true);
    expect(hasKey("error.something_new")).toBe(false);
  });
});

describe("format", () => {
  it("shows times in the bank's zone, not the machine's", () => {
    // 23:30 UTC on 31 Dec is already 1 Jan in Berlin.
    expect(formatDateTime("2026-12-31T23:30:00Z", "de-DE", "Europe/Berlin")).toBe("01.01.27, 00:30");
    expect(formatDateTime("2026-12-31T23:30:00Z", "de-DE", "UTC")).toBe("31.12.26, 23:30");
  });

  it("counts down the 24-hour window", () => {
    expect(formatCountdown(WINDOW_MS - 1000)).toBe("23:59:59");
    expect(formatCountdown(65_000)).toBe("1:05");
    expect(formatCountdown(-5)).toBe("0:00");
  });
});

describe("router", () => {
  it("matches and decodes route params", () => {
    expect(matchPath("/inbox/:tenant/:id", "/inbox/sparkasse-x/conv%2F1")).toEqual({
      tenant: "sparkasse-x",
      id: "conv/1",
    });
    expect(matchPath("/inbox/:tenant/:id", "/inbox/sparkasse-x")).toBeNull();
    expect(splitLocation("/login?next=%2Finbox").query.get("next")).toBe("/inbox");
  });
});
