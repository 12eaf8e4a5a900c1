import { describe, expect, it } from "vitest";
import { holidaysForYear, isOpen, openingState, parseGermanRegion, routingConfigSchema } from "../src/index";
import type { OpeningState, RoutingConfigInput } from "../src/index";

const TZ = "Europe/Berlin";
const weekdays = routingConfigSchema.parse({});

function config(serviceHours: RoutingConfigInput["serviceHours"], closures: string[] = []) {
  return routingConfigSchema.parse({ serviceHours, closures });
}

type Expected = Partial<Omit<OpeningState, "nextOpening" | "closesAt">> & {
  nextOpening?: string | null;
  closesAt?: string | null;
};

function expectState(actual: OpeningState, expected: Expected) {
  const { nextOpening, closesAt, ...rest } = expected;
  expect(actual).toMatchObject(rest);
  if (nextOpening !== undefined) expect(actual.nextOpening?.toISOString() ?? null).toBe(nextOpening);
  if (closesAt !== undefined) expect(actual.closesAt?.toISOString() ?? null).toBe(closesAt);
}

describe("openingState on ordinary days (Mon–Fri 08:00–18:00, Bavaria)", () => {
  it.each<[string, string, Expected]>([
    [
      "Thursday 10:00 CEST",
      "2026-10-01T08:00:00Z",
      { open: true, reason: "service_hours", closesAt: "2026-10-01T16:00:00.000Z", nextOpening: null },
    ],
    ["opening instant is open", "2026-10-01T06:00:00Z", { open: true }],
    [
      "closing instant is closed",
      "2026-10-01T16:00:00Z",
      { open: false, reason: "outside_hours", nextOpening: "2026-10-02T06:00:00.000Z", closesAt: null },
    ],
    [
      "one minute before opening",
      "2026-10-01T05:59:00Z",
      { open: false, nextOpening: "2026-10-01T06:00:00.000Z" },
    ],
    [
      "Friday evening → Monday",
      "2026-10-02T18:00:00Z",
      { open: false, nextOpening: "2026-10-05T06:00:00.000Z" },
    ],
    ["Sunday noon → Monday", "2026-10-04T10:00:00Z", { open: false, reason: "outside_hours" }],
    [
      "winter time Thursday 10:00 CET",
      "2026-12-03T09:00:00Z",
      { open: true, closesAt: "2026-12-03T17:00:00.000Z" },
    ],
  ])("%s", (_label, at, expected) => {
    expectState(openingState(weekdays, "DE-BY", TZ, new Date(at)), expected);
  });
});

describe("public holidays of the bank's state", () => {
  it.each<[string, string, string, Expected]>([
    [
      "Fronleichnam is public in Bavaria",
      "DE-BY",
      "2026-06-04T08:00:00Z",
      {
        open: false,
        reason: "holiday",
        holidayName: "Fronleichnam",
        nextOpening: "2026-06-05T06:00:00.000Z",
      },
    ],
    ["Fronleichnam is a working day in Berlin", "DE-BE", "2026-06-04T08:00:00Z", { open: true }],
    [
      "Heilige Drei Könige in Bavaria",
      "BY",
      "2026-01-06T09:00:00Z",
      { open: false, holidayName: "Heilige Drei Könige" },
    ],
    ["Reformationstag in Saxony", "DE-SN", "2025-10-31T09:00:00Z", { open: false, reason: "holiday" }],
    ["Reformationstag not in Bavaria", "DE-BY", "2025-10-31T09:00:00Z", { open: true }],
    ["Buß- und Bettag (school only) in Bavaria", "DE-BY", "2026-11-18T09:00:00Z", { open: true }],
    [
      "Buß- und Bettag is public in Saxony",
      "DE-SN",
      "2026-11-18T09:00:00Z",
      { open: false, reason: "holiday" },
    ],
    [
      "Christmas Eve is only a half bank day, not public",
      "DE-BY",
      "2026-12-24T09:00:00Z",
      { open: true, closesAt: "2026-12-24T17:00:00.000Z" },
    ],
    [
      "Easter: Good Friday to Easter Monday closed",
      "DE-BY",
      "2026-04-02T16:30:00Z",
      { open: false, nextOpening: "2026-04-07T06:00:00.000Z" },
    ],
    [
      "a holiday evening still says holiday",
      "DE-BY",
      "2026-06-04T20:00:00Z",
      { open: false, reason: "holiday" },
    ],
  ])("%s", (_label, region, at, expected) => {
    expectState(openingState(weekdays, region, TZ, new Date(at)), expected);
  });
});

