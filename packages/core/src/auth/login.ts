import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { sql, type Db } from "@kanal/db";
import { AppError } from "../kernel/errors";
import type { KanalLucia } from "./lucia";
import { verifyPassword } from "./passwords";

/** Failed logins are limited per account and per client IP; a success clears the account's counter. */
export function createLoginThrottle(
  redis: Redis,
  options: { perAccount?: number; perIp?: number; windowSeconds?: number; prefix?: string } = {},
) {
  const duration = options.windowSeconds ?? 15 * 60;
  const prefix = options.prefix ?? "kanal";
  const byAccount = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:login:acct`,
    points: options.perAccount ?? 10,
    duration,
    blockDuration: duration,
  });
  const byIp = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:login:ip`,
    points: options.perIp ?? 50,
    duration,
    blockDuration: duration,
  });
  return { byAccount, byIp };
}
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

function throttled(res: RateLimiterRes): AppError {
  const retry = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  return new AppError("rate_limited", "Too many failed logins; try again later", {
    retryAfterSeconds: retry,
  });
}

async function isBlocked(limiter: RateLimiterRedis, key: string): Promise<RateLimiterRes | null> {
  const res = await limiter.get(key);
  return res && res.remainingPoints <= 0 ? res : null;
}

export async function login(
  deps: { db: Db; lucia: KanalLucia; throttle: LoginThrottle },
  input: { email: string; password: string; ip: string; userAgent?: string | null },
) {
  const account = input.email.trim().toLowerCase();
  const blocked =
    (await isBlocked(deps.throttle.byAccount, account)) ?? (await isBlocked(deps.throttle.byIp, input.ip));
  if (blocked) throw throttled(blocked);

  const user = await deps.db
    .withSchema("control")
    .selectFrom("users")
    .select(["id", "email", "name", "password_hash", "disabled_at"])
    .where(sql`lower(email)`, "=", account)
    .executeTakeFirst();
  const ok = await verifyPassword(user && !user.disabled_at ? user.password_hash : null, input.password);
  if (!user || !ok) {
    try {
      await deps.throttle.byAccount.consume(account);
      await deps.throttle.byIp.consume(input.ip);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) throw throttled(rejection);
      throw rejection;
    }
    throw new AppError("invalid_credentials", "Email or password is wrong");
  }
  await deps.throttle.byAccount.delete(account);
  const session = await deps.lucia.createSession(user.id, {
    ip: input.ip,
    userAgent: input.userAgent ?? null,
  });
  return { user: { id: user.id, email: user.email, name: user.name }, session };
}
