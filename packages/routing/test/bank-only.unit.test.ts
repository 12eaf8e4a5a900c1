import { describe, expect, it } from "vitest";
import { decideRouting } from "../src/index";
import { INSIDE, OUTSIDE, routingInput } from "./fixtures";

const bankOnlyTopic = "Adressänderung";

describe("topics the rule book reserves to the bank", () => {
  it.each([
    ["full_service", INSIDE],
    ["hours_outsourcing", OUTSIDE],
    ["capacity_overflow", OUTSIDE],
  ] as const)("never go to the KSC in %s", (mode, now) => {
    const decision = decideRouting(routingInput({ config: { mode }, now, bankOnlyTopic }));
    expect(decision.target.handledBy).toBe("in_house");
    expect(decision.rule).toBe("rules.bank_only");
    expect(decision.reason).toContain(bankOnlyTopic);
    expect(decision.reasonDe).toContain("Reaktions-Struktur-Konzept");
  });

  it("inside hours go to the least-loaded bank agent", () => {
    const decision = decideRouting(
      routingInput({ config: { mode: "full_service" }, now: INSIDE, bankOnlyTopic }),
    );
    expect(decision.target).toEqual({ type: "agent", userId: "b2", handledBy: "in_house" });
  });

  it("outside hours wait in the bank queue and the customer gets the away message", () => {
    const decision = decideRouting(
      routingInput({ config: { mode: "hours_outsourcing" }, now: OUTSIDE, bankOnlyTopic }),
    );
    expect(decision.target).toEqual({ type: "queue", queue: "bank", handledBy: "in_house" });
    expect(decision.sendAwayMessage).toBe(true);
  });

  it("change nothing when the mode keeps the chat in-house anyway", () => {
    const withTopic = decideRouting(
      routingInput({ config: { mode: "in_house" }, now: INSIDE, bankOnlyTopic }),
    );
    const without = decideRouting(routingInput({ config: { mode: "in_house" }, now: INSIDE }));
    expect(withTopic.target).toEqual(without.target);
    expect(withTopic.rule).toBe(without.rule);
  });
});

describe("reasons", () => {
  it("name people by their names when known, so an admin can read them", async () => {
    const { agent } = await import("./fixtures");
    const decision = decideRouting(
      routingInput({
        agents: [agent("b1", "bank", { name: "Bernd Berger" }), agent("k1", "ksc", { name: "Karla Kühn" })],
      }),
    );
    expect(decision.reason).toContain("Bernd Berger");
    expect(decision.reasonDe).toContain("Bernd Berger");
    expect(decision.reason).not.toContain("b1 ");
  });
});
