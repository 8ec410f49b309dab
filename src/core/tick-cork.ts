// Writes that complete in the same turn of the event loop go out as one writev: a burst of answers on one
// connection (a backend's reply that settles many callers at once, a client's pipelined requests) costs one
// syscall instead of one per message. The hold ends with the turn's ticks and microtasks, before any I/O, so
// nothing waits on it.

import type { Writable } from 'node:stream';

export class TickCork {
  private held = false;

  constructor(private readonly stream: Writable) {}

  /** Holds the stream's writes until the current turn's ticks and microtasks have run. */
  hold(): void {
    if (this.held) return;
    this.held = true;
    this.stream.cork();
    process.nextTick(() => {
      this.held = false;
      // (end() flushes and uncorks by itself; uncorking an uncorked stream does nothing.)
      this.stream.uncork();
    });
  }
}
