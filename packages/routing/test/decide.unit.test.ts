import { describe, expect, it } from "vitest";
import { decideRouting } from "../src/index";
import type { RoutingAgent, RoutingDecision, RoutingInput, RoutingMode } from "../src/index";
import { agent, CLOSURE, HOLIDAY, INSIDE, OUTSIDE, routingInput, standardAgents } from "./fixtures";

function summary(decision: RoutingDecision): string {
  const target =
    decision.target.type === "agent"
      ? `agent:${decision.target.userId}/${decision.target.handledBy}`
      : `queue:${decision.target.queue}/${decision.target.handledBy}`;
  return `${target} ${decision.rule}${decision.sendAwayMessage ? " +away" : ""}`;
}

const offline = (agents: RoutingAgent[], kind: RoutingAgent["kind"]) =>
  agents.map((a) => (a.kind === kind ? { ...a, presence: "offline" as const } : a));

describe("modes × opening × capacity × KSC", () => {
  type Row = [label: string, mode: RoutingMode, overrides: Partial<RoutingInput>, expected: string];
  const rows: Row[] = [
    ["in_house inside hours", "in_house", { now: INSIDE }, "agent:b2/in_house in_house.inside_hours"],
    [
      "in_house outside hours",
      "in_house",
      { now: OUTSIDE },
      "queue:bank/in_house in_house.outside_hours +away",
    ],
    [
      "in_house on a holiday",
      "in_house",
      { now: HOLIDAY },
      "queue:bank/in_house in_house.outside_hours +away",
    ],
    [
      "in_house on a closure day",
      "in_house",
      { now: CLOSURE },
      "queue:bank/in_house in_house.outside_hours +away",
    ],
    [
      "in_house, bank agents offline",
      "in_house",
      { agents: offline(standardAgents(), "bank") },
      "queue:bank/in_house in_house.inside_hours",
    ],
    [
      "in_house never uses online KSC agents",
      "in_house",
      { now: OUTSIDE },
      "queue:bank/in_house in_house.outside_hours +away",
    ],

    [
      "hours_outsourcing inside hours",
      "hours_outsourcing",
      { now: INSIDE },
      "agent:b2/in_house hours_outsourcing.inside_hours",
    ],
    [
      "hours_outsourcing outside hours",
      "hours_outsourcing",
      { now: OUTSIDE },
      "agent:k2/ksc hours_outsourcing.outside_hours",
    ],
    [
      "hours_outsourcing on a holiday",
      "hours_outsourcing",
      { now: HOLIDAY },
      "agent:k2/ksc hours_outsourcing.outside_hours",
    ],
    [
      "hours_outsourcing on a closure day",
      "hours_outsourcing",
      { now: CLOSURE },
      "agent:k2/ksc hours_outsourcing.outside_hours",
    ],
    [
      "hours_outsourcing inside, bank offline: waits for the bank",
      "hours_outsourcing",
      { agents: offline(standardAgents(), "bank") },
      "queue:bank/in_house hours_outsourcing.inside_hours",
    ],
    [
      "hours_outsourcing outside, KSC offline: KSC queue, no away",
      "hours_outsourcing",
      { now: OUTSIDE, agents: offline(standardAgents(), "ksc") },
      "queue:ksc/ksc hours_outsourcing.outside_hours",
    ],
    [
      "hours_outsourcing outside, no KSC contracted",
      "hours_outsourcing",
      { now: OUTSIDE, kscContracted: false },
      "queue:bank/in_house no_ksc.bank_fallback +away",
    ],

    [
      "capacity_overflow under threshold",
      "capacity_overflow",
      { inHouseActiveCount: 2 },
      "agent:b2/in_house capacity_overflow.under_threshold",
    ],
    [
      "capacity_overflow at threshold",
      "capacity_overflow",
      { inHouseActiveCount: 3 },
      "agent:k2/ksc capacity_overflow.over_threshold",
    ],
    [
      "capacity_overflow above threshold",
      "capacity_overflow",
      { inHouseActiveCount: 7 },
      "agent:k2/ksc capacity_overflow.over_threshold",
    ],
    [
      "capacity_overflow outside hours with zero load",
      "capacity_overflow",
      { now: OUTSIDE, inHouseActiveCount: 0 },
      "agent:k2/ksc capacity_overflow.outside_hours",
    ],
    [
      "capacity_overflow on a holiday",
      "capacity_overflow",
      { now: HOLIDAY },
      "agent:k2/ksc capacity_overflow.outside_hours",
    ],
    [
      "capacity_overflow under threshold, no bank agent free",
      "capacity_overflow",
      { agents: offline(standardAgents(), "bank") },
      "agent:k2/ksc capacity_overflow.no_bank_agent",
    ],
    [
      "capacity_overflow over threshold, KSC offline",
      "capacity_overflow",
      { inHouseActiveCount: 3, agents: offline(standardAgents(), "ksc") },
      "queue:ksc/ksc capacity_overflow.over_threshold",
    ],
    [
      "capacity_overflow over threshold, no KSC contracted",
      "capacity_overflow",
      { inHouseActiveCount: 3, kscContracted: false },
      "agent:b2/in_house no_ksc.bank_fallback",
    ],
    [
      "capacity_overflow outside, no KSC contracted",
      "capacity_overflow",
      { now: OUTSIDE, kscContracted: false },
      "queue:bank/in_house no_ksc.bank_fallback +away",
    ],

    ["full_service inside hours", "full_service", { now: INSIDE }, "agent:k2/ksc full_service.ksc"],
    ["full_service outside hours", "full_service", { now: OUTSIDE }, "agent:k2/ksc full_service.ksc"],
    ["full_service on a holiday", "full_service", { now: HOLIDAY }, "agent:k2/ksc full_service.ksc"],
    [
      "full_service, KSC offline",
      "full_service",
      { now: OUTSIDE, agents: offline(standardAgents(), "ksc") },
      "queue:ksc/ksc full_service.ksc",
    ],
    [
      "full_service, no KSC contracted, inside",
      "full_service",
      { kscContracted: false },
      "agent:b2/in_house no_ksc.bank_fallback",
    ],
    [
      "full_service, no KSC contracted, outside",
      "full_service",
      { now: OUTSIDE, kscContracted: false },
      "queue:bank/in_house no_ksc.bank_fallback +away",
    ],
  ];
  it.each(rows)("%s", (_label, mode, overrides, expected) => {
    const decision = decideRouting(routingInput({ ...overrides, config: { mode } }));
    expect(summary(decision)).toBe(expected);
    expect(decision.mode).toBe(mode);
    expect(decision.reason).toMatch(/^[A-Z].*\.$/);
    expect(decision.reasonDe.length).toBeGreaterThan(20);
  });
});

