import type { Redis } from "ioredis";

/**
 * One limiter in Redis for every worker process (ADR 0006): a sliding window of sends per number (so no
 * one-second stretch ever holds more than the number's throughput), a token bucket per recipient for
 * Meta's pair rate, and cooldowns set when Meta answers 130429/80007 or 131056 anyway. Redis TIME is the
 * clock, so workers on different machines agree.
 * Returns 0 when the send may go now (and records it), otherwise the milliseconds to wait.
 */
const ACQUIRE = `
local window, numberCooldown, pairBucket, pairCooldown = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local limit, windowMs, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local pairBurst, pairIntervalMs = tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cool = redis.call('PTTL', numberCooldown)
if cool > 0 then return cool end
local pcool = redis.call('PTTL', pairCooldown)
if pcool > 0 then return pcool end
local tokens, stamp = pairBurst, now
if pairBurst > 0 then
  local b = redis.call('HMGET', pairBucket, 'tokens', 'stamp')
  if b[1] then
    tokens = math.min(pairBurst, tonumber(b[1]) + (now - tonumber(b[2])) / pairIntervalMs)
  end
  if tokens < 1 then return math.ceil((1 - tokens) * pairIntervalMs) end
end
redis.call('ZREMRANGEBYSCORE', window, '-inf', now - windowMs)
if redis.call('ZCARD', window) >= limit then
  local oldest = redis.call('ZRANGE', window, 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + windowMs - now + 1)
end
redis.call('ZADD', window, now, member)
redis.call('PEXPIRE', window, windowMs * 2)
if pairBurst > 0 then
  redis.call('HSET', pairBucket, 'tokens', tokens - 1, 'stamp', now)
  redis.call('PEXPIRE', pairBucket, pairBurst * pairIntervalMs + 1000)
end
return 0
`;

export interface LimiterOptions {
  prefix: string;
  /** Slightly more than a second: network jitter cannot push two windows' sends into one of Meta's. */
  windowMs?: number;
  pairBurst?: number;
  pairIntervalMs?: number;
}

type RedisWithAcquire = Redis & {
  kanalAcquireSend(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    ...args: (string | number)[]
  ): Promise<number>;
};

export class SendLimiter {
  private readonly redis: RedisWithAcquire;
  constructor(
    redis: Redis,
    private readonly options: LimiterOptions,
  ) {
    if (!("kanalAcquireSend" in redis))
      redis.defineCommand("kanalAcquireSend", { numberOfKeys: 4, lua: ACQUIRE });
    this.redis = redis as RedisWithAcquire;
  }

  private keys(phoneNumberId: string, recipient: string) {
    const p = `${this.options.prefix}:rl`;
    return [
      `${p}:win:${phoneNumberId}`,
      `${p}:cool:${phoneNumberId}`,
      `${p}:pair:${phoneNumberId}:${recipient}`,
      `${p}:paircool:${phoneNumberId}:${recipient}`,
    ] as const;
  }

  async acquire(
    phoneNumberId: string,
    recipient: string | null,
    perSecond: number,
    member: string,
  ): Promise<number> {
    const [w, c, pb, pc] = this.keys(phoneNumberId, recipient ?? "-");
    const pairBurst = recipient ? (this.options.pairBurst ?? 10) : 0;
    return this.redis.kanalAcquireSend(
      w,
      c,
      pb,
      pc,
      perSecond,
      this.options.windowMs ?? 1_050,
      member,
      pairBurst,
      this.options.pairIntervalMs ?? 6_000,
    );
  }

  async coolDownNumber(phoneNumberId: string, ms: number): Promise<void> {
    await this.redis.set(this.keys(phoneNumberId, "-")[1], "1", "PX", Math.max(1, Math.round(ms)));
  }

  async coolDownPair(phoneNumberId: string, recipient: string, ms: number): Promise<void> {
    await this.redis.set(this.keys(phoneNumberId, recipient)[3], "1", "PX", Math.max(1, Math.round(ms)));
  }
}
