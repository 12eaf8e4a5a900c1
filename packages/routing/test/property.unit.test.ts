import { describe, expect, it } from "vitest";
import { decideRouting, planBackfill, selectForBackfill } from "../src/index";
import type { QueueEntry, RoutingAgent, RoutingMode } from "../src/index";
import { agent, INSIDE, OUTSIDE, routingInput } from "./fixtures";

/** Small seeded PRNG (mulberry32) so a failing case can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomAgents(next: () => number): RoutingAgent[] {
  const count = Math.floor(next() * 8);
  const kinds: RoutingAgent["kind"][] = ["bank", "ksc", "advisor"];
  const presences: RoutingAgent["presence"][] = ["online", "online", "away", "offline"];
  return Array.from({ length: count }, (_, i) => {
    const maxChats = next() < 0.2 ? null : 1 + Math.floor(next() * 5);
    return agent(`u${i}`, kinds[Math.floor(next() * kinds.length)] ?? "bank", {
      presence: presences[Math.floor(next() * presences.length)] ?? "online",
      maxChats,
      openCount: Math.floor(next() * 7),
      absent: next() < 0.1,
      lastAssignedAt: next() < 0.3 ? null : new Date(INSIDE.getTime() - Math.floor(next() * 1e8)),
    });
  });
}

const modes: RoutingMode[] = ["in_house", "hours_outsourcing", "capacity_overflow", "full_service"];

describe("decideRouting invariants over random agents and loads", () => {
  it("chooses an eligible agent with minimal load, never one at its maximum; queues only when nobody is eligible", () => {
    for (let seed = 1; seed <= 600; seed++) {
      const next = random(seed);
      const agents = randomAgents(next);
      const mode = modes[Math.floor(next() * modes.length)] ?? "in_house";
      const decision = decideRouting(
        routingInput({
          agents,
          now: next() < 0.5 ? INSIDE : OUTSIDE,
          kscContracted: next() < 0.8,
          inHouseActiveCount: Math.floor(next() * 6),
          config: { mode },
        }),
      );
      const context = `seed ${seed}: ${decision.rule}`;
      const eligible = decision.candidates.filter((c) => c.eligible);
      expect(
        decision.candidates.map((c) => c.userId),
        context,
      ).toEqual(agents.map((a) => a.userId));
      for (const candidate of eligible) {
        const source = agents.find((a) => a.userId === candidate.userId);
        expect(source?.presence, context).toBe("online");
        expect(source?.absent, context).toBe(false);
        if (source?.maxChats != null) expect(source.openCount, context).toBeLessThan(source.maxChats);
      }
      if (decision.target.type === "agent") {
        const chosenId = decision.target.userId;
        const chosen = eligible.find((c) => c.userId === chosenId);
        expect(chosen, context).toBeDefined();
        expect(chosen?.load, context).toBe(Math.min(...eligible.map((c) => c.load)));
        expect(decision.sendAwayMessage, context).toBe(false);
        expect(decision.target.handledBy, context).toBe(
          chosen?.kind === "ksc" ? "ksc" : chosen?.kind === "advisor" ? "advisor" : "in_house",
        );
      } else {
        expect(eligible, context).toEqual([]);
        // An away message only when nobody will answer: the bank queue while closed.
        expect(decision.sendAwayMessage, context).toBe(
          decision.target.queue === "bank" && !decision.opening.open,
        );
      }
    }
  });
});

describe("backfill invariants", () => {
  it("never exceeds maxChats, assigns each conversation once, serves oldest first per side", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const next = random(seed * 7919);
      const agents = randomAgents(next);
      const entries: QueueEntry[] = Array.from({ length: Math.floor(next() * 12) }, (_, i) => ({
        conversationId: `c${i}`,
        queue: next() < 0.5 ? "bank" : "ksc",
        queuedAt: new Date(INSIDE.getTime() - Math.floor(next() * 1e7)),
      }));
      const context = `seed ${seed}`;
      const plan = planBackfill(entries, agents);
      const ids = plan.map((a) => a.conversationId);
      expect(new Set(ids).size, context).toBe(ids.length);
      for (const agentState of agents) {
        const added = plan.filter((a) => a.userId === agentState.userId).length;
        if (added > 0) {
          expect(agentState.presence, context).toBe("online");
          expect(agentState.absent, context).toBe(false);
          expect(agentState.kind, context).not.toBe("advisor");
        }
        if (agentState.maxChats !== null) {
          expect(agentState.openCount + added, context).toBeLessThanOrEqual(
            Math.max(agentState.maxChats, agentState.openCount),
          );
        }
      }
      for (const side of ["bank", "ksc"] as const) {
        const waiting = entries
          .filter((e) => e.queue === side)
          .sort((a, b) => a.queuedAt.getTime() - b.queuedAt.getTime());
        const served = plan.filter((a) => a.queue === side).map((a) => a.conversationId);
        // Served conversations are exactly the oldest ones of that side, in order.
        expect(served, context).toEqual(waiting.slice(0, served.length).map((e) => e.conversationId));
        for (const assignment of plan.filter((a) => a.queue === side)) {
          const kind = agents.find((a) => a.userId === assignment.userId)?.kind;
          expect(kind === "ksc" ? "ksc" : "bank", context).toBe(side);
        }
      }
      for (const agentState of agents) {
        const single = selectForBackfill(entries, agentState);
        if (agentState.maxChats !== null) {
          expect(agentState.openCount + single.length, context).toBeLessThanOrEqual(
            Math.max(agentState.maxChats, agentState.openCount),
          );
        }
      }
    }
  });
});
