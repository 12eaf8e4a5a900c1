import { maskInbound } from "@kanal/rules";
import { describe, expect, it } from "vitest";
import { sensitiveKindsInMaskedText } from "../src/rules/follow-up-work";
import { draftActorKind } from "../src/rules/guard";

describe("sensitiveKindsInMaskedText", () => {
  it("recognises what maskInbound left behind, so a pre-masked payload still earns the hint", () => {
    const masked = maskInbound("Karte 4111 1111 1111 1111, PIN ist 4711").text;
    expect(sensitiveKindsInMaskedText(masked).sort()).toEqual(["card_number", "secret"]);
    expect(sensitiveKindsInMaskedText(maskInbound("Meine Karte 4111-1111-1111-1111").text)).toEqual([
      "card_number",
    ]);
    expect(sensitiveKindsInMaskedText(maskInbound("meine TAN lautet 123456 bitte").text)).toEqual(["secret"]);
  });

  it("ignores ordinary text, stars used for emphasis and order numbers", () => {
    expect(sensitiveKindsInMaskedText("Bestellnummer 4111111111111111")).toEqual([]);
    expect(sensitiveKindsInMaskedText("Das ist *****toll***** und ** wichtig **")).toEqual([]);
    expect(sensitiveKindsInMaskedText("Ich habe meine PIN vergessen")).toEqual([]);
  });
});

describe("draftActorKind", () => {
  it("binds only the contracted KSC to the rules; bank staff and API keys get warnings", () => {
    expect(draftActorKind({ via: "ksc" })).toBe("ksc");
    expect(draftActorKind({ via: "member" })).toBe("bank");
    expect(draftActorKind({ via: "api_key" })).toBe("bank");
  });
});
