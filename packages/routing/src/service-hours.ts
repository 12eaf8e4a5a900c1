import { DateTime } from "luxon";
import type { RoutingConfig } from "./config";
import { publicHolidayOn } from "./holidays";
import { intervalMinutes, WEEKDAYS } from "./time-of-day";

export type OpeningReason = "service_hours" | "outside_hours" | "holiday" | "closure";

export interface OpeningState {
  open: boolean;
  reason: OpeningReason;
  /** Set when the bank is closed because of a public holiday. */
  holidayName?: string;
  /** When closed: the next moment service starts; null when open or no opening within ~2 years. */
  nextOpening: Date | null;
  /** When open: the moment this stretch of service ends; null when closed or open beyond ~2 years. */
  closesAt: Date | null;
}

type ServiceHoursConfig = Pick<RoutingConfig, "serviceHours" | "closures"> &
  Partial<Pick<RoutingConfig, "observePublicHolidays">>;

interface Period {
  start: number;
  end: number;
}

type DayStatus = { kind: "open" } | { kind: "closure" } | { kind: "holiday"; name: string };

function dayStatus(config: ServiceHoursConfig, region: string, day: DateTime): DayStatus {
  const isoDate = day.toISODate() ?? "";
  if (config.closures.includes(isoDate)) return { kind: "closure" };
  const holiday = config.observePublicHolidays === false ? null : publicHolidayOn(region, isoDate);
  if (holiday) return { kind: "holiday", name: holiday };
  return { kind: "open" };
}

/**
 * The real instants of one local day's intervals. Local wall-clock times are resolved in the
 * bank's zone on the actual date, so DST days get their true (23 h / 25 h) length.
 */
function dayPeriods(config: ServiceHoursConfig, day: DateTime): Period[] {
  const weekday = WEEKDAYS[day.weekday - 1];
  if (!weekday) return [];
  const periods: Period[] = [];
  for (const [start, end] of config.serviceHours[weekday]) {
    const minutes = intervalMinutes(start, end);
    if (!minutes) continue;
    periods.push({ start: localInstant(day, minutes.start), end: localInstant(day, minutes.end) });
  }
  return periods;
}

/** Wall-clock minutes after the day's midnight (may exceed 1440 for overnight ends) → epoch ms. */
function localInstant(day: DateTime, minutes: number): number {
  const date = day.plus({ days: Math.floor(minutes / 1440) });
  const rest = minutes % 1440;
  // Setting wall-clock fields (not adding a duration) keeps "08:00" at 08:00 across a DST switch;
  // a non-existent time (02:30 on spring-forward day) is moved forward by Luxon.
  return date.set({ hour: Math.floor(rest / 60), minute: rest % 60, second: 0, millisecond: 0 }).toMillis();
}

function mergePeriods(periods: Period[]): Period[] {
  const sorted = periods.filter((p) => p.end > p.start).sort((a, b) => a.start - b.start);
  const merged: Period[] = [];
  for (const period of sorted) {
    const last = merged.at(-1);
    if (last && period.start <= last.end) last.end = Math.max(last.end, period.end);
    else merged.push({ ...period });
  }
  return merged;
}

const MAX_DAYS_AHEAD = 800;
/**
 * While open, a closing more than about a month away is reported as `closesAt: null`. Routing asks on
 * every decision and every tick, and searching 800 days for the closing of a bank that never closes is
 * far too slow for that.
 */
const MAX_OPEN_DAYS_AHEAD = 30;

/**
 * Whether the bank is inside its service hours at `at`, why, and when that changes.
 * An interval belongs to the day it starts on: a holiday or closure day cancels the intervals
 * starting that day (including its overnight tail), but not the previous evening's overnight tail.
 */
export function openingState(
  config: ServiceHoursConfig,
  region: string,
  timezone: string,
  at: Date,
): OpeningState {
  const atMs = at.getTime();
  const key = openKey(config, region, timezone);
  const known = openStretches.get(key);
  if (known && known.from <= atMs && atMs < known.until)
    return { open: true, reason: "service_hours", nextOpening: null, closesAt: known.closesAt };
  const state = computeOpeningState(config, region, timezone, at);
  if (state.open) rememberOpenStretch(key, state, atMs);
  return state;
}

