import { z } from "zod";
import type { TemplateSeed } from "./templates";

/** Pair rate as a token bucket per (business number, customer): `burst` sends at once, then one per `intervalMs`. */
export interface PairRate {
  burst: number;
  intervalMs: number;
}

/** What the simulator knows about one business number; unknown numbers get derived defaults on first use. */
export interface NumberSettings {
  displayPhoneNumber?: string;
  wabaId?: string;
  /** When set, only this bearer token is valid for the number; otherwise any non-empty token is. */
  accessToken?: string;
  /** Messages per second this number may send (Meta: 80 by default, up to 1,000). */
  throughputPerSecond?: number;
}

export interface SimulatorConfig {
  webhookUrl: string;
  appSecret: string;
  /** Delay before each status webhook (sent, delivered, read). */
  statusDelayMs: number;
  /**
   * 0: one webhook per status. Otherwise statuses of one number due within this many milliseconds go
   * out together in one webhook (at most 100), as Meta batches them under load.
   */
  statusBatchMs: number;
  /** Extra delay before every Cloud API answer. */
  latencyMs: number;
  /** Whether the customer "reads" messages (a third, `read`, status webhook). */
  sendRead: boolean;
  /** Default throughput for numbers without their own. */
  throughputPerSecond: number;
  /** `false` disables the pair rate limit. */
  pairRate: PairRate | false;
  /** Enforce the 24-hour customer service window for non-template messages. */
  enforceWindow: boolean;
  /** Webhook deliveries that do not get a 2xx are retried this many times in total (Meta: for 7 days). */
  webhookMaxAttempts: number;
  /** First retry delay; doubles on each further attempt. */
  webhookRetryBaseMs: number;
  /** How long a `timeout` fault holds the request before answering 504. */
  faultTimeoutMs: number;
  numbers: Record<string, NumberSettings>;
}

export type SimulatorOptions = Partial<SimulatorConfig> & {
  /** Message templates to start with (and after a reset), per WhatsApp Business Account. */
  templates?: TemplateSeed[];
};

export const DEFAULT_CONFIG: SimulatorConfig = {
  webhookUrl: "http://127.0.0.1:3000/webhooks/whatsapp",
  appSecret: "dev-app-secret",
  statusDelayMs: 300,
  statusBatchMs: 0,
  latencyMs: 0,
  sendRead: true,
  throughputPerSecond: 80,
  pairRate: { burst: 10, intervalMs: 6_000 },
  enforceWindow: true,
  webhookMaxAttempts: 4,
  webhookRetryBaseMs: 1_000,
  faultTimeoutMs: 30_000,
  numbers: {},
};

export function resolveConfig(options: SimulatorOptions): SimulatorConfig {
  const { templates: _templates, ...rest } = options;
  const defined = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined));
  return { ...DEFAULT_CONFIG, ...defined, numbers: { ...(options.numbers ?? {}) } };
}

const numberSettingsSchema = z.object({
  displayPhoneNumber: z.string().min(1).optional(),
  wabaId: z.string().min(1).optional(),
  accessToken: z.string().min(1).optional(),
  throughputPerSecond: z.number().int().positive().optional(),
});

/** Body of `POST /_sim/config`: every field optional, only given fields change. */
export const configPatchSchema = z.object({
  webhookUrl: z.url().optional(),
  appSecret: z.string().min(1).optional(),
  statusDelayMs: z.number().int().min(0).optional(),
  statusBatchMs: z.number().int().min(0).max(10_000).optional(),
  latencyMs: z.number().int().min(0).optional(),
  sendRead: z.boolean().optional(),
  throughputPerSecond: z.number().int().positive().optional(),
  /** Per-number throughput, shorthand for `numbers[id].throughputPerSecond`. */
  throughput: z.record(z.string(), z.number().int().positive()).optional(),
  pairRate: z
    .union([
      z.literal(false),
      z.object({ burst: z.number().int().positive(), intervalMs: z.number().int().positive() }),
    ])
    .optional(),
  enforceWindow: z.boolean().optional(),
  webhookMaxAttempts: z.number().int().min(1).optional(),
  webhookRetryBaseMs: z.number().int().min(0).optional(),
  faultTimeoutMs: z.number().int().min(0).optional(),
  numbers: z.record(z.string(), numberSettingsSchema).optional(),
});

type ConfigPatch = z.infer<typeof configPatchSchema>;

export function applyConfigPatch(config: SimulatorConfig, patch: ConfigPatch): void {
  const { throughput, numbers, ...scalars } = patch;
  for (const [key, value] of Object.entries(scalars)) {
    if (value !== undefined) Object.assign(config, { [key]: value });
  }
  for (const [phoneNumberId, settings] of Object.entries(numbers ?? {})) {
    config.numbers[phoneNumberId] = { ...config.numbers[phoneNumberId], ...settings };
  }
  for (const [phoneNumberId, perSecond] of Object.entries(throughput ?? {})) {
    config.numbers[phoneNumberId] = { ...config.numbers[phoneNumberId], throughputPerSecond: perSecond };
  }
}
