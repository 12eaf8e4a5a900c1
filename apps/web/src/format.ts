// Dates and times are always shown in the bank's time zone, not the browser's.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(
  locale: string,
  timeZone: string,
  options: Intl.DateTimeFormatOptions,
): Intl.DateTimeFormat {
  const key = `${locale}|${timeZone}|${JSON.stringify(options)}`;
  let cached = formatters.get(key);
  if (!cached) {
    try {
      cached = new Intl.DateTimeFormat(locale, { ...options, timeZone });
    } catch {
      // An unknown zone from a misconfigured tenant must not break the screen.
      cached = new Intl.DateTimeFormat(locale, { ...options, timeZone: "Europe/Berlin" });
    }
    formatters.set(key, cached);
  }
  return cached;
}

function toDate(value: string | number | Date): Date | null {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function formatDateTime(value: string | null | undefined, locale: string, timeZone: string): string {
  if (!value) return "";
  const date = toDate(value);
  if (!date) return value;
  return formatter(locale, timeZone, { dateStyle: "short", timeStyle: "short" }).format(date);
}

/** Time only when the date is today in the bank's zone, otherwise date and time. */
export function formatMessageTime(
  value: string | null | undefined,
  locale: string,
  timeZone: string,
  now: Date = new Date(),
): string {
  if (!value) return "";
  const date = toDate(value);
  if (!date) return value;
  const day = formatter(locale, timeZone, { year: "numeric", month: "2-digit", day: "2-digit" });
  if (day.format(date) === day.format(now)) {
    return formatter(locale, timeZone, { hour: "2-digit", minute: "2-digit" }).format(date);
  }
  return formatDateTime(value, locale, timeZone);
}

/** `5:07:03` or `42:10` for a remaining duration. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return hours > 0 ? `${hours}:${pad(minutes)}:${pad(seconds)}` : `${minutes}:${pad(seconds)}`;
}

export const WINDOW_MS = 24 * 60 * 60 * 1000;
