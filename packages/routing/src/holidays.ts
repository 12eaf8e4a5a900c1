import Holidays from "date-holidays";

export interface PublicHoliday {
  /** Local calendar date, YYYY-MM-DD. */
  date: string;
  /** German name as published by date-holidays, e.g. "Tag der Deutschen Einheit". */
  name: string;
}

const GERMAN_STATES = new Set(Object.keys(new Holidays().getStates("DE") ?? {}));

/**
 * Accepts "DE-BY" (ISO 3166-2), "BY" or "DE" (federal holidays only). Anything else is a
 * programming or data error upstream, so it throws rather than silently ignoring holidays.
 */
export function parseGermanRegion(region: string): { country: "DE"; state: string | null } {
  const normalized = region.trim().toUpperCase();
  if (normalized === "DE") return { country: "DE", state: null };
  const state = normalized.startsWith("DE-") ? normalized.slice(3) : normalized;
  if (!GERMAN_STATES.has(state)) {
    throw new RangeError(`Unknown German state "${region}"; expected e.g. "DE-BY"`);
  }
  return { country: "DE", state };
}

const calendars = new Map<string, Holidays>();
const yearCache = new Map<string, Map<string, string>>();

function calendarFor(region: string): Holidays {
  const { state } = parseGermanRegion(region);
  const key = state ?? "";
  let calendar = calendars.get(key);
  if (!calendar) {
    calendar = state
      ? new Holidays("DE", state, { languages: "de" })
      : new Holidays("DE", { languages: "de" });
    calendars.set(key, calendar);
  }
  return calendar;
}

/** Public holidays (type "public" only: no observances, school or half bank days) by local date. */
function publicHolidayMap(region: string, year: number): Map<string, string> {
  const key = `${region.trim().toUpperCase()}|${year}`;
  let byDate = yearCache.get(key);
  if (!byDate) {
    byDate = new Map();
    for (const holiday of calendarFor(region).getHolidays(year)) {
      // `date` is the local calendar date of the holiday ("2026-10-03 00:00:00").
      if (holiday.type !== "public") continue;
      const date = holiday.date.slice(0, 10);
      // Two holidays can share a date (Ascension fell on 1 May in 2008).
      const existing = byDate.get(date);
      byDate.set(date, existing ? `${existing} / ${holiday.name}` : holiday.name);
    }
    yearCache.set(key, byDate);
  }
  return byDate;
}

/** The public holidays of a German state in a year, sorted by date (for the admin's preview). */
export function holidaysForYear(region: string, year: number): PublicHoliday[] {
  return [...publicHolidayMap(region, year)]
    .map(([date, name]) => ({ date, name }))
    .sort((a, b) => a.date.localeCompare(b.date));
}

/** Name of the public holiday on a local date (YYYY-MM-DD), or null. */
export function publicHolidayOn(region: string, isoDate: string): string | null {
  return publicHolidayMap(region, Number(isoDate.slice(0, 4))).get(isoDate) ?? null;
}