describe("closure days", () => {
  const withClosure = config(weekdays.serviceHours, ["2026-12-24", "2026-12-31"]);
  it.each<[string, string, Expected]>([
    [
      "closed all day",
      "2026-12-24T09:00:00Z",
      { open: false, reason: "closure", nextOpening: "2026-12-28T07:00:00.000Z" },
    ],
    [
      "the day before is normal",
      "2026-12-23T09:00:00Z",
      { open: true, closesAt: "2026-12-23T17:00:00.000Z" },
    ],
    [
      "next opening skips closure and holidays",
      "2026-12-30T17:30:00Z",
      { nextOpening: "2027-01-04T07:00:00.000Z" },
    ],
  ])("%s", (_label, at, expected) => {
    expectState(openingState(withClosure, "DE-BY", TZ, new Date(at)), expected);
  });
});

describe("DST in Europe/Berlin", () => {
  it.each<[string, RoutingConfigInput["serviceHours"], string, Expected]>([
    // Spring forward: Sunday 29 March 2026, 02:00 CET → 03:00 CEST.
    [
      "Sunday hours open at 08:00 CEST on spring-forward day",
      { sun: [["08:00", "18:00"]] },
      "2026-03-28T20:00:00Z",
      { open: false, nextOpening: "2026-03-29T06:00:00.000Z" },
    ],
    [
      "a night interval on spring-forward day is one hour shorter (01:00–04:00 = 2 h)",
      { sun: [["01:00", "04:00"]] },
      "2026-03-29T01:30:00Z",
      { open: true, closesAt: "2026-03-29T02:00:00.000Z" },
    ],
    [
      "…and is closed at 04:30 CEST",
      { sun: [["01:00", "04:00"]] },
      "2026-03-29T02:30:00Z",
      { open: false, reason: "outside_hours", nextOpening: "2026-04-04T23:00:00.000Z" },
    ],
    [
      "overnight Saturday 22:00 → Sunday 06:00 across spring forward is open at 05:30 CEST",
      { sat: [["22:00", "06:00"]] },
      "2026-03-29T03:30:00Z",
      { open: true, closesAt: "2026-03-29T04:00:00.000Z" },
    ],
    ["…and closed at 06:30 CEST", { sat: [["22:00", "06:00"]] }, "2026-03-29T04:30:00Z", { open: false }],
    // Fall back: Sunday 25 October 2026, 03:00 CEST → 02:00 CET.
    [
      "a night interval on fall-back day is one hour longer (01:00–04:00 = 4 h)",
      { sun: [["01:00", "04:00"]] },
      "2026-10-25T02:30:00Z",
      { open: true, closesAt: "2026-10-25T03:00:00.000Z" },
    ],
    [
      "overnight Saturday 22:00 → Sunday 06:00 across fall back closes at 05:00Z",
      { sat: [["22:00", "06:00"]] },
      "2026-10-24T23:00:00Z",
      { open: true, closesAt: "2026-10-25T05:00:00.000Z" },
    ],
    [
      "Monday after fall back opens at 08:00 CET",
      { mon: [["08:00", "18:00"]] },
      "2026-10-25T12:00:00Z",
      { open: false, nextOpening: "2026-10-26T07:00:00.000Z" },
    ],
  ])("%s", (_label, serviceHours, at, expected) => {
    expectState(openingState(config(serviceHours), "DE-BY", TZ, new Date(at)), expected);
  });
});

