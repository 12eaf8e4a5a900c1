import { describe, expect, it } from "vitest";
import {
  containsSensitiveData,
  isLuhnValid,
  maskForKsc,
  maskInbound,
  redirectReplyText,
  defaultRuleBook,
  sensitiveDataHintText,
} from "../src/index";

describe("card numbers", () => {
  it.each([
    ["Meine Karte 4111 1111 1111 1111 ist weg", "Meine Karte **** **** **** 1111 ist weg"],
    ["4111-1111-1111-1111", "**** **** **** 1111"],
    ["Nummer: 5500000000000004.", "Nummer: **** **** **** 0004."],
    ["Amex 3782 822463 10005", "Amex **** **** **** 0005"],
  ])("masks the Luhn-valid %j", (input, output) => {
    const result = maskInbound(input);
    expect(result.text).toBe(output);
    expect(result.findings).toEqual([expect.objectContaining({ kind: "card_number" })]);
  });

  it("leaves nothing of the clear number in text or findings", () => {
    const result = maskInbound("Karte 4111 1111 1111 1111");
    const serialized = JSON.stringify(result);
    expect(serialized).not.toMatch(/4111 ?1111 ?1111/);
    expect(serialized.replace(/\D/g, "")).not.toContain("411111111111");
  });

  it.each([
    "Karte 4111 1111 1111 1112 funktioniert nicht",
    "Ruf mich an: +49 170 1234567",
    "Meine Nummer ist 0170 12345678901",
    "Bestellnummer 4111 1111 1111 1111",
    "Auftragsnr. 4111111111111111",
    "Am 12.03.2024 habe ich 1.234,56 € überwiesen",
    "Zahlung von 1500 Euro am 01.02.",
    "Sendung 1234567890123456789012345",
  ])("leaves %j untouched", (input) => {
    expect(maskInbound(input)).toEqual({ text: input, findings: [] });
  });

  it.each([
    ["after other digits", "Geheimtext-123456 4111 1111 1111 1111", "Geheimtext-123456 **** **** **** 1111"],
    [
      "followed by the expiry",
      "Karte 4111 1111 1111 1111 12 27 bitte",
      "Karte **** **** **** 1111 12 27 bitte",
    ],
    ["among dashed groups", "Ref 12-78-5555-5555-5555-4444-99", "Ref 12-78-**** **** **** 4444-99"],
    // "34 5555 5555 5555 4444" also passes Luhn (18 digits): the 16-digit card is what gets masked.
    ["after digits that pass Luhn with it", "99 34 5555 5555 5555 4444", "99 34 **** **** **** 4444"],
  ])("finds a card typed among other digit groups (%s)", (_, text, expected) => {
    const result = maskInbound(text);
    expect(result.text).toBe(expected);
    expect(result.text.replace(/\D/g, "")).not.toContain("411111111111");
    expect(result.findings.filter((f) => f.kind === "card_number")).toHaveLength(1);
  });

  it.each([
    "IBAN DE89 3704 0044 0532 0130 00",
    "Telefon 089 1234-5678 und 0171 555 1234",
    "Betrag 1 234 567 Euro am 12 05 2026",
    "Vertragsnummer: 99 4111 1111 1111 1111",
  ])("leaves digit groups that hold no card alone: %j", (text) => {
    expect(maskInbound(text).text).toBe(text);
  });

  it("knows Luhn", () => {
    expect(isLuhnValid("4111111111111111")).toBe(true);
    expect(isLuhnValid("4111111111111112")).toBe(false);
  });
});

describe("secrets", () => {
  it.each([
    ["PIN 1234", "PIN ****"],
    ["Meine PIN: 98765", "Meine PIN: ****"],
    ["meine TAN ist 123456", "meine TAN ist ****"],
    ["Passwort: geheim123", "Passwort: ****"],
    ["Mein Kennwort lautet Sommer2024!", "Mein Kennwort lautet ****!"],
    ["4711 ist meine PIN", "**** ist meine PIN"],
    ["CVC 123", "CVC ****"],
  ])("masks the value in %j", (input, output) => {
    const result = maskInbound(input);
    expect(result.text).toBe(output);
    expect(result.findings[0]?.kind).toBe("secret");
  });

  it.each([
    "Ich habe meine PIN vergessen",
    "Mein Passwort ist gesperrt",
    "Meine PIN ist seit gestern gesperrt",
    "Ich habe die PIN 3 mal falsch eingegeben",
    "Wo ist mein PIN-Brief?",
    "Die TAN ist abgelaufen",
  ])("leaves %j untouched", (input) => {
    expect(maskInbound(input).findings).toEqual([]);
  });
});

describe("maskForKsc", () => {
  it("masks a valid IBAN keeping the country and the last four", () => {
    const result = maskForKsc("Meine IBAN ist DE89 3704 0044 0532 0130 00 bitte prüfen");
    expect(result.text).toBe("Meine IBAN ist DE** **** **** **** 3000 bitte prüfen");
    expect(result.findings).toEqual([
      expect.objectContaining({ kind: "iban", countryCode: "DE", last4: "3000" }),
    ]);
    expect(maskForKsc("de89370400440532013000").text).toBe("DE** **** **** **** 3000");
  });

  it("does not touch an invalid IBAN, and maskInbound never touches IBANs", () => {
    expect(maskForKsc("DE89370400440532013001").findings).toEqual([]);
    expect(maskInbound("DE89 3704 0044 0532 0130 00").findings).toEqual([]);
  });

  it("masks account and depot numbers given with their label", () => {
    expect(maskForKsc("Kontonummer 1234567890").text).toBe("Kontonummer ****90");
    expect(maskForKsc("Kto.-Nr.: 7654321").text).toBe("Kto.-Nr.: ****21");
    expect(maskForKsc("Mein Konto 15000 Euro im Minus").findings).toEqual([]);
  });

  it("still masks cards and secrets", () => {
    expect(maskForKsc("4111111111111111 und PIN 1234").text).toBe("**** **** **** 1111 und PIN ****");
  });
});

describe("customer hints", () => {
  it("containsSensitiveData tells whether to send the hint", () => {
    expect(containsSensitiveData("Meine IBAN: DE89370400440532013000")).toBe(true);
    expect(containsSensitiveData("PIN 1234")).toBe(true);
    expect(containsSensitiveData("Ich möchte mein Tageslimit erhöhen")).toBe(false);
  });

  it("hint and redirect texts are German and name the bank", () => {
    expect(sensitiveDataHintText("Sparkasse Fürstenfeldbruck")).toContain("Sparkasse Fürstenfeldbruck");
    const rules = new Map(defaultRuleBook().rules.map((rule) => [rule.id, rule]));
    const blocking = rules.get("kartensperre");
    const transfer = rules.get("ueberweisung");
    if (blocking === undefined || transfer === undefined) throw new Error("default rules missing");
    expect(redirectReplyText(blocking, "Sparkasse FFB")).toContain("116 116");
    const reply = redirectReplyText(transfer, "Sparkasse FFB", { servicePhone: "08141 407-0" });
    expect(reply).toContain("08141 407-0");
    expect(reply).not.toContain("{{");
    expect(redirectReplyText(transfer, "Sparkasse FFB")).not.toContain("{{");
    const answer = rules.get("allgemein");
    if (answer === undefined) throw new Error("default rule missing");
    expect(redirectReplyText(answer, "Sparkasse FFB")).toBeNull();
  });
});
