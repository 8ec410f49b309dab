// One critical section per subject: callers that name the same key run one after another, callers with different
// keys run side by side. Used wherever a read, a check and a write of persistent state must not interleave (a
// policy's velocity counter, the keystore file). Hand-written because it is a dozen lines: the npm mutexes
// (async-mutex, await-lock) lock one thing, and a keyed map of them would be this same code around a dependency.

export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Runs fn while holding every key (taken in sorted order, so two callers holding overlapping sets never wait on
   * each other in a cycle).
   */
  async run<T>(keys: string | readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(typeof keys === 'string' ? [keys] : keys)].sort();
    const releases: Array<() => void> = [];
    try {
      for (const k of sorted) releases.push(await this.take(k));
      return await fn();
    } finally {
      for (const r of releases.reverse()) r();
    }
  }

  private async take(key: string): Promise<() => void> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    return () => {
      release();
      // The last holder leaves no entry behind, so the map does not grow with every subject ever locked.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }

  /** Keys someone holds or waits for (for tests and health). */
  get size(): number {
    return this.tails.size;
  }
}
