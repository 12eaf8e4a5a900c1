import { isIP } from "node:net";
import { z } from "zod";

// Dev defaults are what `npm start` uses on a developer machine; production must set every secret.
const DEV_SECRETS_KEY = "ZGV2LW9ubHkta2FuYWwtc2VjcmV0cy1rZXktMzJieXQ="; // 32 bytes, base64, dev only
const DEV_APP_SECRET = "dev-app-secret";
const DEV_VERIFY_TOKEN = "dev-verify-token";
const DEV_PROVIDER_ADMIN_PASSWORD = "kanal-provider-admin";

/** Names proxy-addr knows for address ranges; anything else in TRUSTED_PROXIES is an address or CIDR. */
const PROXY_RANGE_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

function trustedProxyProblem(value: string): string | null {
  const entries = value
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 1 && /^\d+$/.test(entries[0] ?? "")) return null; // a hop count
  for (const entry of entries) {
    if (PROXY_RANGE_NAMES.has(entry)) continue;
    const [address = "", bits, ...rest] = entry.split("/");
    const family = isIP(address);
    const maxBits = family === 4 ? 32 : 128;
    if (family === 0 || rest.length > 0) return `"${entry}" is not an address, CIDR or range name`;
    if (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= maxBits))
      return `"${entry}" has an invalid prefix length`;
  }
  return null;
}

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("127.0.0.1"),
  PUBLIC_URL: z.string().url().optional(),
  DATABASE_URL: z.string().default("postgres://localhost:5432/kanal"),
  REDIS_URL: z.string().default("redis://127.0.0.1:6379"),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .default("kanal"),
  /**
   * Which peers may tell the client's address in X-Forwarded-For: unset (none: the socket's address is
   * the client), a hop count ("1": one reverse proxy in front), or a comma-separated list of addresses,
   * CIDRs and the names loopback, linklocal, uniquelocal (proxy-addr's).
   */
  TRUSTED_PROXIES: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      const problem = value ? trustedProxyProblem(value) : null;
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
  /** Bearer token Prometheus presents for /metrics; unset: /metrics answers loopback clients only. */
  METRICS_TOKEN: z.string().min(16).optional(),
  /** Event streams (/v1/events) one person may hold at once, across API processes; the oldest is closed. */
  EVENT_STREAMS_PER_USER: z.coerce.number().int().min(1).max(100).default(5),
  /** Seconds between an event stream's heartbeats; each one also checks that its session still holds. */
  EVENT_HEARTBEAT_SECONDS: z.coerce.number().positive().max(300).default(20),
  WHATSAPP_APP_SECRET: z.string().min(1).default(DEV_APP_SECRET),
  WHATSAPP_VERIFY_TOKEN: z.string().min(1).default(DEV_VERIFY_TOKEN),
  WHATSAPP_API_BASE_URL: z.string().url().default("http://127.0.0.1:3100"),
  WHATSAPP_API_VERSION: z.string().default("v21.0"),
  WHATSAPP_PAIR_BURST: z.coerce.number().int().min(0).default(10),
  WHATSAPP_PAIR_INTERVAL_MS: z.coerce.number().int().positive().default(6_000),
  /** How long a send that may have reached Meta waits for its status webhook before it is sent again. */
  /** BullMQ job lock: how soon another worker takes over the jobs of a worker that died. */
  WORKER_LOCK_MS: z.coerce.number().int().positive().default(30_000),
  DISPATCH_RECONCILE_MS: z.coerce.number().int().positive().default(10_000),
  /**
   * Postgres cancels a statement that runs (or waits for a lock) longer than this; 0: no limit.
   * Migrations set their own (none) for their transaction.
   */
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(5_000),
  /** On SIGTERM/SIGINT a process drains for at most this long, then exits anyway. */
  SHUTDOWN_DEADLINE_MS: z.coerce.number().int().positive().default(10_000),
  PROVIDER_ADMIN_EMAIL: z.string().email().default("provider@kanal.local"),
  PROVIDER_ADMIN_PASSWORD: z.string().min(8).default(DEV_PROVIDER_ADMIN_PASSWORD),
  STRIPE_SECRET_KEY: z.string().optional(),
  STRIPE_WEBHOOK_SECRET: z.string().optional(),
  STRIPE_API_BASE_URL: z.string().url().optional(),
  SECRETS_KEY: z.string().default(DEV_SECRETS_KEY),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  WEB_DIST_DIR: z.string().optional(),
  SESSION_TTL_HOURS: z.coerce.number().positive().default(12),
  PRESENCE_GRACE_SECONDS: z.coerce.number().positive().default(45),
  /**
   * Days a processed (or dead) raw webhook event is kept in control.webhook_events, for every bank; a bank
   * whose own retention is shorter has its events deleted after that. The raw body names customers.
   */
  WEBHOOK_EVENT_RETENTION_DAYS: z.coerce.number().int().min(1).max(365).default(7),
  /**
   * Events to the bank's systems (docs/WEBHOOKS.md). A failed delivery is tried again after BASE, 2×BASE,
   * 4×BASE … (±20 % jitter), each wait at most MAX, until RETRY_HOURS after the event; tests and the
   * benchmark shrink BASE (and with it the whole schedule) to run in seconds.
   */
  BANK_WEBHOOK_BACKOFF_BASE_MS: z.coerce.number().int().positive().default(10_000),
  BANK_WEBHOOK_BACKOFF_MAX_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(6 * 3_600_000),
  BANK_WEBHOOK_RETRY_HOURS: z.coerce.number().positive().default(72),
  /** How long one delivery waits for the receiver's answer. */
  BANK_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().max(60_000).default(10_000),
  /** An endpoint whose every attempt failed, at least this often in a row and for at least this long, is disabled. */
  BANK_WEBHOOK_DISABLE_AFTER_FAILURES: z.coerce.number().int().positive().default(50),
  BANK_WEBHOOK_DISABLE_AFTER_HOURS: z.coerce.number().min(0).default(24),
  /** After a secret rotation the previous secret signs too (a second `v1,` signature) for this long. */
  BANK_WEBHOOK_SECRET_OVERLAP_HOURS: z.coerce.number().min(0).max(168).default(24),
  /** Delivered and given-up deliveries (the log, with their payloads) are deleted this many days after the event. */
  BANK_WEBHOOK_LOG_DAYS: z.coerce.number().int().min(1).max(365).default(30),
});

