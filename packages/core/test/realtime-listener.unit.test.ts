import { agentEventSchemas } from "@kanal/contracts/events";
import { describe, expect, it } from "vitest";
import type { BankRef, DomainEvent } from "../src/kernel/domain-events";
import { agentEventsOf } from "../src/listeners/realtime";

const bank: BankRef = { id: "ten_1", slug: "sparkasse-a", schema: "t_sparkasse_a" };
const IBAN = "DE89 3704 0044 0532 0130 00";
const note = `Kunde fragt nach Überweisung von ${IBAN}`;

const assigned = (handledBy: "in_house" | "ksc" | "advisor"): DomainEvent => ({
  type: "conversation.assigned",
  bank,
  conversationId: "conv_1",
  userId: "usr_to",
  handledBy,
  kscOrgId: handledBy === "ksc" ? "ksc_1" : null,
  by: "handover",
  rule: "handover.person",
  reason: "Von Anna an Karl übergeben.",
  fromUserId: "usr_from",
  note,
});

describe("the realtime listener's payloads", () => {
  it("are the contract's payloads, one per person concerned", () => {
    for (const handledBy of ["in_house", "ksc", "advisor"] as const) {
      const out = agentEventsOf(assigned(handledBy));
      expect(out).toHaveLength(1);
      const [first] = out;
      expect(first?.userId).toBe("usr_to");
      expect(agentEventSchemas["conversation.assigned"].parse(first?.event.data)).toMatchObject({
        tenant: "sparkasse-a",
        assigneeUserId: "usr_to",
        handledBy,
        by: "handover",
      });
    }
  });

  it("mask a handover note for a KSC agent as the REST detail does, and leave it whole for the bank", () => {
    const ksc = agentEventsOf(assigned("ksc"))[0]?.event.data as { note: string };
    expect(ksc.note).not.toContain("3704 0044");
    expect(ksc.note).toContain("DE** **** **** **** 3000");
    const staff = agentEventsOf(assigned("in_house"))[0]?.event.data as { note: string };
    expect(staff.note).toBe(note);
  });

  it("tell a released holder with the note masked for them, and never about their own action", () => {
    const released = (byUserId: string | null): DomainEvent => ({
      type: "conversation.released",
      bank,
      conversationId: "conv_1",
      userId: "usr_ksc",
      viewer: "ksc",
      change: "handed_over",
      byUserId,
      status: "open",
      assigneeUserId: "usr_bank",
      queue: null,
      reason: "Von der Sparkasse übernommen.",
      note,
      topic: null,
    });
    const told = agentEventsOf(released("usr_admin"));
    expect(told.map((t) => t.event.type)).toEqual(["conversation.updated"]);
    const data = agentEventSchemas["conversation.updated"].parse(told[0]?.event.data);
    expect(data.note).not.toContain("3704 0044");
    expect(agentEventsOf(released("usr_ksc"))).toEqual([]);
  });

  it("send nothing for a message nobody holds, and nothing for queue movements", () => {
    expect(
      agentEventsOf({
        type: "message.received",
        bank,
        conversationId: "conv_1",
        messageId: "msg_1",
        assigneeUserId: null,
        customerName: "Erika",
      }),
    ).toEqual([]);
    expect(
      agentEventsOf({
        type: "conversation.queued",
        bank,
        conversationId: "conv_1",
        queue: "bank",
        by: "routing",
      }),
    ).toEqual([]);
  });
});
