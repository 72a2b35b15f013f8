/**
 * Rate limits as token buckets per key (a user id or an IP address): each
 * action takes a token, tokens refill at `perSecond` up to `burst`. An
 * empty bucket answers 429 M_LIMIT_EXCEEDED with retry_after_ms. Idle keys
 * are forgotten once their bucket would be full again, so memory follows
 * the active users, not all users.
 */
import { MatrixError } from "./errors.js";

export interface RateLimitSetting {
  readonly per_second: number;
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweepAt = 0;

  constructor(
    private readonly setting: RateLimitSetting,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.setting.per_second > 0;
  }

  /** Take one token for `key`, or throw 429 with when to try again. */
  take(key: string): void {
    if (!this.enabled) return;
    const now = this.now();
    this.sweep(now);
    const { per_second: rate, burst } = this.setting;
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      const retryAfterMs = Math.ceil(((1 - b.tokens) / rate) * 1000);
      throw new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many requests", { retry_after_ms: retryAfterMs });
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
  }

  private sweep(now: number): void {
    if (now < this.sweepAt) return;
    const refill = (this.setting.burst / this.setting.per_second) * 1000;
    for (const [key, b] of this.buckets) if (now - b.at >= refill) this.buckets.delete(key);
    this.sweepAt = now + 60_000;
  }
}
