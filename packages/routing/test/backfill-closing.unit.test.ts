import { describe, expect, it } from "vitest";
import {
  decideAtClosing,
  isUnansweredOverdue,
  planBackfill,
  routingConfigSchema,
  selectForBackfill,
} from "../src/index";
import type { ClosingInput, QueueEntry, RoutingConfigInput, RoutingMode } from "../src/index";
import { agent, INSIDE, OUTSIDE } from "./fixtures";

const minutesAgo = (minutes: number) => new Date(INSIDE.getTime() - minutes * 60_000);
const entries: QueueEntry[] = [
  { conversationId: "bank-new", queue: "bank", queuedAt: minutesAgo(1) },
  { conversationId: "ksc-old", queue: "ksc", queuedAt: minutesAgo(50) },
  { conversationId: "bank-old", queue: "bank", queuedAt: minutesAgo(30) },
  { conversationId: "bank-mid", queue: "bank", queuedAt: minutesAgo(10) },
];

describe("selectForBackfill", () => {
  it.each([
    [
      "takes the oldest of its side up to free capacity",
      agent("b", "bank", { openCount: 3, maxChats: 5 }),
      {},
      ["bank-old", "bank-mid"],
    ],
    [
      "takes all with enough capacity",
      agent("b", "bank", { openCount: 0, maxChats: 5 }),
      {},
      ["bank-old", "bank-mid", "bank-new"],
    ],
    [
      "no limit takes all",
      agent("b", "bank", { openCount: 40, maxChats: null }),
      {},
      ["bank-old", "bank-mid", "bank-new"],
    ],
    ["KSC agent takes the KSC queue", agent("k", "ksc", { openCount: 1 }), {}, ["ksc-old"]],
    ["at maximum takes nothing", agent("b", "bank", { openCount: 5, maxChats: 5 }), {}, []],
    ["over maximum takes nothing", agent("b", "bank", { openCount: 7, maxChats: 5 }), {}, []],
    ["away takes nothing", agent("b", "bank", { presence: "away" }), {}, []],
    ["absent takes nothing", agent("b", "bank", { absent: true }), {}, []],
    ["advisors take nothing from side queues", agent("a", "advisor"), {}, []],
    ["bank agent outside hours takes nothing", agent("b", "bank"), { bankOpen: false }, []],
    ["KSC agent unaffected by bank hours", agent("k", "ksc"), { bankOpen: false }, ["ksc-old"]],
  ])("%s", (_label, who, options, expected) => {
    expect(selectForBackfill(entries, who, options).map((e) => e.conversationId)).toEqual(expected);
  });

  it("does not reorder the caller's array", () => {
    const copy = [...entries];
    selectForBackfill(entries, agent("b", "bank"));
    expect(entries).toEqual(copy);
  });
});

describe("planBackfill", () => {
  it("spreads waiting chats oldest first over the least loaded agents", () => {
    const plan = planBackfill(entries, [
      agent("b1", "bank", { openCount: 1, maxChats: 3 }),
      agent("b2", "bank", { openCount: 2, maxChats: 3 }),
      agent("k1", "ksc", { openCount: 4, maxChats: 4 }),
    ]);
    expect(plan).toEqual([
      { conversationId: "bank-old", userId: "b1", queue: "bank" },
      // b1 and b2 now both hold 2; b2 waited longer since its last assignment.
      { conversationId: "bank-mid", userId: "b2", queue: "bank" },
      { conversationId: "bank-new", userId: "b1", queue: "bank" },
    ]);
  });
});

