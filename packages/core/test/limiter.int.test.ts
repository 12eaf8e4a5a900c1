import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SendLimiter } from "../src/channel/limiter";

// The limiter against a real Redis, under its own key prefix (no other test shares it).
const prefix = `kanal-test-limiter-${randomBytes(4).toString("hex")}`;
let redis: Redis;
let limiter: SendLimiter;
let number = 0;
const nextNumber = () => `1000${++number}`;
const sends = (n: number, recipient: (i: number) => string) =>
  Array.from({ length: n }, (_, i) => ({
    member: `m${i}-${randomBytes(3).toString("hex")}`,
    recipient: recipient(i),
  }));

beforeAll(() => {
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  limiter = new SendLimiter(redis, { prefix, pairBurst: 10, pairIntervalMs: 6_000 });
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe("SendLimiter, bulk lane", () => {
  it("grants a batch up to the limit minus the replies' reserve, and a reply still gets a slot", async () => {
    const phone = nextNumber();
    expect(limiter.reserveFor(80)).toBe(4);
    expect(limiter.reserveFor(10)).toBe(1);
    expect(limiter.reserveFor(1)).toBe(0);
    const verdicts = await limiter.acquireBulk(
      phone,
      10,
      sends(12, (i) => `49170${i}`),
    );
    expect(verdicts.filter((v) => v === 0)).toHaveLength(9);
    // The three refused wait for the window (positive): the nine are in flight, so "try again shortly".
    expect(verdicts.slice(9).every((v) => v > 0)).toBe(true);
    expect(await limiter.bulkWait(phone, 10)).toBeGreaterThan(0);
    // The reply lane may use the reserved slot, and then the number is full for everyone.
    expect(await limiter.acquire(phone, "4917099", 10, "reply-1", "reply")).toBe(0);
    expect(await limiter.acquire(phone, "4917098", 10, "reply-2", "reply")).toBeGreaterThan(0);
  });

  it("frees a batch's slots one window after their answers", async () => {
    const phone = nextNumber();
    const batch = sends(9, (i) => `49171${i}`);
    expect((await limiter.acquireBulk(phone, 10, batch)).every((v) => v === 0)).toBe(true);
    await limiter.completeMany(
      phone,
      batch.map((s) => ({ member: s.member })),
    );
    const wait = await limiter.bulkWait(phone, 10);
    expect(wait).toBeGreaterThan(900);
    expect(wait).toBeLessThanOrEqual(1_001);
    const later = await limiter.acquireBulk(
      phone,
      10,
      sends(1, () => "4917200"),
    );
    expect(later[0]).toBeGreaterThan(900);
  });

  it("ages each slot from its own answer, not from the slowest answer of its chunk", async () => {
    const phone = nextNumber();
    const batch = sends(9, (i) => `49174${i}`);
    expect((await limiter.acquireBulk(phone, 10, batch)).every((v) => v === 0)).toBe(true);
    // Eight were answered 400 ms before the call, the last one just now.
    await limiter.completeMany(
      phone,
      batch.map((s, i) => ({ member: s.member, answeredMsAgo: i < 8 ? 400 : 0 })),
    );
    const wait = await limiter.bulkWait(phone, 10);
    expect(wait).toBeGreaterThan(500);
    expect(wait).toBeLessThanOrEqual(601);
  });

  it("holds back only the recipient over its pair rate (negative wait), the rest of the batch goes", async () => {
    const phone = nextNumber();
    const batch = sends(14, (i) => (i < 12 ? "4917300" : `4917301${i}`));
    const verdicts = await limiter.acquireBulk(phone, 80, batch);
    expect(verdicts.slice(0, 10).every((v) => v === 0)).toBe(true);
    // Burst of 10 used up: one more token after 6 s.
    expect(verdicts[10]).toBeLessThan(-5_000);
    expect(verdicts[11]).toBeLessThan(-5_000);
    expect(verdicts.slice(12)).toEqual([0, 0]);
  });

  it("a number in cooldown (Meta said 130429) grants nothing", async () => {
    const phone = nextNumber();
    await limiter.coolDownNumber(phone, 800);
    const verdicts = await limiter.acquireBulk(
      phone,
      80,
      sends(3, (i) => `49174${i}`),
    );
    expect(verdicts.every((v) => v > 0 && v <= 800)).toBe(true);
    expect(await limiter.bulkWait(phone, 80)).toBeGreaterThan(0);
  });
});
