/** Days of the week in the order Luxon numbers them (weekday 1 = Monday). */
export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const TIME_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes since local midnight for "HH:MM" (00:00–23:59), or null when malformed. */
export function parseTimeOfDay(value: string): number | null {
  const match = TIME_PATTERN.exec(value);
  if (!match) return null;
  return Number(match[1]) * 60 + Number(match[2]);
}

/** Like parseTimeOfDay, but also accepts "24:00" (= 1440), which is only meaningful as an end. */
export function parseEndTimeOfDay(value: string): number | null {
  if (value === "24:00") return 24 * 60;
  return parseTimeOfDay(value);
}

/**
 * An interval's minutes relative to the start of the day it belongs to. An end at or before the
 * start means the interval runs overnight into the next day (so the end gets +1440).
 */
export function intervalMinutes(start: string, end: string): { start: number; end: number } | null {
  const startMinutes = parseTimeOfDay(start);
  const endMinutes = parseEndTimeOfDay(end);
  if (startMinutes === null || endMinutes === null) return null;
  return { start: startMinutes, end: endMinutes <= startMinutes ? endMinutes + 24 * 60 : endMinutes };
}