export type AppConfig = z.infer<typeof envSchema> & { secretsKey: Buffer };

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const secretsKey = Buffer.from(parsed.data.SECRETS_KEY, "base64");
  if (secretsKey.length !== 32) {
    throw new ConfigError("SECRETS_KEY must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)");
  }
  if (parsed.data.NODE_ENV === "production") {
    const problems = productionProblems(parsed.data);
    if (problems.length > 0) {
      throw new ConfigError(
        `Refusing to start in production with development settings:\n${problems.map((p) => `  ${p}`).join("\n")}`,
      );
    }
  }
  return { ...parsed.data, secretsKey };
}

/**
 * The dev defaults are public (they are in this repository): in production each would let anyone sign
 * webhooks, pass Meta's handshake, sign in as the provider admin or read the stored access tokens.
 */
function productionProblems(config: z.infer<typeof envSchema>): string[] {
  const problems: string[] = [];
  const dev: [keyof typeof config, string, string][] = [
    ["SECRETS_KEY", DEV_SECRETS_KEY, "must be set (`openssl rand -base64 32`), not the dev key"],
    ["WHATSAPP_APP_SECRET", DEV_APP_SECRET, "must be the Meta app's secret, not the dev default"],
    ["WHATSAPP_VERIFY_TOKEN", DEV_VERIFY_TOKEN, "must be set to a secret token, not the dev default"],
    ["PROVIDER_ADMIN_PASSWORD", DEV_PROVIDER_ADMIN_PASSWORD, "must be set, not the dev default"],
  ];
  for (const [name, devValue, message] of dev) {
    if (config[name] === devValue) problems.push(`${name} ${message}`);
  }
  if (config.STRIPE_SECRET_KEY && !config.STRIPE_WEBHOOK_SECRET) {
    problems.push("STRIPE_WEBHOOK_SECRET must be set when STRIPE_SECRET_KEY turns billing on");
  }
  return problems;
}
