import type { Redis } from "ioredis";

/**
 * One limiter in Redis for every worker process (ADR 0004): a sliding window of sends per number, a token
 * bucket per recipient for Meta's pair rate, and cooldowns set when Meta answers 130429/80007 or 131056
 * anyway. Redis TIME is the clock, so workers on different machines agree.
 *
 * A send occupies its window slot from acquisition until a full window after its response: while it is in
 * flight its score lies in the future, and `completeMany` stamps it with its response time. Whatever the
 * network and event-loop jitter, Meta cannot receive more than `limit` sends in any window.
 *
 * Several sends of one number in one call (a single send is a call with one): KEYS are the window and the
 * number's cooldown, then each send's pair bucket and pair cooldown; ARGV the limit, the window, how long
 * an unanswered send holds its slot, the pair burst (0: no pair rate) and interval, how many slots of the
 * window this lane must leave free (the reply lane's reserve), then one member per send. Returns one
 * number per send, in order: 0 when granted (and recorded), otherwise the milliseconds to wait —
 * negative when the recipient's pair rate holds it, positive when the number's window or cooldown does.
 */
const ACQUIRE_MANY = `
local window, numberCooldown = KEYS[1], KEYS[2]
local limit, windowMs, inFlightMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local pairBurst, pairIntervalMs, reserve = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local n = #ARGV - 6
local out = {}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cool = redis.call('PTTL', numberCooldown)
if cool > 0 then
  for i = 1, n do out[i] = cool end
  return out
end
redis.call('ZREMRANGEBYSCORE', window, '-inf', now - windowMs)
local allowed = limit - reserve
local free = allowed - redis.call('ZCARD', window)
local windowWait = nil
local granted = 0
for i = 1, n do
  local bucket, pairCooldown = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local wait = 0
  local pcool = redis.call('PTTL', pairCooldown)
  local tokens = pairBurst
  if pcool > 0 then
    wait = -pcool
  elseif pairBurst > 0 then
    local b = redis.call('HMGET', bucket, 'tokens', 'stamp')
    if b[1] then
      tokens = math.min(pairBurst, tonumber(b[1]) + (now - tonumber(b[2])) / pairIntervalMs)
    end
    if tokens < 1 then wait = -math.ceil((1 - tokens) * pairIntervalMs) end
  end
  if wait == 0 and free <= 0 then
    if not windowWait then
      -- The slot that frees first for this lane: the one at rank (count - allowed) in age order.
      local count = redis.call('ZCARD', window)
      local rank = math.max(0, count - allowed)
      local s = redis.call('ZRANGE', window, rank, rank, 'WITHSCORES')[2]
      if not s then windowWait = 20
      else
        local score = tonumber(s)
        if score > now then windowWait = 20 else windowWait = math.max(1, score + windowMs - now + 1) end
      end
    end
    wait = windowWait
  end
  if wait == 0 then
    redis.call('ZADD', window, now + inFlightMs, ARGV[6 + i])
    free = free - 1
    granted = granted + 1
    if pairBurst > 0 then
      redis.call('HSET', bucket, 'tokens', tokens - 1, 'stamp', now)
      redis.call('PEXPIRE', bucket, pairBurst * pairIntervalMs + 1000)
    end
  end
  out[i] = wait
end
if granted > 0 then redis.call('PEXPIRE', window, windowMs + inFlightMs + 1000) end
return out
`;

/**
 * Whether the bulk lane could get a slot now (0) or how long until one frees, without taking it: lets a
 * waiting batch skip reading its rows while the number's window is full. KEYS: window, cooldown; ARGV:
 * limit, window, reserve.
 */
const WAIT_FOR_SLOT = `
local window, numberCooldown = KEYS[1], KEYS[2]
local limit, windowMs, reserve = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cool = redis.call('PTTL', numberCooldown)
if cool > 0 then return cool end
local allowed = limit - reserve
local count = redis.call('ZCOUNT', window, now - windowMs + 1, '+inf')
if count < allowed then return 0 end
-- Entries older than the window are still in the set (nothing is removed here): skip them.
local rank = redis.call('ZCARD', window) - allowed
local s = redis.call('ZRANGE', window, rank, rank, 'WITHSCORES')[2]
if not s then return 20 end
local score = tonumber(s)
if score > now then return 20 end
return math.max(1, score + windowMs - now + 1)
`;

