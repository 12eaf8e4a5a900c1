import { describe, expect, it } from "vitest";
import { notificationsAllowed } from "../src/customers/opt-in";
import { autoReplyMarker, callbackMarker, followUpNeeded, hintKinds } from "../src/rules/follow-up-work";

const fresh = { kscSide: false, flags: [] as string[] };
const needs = (
  text: string | null,
  kinds: string[],
  ruleAction: "answer" | "redirect_to_phone" | "offer_callback" | "handover_to_advisor" | null,
  state: { kscSide: boolean | null; flags: string[] } = fresh,
) => followUpNeeded({ text, sensitiveKinds: kinds, ruleId: ruleAction ? "rule-1" : null, ruleAction }, state);

describe("whether an inbound message needs the rules' follow-ups", () => {
  it("a plain question under an answering rule needs none", () => {
    expect(needs("Wie ändere ich meine Adresse?", [], "answer")).toBe(false);
    expect(needs(null, [], null)).toBe(false);
  });

  it("an automatic reply and a callback suggestion are due once per conversation and topic", () => {
    expect(needs("Karte gestohlen", [], "redirect_to_phone")).toBe(true);
    expect(
      needs("Karte gestohlen", [], "redirect_to_phone", {
        kscSide: false,
        flags: [autoReplyMarker("rule-1")],
      }),
    ).toBe(false);
    expect(needs("Kredit", [], "offer_callback")).toBe(true);
    expect(needs("Kredit", [], "offer_callback", { kscSide: false, flags: [callbackMarker("rule-1")] })).toBe(
      false,
    );
  });

  it("a handover to the advisor only concerns a chat the KSC has (or whose routing is not known yet)", () => {
    expect(needs("Adresse ändern", [], "handover_to_advisor")).toBe(false);
    expect(needs("Adresse ändern", [], "handover_to_advisor", { kscSide: true, flags: [] })).toBe(true);
    expect(needs("Adresse ändern", [], "handover_to_advisor", { kscSide: null, flags: [] })).toBe(true);
  });

  it("sensitive data masked by the ingest, or an IBAN kept for the bank, needs the hint", () => {
    expect(needs("Meine Karte **** **** **** 1111", ["card_number"], "answer")).toBe(true);
    expect(hintKinds("Bitte an DE89 3704 0044 0532 0130 00 überweisen", [])).toContain("iban");
    expect(needs("Bitte an DE89 3704 0044 0532 0130 00 überweisen", [], "answer")).toBe(true);
  });

  it("STOP and START are recorded; a sentence with 'Stopp' in it is not", () => {
    expect(needs("STOP", [], null)).toBe(true);
    expect(needs("Start", [], null)).toBe(true);
    expect(needs("Stopp, ich meinte die andere Karte", [], "answer")).toBe(false);
  });
});

describe("notifications the bank sends on its own", () => {
  const day = (d: number) => new Date(Date.UTC(2026, 11, d));
  it("need a recorded opt-in and no STOP since", () => {
    expect(notificationsAllowed({ opted_in_at: null, opted_out_at: null })).toBe(false);
    expect(notificationsAllowed({ opted_in_at: day(1), opted_out_at: null })).toBe(true);
    expect(notificationsAllowed({ opted_in_at: day(1), opted_out_at: day(2) })).toBe(false);
    expect(notificationsAllowed({ opted_in_at: null, opted_out_at: day(2) })).toBe(false);
  });
});