/**
 * Routing asks for the opening state on every decision and every tick, and each answer walks days of
 * wall-clock arithmetic in the bank's zone. While a bank is open the answer does not change until the
 * stretch closes, so the stretch is remembered: from the moment it was first seen open until its
 * closing (a day at most when the closing lies beyond the search horizon). Keyed by everything the
 * answer depends on; a changed configuration is a different key.
 */
const openStretches = new Map<string, { from: number; until: number; closesAt: Date | null }>();
const MAX_REMEMBERED = 2_000;
const DAY_MS = 86_400_000;

function openKey(config: ServiceHoursConfig, region: string, timezone: string): string {
  return JSON.stringify([
    timezone,
    region,
    config.observePublicHolidays !== false,
    config.serviceHours,
    config.closures,
  ]);
}

function rememberOpenStretch(key: string, state: OpeningState, atMs: number): void {
  if (openStretches.size >= MAX_REMEMBERED) openStretches.clear();
  openStretches.set(key, {
    from: atMs,
    until: state.closesAt ? state.closesAt.getTime() : atMs + DAY_MS,
    closesAt: state.closesAt,
  });
}

function computeOpeningState(
  config: ServiceHoursConfig,
  region: string,
  timezone: string,
  at: Date,
): OpeningState {
  const atMs = at.getTime();
  const localAt = DateTime.fromMillis(atMs, { zone: timezone });
  if (!localAt.isValid) throw new RangeError(`Unknown time zone "${timezone}"`);
  const today = localAt.startOf("day");
  const firstDay = today.minus({ days: 1 });

  let windowDays = 8;
  for (;;) {
    const periods: Period[] = [];
    for (let offset = 0; offset <= windowDays; offset++) {
      const day = firstDay.plus({ days: offset });
      if (dayStatus(config, region, day).kind === "open") periods.push(...dayPeriods(config, day));
    }
    const merged = mergePeriods(periods);
    // Intervals of days after the window start at or after this instant, so a period ending
    // before it cannot be extended by them.
    const horizon = firstDay.plus({ days: windowDays + 1 }).toMillis();
    const exhausted = windowDays >= MAX_DAYS_AHEAD;

    const current = merged.find((p) => p.start <= atMs && atMs < p.end);
    if (current) {
      if (current.end < horizon) {
        return { open: true, reason: "service_hours", nextOpening: null, closesAt: new Date(current.end) };
      }
      if (exhausted || windowDays >= MAX_OPEN_DAYS_AHEAD) {
        return { open: true, reason: "service_hours", nextOpening: null, closesAt: null };
      }
    } else {
      const next = merged.find((p) => p.start > atMs);
      if (next || exhausted) {
        return {
          ...closedReason(config, region, today, atMs),
          open: false,
          nextOpening: next ? new Date(next.start) : null,
          closesAt: null,
        };
      }
    }
    windowDays = Math.min(windowDays * 4, MAX_DAYS_AHEAD);
  }
}

/**
 * Why the bank is closed: a cancelled interval that would have covered `at` names its day's
 * holiday/closure; otherwise today's holiday/closure; otherwise plain outside hours.
 */
function closedReason(
  config: ServiceHoursConfig,
  region: string,
  today: DateTime,
  atMs: number,
): Pick<OpeningState, "reason" | "holidayName"> {
  const fromStatus = (status: DayStatus): Pick<OpeningState, "reason" | "holidayName"> | null => {
    if (status.kind === "closure") return { reason: "closure" };
    if (status.kind === "holiday") return { reason: "holiday", holidayName: status.name };
    return null;
  };
  for (const day of [today, today.minus({ days: 1 })]) {
    const status = dayStatus(config, region, day);
    if (status.kind === "open") continue;
    if (dayPeriods(config, day).some((p) => p.start <= atMs && atMs < p.end)) {
      const reason = fromStatus(status);
      if (reason) return reason;
    }
  }
  return fromStatus(dayStatus(config, region, today)) ?? { reason: "outside_hours" };
}

export function isOpen(config: ServiceHoursConfig, region: string, timezone: string, at: Date): boolean {
  return openingState(config, region, timezone, at).open;
}