describe("advisor routing", () => {
  const advisorAgents = (advisor: Partial<RoutingAgent>, deputy: Partial<RoutingAgent> = {}) => [
    ...standardAgents(),
    agent("a1", "advisor", { deputyUserId: "d1", openCount: 4, ...advisor }),
    agent("d1", "advisor", { openCount: 1, ...deputy }),
    agent("a2", "advisor", { deputyUserId: null }),
  ];
  type Row = [
    label: string,
    overrides: Partial<RoutingInput> & { advisorRouting?: boolean; mode?: RoutingMode },
    expected: string,
  ];
  const rows: Row[] = [
    [
      "customer record → advisor",
      { advisorRouting: true, customer: { advisorUserId: "a1" } },
      "agent:a1/advisor advisor.direct",
    ],
    [
      "customer record ignored when advisor routing is off",
      { advisorRouting: false, customer: { advisorUserId: "a1" } },
      "agent:k2/ksc full_service.ksc",
    ],
    [
      "advisor code in first message (routing off)",
      { firstMessageText: "Guten Tag #B123, bitte Rückruf" },
      "agent:a1/advisor advisor.direct",
    ],
    ["advisor code is case-insensitive", { firstMessageText: "#b123" }, "agent:a1/advisor advisor.direct"],
    ["unknown code is ignored", { firstMessageText: "#XYZ9 hallo" }, "agent:k2/ksc full_service.ksc"],
    ["code glued to a word is ignored", { firstMessageText: "abc#B123" }, "agent:k2/ksc full_service.ksc"],
    [
      "code wins over the customer record",
      { advisorRouting: true, customer: { advisorUserId: "a1" }, firstMessageText: "#C7 hallo" },
      "agent:a2/advisor advisor.direct",
    ],
    [
      "absent advisor → deputy",
      { advisorRouting: true, customer: { advisorUserId: "a1" }, agents: advisorAgents({ absent: true }) },
      "agent:d1/advisor advisor.deputy",
    ],
    [
      "offline advisor → deputy",
      {
        advisorRouting: true,
        customer: { advisorUserId: "a1" },
        agents: advisorAgents({ presence: "offline" }),
      },
      "agent:d1/advisor advisor.deputy",
    ],
    [
      "away advisor → deputy",
      {
        advisorRouting: true,
        customer: { advisorUserId: "a1" },
        agents: advisorAgents({ presence: "away" }),
      },
      "agent:d1/advisor advisor.deputy",
    ],
    [
      "advisor at maximum → deputy",
      { advisorRouting: true, customer: { advisorUserId: "a1" }, agents: advisorAgents({ openCount: 5 }) },
      "agent:d1/advisor advisor.deputy",
    ],
    [
      "advisor and deputy absent → full_service KSC",
      {
        advisorRouting: true,
        customer: { advisorUserId: "a1" },
        agents: advisorAgents({ absent: true }, { absent: true }),
      },
      "agent:k2/ksc full_service.ksc",
    ],
    [
      "advisor and deputy absent, in_house → bank",
      {
        mode: "in_house",
        advisorRouting: true,
        customer: { advisorUserId: "a1" },
        agents: advisorAgents({ absent: true }, { presence: "offline" }),
      },
      "agent:b2/in_house in_house.inside_hours",
    ],
    [
      "advisor and deputy absent, in_house outside → away",
      {
        mode: "in_house",
        now: OUTSIDE,
        advisorRouting: true,
        customer: { advisorUserId: "a1" },
        agents: advisorAgents({ absent: true }, { absent: true }),
      },
      "queue:bank/in_house in_house.outside_hours +away",
    ],
    [
      "advisor without deputy offline → mode",
      {
        firstMessageText: "#C7",
        agents: advisorAgents({}).map((a) =>
          a.userId === "a2" ? { ...a, presence: "offline" as const } : a,
        ),
      },
      "agent:k2/ksc full_service.ksc",
    ],
    [
      "advisor unknown to the bank → mode",
      { advisorRouting: true, customer: { advisorUserId: "ghost" } },
      "agent:k2/ksc full_service.ksc",
    ],
    [
      "online advisor gets the chat even outside hours",
      { mode: "in_house", now: OUTSIDE, advisorRouting: true, customer: { advisorUserId: "a1" } },
      "agent:a1/advisor advisor.direct",
    ],
    [
      "advisor routing in hours_outsourcing inside hours",
      { mode: "hours_outsourcing", advisorRouting: true, customer: { advisorUserId: "a1" } },
      "agent:a1/advisor advisor.direct",
    ],
    [
      "advisors are not in the general pool",
      { mode: "in_house", agents: [agent("a1", "advisor")] },
      "queue:bank/in_house in_house.inside_hours",
    ],
  ];
  it.each(rows)("%s", (_label, { advisorRouting, mode, ...overrides }, expected) => {
    const decision = decideRouting(
      routingInput({
        agents: advisorAgents({}),
        advisorCodes: [
          { code: "B123", userId: "a1" },
          { code: "#C7", userId: "a2" },
        ],
        ...overrides,
        config: { mode: mode ?? "full_service", advisorRouting: advisorRouting ?? false },
      }),
    );
    expect(summary(decision)).toBe(expected);
  });

  it("records where the address came from and explains a fall-through", () => {
    const decision = decideRouting(
      routingInput({
        agents: advisorAgents({ absent: true }, { presence: "offline" }),
        firstMessageText: "Hallo #B123",
        advisorCodes: [{ code: "B123", userId: "a1" }],
        config: { mode: "full_service" },
      }),
    );
    expect(decision.addressedAdvisor).toEqual({ userId: "a1", source: "advisor_code", code: "B123" });
    expect(decision.reason).toContain("a1");
    expect(decision.reason).toContain("absent");
    expect(decision.reason).toContain("deputy d1 is offline");
    expect(decision.reasonDe).toContain("Vertreter d1");
    expect(decision.candidates.find((c) => c.userId === "a1")?.why).toContain(
      "addressed advisor, but absent",
    );
  });
});

