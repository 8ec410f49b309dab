// The bound on what one connection may leave unread (issue 26 item 9), the same on both transports. What the peer
// has not taken yet (the socket's writableLength, ws's bufferedAmount: the measure the subscription hub's
// slow-consumer cut-off reads too) is held under rpcmaxpending:
//   - over the bound, the connection's requests stop being read (socket.pause(): the kernel's buffers fill and the
//     client's writes block) and those already read are held, not run, until the peer has taken its answers
//     (Node's 'drain');
//   - a peer that stays over the bound for rpcpendingtimeout, or whose queue passes twice the bound through further
//     writes (answers already in flight, events), is cut off; the transport gives a final notice where its protocol
//     has one (WebSocket close 1008) and logs it.
// A single answer larger than the bound written to an empty enough queue is not a reason to cut: the queue was
// under the bound when it was written, and reading stops until the peer takes it.

export interface PendingBoundOptions {
  /** rpcmaxpending: bytes of answers a peer may leave unread before its requests stop being read. */
  limit: number;
  /** rpcpendingtimeout: how long a peer may stay over the bound before it is cut off. */
  stallMs: number;
  /**
   * Bytes of requests that may be held (default: limit): what the transport had read before it paused, at least one
   * largest request (a WebSocket frame read before the pause may be up to twice rpcmaxmessagesize).
   */
  maxHeldBytes?: number;
  /** Bytes written and not yet taken by the peer. */
  queued(): number;
  /** Stop and restart reading from the peer. */
  pause(): void;
  resume(): void;
  /** Ends the connection because the peer does not read; `why` is for the log and the final notice. */
  cut(queued: number, why: string): void;
}

export class PendingBound {
  private paused = false;
  private ended = false;
  private readonly held: Array<{ bytes: number; run: () => void }> = [];
  private heldBytes = 0;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PendingBoundOptions) {}

  /** Whether requests are being held (the peer is over the bound, or held requests wait their turn). */
  get holding(): boolean {
    return this.paused || this.held.length > 0;
  }

  /**
   * Runs one received request now, or holds it until the peer has read its answers. What is held is bounded by what
   * the transport had read before it paused (one read's worth); a peer that still makes it pass the bound is cut.
   */
  admit(bytes: number, run: () => void): void {
    if (this.ended) return;
    if (!this.holding) return run();
    this.held.push({ bytes, run });
    this.heldBytes += bytes;
    const maxHeld = this.opts.maxHeldBytes ?? this.opts.limit;
    if (this.heldBytes > maxHeld) this.cutOff(`requests held while its answers are unread passed ${maxHeld} bytes`);
  }

  /** To be called after each write to the peer, with the bytes queued just before it. */
  wrote(queuedBefore: number): void {
    if (this.ended) return;
    const queued = this.opts.queued();
    if (queuedBefore > this.opts.limit && queued > 2 * this.opts.limit) {
      this.cutOff(`unread answers passed twice rpcmaxpending=${this.opts.limit}`);
      return;
    }
    if (queued > this.opts.limit && !this.paused) {
      this.paused = true;
      this.opts.pause();
      this.stallTimer = setTimeout(() => this.stalled(), this.opts.stallMs);
    }
  }

  /** The peer took what was queued (the socket's 'drain'): read again and run what was held, in order. */
  drained(): void {
    if (this.ended || !this.paused || this.opts.queued() > this.opts.limit) return;
    this.paused = false;
    clearTimeout(this.stallTimer);
    this.opts.resume();
    // Each held request may write and pause again: the rest then wait for the next drain.
    while (this.held.length > 0 && !this.paused && !this.ended) {
      const next = this.held.shift()!;
      this.heldBytes -= next.bytes;
      next.run();
    }
  }

  /** The connection closed: nothing held will run. */
  close(): void {
    this.ended = true;
    clearTimeout(this.stallTimer);
    this.held.length = 0;
    this.heldBytes = 0;
  }

  private stalled(): void {
    if (this.ended || !this.paused) return;
    // A peer that read part of its queue but not down to empty gets no 'drain'; below the bound it goes on.
    if (this.opts.queued() <= this.opts.limit) return this.drained();
    this.cutOff(`answers left unread over rpcmaxpending=${this.opts.limit} for ${Math.round(this.opts.stallMs / 1000)} s (rpcpendingtimeout)`);
  }

  private cutOff(why: string): void {
    const queued = this.opts.queued();
    this.close();
    this.opts.cut(queued, why);
  }
}
