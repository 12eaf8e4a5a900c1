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
    // A reference label still protects numbers of other lengths than 15 or 16 (Luhn-valid, 13 and 18 digits).
    "Bestellnummer 4222 2222 2222 2",
    "Auftragsnr. 411111111111111118",
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
    "Vertragsnummer: 99 4111 1111 1111 11",
  ])("leaves digit groups that hold no card alone: %j", (text) => {
    expect(maskInbound(text).text).toBe(text);
  });

  // These used to stay in clear on purpose (the reference label exception). A Luhn-valid number of 15 or
  // 16 digits with a card scheme's first digit is masked even after such a label: "Kundennummer" is what
  // customers write in front of their card number, and a card number must never reach storage in clear.
  it.each([
    ["Bestellnummer 4111 1111 1111 1111", "Bestellnummer **** **** **** 1111"],
    ["Auftragsnr. 4111111111111111", "Auftragsnr. **** **** **** 1111"],
    ["Kundennummer 4111 1111 1111 1111", "Kundennummer **** **** **** 1111"],
    ["Kundennr.: 3782 822463 10005", "Kundennr.: **** **** **** 0005"],
    ["Vertragsnummer: 99 4111 1111 1111 1111", "Vertragsnummer: 99 **** **** **** 1111"],
  ])("masks a card-length number even after a reference label: %j", (input, output) => {
    const result = maskInbound(input);
    expect(result.text).toBe(output);
    expect(result.findings).toEqual([expect.objectContaining({ kind: "card_number" })]);
  });

  it.each([
    ["dots", "4111.1111.1111.1111"],
    ["slashes", "4012/8888/8888/1881"],
    ["double and triple spaces", "4111  1111   1111 1111"],
    ["NBSP", "4111\u00A01111\u00A01111\u00A01111"],
    ["narrow NBSP", "4111\u202F1111\u202F1111\u202F1111"],
    ["thin space", "4111\u20091111\u20091111\u20091111"],
    ["ideographic space", "4111\u30001111\u30001111\u30001111"],
    ["tabs", "4111\t1111\t1111\t1111"],
    ["mixed separators", "4111 - 1111.1111/1111"],
    ["en dashes", "4111–1111–1111–1111"],
    ["fullwidth digits", "４１１１ １１１１ １１１１ １１１１"],
    ["fullwidth digits and dots", "４１１１．１１１１．１１１１．１１１１"],
    ["Arabic-Indic digits", "٤١١١ ١١١١ ١١١١ ١١١١"],
    ["Devanagari digits", "४१११ ११११ ११११ ११११"],
    ["mathematical digits (outside the BMP)", "𝟒𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏"],
    ["digits of mixed forms", "4１1١ 1111.1１11 ١١١١"],
  ])("masks a card written with %s", (_, card) => {
    const result = maskInbound(`Meine Karte: ${card} danke`);
    expect(result.text).toBe(`Meine Karte: **** **** **** ${card.endsWith("1881") ? "1881" : "1111"} danke`);
    expect(result.findings).toEqual([expect.objectContaining({ kind: "card_number" })]);
  });

  it("masks a card after digits glued to a word (a password before it, an IBAN-like code)", () => {
    expect(maskInbound("Passwort: geheim1 4111 1111 1111 1111").text).toBe(
      "Passwort: **** **** **** **** 1111",
    );
    expect(maskInbound("AB12 4111 1111 1111 1111").text).toBe("AB12 **** **** **** 1111");
  });

  it("masks a card typed as one group among other groups", () => {
    expect(maskInbound("123 4111111111111111 456").text).toBe("123 **** **** **** 1111 456");
  });

  it("masks a card right after an IBAN, and leaves the IBAN to maskForKsc", () => {
    const text = "DE89 3704 0044 0532 0130 00 4111 1111 1111 1111";
    expect(maskInbound(text).text).toBe("DE89 3704 0044 0532 0130 00 **** **** **** 1111");
    expect(maskForKsc(text).text).toBe("DE** **** **** **** 3000 **** **** **** 1111");
  });

  it.each([
    "Am 12.03.2024 um 14.30 Uhr 1.234,56 € an 0171/555 1234 überwiesen",
    "Version 2.4.1.3, Ticket 2024/05/1234",
    "Mein Zeichen: 4111111111111111111111",
  ])("leaves dates, amounts and long numbers written with the new separators alone: %j", (text) => {
    expect(maskInbound(text)).toEqual({ text, findings: [] });
  });

  it.each([
    ["on two lines", "Meine Karte:\n4111 1111\n1111 1111", "Meine Karte:\n**** **** **** 1111"],
    ["on four lines", "4111\n1111\n1111\n1111\nDanke", "**** **** **** 1111\nDanke"],
    ["over CR LF", "Karte:\r\n4111 1111\r\n1111 1111", "Karte:\r\n**** **** **** 1111"],
    ["over U+2028 and U+2029", "4111 1111\u20281111\u20291111", "**** **** **** 1111"],
    ["with spaces around the line break", "4111 1111 \n 1111 1111", "**** **** **** 1111"],
    ["with a hyphen at the line's end", "4111-1111-\n1111-1111", "**** **** **** 1111"],
    ["Amex over three lines", "3782\n822463\n10005", "**** **** **** 0005"],
    ["in a file name", "Karte_4111_1111_1111_1111.pdf", "Karte_**** **** **** 1111.pdf"],
    [
      "in a file name, unbroken",
      "Scan_4111111111111111_Vorderseite.jpg",
      "Scan_**** **** **** 1111_Vorderseite.jpg",
    ],
    ["with commas", "4111,1111,1111,1111", "**** **** **** 1111"],
    ["with plus signs", "4111+1111+1111+1111", "**** **** **** 1111"],
    ["with apostrophes", "4111'1111'1111'1111", "**** **** **** 1111"],
    ["with typographic apostrophes", "4111’1111’1111’1111", "**** **** **** 1111"],
    ["with single asterisks", "4111*1111*1111*1111", "**** **** **** 1111"],
    ["with middle dots", "4111·1111·1111·1111", "**** **** **** 1111"],
    ["with the Arabic thousands separator", "٤١١١٬١١١١٬١١١١٬١١١١", "**** **** **** 1111"],
    ["with fullwidth commas", "４１１１，１１１１，１１１１，１１１１", "**** **** **** 1111"],
    ["with the first group in brackets", "(4111) 1111 1111 1111", "**** **** **** 1111"],
    ["with a middle group in brackets", "4111 (1111) 1111 1111", "**** **** **** 1111"],
    ["in brackets as a whole", "Karte (4111 1111 1111 1111) bitte", "Karte (**** **** **** 1111) bitte"],
  ])("masks a card written %s", (_, input, output) => {
    const result = maskInbound(input);
    expect(result.text).toBe(output);
    expect(result.findings).toEqual([expect.objectContaining({ kind: "card_number" })]);
    expect(maskInbound(result.text)).toEqual({ text: result.text, findings: [] });
  });

  it("masks the first group in brackets with its brackets inside a sentence", () => {
    expect(maskInbound("Karte (4111) 1111 1111 1111 bitte sperren").text).toBe(
      "Karte **** **** **** 1111 bitte sperren",
    );
  });

  it("masks two cards on consecutive lines as two cards", () => {
    const result = maskInbound("4111 1111 1111 1111\n5500 0000 0000 0004");
    expect(result.text).toBe("**** **** **** 1111\n**** **** **** 0004");
    expect(result.findings).toHaveLength(2);
  });

  // What joins groups and what does not is a trade-off (see digitView in normalize.ts): each of these, read
  // as one run, holds a Luhn-valid 14–19 digit window with a card's first digit.
  it.each([
    // A blank line ends a number.
    "4111 1111\n\n1111 1111",
    // Dates and amounts on separate lines: groups of one or two digits next to the line break.
    "Buchungen:\n12.05.2024\n13.05.2024\n14.05.2024",
    "23.05.2024\n25.05.2024",
    "45,10\n230,00\n12,10\n3456,78",
    // A comma with a space, a plus with spaces: items of a list, a sum.
    "Rechnungen 4711, 4712, 4713, 4716 sind offen",
    "Summe: 4711 + 4712 + 4713 + 4716",
    // A group mark joins only when it stands alone between the groups.
    "4711,\n4712,\n4713,\n4716",
    // Still one long unbroken digit string, now next to a line break.
    "Mein Zeichen: 4111111111111111111111\n1234",
  ])("does not join groups into a card across %j", (text) => {
    expect(maskInbound(text)).toEqual({ text, findings: [] });
  });

  // Luhn-valid as 14 or 17 digits: a camera's or phone's timestamp, which underscores now join.
  it.each([
    "IMG_20240512_140003.jpg",
    "PXL_20240512_143022004.jpg",
    "Screenshot_2024-05-12-14-00-11.png",
    "IMG_20240512_140003 (1).jpg",
  ])("leaves the timestamp in the file name %j alone", (text) => {
    expect(maskInbound(text)).toEqual({ text, findings: [] });
  });

  it("keeps a phone number after a plus out of a card", () => {
    for (const text of [
      "Tel. 0171 1234567, +49 170 12345678",
      "+49 (0) 171 12345678",
      "4111 1111\n+49 170 1234567",
    ]) {
      expect(maskInbound(text)).toEqual({ text, findings: [] });
    }
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
    ["PIN: 1 2 3 4", "PIN: ****"],
    ["TAN 1 2 3 4 5 6", "TAN ****"],
    ["PIN: 1-2-3-4", "PIN: ****"],
    ["PIN ist １２３４", "PIN ist ****"],
    ["Meine TAN lautet 12 34 56, danke", "Meine TAN lautet ****, danke"],
    ["PIN:\u00A01\u00A02\u00A03\u00A04", "PIN:\u00A0****"],
    ["Die PIN-Nummer ist ٤٣٢١", "Die PIN-Nummer ist ****"],
    ["CVC 1 2 3", "CVC ****"],
    ["1 2 3 4 ist meine PIN", "**** ist meine PIN"],
    ["Passwort: Sommer-2024", "Passwort: ****"],
    ["PIN 1234 seit 12.05. gesperrt", "PIN **** seit 12.05. gesperrt"],
    ["PIN:\n1234", "PIN:\n****"],
    ["Meine PIN:\r\n4711", "Meine PIN:\r\n****"],
    ["TAN\n123 456", "TAN\n****"],
    ["PIN_1234", "PIN_****"],
    ["TAN_123456.txt", "TAN_****.txt"],
    ["Karten_PIN_4711.jpg", "Karten_PIN_****.jpg"],
    ["PIN-1234", "PIN-****"],
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
    "Ich habe die PIN 3 oder 4 mal falsch eingegeben",
    "Die PIN 1 2 3 hat nur drei Stellen",
    "Die neue TAN-Liste kam am 12.05.",
    "Passwort: ****",
    "Die TAN-Liste 2024 ist weg",
    "PIN-Brief_2024.pdf",
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

  it.each([
    "DE89-3704-0044-0532-0130-00",
    "DE89.3704.0044.0532.0130.00",
    "DE89\u00A03704\u00A00044\u00A00532\u00A00130\u00A000",
    "DE89\u202F3704\u202F0044\u202F0532\u202F0130\u202F00",
    "DE89  3704  0044  0532  0130  00",
    "de89 3704 0044 0532 0130 00",
    "DE 89 3704 0044 0532 0130 00",
    "DE８９ ３７０４ ００４４ ０５３２ ０１３０ ００",
    "DE89 3704/0044.0532-0130 00",
  ])("masks the IBAN written as %j", (iban) => {
    const result = maskForKsc(`IBAN: ${iban} bitte`);
    expect(result.text).toBe("IBAN: DE** **** **** **** 3000 bitte");
    expect(result.findings).toEqual([
      expect.objectContaining({ kind: "iban", countryCode: "DE", last4: "3000" }),
    ]);
  });

  it.each([
    ["Rechnung_DE89370400440532013000.pdf", "Rechnung_DE** **** **** **** 3000.pdf"],
    ["IBAN_DE89370400440532013000", "IBAN_DE** **** **** **** 3000"],
    ["DE89_3704_0044_0532_0130_00", "DE** **** **** **** 3000"],
    ["Konto_DE89_3704_0044_0532_0130_00_Scan.pdf", "Konto_DE** **** **** **** 3000_Scan.pdf"],
    ["IBAN:\nDE89 3704 0044\n0532 0130 00", "IBAN:\nDE** **** **** **** 3000"],
    ["IBAN:\r\nDE89\r\n3704\r\n0044\r\n0532\r\n0130\r\n00", "IBAN:\r\nDE** **** **** **** 3000"],
    ["MT84_MALT_0110_0001_2345_MTLC_AST0_01S", "MT** **** **** **** 001S"],
  ])("masks the IBAN in %j (underscores and line breaks delimit and separate)", (input, output) => {
    const result = maskForKsc(input);
    expect(result.text).toBe(output);
    expect(result.findings).toEqual([expect.objectContaining({ kind: "iban" })]);
  });

  it("masks an account number after its label and an underscore", () => {
    expect(maskForKsc("Kontonummer_1234567890.pdf").text).toBe("Kontonummer_****90.pdf");
  });

  it("masks IBANs with letters in the account part and finds an IBAN after another code", () => {
    expect(maskForKsc("MT84 MALT-0110-0001-2345-MTLC-AST0-01S").text).toBe("MT** **** **** **** 001S");
    expect(maskForKsc("Ref AB12 DE89 3704 0044 0532 0130 00").text).toBe("Ref AB12 DE** **** **** **** 3000");
  });

  it.each([
    ["Kontonummer 1234.5678.90", "Kontonummer ****90"],
    ["Kontonummer: １２３４５６７８９０", "Kontonummer: ****90"],
    ["Kto-Nr: 12\u00A034\u00A056\u00A078", "Kto-Nr: ****78"],
    ["Depotnummer 1234-5678-90", "Depotnummer ****90"],
  ])("masks the account number in %j", (input, output) => {
    expect(maskForKsc(input).text).toBe(output);
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