describe("sticky reopen", () => {
  const hoursAgo = (hours: number, from = INSIDE) => new Date(from.getTime() - hours * 3_600_000);
  type Row = [
    label: string,
    overrides: Partial<RoutingInput> & { mode?: RoutingMode; reopenWindowHours?: number },
    expected: string,
  ];
  const rows: Row[] = [
    [
      "previous bank agent within window, despite higher load",
      { conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(2) } } },
      "agent:b1/in_house sticky.reopen",
    ],
    [
      "exactly at the window edge",
      { conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(24) } } },
      "agent:b1/in_house sticky.reopen",
    ],
    [
      "after the window",
      { conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(25) } } },
      "agent:b2/in_house in_house.inside_hours",
    ],
    [
      "custom 48 h window",
      {
        reopenWindowHours: 48,
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(30) } },
      },
      "agent:b1/in_house sticky.reopen",
    ],
    [
      "window 0 disables sticky",
      {
        reopenWindowHours: 0,
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(0.1) } },
      },
      "agent:b2/in_house in_house.inside_hours",
    ],
    [
      "previous handler offline",
      {
        agents: standardAgents().map((a) => (a.userId === "b1" ? { ...a, presence: "offline" as const } : a)),
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(1) } },
      },
      "agent:b2/in_house in_house.inside_hours",
    ],
    [
      "previous handler at maximum",
      {
        agents: standardAgents().map((a) => (a.userId === "b1" ? { ...a, openCount: 5 } : a)),
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(1) } },
      },
      "agent:b2/in_house in_house.inside_hours",
    ],
    [
      "previous handler gone",
      { conversation: { isNew: false, previousHandler: { userId: "gone", closedAt: hoursAgo(1) } } },
      "agent:b2/in_house in_house.inside_hours",
    ],
    [
      "previous bank agent, but now outside hours (in_house)",
      {
        now: OUTSIDE,
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(1, OUTSIDE) } },
      },
      "queue:bank/in_house in_house.outside_hours +away",
    ],
    [
      "previous KSC agent inside hours of hours_outsourcing",
      {
        mode: "hours_outsourcing",
        conversation: { isNew: false, previousHandler: { userId: "k1", closedAt: hoursAgo(1) } },
      },
      "agent:b2/in_house hours_outsourcing.inside_hours",
    ],
    [
      "previous KSC agent outside hours of hours_outsourcing",
      {
        mode: "hours_outsourcing",
        now: OUTSIDE,
        conversation: { isNew: false, previousHandler: { userId: "k1", closedAt: hoursAgo(3, OUTSIDE) } },
      },
      "agent:k1/ksc sticky.reopen",
    ],
    [
      "previous bank agent while over threshold",
      {
        mode: "capacity_overflow",
        inHouseActiveCount: 3,
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(1) } },
      },
      "agent:k2/ksc capacity_overflow.over_threshold",
    ],
    [
      "previous bank agent under threshold",
      {
        mode: "capacity_overflow",
        inHouseActiveCount: 2,
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(1) } },
      },
      "agent:b1/in_house sticky.reopen",
    ],
    [
      "previous bank agent in full_service",
      {
        mode: "full_service",
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(1) } },
      },
      "agent:k2/ksc full_service.ksc",
    ],
    [
      "previous KSC agent in full_service",
      {
        mode: "full_service",
        conversation: { isNew: false, previousHandler: { userId: "k1", closedAt: hoursAgo(1) } },
      },
      "agent:k1/ksc sticky.reopen",
    ],
    [
      "previous advisor in full_service",
      {
        mode: "full_service",
        agents: [...standardAgents(), agent("a1", "advisor", { openCount: 4 })],
        conversation: { isNew: false, previousHandler: { userId: "a1", closedAt: hoursAgo(1) } },
      },
      "agent:a1/advisor sticky.reopen",
    ],
  ];
  it.each(rows)("%s", (_label, { mode, reopenWindowHours, ...overrides }, expected) => {
    const decision = decideRouting(
      routingInput({
        ...overrides,
        config: { mode: mode ?? "in_house", reopenWindowHours: reopenWindowHours ?? 24 },
      }),
    );
    expect(summary(decision)).toBe(expected);
  });

  it("explains why the previous handler was passed over", () => {
    const decision = decideRouting(
      routingInput({
        agents: standardAgents().map((a) => (a.userId === "b1" ? { ...a, presence: "away" as const } : a)),
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(1) } },
      }),
    );
    expect(decision.reason).toContain("previous handler b1 is away");
    expect(decision.candidates.find((c) => c.userId === "b1")).toMatchObject({ eligible: false });
  });

  it("an addressed, available advisor wins over the previous handler", () => {
    const decision = decideRouting(
      routingInput({
        agents: [...standardAgents(), agent("a1", "advisor")],
        customer: { advisorUserId: "a1" },
        conversation: { isNew: false, previousHandler: { userId: "b1", closedAt: hoursAgo(1) } },
        config: { advisorRouting: true },
      }),
    );
    expect(summary(decision)).toBe("agent:a1/advisor advisor.direct");
  });
});

