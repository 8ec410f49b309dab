// Retry delays for everything that reconnects (bitcoind's breaker, an HSM session, the Lightning followers):
// doubling from firstMs up to maxMs, with ±25% jitter so many clients do not retry in step. A caller either sleeps
// it (wait, which shutdown can interrupt) or refuses until a deadline (next).

export class Backoff {
  private current = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly firstMs: number,
    private readonly maxMs: number,
  ) {}

  /** After a success: the next failure starts again from firstMs. */
  reset(): void {
    this.current = 0;
  }

  /** The next delay in ms, with jitter; each call doubles the base up to maxMs. */
  next(): number {
    this.current = Math.min(this.maxMs, this.current ? this.current * 2 : this.firstMs);
    return this.current * (0.75 + Math.random() / 2);
  }

  /** Sleeps the next delay. */
  async wait(): Promise<void> {
    const ms = this.next();
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
    this.wake = undefined;
  }

  /** Ends the current wait at once (on shutdown, so closing does not sit out a long delay). */
  interrupt(): void {
    this.wake?.();
  }
}