// ARGV: member, age, member, age, …: each slot ages from its own answer, `age` ms before this call.
const COMPLETE_MANY = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'XX', now - tonumber(ARGV[i + 1]), ARGV[i]) end
return now
`;

interface LimiterOptions {
  prefix: string;
  windowMs?: number;
  /** How long an unanswered send holds its slot at most (longer than the HTTP timeout). */
  inFlightMs?: number;
  pairBurst?: number;
  pairIntervalMs?: number;
  /**
   * Share of a number's window the bulk lane leaves free for conversational replies (default 0.05,
   * at least one slot when the limit is above one), so a reply never waits for bulk to drain.
   */
  replyReserve?: number;
}

/** One send in a batch: its slot id in the window and its recipient (for the pair rate). */
interface BatchSend {
  member: string;
  recipient: string;
}

/**
 * The pair bucket and pair cooldown of one recipient at one number. They name the customer's phone number
 * and live about a minute at most (PEXPIRE / PX); erasure deletes them at once.
 */
export function pairKeys(prefix: string, phoneNumberId: string, recipient: string): [string, string] {
  return [
    `${prefix}:rl:pair:${phoneNumberId}:${recipient}`,
    `${prefix}:rl:paircool:${phoneNumberId}:${recipient}`,
  ];
}

type RedisWithAcquire = Redis & {
  kanalAcquireSends(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number[]>;
  kanalCompleteSends(k1: string, ...members: string[]): Promise<number>;
  kanalWaitForSlot(k1: string, k2: string, ...args: number[]): Promise<number>;
};

export class SendLimiter {
  private readonly redis: RedisWithAcquire;
  constructor(
    redis: Redis,
    private readonly options: LimiterOptions,
  ) {
    if (!("kanalAcquireSends" in redis)) {
      redis.defineCommand("kanalAcquireSends", { lua: ACQUIRE_MANY });
      redis.defineCommand("kanalCompleteSends", { numberOfKeys: 1, lua: COMPLETE_MANY });
      redis.defineCommand("kanalWaitForSlot", { numberOfKeys: 2, lua: WAIT_FOR_SLOT });
    }
    this.redis = redis as RedisWithAcquire;
  }

  private keys(phoneNumberId: string, recipient: string) {
    const p = `${this.options.prefix}:rl`;
    return [
      `${p}:win:${phoneNumberId}`,
      `${p}:cool:${phoneNumberId}`,
      ...pairKeys(this.options.prefix, phoneNumberId, recipient),
    ] as const;
  }

  /** One send: 0 when it may go now (and is recorded), otherwise the milliseconds to wait. */
  async acquire(
    phoneNumberId: string,
    recipient: string | null,
    perSecond: number,
    member: string,
    lane: "reply" | "bulk" = "reply",
  ): Promise<number> {
    const [wait] = await this.acquireSends(
      phoneNumberId,
      perSecond,
      [{ member, recipient: recipient ?? "-" }],
      lane === "bulk" ? this.reserveFor(perSecond) : 0,
      recipient ? (this.options.pairBurst ?? 10) : 0,
    );
    return Math.abs(wait ?? 0);
  }

  /** Slots the bulk lane leaves free in a window of `perSecond` sends. */
  reserveFor(perSecond: number): number {
    if (perSecond <= 1) return 0;
    return Math.max(1, Math.floor(perSecond * (this.options.replyReserve ?? 0.05)));
  }

  /**
   * Asks for a slot for each send of one number at once, within `perSecond` (minus the replies' reserve
   * for the bulk lane) and each recipient's pair rate. Returns, per send in order, 0 when it may go now
   * (and is recorded), else the milliseconds to wait: negative when the recipient's pair rate holds it,
   * positive when the number's window (or cooldown) does.
   */
  async acquireBulk(
    phoneNumberId: string,
    perSecond: number,
    sends: readonly BatchSend[],
    lane: "reply" | "bulk" = "bulk",
  ): Promise<number[]> {
    return this.acquireSends(
      phoneNumberId,
      perSecond,
      sends,
      lane === "bulk" ? this.reserveFor(perSecond) : 0,
      this.options.pairBurst ?? 10,
    );
  }

  private async acquireSends(
    phoneNumberId: string,
    perSecond: number,
    sends: readonly BatchSend[],
    reserve: number,
    pairBurst: number,
  ): Promise<number[]> {
    if (sends.length === 0) return [];
    const [w, c] = this.keys(phoneNumberId, "-");
    const keys: string[] = [w, c];
    for (const s of sends) {
      const [, , pb, pc] = this.keys(phoneNumberId, s.recipient);
      keys.push(pb, pc);
    }
    return this.redis.kanalAcquireSends(
      keys.length,
      ...keys,
      perSecond,
      this.options.windowMs ?? 1_000,
      this.options.inFlightMs ?? 15_000,
      pairBurst,
      this.options.pairIntervalMs ?? 6_000,
      reserve,
      ...sends.map((s) => s.member),
    );
  }

  /** 0 when the bulk lane could get a slot of this number now, else the milliseconds until one frees. */
  async bulkWait(phoneNumberId: string, perSecond: number): Promise<number> {
    const [w, c] = this.keys(phoneNumberId, "-");
    return this.redis.kanalWaitForSlot(
      w,
      c,
      perSecond,
      this.options.windowMs ?? 1_000,
      this.reserveFor(perSecond),
    );
  }

  /**
   * Several sends got their answers: each slot ages from its own answer, `answeredMsAgo` before this call
   * (measured locally as a duration, so the workers' clocks need not agree; 0: from now). A slot is held
   * until one window after its own answer, not after the slowest answer of its chunk.
   */
  async completeMany(
    phoneNumberId: string,
    sends: readonly { member: string; answeredMsAgo?: number }[],
  ): Promise<void> {
    if (sends.length === 0) return;
    const args = sends.flatMap((s) => [s.member, String(Math.max(0, Math.floor(s.answeredMsAgo ?? 0)))]);
    await this.redis.kanalCompleteSends(this.keys(phoneNumberId, "-")[0], ...args);
  }

  /** The send got its answer (success or error): its slot now ages from this moment. */
  async complete(phoneNumberId: string, member: string): Promise<void> {
    await this.completeMany(phoneNumberId, [{ member }]);
  }

  async coolDownNumber(phoneNumberId: string, ms: number): Promise<void> {
    await this.redis.set(this.keys(phoneNumberId, "-")[1], "1", "PX", Math.max(1, Math.round(ms)));
  }

  async coolDownPair(phoneNumberId: string, recipient: string, ms: number): Promise<void> {
    await this.redis.set(this.keys(phoneNumberId, recipient)[3], "1", "PX", Math.max(1, Math.round(ms)));
  }
}
