import type { Redis } from "ioredis";

/**
 * One limiter in Redis for every worker process (ADR 0006): a sliding window of sends per number, a token
 * bucket per recipient for Meta's pair rate, and cooldowns set when Meta answers 130429/80007 or 131056
 * anyway. Redis TIME is the clock, so workers on different machines agree.
 *
 * A send occupies its window slot from acquisition until a full window after its response: while it is in
 * flight its score lies in the future, and `complete` stamps it with the response time. Whatever the
 * network and event-loop jitter, Meta cannot receive more than `limit` sends in any window.
 * Returns 0 when the send may go now (and records it), otherwise the milliseconds to wait.
 */
const ACQUIRE = `
local window, numberCooldown, pairBucket, pairCooldown = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local limit, windowMs, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local pairBurst, pairIntervalMs, inFlightMs = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cool = redis.call('PTTL', numberCooldown)
if cool > 0 then return cool end
local pcool = redis.call('PTTL', pairCooldown)
if pcool > 0 then return pcool end
local tokens = pairBurst
if pairBurst > 0 then
  local b = redis.call('HMGET', pairBucket, 'tokens', 'stamp')
  if b[1] then
    tokens = math.min(pairBurst, tonumber(b[1]) + (now - tonumber(b[2])) / pairIntervalMs)
  end
  if tokens < 1 then return math.ceil((1 - tokens) * pairIntervalMs) end
end
redis.call('ZREMRANGEBYSCORE', window, '-inf', now - windowMs)
if redis.call('ZCARD', window) >= limit then
  local oldest = tonumber(redis.call('ZRANGE', window, 0, 0, 'WITHSCORES')[2])
  if oldest > now then return 20 end
  return math.max(1, oldest + windowMs - now + 1)
end
redis.call('ZADD', window, now + inFlightMs, member)
redis.call('PEXPIRE', window, windowMs + inFlightMs + 1000)
if pairBurst > 0 then
  redis.call('HSET', pairBucket, 'tokens', tokens - 1, 'stamp', now)
  redis.call('PEXPIRE', pairBucket, pairBurst * pairIntervalMs + 1000)
end
return 0
`;

const COMPLETE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
return now
`;

export interface LimiterOptions {
  prefix: string;
  windowMs?: number;
  /** How long an unanswered send holds its slot at most (longer than the HTTP timeout). */
  inFlightMs?: number;
  pairBurst?: number;
  pairIntervalMs?: number;
}

type RedisWithAcquire = Redis & {
  kanalCompleteSend(k1: string, member: string): Promise<number>;
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
    if (!("kanalAcquireSend" in redis)) {
      redis.defineCommand("kanalAcquireSend", { numberOfKeys: 4, lua: ACQUIRE });
      redis.defineCommand("kanalCompleteSend", { numberOfKeys: 1, lua: COMPLETE });
    }
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
      this.options.windowMs ?? 1_000,
      member,
      pairBurst,
      this.options.pairIntervalMs ?? 6_000,
      this.options.inFlightMs ?? 15_000,
    );
  }

  /** The send got its answer (success or error): its slot now ages from this moment. */
  async complete(phoneNumberId: string, member: string): Promise<void> {
    await this.redis.kanalCompleteSend(this.keys(phoneNumberId, "-")[0], member);
  }

  async coolDownNumber(phoneNumberId: string, ms: number): Promise<void> {
    await this.redis.set(this.keys(phoneNumberId, "-")[1], "1", "PX", Math.max(1, Math.round(ms)));
  }

  async coolDownPair(phoneNumberId: string, recipient: string, ms: number): Promise<void> {
    await this.redis.set(this.keys(phoneNumberId, recipient)[3], "1", "PX", Math.max(1, Math.round(ms)));
  }
}
