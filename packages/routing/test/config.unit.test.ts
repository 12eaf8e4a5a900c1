import { describe, expect, it } from "vitest";
import { defaultRoutingConfig, routingConfigSchema, validateRoutingForTenant } from "../src/index";
import type { RoutingMode } from "../src/index";

function issuesOf(input: unknown): { path: string; message: string }[] {
  const result = routingConfigSchema.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
}

describe("routingConfigSchema defaults", () => {
  it("fills every field from an empty object", () => {
    expect(defaultRoutingConfig).toMatchObject({
      mode: "in_house",
      capacityThreshold: 3,
      reopenWindowHours: 24,
      advisorRouting: false,
      unansweredReassignMinutes: null,
      queuedAtClosing: "to_ksc",
      openAtClosing: "stay",
      closures: [],
    });
    expect(defaultRoutingConfig.serviceHours.mon).toEqual([["08:00", "18:00"]]);
    expect(defaultRoutingConfig.serviceHours.sun).toEqual([]);
    expect(defaultRoutingConfig.awayMessage.length).toBeGreaterThan(0);
  });

  it("treats missing days of a given schedule as closed", () => {
    const parsed = routingConfigSchema.parse({ serviceHours: { sat: [["09:00", "13:00"]] } });
    expect(parsed.serviceHours.sat).toEqual([["09:00", "13:00"]]);
    expect(parsed.serviceHours.mon).toEqual([]);
  });
});

describe("routingConfigSchema accepts", () => {
  it.each([
    [
      "several intervals a day",
      {
        mon: [
          ["08:00", "12:00"],
          ["13:00", "18:00"],
        ],
      },
    ],
    [
      "touching intervals",
      {
        mon: [
          ["08:00", "12:00"],
          ["12:00", "18:00"],
        ],
      },
    ],
    ["24:00 as end", { mon: [["18:00", "24:00"]], tue: [["00:00", "08:00"]] }],
    ["an overnight interval", { fri: [["20:00", "02:00"]], sat: [["02:00", "06:00"]] }],
    ["Sunday overnight into a later Monday start", { sun: [["22:00", "02:00"]], mon: [["08:00", "18:00"]] }],
    ["a whole day", { mon: [["00:00", "24:00"]] }],
  ])("%s", (_label, serviceHours) => {
    expect(issuesOf({ serviceHours })).toEqual([]);
  });
});

describe("routingConfigSchema rejects with a precise message", () => {
  it.each([
    [
      "a malformed start",
      { serviceHours: { mon: [["8:00", "18:00"]] } },
      "serviceHours.mon.0.0",
      'Monday interval 1: start "8:00" is not a valid time',
    ],
    [
      "an hour out of range",
      {
        serviceHours: {
          tue: [
            ["08:00", "12:00"],
            ["13:00", "25:00"],
          ],
        },
      },
      "serviceHours.tue.1.1",
      'Tuesday interval 2: end "25:00" is not a valid time',
    ],
    [
      "24:00 as start",
      { serviceHours: { wed: [["24:00", "08:00"]] } },
      "serviceHours.wed.0.0",
      'Wednesday interval 1: start "24:00"',
    ],
    [
      "overlapping intervals on one day",
      {
        serviceHours: {
          thu: [
            ["08:00", "12:00"],
            ["11:30", "18:00"],
          ],
        },
      },
      "serviceHours.thu.1",
      "Thursday interval 2 (11:30–18:00) overlaps Thursday interval 1 (08:00–12:00)",
    ],
    [
      "an overnight interval overlapping the next day",
      { serviceHours: { fri: [["20:00", "02:00"]], sat: [["01:00", "06:00"]] } },
      "serviceHours.sat.0",
      "Saturday interval 1 (01:00–06:00) overlaps Friday interval 1 (20:00–02:00)",
    ],
    [
      "Sunday's overnight interval overlapping Monday morning",
      { serviceHours: { mon: [["00:00", "08:00"]], sun: [["22:00", "02:00"]] } },
      "serviceHours.sun.0",
      "Sunday interval 1 (22:00–02:00) overlaps Monday interval 1 (00:00–08:00)",
    ],
    ["an unknown day", { serviceHours: { monday: [["08:00", "18:00"]] } }, "serviceHours", "monday"],
    ["a bad closure date", { closures: ["2026-02-30"] }, "closures.0", "closures must be calendar dates"],
    ["a duplicate closure", { closures: ["2026-12-24", "2026-12-24"] }, "closures", "twice"],
    ["threshold 0", { capacityThreshold: 0 }, "capacityThreshold", "at least 1"],
    ["a fractional threshold", { capacityThreshold: 2.5 }, "capacityThreshold", "whole number"],
    ["an unknown mode", { mode: "outsourcing" }, "mode", ""],
    ["an empty away message", { awayMessage: "   " }, "awayMessage", "must not be empty"],
    ["a negative reopen window", { reopenWindowHours: -1 }, "reopenWindowHours", "negative"],
    ["an unknown closing policy", { queuedAtClosing: "drop" }, "queuedAtClosing", ""],
  ])("%s", (_label, input, path, message) => {
    const issues = issuesOf(input);
    const match = issues.find((issue) => issue.path === path);
    expect(match, JSON.stringify(issues)).toBeDefined();
    expect(match?.message).toContain(message);
  });

  it("reports every bad interval, not only the first", () => {
    const issues = issuesOf({ serviceHours: { mon: [["x", "18:00"]], tue: [["08:00", "y"]] } });
    expect(issues.map((issue) => issue.path)).toEqual(["serviceHours.mon.0.0", "serviceHours.tue.0.1"]);
  });
});

describe("validateRoutingForTenant", () => {
  it.each<[RoutingMode, boolean, boolean]>([
    ["in_house", false, true],
    ["in_house", true, true],
    ["hours_outsourcing", false, false],
    ["hours_outsourcing", true, true],
    ["capacity_overflow", false, false],
    ["capacity_overflow", true, true],
    ["full_service", false, false],
    ["full_service", true, true],
  ])("mode %s with kscContracted=%s → ok=%s", (mode, kscContracted, ok) => {
    const result = validateRoutingForTenant({ ...defaultRoutingConfig, mode }, { kscContracted });
    expect(result.ok).toBe(ok);
    if (!result.ok) {
      expect(result.issues[0]?.path).toEqual(["mode"]);
      expect(result.issues[0]?.code).toBe("ksc_not_contracted");
      expect(result.issues[0]?.message).toContain(mode);
      expect(result.issues[0]?.message).toContain("no KSC contracted");
      expect(result.issues[0]?.messageDe).toContain("kein KSC");
    }
  });
});
