import type { Redis } from "ioredis";
import ipaddr from "ipaddr.js";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { sql, type Db } from "@kanal/db";
import { sha256Hex } from "../kernel/crypto";
import { AppError } from "../kernel/errors";
import type { KanalLucia } from "./lucia";
import { verifyPassword } from "./passwords";
import { sweepExpiredSessions } from "./sessions";

interface LoginThrottleOptions {
  prefix?: string;
  /** Attempts one source may make on one account per window before it is blocked (ADR 0016). */
  perPair?: number;
  /** Failed attempts one source may make across all accounts per window. */
  perSource?: number;
  windowSeconds?: number;
  /** The first block of an (account, source) pair; each further block in a day doubles, up to the cap. */
  firstBlockSeconds?: number;
  maxBlockSeconds?: number;
}

/**
 * Login throttling (ADR 0016): attempts are counted per (account, source) with a block that doubles each
 * time the pair trips it, and per source across accounts; never per account alone, so nobody can lock
 * an account (the provider admin's included) for its owner. Every attempt is counted atomically before
 * the password is checked, so a parallel burst cannot all reach the check.
 */
export function createLoginThrottle(redis: Redis, options: LoginThrottleOptions = {}) {
  const prefix = options.prefix ?? "kanal";
  const window = options.windowSeconds ?? 15 * 60;
  const perPair = options.perPair ?? 5;
  const pair = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:login:pair`,
    points: perPair,
    duration: window,
  });
  // How often a pair was blocked in the last day: the exponent of its next block.
  const strikes = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:login:strikes`,
    points: 1_000,
    duration: 24 * 60 * 60,
  });
  const source = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:login:source`,
    points: options.perSource ?? 50,
    duration: window,
    blockDuration: window,
  });
  return {
    pair,
    strikes,
    source,
    perPair,
    firstBlockSeconds: options.firstBlockSeconds ?? 60,
    maxBlockSeconds: options.maxBlockSeconds ?? 60 * 60,
  };
}
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;

function throttled(msBeforeNext: number): AppError {
  const retry = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return new AppError("rate_limited", "Too many failed logins; try again later", {
    retryAfterSeconds: retry,
  });
}

/**
 * The source an attempt is counted against: the client's address, an IPv6 client's /64 (one subscriber
 * usually holds a whole /64, so counting single addresses would give them 2^64 sources).
 */
function loginSource(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  let address = ipaddr.parse(ip);
  if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress())
    address = (address as ipaddr.IPv6).toIPv4Address();
  if (address.kind() === "ipv4") return address.toString();
  const parts = (address as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(":")}::/64`;
}

/** Takes one attempt from the limiter, or throws the 429 (a rejection also counts, atomically). */
async function consume(limiter: RateLimiterRedis, key: string): Promise<RateLimiterRes | null> {
  try {
    await limiter.consume(key);
    return null;
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) return rejection;
    throw rejection;
  }
}

/** The attempt is over the pair's allowance: the one attempt that crosses it sets the (growing) block. */
async function blockPair(throttle: LoginThrottle, key: string, rejection: RateLimiterRes): Promise<never> {
  if (rejection.consumedPoints !== throttle.perPair + 1) throw throttled(rejection.msBeforeNext);
  const strikes = await throttle.strikes.penalty(key, 1);
  const seconds = Math.min(
    throttle.maxBlockSeconds,
    throttle.firstBlockSeconds * 2 ** Math.max(0, strikes.consumedPoints - 1),
  );
  await throttle.pair.block(key, seconds);
  throw throttled(seconds * 1000);
}

export async function login(
  deps: { db: Db; lucia: KanalLucia; throttle: LoginThrottle },
  input: { email: string; password: string; ip: string; userAgent?: string | null },
) {
  const account = input.email.trim().toLowerCase();
  const source = loginSource(input.ip);
  // Keys name no email address: Redis holds a hash of the account.
  const pairKey = `${sha256Hex(account)}:${source}`;
  const bySource = await consume(deps.throttle.source, source);
  if (bySource) throw throttled(bySource.msBeforeNext);
  const byPair = await consume(deps.throttle.pair, pairKey);
  if (byPair) await blockPair(deps.throttle, pairKey, byPair);

  const user = await deps.db
    .withSchema("control")
    .selectFrom("users")
    .select(["id", "email", "name", "password_hash", "disabled_at"])
    .where(sql`lower(email)`, "=", account)
    .executeTakeFirst();
  const ok = await verifyPassword(user && !user.disabled_at ? user.password_hash : null, input.password);
  if (!user || !ok) throw new AppError("invalid_credentials", "Email or password is wrong");

  // A success is no failure: the source gets its attempt back and the pair starts afresh.
  await Promise.all([
    deps.throttle.source.reward(source, 1),
    deps.throttle.pair.delete(pairKey),
    deps.throttle.strikes.delete(pairKey),
  ]);
  const session = await deps.lucia.createSession(user.id, {
    ip: input.ip,
    userAgent: input.userAgent ?? null,
  });
  sweepExpiredSessions(deps.db);
  return { user: { id: user.id, email: user.email, name: user.name }, session };
}