describe("decideAtClosing", () => {
  const base = (
    mode: RoutingMode,
    config: RoutingConfigInput = {},
    overrides: Partial<ClosingInput> = {},
  ): ClosingInput => ({
    config: routingConfigSchema.parse({ mode, ...config }),
    bank: { region: "DE-BY", timezone: "Europe/Berlin" },
    kscContracted: true,
    now: new Date("2026-10-01T16:00:00Z"), // Thursday 18:00 CEST, the closing instant
    queued: [
      { conversationId: "q1", queuedAt: minutesAgo(5) },
      { conversationId: "q-reserved", queuedAt: minutesAgo(5), reservedToBank: true },
    ],
    open: [
      { conversationId: "o-bank", assigneeUserId: "b1", handledBy: "in_house" },
      { conversationId: "o-advisor", assigneeUserId: "a1", handledBy: "advisor" },
      { conversationId: "o-ksc", assigneeUserId: "k1", handledBy: "ksc" },
    ],
    ...overrides,
  });
  const summarize = (input: ClosingInput) =>
    Object.fromEntries(
      decideAtClosing(input).actions.map((a) => [
        a.conversationId,
        `${a.action}${a.sendAwayMessage ? "+away" : ""} ${a.rule}`,
      ]),
    );

  it.each<[string, ClosingInput, Record<string, string>]>([
    [
      "hours_outsourcing defaults: queued → KSC, open stay",
      base("hours_outsourcing"),
      {
        q1: "move_to_ksc_queue closing.queued_to_ksc",
        "q-reserved": "stay+away closing.reserved_to_bank",
        "o-bank": "stay closing.open_stay",
        "o-advisor": "stay closing.advisor_stays",
        "o-ksc": "stay closing.ksc_unaffected",
      },
    ],
    [
      "queuedAtClosing stay, openAtClosing to_ksc",
      base("hours_outsourcing", { queuedAtClosing: "stay", openAtClosing: "to_ksc" }),
      {
        q1: "stay+away closing.queued_stay",
        "q-reserved": "stay+away closing.reserved_to_bank",
        "o-bank": "move_to_ksc_queue closing.open_to_ksc",
        "o-advisor": "stay closing.advisor_stays",
        "o-ksc": "stay closing.ksc_unaffected",
      },
    ],
    [
      "capacity_overflow also hands the queue to the KSC",
      base("capacity_overflow"),
      {
        q1: "move_to_ksc_queue closing.queued_to_ksc",
        "q-reserved": "stay+away closing.reserved_to_bank",
        "o-bank": "stay closing.open_stay",
        "o-advisor": "stay closing.advisor_stays",
        "o-ksc": "stay closing.ksc_unaffected",
      },
    ],
    [
      "in_house: everything stays, waiting chats get the away message",
      base("in_house", { openAtClosing: "to_ksc" }),
      {
        q1: "stay+away closing.no_ksc_coverage",
        "q-reserved": "stay+away closing.reserved_to_bank",
        "o-bank": "stay closing.no_ksc_coverage",
        "o-advisor": "stay closing.advisor_stays",
        "o-ksc": "stay closing.ksc_unaffected",
      },
    ],
    [
      "no KSC contracted: nothing moves",
      base("hours_outsourcing", { openAtClosing: "to_ksc" }, { kscContracted: false }),
      {
        q1: "stay+away closing.no_ksc_coverage",
        "q-reserved": "stay+away closing.reserved_to_bank",
        "o-bank": "stay closing.no_ksc_coverage",
        "o-advisor": "stay closing.advisor_stays",
        "o-ksc": "stay closing.ksc_unaffected",
      },
    ],
    [
      "called while still open: nothing changes",
      base("hours_outsourcing", {}, { now: INSIDE }),
      {
        q1: "stay closing.still_open",
        "q-reserved": "stay closing.still_open",
        "o-bank": "stay closing.still_open",
        "o-advisor": "stay closing.still_open",
        "o-ksc": "stay closing.still_open",
      },
    ],
  ])("%s", (_label, input, expected) => {
    expect(summarize(input)).toEqual(expected);
  });

  it("gives the closed period key and next opening", () => {
    const decision = decideAtClosing(base("in_house"));
    expect(decision.closed).toBe(true);
    expect(decision.nextOpening?.toISOString()).toBe("2026-10-02T06:00:00.000Z");
    expect(decision.closedPeriodKey).toBe("closed-until:2026-10-02T06:00:00.000Z");
  });
});

describe("isUnansweredOverdue", () => {
  it.each<[number | null, number, Date | null, boolean]>([
    [null, 600, null, false],
    [5, 4, null, false],
    [5, 5, null, true],
    [5, 60, OUTSIDE, false],
  ])("limit %s min, waited %s min, answered %s → %s", (limit, waited, answeredAt, expected) => {
    const config = { unansweredReassignMinutes: limit };
    expect(isUnansweredOverdue(config, { assignedAt: minutesAgo(waited), answeredAt }, INSIDE)).toBe(
      expected,
    );
  });
});