describe("least loaded and tie-breaking", () => {
  const at = (iso: string) => new Date(iso);
  type Row = [label: string, agents: RoutingAgent[], expected: string | null];
  const rows: Row[] = [
    [
      "fewest open chats wins",
      [agent("x", "bank", { openCount: 3 }), agent("y", "bank", { openCount: 1 })],
      "y",
    ],
    [
      "tie → longest since last assignment",
      [
        agent("x", "bank", { openCount: 1, lastAssignedAt: at("2026-10-01T07:00:00Z") }),
        agent("y", "bank", { openCount: 1, lastAssignedAt: at("2026-10-01T06:00:00Z") }),
      ],
      "y",
    ],
    [
      "tie → never assigned beats assigned",
      [
        agent("x", "bank", { openCount: 1, lastAssignedAt: at("2026-01-01T00:00:00Z") }),
        agent("y", "bank", { openCount: 1, lastAssignedAt: null }),
      ],
      "y",
    ],
    ["full tie → userId order", [agent("y", "bank"), agent("x", "bank")], "x"],
    [
      "away is not eligible",
      [agent("x", "bank", { presence: "away" }), agent("y", "bank", { openCount: 4 })],
      "y",
    ],
    [
      "offline is not eligible",
      [agent("x", "bank", { presence: "offline" }), agent("y", "bank", { openCount: 4 })],
      "y",
    ],
    [
      "absent is not eligible",
      [agent("x", "bank", { absent: true }), agent("y", "bank", { openCount: 4 })],
      "y",
    ],
    [
      "at maximum is not eligible",
      [agent("x", "bank", { openCount: 2, maxChats: 2 }), agent("y", "bank", { openCount: 4 })],
      "y",
    ],
    ["no limit means always room", [agent("x", "bank", { openCount: 100, maxChats: null })], "x"],
    [
      "everyone full → queue",
      [agent("x", "bank", { openCount: 5 }), agent("y", "bank", { openCount: 7, maxChats: 7 })],
      null,
    ],
  ];
  it.each(rows)("%s", (_label, agents, expected) => {
    const decision = decideRouting(routingInput({ agents }));
    expect(decision.target.type === "agent" ? decision.target.userId : null).toBe(expected);
  });

  it("a KSC agent's load counts across all banks", () => {
    const decision = decideRouting(
      routingInput({
        now: OUTSIDE,
        config: { mode: "hours_outsourcing" },
        agents: [
          agent("k1", "ksc", { openCount: 4, maxChats: 4 }),
          agent("k2", "ksc", { openCount: 3, maxChats: 6 }),
        ],
      }),
    );
    expect(summary(decision)).toBe("agent:k2/ksc hours_outsourcing.outside_hours");
    expect(decision.candidates).toEqual([
      expect.objectContaining({ userId: "k1", eligible: false, load: 4, why: "at maximum (4 of 4 chats)" }),
      expect.objectContaining({ userId: "k2", eligible: true, load: 3 }),
    ]);
  });

  it("lists every candidate with why", () => {
    const decision = decideRouting(routingInput({ now: OUTSIDE, config: { mode: "hours_outsourcing" } }));
    const why = Object.fromEntries(decision.candidates.map((c) => [c.userId, [c.eligible, c.why]]));
    expect(why).toEqual({
      b1: [false, "bank agent: this chat goes to the KSC"],
      b2: [false, "bank agent: this chat goes to the KSC"],
      k1: [true, "online, 3 of 5 chats"],
      k2: [true, "online, 0 of 5 chats"],
    });
  });
});

