// Per-connection request rate: a token bucket that refills continuously. Each request (each element of a batch)
// takes one token; the bucket holds one second's worth, so short bursts pass and a flood is refused.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = ratePerSecond;
    this.last = now();
  }

  /** Takes n tokens (at time `t`, when the caller has read the clock); returns 0 when granted, else the milliseconds until n tokens will be there. */
  take(n: number, t = this.now()): number {
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
    this.last = t;
    if (this.tokens >= n) {
      this.tokens -= n;
      return 0;
    }
    return Math.ceil(((n - this.tokens) * 1000) / this.ratePerSecond);
  }
}
