import { z } from "zod";
import { intervalMinutes, parseEndTimeOfDay, parseTimeOfDay, WEEKDAYS } from "./time-of-day";
import type { Weekday } from "./time-of-day";

export const ROUTING_MODES = ["in_house", "hours_outsourcing", "capacity_overflow", "full_service"] as const;
export type RoutingMode = (typeof ROUTING_MODES)[number];

/** Modes that send at least some chats to an external contact centre. */
export function modeNeedsKsc(mode: RoutingMode): boolean {
  return mode !== "in_house";
}

const MINUTES_PER_DAY = 24 * 60;
const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;

const DAY_LABEL: Record<Weekday, string> = {
  mon: "Monday",
  tue: "Tuesday",
  wed: "Wednesday",
  thu: "Thursday",
  fri: "Friday",
  sat: "Saturday",
  sun: "Sunday",
};

const serviceIntervalSchema = z.tuple([z.string(), z.string()]);
export type ServiceInterval = [start: string, end: string];

const dayScheduleSchema = z.array(serviceIntervalSchema).max(12).default([]);

const serviceHoursShape = {
  mon: dayScheduleSchema,
  tue: dayScheduleSchema,
  wed: dayScheduleSchema,
  thu: dayScheduleSchema,
  fri: dayScheduleSchema,
  sat: dayScheduleSchema,
  sun: dayScheduleSchema,
};

const WORKDAY: ServiceInterval[] = [["08:00", "18:00"]];

/**
 * Service hours per weekday. Each interval belongs to the day it starts on; an end at or before
 * its start runs overnight into the next day; "24:00" is allowed as an end.
 */
export const serviceHoursSchema = z.strictObject(serviceHoursShape).superRefine((hours, ctx) => {
  type Placed = { day: Weekday; index: number; text: string; start: number; end: number };
  const placed: Placed[] = [];
  for (const [dayIndex, day] of WEEKDAYS.entries()) {
    for (const [index, [start, end]] of hours[day].entries()) {
      const label = `${DAY_LABEL[day]} interval ${index + 1}`;
      const startOk = parseTimeOfDay(start) !== null;
      const endOk = parseEndTimeOfDay(end) !== null;
      if (!startOk) {
        ctx.addIssue({
          code: "custom",
          path: [day, index, 0],
          message: `${label}: start "${start}" is not a valid time (HH:MM between 00:00 and 23:59)`,
        });
      }
      if (!endOk) {
        ctx.addIssue({
          code: "custom",
          path: [day, index, 1],
          message: `${label}: end "${end}" is not a valid time (HH:MM between 00:00 and 24:00)`,
        });
      }
      const minutes = intervalMinutes(start, end);
      if (!minutes) continue;
      const offset = dayIndex * MINUTES_PER_DAY;
      placed.push({
        day,
        index,
        text: `${DAY_LABEL[day]} interval ${index + 1} (${start}–${end})`,
        start: offset + minutes.start,
        end: offset + minutes.end,
      });
    }
  }
  // Compare every pair on the weekly timeline; Sunday's overnight intervals spill into Monday,
  // so each interval is also compared shifted by one week.
  for (const [i, a] of placed.entries()) {
    for (const b of placed.slice(i + 1)) {
      const overlaps = [0, MINUTES_PER_WEEK, -MINUTES_PER_WEEK].some(
        (shift) => a.start < b.end + shift && b.start + shift < a.end,
      );
      if (overlaps) {
        ctx.addIssue({
          code: "custom",
          path: [b.day, b.index],
          message: `${b.text} overlaps ${a.text}`,
        });
      }
    }
  }
});
export type ServiceHours = Record<Weekday, ServiceInterval[]>;

const isoDateSchema = z.iso.date({ error: "closures must be calendar dates like 2026-12-24" });

export const routingConfigSchema = z.object({
  mode: z.enum(ROUTING_MODES).default("in_house"),
  /** capacity_overflow: in-house active conversations the bank handles before chats go to the KSC. */
  capacityThreshold: z
    .number()
    .int({ error: "capacityThreshold must be a whole number" })
    .min(1, { error: "capacityThreshold must be at least 1" })
    .max(10_000)
    .default(3),
  serviceHours: serviceHoursSchema.default({
    mon: WORKDAY,
    tue: WORKDAY,
    wed: WORKDAY,
    thu: WORKDAY,
    fri: WORKDAY,
    sat: [],
    sun: [],
  }),
  /** Closed on the public holidays of the bank's German state (a centre that works holidays turns it off). */
  observePublicHolidays: z.boolean().default(true),
  /** Extra closed days in the bank's local calendar (in addition to its state's public holidays). */
  closures: z
    .array(isoDateSchema)
    .max(1000)
    .default([])
    .refine((dates) => new Set(dates).size === dates.length, { error: "closures contain a date twice" }),
  awayMessage: z
    .string()
    .trim()
    .min(1, { error: "awayMessage must not be empty" })
    // WhatsApp's limit for a text message body.
    .max(4096, { error: "awayMessage must be at most 4096 characters" })
    .default(
      "Vielen Dank für Ihre Nachricht! Unser Service ist gerade nicht besetzt. Wir melden uns ab {{naechsteOeffnung}}.",
    ),
  /** Hours after closing during which a returning customer gets their previous handler back; 0 disables. */
  reopenWindowHours: z
    .number()
    .min(0, { error: "reopenWindowHours must not be negative" })
    .max(24 * 90)
    .default(24),
  /** Route chats of customers with a responsible advisor (customer record) to that advisor. */
  advisorRouting: z.boolean().default(false),
  /** Minutes an assigned chat may stay unanswered before it is reassigned; null disables. */
  unansweredReassignMinutes: z
    .number()
    .int()
    .min(1, { error: "unansweredReassignMinutes must be at least 1 or null" })
    .max(24 * 60)
    .nullable()
    .default(null),
  /** What happens at closing time to chats still waiting in the bank queue. */
  queuedAtClosing: z.enum(["to_ksc", "stay"]).default("to_ksc"),
  /** What happens at closing time to open chats held by bank agents. */
  openAtClosing: z.enum(["stay", "to_ksc"]).default("stay"),
});

export type RoutingConfig = z.output<typeof routingConfigSchema>;
export type RoutingConfigInput = z.input<typeof routingConfigSchema>;

export const defaultRoutingConfig: RoutingConfig = routingConfigSchema.parse({});

export interface RoutingConfigIssue {
  path: (string | number)[];
  code: "ksc_not_contracted";
  message: string;
  messageDe: string;
}

export type TenantRoutingValidation = { ok: true } | { ok: false; issues: RoutingConfigIssue[] };

/**
 * Checks a (schema-valid) config against what the bank has contracted: every mode except
 * in_house hands chats to a KSC, so it needs a contracted KSC organisation.
 */
export function validateRoutingForTenant(
  config: RoutingConfig,
  tenant: { kscContracted: boolean },
): TenantRoutingValidation {
  if (modeNeedsKsc(config.mode) && !tenant.kscContracted) {
    return {
      ok: false,
      issues: [
        {
          path: ["mode"],
          code: "ksc_not_contracted",
          message: `Mode "${config.mode}" sends chats to an external contact centre (KSC), but this bank has no KSC contracted. Choose "in_house" or ask the provider to contract a KSC first.`,
          messageDe: `Der Modus "${config.mode}" leitet Chats an ein externes Kunden-Service-Center (KSC) weiter, aber für diese Bank ist kein KSC beauftragt. Wählen Sie "in_house" oder lassen Sie zuerst ein KSC beauftragen.`,
        },
      ],
    };
  }
  return { ok: true };
}