describe("overnight and adjoining intervals", () => {
  it.each<[string, RoutingConfigInput["serviceHours"], string, string, Expected]>([
    [
      "Friday night shift is open on Saturday 01:00",
      { fri: [["20:00", "02:00"]] },
      "DE-BY",
      "2026-10-02T23:00:00Z",
      { open: true, closesAt: "2026-10-03T00:00:00.000Z" },
    ],
    [
      "an overnight interval starting on a holiday is cancelled entirely",
      { thu: [["20:00", "02:00"]] },
      "DE-BY",
      "2026-06-04T23:00:00Z",
      { open: false, reason: "holiday", holidayName: "Fronleichnam" },
    ],
    [
      "…but runs where it is no holiday",
      { thu: [["20:00", "02:00"]] },
      "DE-BE",
      "2026-06-04T23:00:00Z",
      { open: true },
    ],
    [
      "the previous evening's overnight tail runs into a holiday",
      { wed: [["20:00", "02:00"]] },
      "DE-BY",
      "2026-06-03T23:00:00Z",
      { open: true, closesAt: "2026-06-04T00:00:00.000Z" },
    ],
    [
      "18:00–24:00 and next day 00:00–08:00 form one stretch",
      { mon: [["18:00", "24:00"]], tue: [["00:00", "08:00"]] },
      "DE-BY",
      "2026-10-05T21:00:00Z",
      { open: true, closesAt: "2026-10-06T06:00:00.000Z" },
    ],
    [
      "touching intervals form one stretch",
      {
        mon: [
          ["08:00", "12:00"],
          ["12:00", "18:00"],
        ],
      },
      "DE-BY",
      "2026-10-05T07:00:00Z",
      { open: true, closesAt: "2026-10-05T16:00:00.000Z" },
    ],
    [
      "a lunch break is closed with the afternoon as next opening",
      {
        mon: [
          ["08:00", "12:00"],
          ["13:00", "18:00"],
        ],
      },
      "DE-BY",
      "2026-10-05T10:30:00Z",
      { open: false, nextOpening: "2026-10-05T11:00:00.000Z" },
    ],
  ])("%s", (_label, serviceHours, region, at, expected) => {
    expectState(openingState(config(serviceHours), region, TZ, new Date(at)), expected);
  });

  it("24/7 service closes only for the next public holiday", () => {
    const allDay: [string, string][] = [["00:00", "24:00"]];
    const always = config({
      mon: allDay,
      tue: allDay,
      wed: allDay,
      thu: allDay,
      fri: allDay,
      sat: allDay,
      sun: allDay,
    });
    expectState(openingState(always, "DE-BY", TZ, new Date("2026-12-20T12:00:00Z")), {
      open: true,
      closesAt: "2026-12-24T23:00:00.000Z",
    });
    expectState(openingState(always, "DE-BY", TZ, new Date("2026-12-25T12:00:00Z")), {
      open: false,
      reason: "holiday",
      nextOpening: "2026-12-26T23:00:00.000Z",
    });
  });

  it("no service hours at all: closed with no next opening", () => {
    expectState(openingState(config({}), "DE-BY", TZ, new Date("2026-10-01T08:00:00Z")), {
      open: false,
      reason: "outside_hours",
      nextOpening: null,
      closesAt: null,
    });
  });
});

describe("isOpen, holidaysForYear and regions", () => {
  it("isOpen agrees with openingState", () => {
    for (const at of ["2026-10-01T08:00:00Z", "2026-10-01T18:00:00Z", "2026-06-04T08:00:00Z"]) {
      expect(isOpen(weekdays, "DE-BY", TZ, new Date(at))).toBe(
        openingState(weekdays, "DE-BY", TZ, new Date(at)).open,
      );
    }
  });

  it("lists only public holidays, sorted, per state", () => {
    const bavaria = holidaysForYear("DE-BY", 2026);
    expect(bavaria[0]).toEqual({ date: "2026-01-01", name: "Neujahr" });
    expect(bavaria.map((h) => h.date)).toEqual([...bavaria.map((h) => h.date)].sort());
    expect(bavaria.map((h) => h.name)).toContain("Fronleichnam");
    expect(bavaria.map((h) => h.name)).not.toContain("Heiliger Abend");
    expect(holidaysForYear("DE-BE", 2026).map((h) => h.name)).not.toContain("Fronleichnam");
    expect(holidaysForYear("DE-BE", 2026).map((h) => h.name)).toContain("Internationaler Frauentag");
  });

  it.each([["DE-BY"], ["de-by"], ["BY"], ["DE"]])("accepts region %s", (region) => {
    expect(parseGermanRegion(region).country).toBe("DE");
  });

  it.each([["DE-XX"], ["AT-9"], [""]])("rejects region %j", (region) => {
    expect(() => parseGermanRegion(region)).toThrow(RangeError);
  });

  it("rejects an unknown time zone", () => {
    expect(() => openingState(weekdays, "DE-BY", "Europe/Atlantis", new Date())).toThrow(RangeError);
  });
});