describe("away message and closed period", () => {
  it("uses the same key for the whole closed period and a new one for the next", () => {
    const evening = decideRouting(routingInput({ now: OUTSIDE }));
    const night = decideRouting(routingInput({ now: new Date("2026-10-02T03:00:00Z") }));
    const nextEvening = decideRouting(routingInput({ now: new Date("2026-10-02T18:00:00Z") }));
    expect(evening.sendAwayMessage).toBe(true);
    expect(evening.closedPeriodKey).toBe("closed-until:2026-10-02T06:00:00.000Z");
    expect(night.closedPeriodKey).toBe(evening.closedPeriodKey);
    expect(nextEvening.closedPeriodKey).toBe("closed-until:2026-10-05T06:00:00.000Z");
    expect(evening.nextOpening?.toISOString()).toBe("2026-10-02T06:00:00.000Z");
    expect(evening.reason).toContain("away message");
    expect(evening.reason).toContain("Fri 2 Oct 2026, 08:00");
    expect(evening.reasonDe).toContain("Abwesenheitsnotiz");
  });

  it("no closed period and no away message while open", () => {
    const decision = decideRouting(routingInput({ agents: [] }));
    expect(summary(decision)).toBe("queue:bank/in_house in_house.inside_hours");
    expect(decision.closedPeriodKey).toBeNull();
    expect(decision.nextOpening).toBeNull();
  });

  it("names the holiday in the reason", () => {
    const decision = decideRouting(routingInput({ now: HOLIDAY, config: { mode: "hours_outsourcing" } }));
    expect(decision.reason).toContain("Fronleichnam");
    expect(decision.opening).toMatchObject({ open: false, reason: "holiday" });
  });
});
