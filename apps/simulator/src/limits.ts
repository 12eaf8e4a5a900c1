import type { PairRate } from "./options";

const ONE_SECOND_MS = 1_000;

/**
 * Sliding one-second window of accepted sends for one number. Sliding (not fixed buckets) so the
 * guarantee holds for *any* one-second interval, which is what "never more than N/s" means.
 */
export class ThroughputWindow {
  private readonly acceptedAt: number[] = [];
  /** Largest number of accepted sends seen inside any one-second interval. */
  maxPerSecond = 0;

  private prune(now: number): void {
    while (this.acceptedAt.length > 0 && (this.acceptedAt[0] ?? now) <= now - ONE_SECOND_MS) {
      this.acceptedAt.shift();
    }
  }

  /** True when one more send fits under `limit`; does not record it. */
  hasRoom(now: number, limit: number): boolean {
    this.prune(now);
    return this.acceptedAt.length < limit;
  }

  record(now: number): void {
    this.prune(now);
    this.acceptedAt.push(now);
    this.maxPerSecond = Math.max(this.maxPerSecond, this.acceptedAt.length);
  }
}

/** Token bucket for one (business number, customer) pair. */
export class PairRateBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(now: number, burst: number) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  private refill(now: number, rate: PairRate): void {
    const elapsed = Math.max(0, now - this.refilledAt);
    const gained = Math.floor(elapsed / rate.intervalMs);
    if (gained > 0) {
      this.tokens = Math.min(rate.burst, this.tokens + gained);
      this.refilledAt += gained * rate.intervalMs;
    }
    if (this.tokens >= rate.burst) this.refilledAt = now;
  }

  /** Takes a token when one is available. */
  tryTake(now: number, rate: PairRate): boolean {
    this.refill(now, rate);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
