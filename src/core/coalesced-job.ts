// A job that never overlaps itself (a look at a node's lists): asked while it runs, it runs exactly once more after
// (so a change just made is seen) however many times it was asked meanwhile.

export class CoalescedJob {
  private current: Promise<void> | undefined;
  private rerun: Promise<void> | undefined;

  constructor(private readonly job: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.current) {
      this.rerun ??= this.current.then(() => {
        this.rerun = undefined;
        return this.run();
      });
      return this.rerun;
    }
    this.current = this.job().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  /** Resolves when the run under way (if any) has ended. */
  async settled(): Promise<void> {
    await this.current;
  }
}