describe("observePublicHolidays", () => {
  it("a bank that works on public holidays is open on them; by default it is closed", () => {
    const fronleichnam = new Date("2026-06-04T08:00:00Z"); // Thursday, public holiday in Bavaria
    const weekdays = {
      mon: [["08:00", "18:00"]],
      tue: [["08:00", "18:00"]],
      wed: [["08:00", "18:00"]],
      thu: [["08:00", "18:00"]],
      fri: [["08:00", "18:00"]],
    };
    const observing = routingConfigSchema.parse({ serviceHours: weekdays });
    expect(openingState(observing, "DE-BY", "Europe/Berlin", fronleichnam)).toMatchObject({
      open: false,
      reason: "holiday",
    });
    const working = routingConfigSchema.parse({ serviceHours: weekdays, observePublicHolidays: false });
    expect(openingState(working, "DE-BY", "Europe/Berlin", fronleichnam)).toMatchObject({ open: true });
  });
});

describe("a bank that never closes", () => {
  it("is open with no closing in sight", () => {
    const allDay = [["00:00", "24:00"]];
    const config = routingConfigSchema.parse({
      serviceHours: {
        mon: allDay,
        tue: allDay,
        wed: allDay,
        thu: allDay,
        fri: allDay,
        sat: allDay,
        sun: allDay,
      },
      observePublicHolidays: false,
    });
    expect(openingState(config, "DE-BY", "Europe/Berlin", new Date("2026-11-22T10:00:00Z"))).toMatchObject({
      open: true,
      closesAt: null,
    });
  });
});

describe("openingState remembers an open stretch without serving stale answers", () => {
  it("answers the same for every minute of a day as a fresh computation would, and notices a changed rule book", () => {
    const hours = config({ mon: [["08:00", "18:00"]], tue: [["08:00", "18:00"]] });
    // Tuesday 2026-10-06 (CEST): open 06:00–16:00 UTC.
    const start = Date.parse("2026-10-06T05:00:00Z");
    const seen: boolean[] = [];
    for (let m = 0; m < 14 * 60; m += 7)
      seen.push(openingState(hours, "BY", TZ, new Date(start + m * 60_000)).open);
    expect(seen.indexOf(true) * 7).toBe(63); // first open at 06:03 UTC (sampled every 7 min from 05:00)
    expect(seen.lastIndexOf(true) * 7).toBe(658); // last open sample 15:58 UTC
    expectState(openingState(hours, "BY", TZ, new Date("2026-10-06T16:00:00Z")), {
      open: false,
      nextOpening: "2026-10-12T06:00:00.000Z",
    });
    // Earlier than the remembered stretch began: computed, not taken from memory.
    expectState(openingState(hours, "BY", TZ, new Date("2026-10-06T05:59:00Z")), { open: false });
    // The same day declared a closure: a different configuration, a different answer.
    const closed = config({ mon: [["08:00", "18:00"]], tue: [["08:00", "18:00"]] }, ["2026-10-06"]);
    expectState(openingState(closed, "BY", TZ, new Date("2026-10-06T10:00:00Z")), {
      open: false,
      reason: "closure",
    });
    expectState(openingState(hours, "BY", TZ, new Date("2026-10-06T10:00:00Z")), {
      open: true,
      closesAt: "2026-10-06T16:00:00.000Z",
    });
  });
});
