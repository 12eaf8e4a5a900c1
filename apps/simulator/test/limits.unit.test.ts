import { describe, expect, it } from "vitest";
import { PairRateBucket, ThroughputWindow } from "../src/limits";

describe("ThroughputWindow", () => {
  it("never admits more than the limit inside any one-second interval", () => {
    const window = new ThroughputWindow();
    const limit = 5;
    const accepted: number[] = [];
    // One attempt every 37 ms for 5 s: about 27/s offered against 5/s.
    for (let now = 0; now < 5_000; now += 37) {
      if (window.hasRoom(now, limit)) {
        window.record(now);
        accepted.push(now);
      }
    }
    for (const start of accepted) {
      expect(accepted.filter((at) => at >= start && at < start + 1_000).length).toBeLessThanOrEqual(limit);
    }
    expect(window.maxPerSecond).toBe(limit);
    expect(accepted.length).toBeGreaterThanOrEqual(limit * 4);
  });

  it("frees room exactly one second after a send", () => {
    const window = new ThroughputWindow();
    window.record(1_000);
    expect(window.hasRoom(1_999, 1)).toBe(false);
    expect(window.hasRoom(2_000, 1)).toBe(true);
  });
});

describe("PairRateBucket", () => {
  const rate = { burst: 3, intervalMs: 6_000 };

  it("allows the burst, then one per interval, never more than the burst after a long pause", () => {
    const bucket = new PairRateBucket(0, rate.burst);
    expect([0, 0, 0, 0].map(() => bucket.tryTake(0, rate))).toEqual([true, true, true, false]);
    expect(bucket.tryTake(5_999, rate)).toBe(false);
    expect(bucket.tryTake(6_000, rate)).toBe(true);
    expect(bucket.tryTake(6_001, rate)).toBe(false);
    const later = 10 * 60_000;
    expect([1, 2, 3, 4].map(() => bucket.tryTake(later, rate))).toEqual([true, true, true, false]);
  });

  it("keeps partial progress towards the next token", () => {
    const bucket = new PairRateBucket(0, 1);
    const single = { burst: 1, intervalMs: 6_000 };
    expect(bucket.tryTake(0, single)).toBe(true);
    expect(bucket.tryTake(4_000, single)).toBe(false);
    expect(bucket.tryTake(6_000, single)).toBe(true);
  });
});
