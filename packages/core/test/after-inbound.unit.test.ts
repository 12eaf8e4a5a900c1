import { describe, expect, it } from "vitest";
import { notificationsAllowed } from "../src/customers/opt-in";
import { afterInboundHasWork, hintKinds } from "../src/rules/follow-up-work";

describe("whether an inbound message needs the rules' follow-ups", () => {
  it("a plain question under an answering rule needs none", () => {
    expect(afterInboundHasWork("Wie ändere ich meine Adresse?", [], "answer")).toBe(false);
    expect(afterInboundHasWork(null, [], null)).toBe(false);
  });

  it("a rule that redirects, offers a callback or hands over always does", () => {
    for (const action of ["redirect_to_phone", "offer_callback", "handover_to_advisor"] as const)
      expect(afterInboundHasWork("Hallo", [], action)).toBe(true);
  });

  it("sensitive data masked by the ingest, or an IBAN kept for the bank, needs the hint", () => {
    expect(afterInboundHasWork("Meine Karte **** **** **** 1111", ["card_number"], "answer")).toBe(true);
    expect(hintKinds("Bitte an DE89 3704 0044 0532 0130 00 überweisen", [])).toContain("iban");
    expect(afterInboundHasWork("Bitte an DE89 3704 0044 0532 0130 00 überweisen", [], "answer")).toBe(true);
  });

  it("STOP and START are recorded; a sentence with 'Stopp' in it is not", () => {
    expect(afterInboundHasWork("STOP", [], null)).toBe(true);
    expect(afterInboundHasWork("Start", [], null)).toBe(true);
    expect(afterInboundHasWork("Stopp, ich meinte die andere Karte", [], "answer")).toBe(false);
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
