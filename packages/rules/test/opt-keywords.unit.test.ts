import { describe, expect, it } from "vitest";
import { optInConfirmationText, optKeyword, optOutConfirmationText } from "../src/opt-keywords";

describe("optKeyword", () => {
  it.each([
    ["STOP", "stop"],
    ["stop", "stop"],
    ["  Stopp! ", "stop"],
    ["„STOP“", "stop"],
    ["Abmelden.", "stop"],
    ["ＳＴＯＰ", "stop"],
    ["START", "start"],
    ["anmelden", "start"],
  ])("%j is %s", (text, expected) => {
    expect(optKeyword(text)).toBe(expected);
  });

  it.each([
    "Stopp, ich meinte die andere Karte",
    "Bitte stoppen Sie die Überweisung",
    "Wie kann ich mich im Online-Banking anmelden?",
    "stop stop",
    "",
    null,
  ])("%j is no keyword", (text) => {
    expect(optKeyword(text)).toBeNull();
  });
});

describe("confirmations", () => {
  it("name the bank and the way back", () => {
    expect(optOutConfirmationText("Sparkasse Demostadt")).toContain("Sparkasse Demostadt");
    expect(optOutConfirmationText()).toContain("START");
    expect(optInConfirmationText("Sparkasse Demostadt")).toContain("STOP");
  });
});
