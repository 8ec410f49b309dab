// A peer session over an established BOLT 8 transport: the BOLT 1 init exchange first (no feature we require, and
// the peer must be on our chain when it says which), then ping/pong keepalive, the per-peer message rate, the
// odd/even rule, and the delivery of every other message to the rooms that take its type, one at a time in order.
// A fault (garbage, an unknown even type, no pong, no init) ends the session with an error message that says why.

import type { Logger } from 'pino';
import type { PeerTransport } from './transport.js';
import { decodeInit, decodePing, encodeInit, encodeNotice, encodePing, encodePong, MSG, noticeText, WireError, type Init } from './bolt1.js';

export interface SessionOptions {
  chainHash: Buffer;
  /** The init exchange must be over within this time. */
  initTimeoutMs: number;
  pingIntervalMs: number;
  /** Messages a second the peer may send, averaged over 10 s. */
  maxMsgRate: number;
  /** Whether some room takes messages of this type. */
  taken(type: number): boolean;
  /** Hands a message to the rooms that take it; the next one waits until this one is handled. */
  deliver(type: number, payload: Buffer): Promise<void>;
  log: Logger;
}

export class PeerSession {
  private init: Init | undefined;
  private initWaiter: { resolve: (i: Init) => void; reject: (e: Error) => void } | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private awaitingPong: number | undefined;
  private tokens: number;
  private lastRefill = Date.now();
  private chain: Promise<void> = Promise.resolve();
  private closed: string | undefined;
  private readonly closeHandlers: Array<(reason: string) => void> = [];

  constructor(
    readonly transport: PeerTransport,
    private readonly o: SessionOptions,
  ) {
    this.tokens = o.maxMsgRate * 10;
    transport.on('message', (type: number, payload: Buffer) => this.onMessage(type, payload));
    transport.once('close', (reason: string) => this.ended(reason));
  }

  get features(): number[] {
    return this.init?.features ?? [];
  }

  onClose(fn: (reason: string) => void): void {
    if (this.closed !== undefined) fn(this.closed);
    else this.closeHandlers.push(fn);
  }

  /** Sends our init and waits for the peer's; rejects (and closes) when it does not come or does not fit. */
  async start(): Promise<Init> {
    const theirs = new Promise<Init>((resolve, reject) => (this.initWaiter = { resolve, reject }));
    const timer = setTimeout(() => this.fail(`no init within ${this.o.initTimeoutMs} ms`), this.o.initTimeoutMs);
    try {
      await this.transport.send(MSG.init, encodeInit(this.o.chainHash));
      const init = await theirs;
      const even = init.features.filter((b) => b % 2 === 0);
      if (even.length) throw this.fail(`the peer requires feature bits we do not know: ${even.join(', ')}`);
      if (init.networks && !init.networks.includes(this.o.chainHash.toString('hex')))
        throw this.fail(`the peer is on other chains: ${init.networks.join(', ')}`);
      this.init = init;
      this.pingTimer = setInterval(() => this.keepalive(), this.o.pingIntervalMs);
      this.pingTimer.unref();
      return init;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a message of another room (after init). */
  send(type: number, payload: Uint8Array): Promise<void> {
    if (this.closed !== undefined) return Promise.reject(new Error(`the connection is closed: ${this.closed}`));
    return this.transport.send(type, payload);
  }

  /** Tells the peer why (an error message, best effort) and closes. Answers an Error for callers to throw. */
  fail(reason: string): Error {
    if (this.closed === undefined) {
      const done = (): void => this.transport.close(reason);
      this.transport.send(MSG.error, encodeNotice(reason)).then(done, done);
      setTimeout(done, 1000).unref();
    }
    return new Error(reason);
  }

  close(reason: string): void {
    this.transport.close(reason);
  }

  private ended(reason: string): void {
    if (this.closed !== undefined) return;
    this.closed = reason;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.initWaiter?.reject(new Error(reason));
    for (const fn of this.closeHandlers.splice(0)) fn(reason);
  }

  private keepalive(): void {
    if (this.awaitingPong !== undefined) {
      this.fail(`no pong within ${this.o.pingIntervalMs} ms`);
      return;
    }
    this.awaitingPong = 0;
    this.transport.send(MSG.ping, encodePing(0)).catch((err: Error) => this.fail(`ping not sent: ${err.message}`));
  }

  private rateExceeded(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.o.maxMsgRate * 10, this.tokens + ((now - this.lastRefill) / 1000) * this.o.maxMsgRate);
    this.lastRefill = now;
    if (this.tokens < 1) return true;
    this.tokens -= 1;
    return false;
  }

  private onMessage(type: number, payload: Buffer): void {
    if (this.closed !== undefined) return;
    if (this.rateExceeded()) {
      this.fail(`more than ${this.o.maxMsgRate} messages a second (p2p.maxmsgrate)`);
      return;
    }
    try {
      if (!this.init) {
        if (type !== MSG.init) throw new WireError(`the first message is of type ${type}, not init`);
        this.initWaiter?.resolve(decodeInit(payload));
        this.initWaiter = undefined;
        return;
      }
      switch (type) {
        case MSG.init:
          throw new WireError('a second init');
        case MSG.ping: {
          const n = decodePing(payload);
          // BOLT 1: no pong for num_pong_bytes of 65532 or more.
          if (n < 65532) this.transport.send(MSG.pong, encodePong(n)).catch(() => undefined);
          return;
        }
        case MSG.pong:
          this.awaitingPong = undefined;
          return;
        case MSG.error:
        case MSG.warning:
          this.o.log.warn({ type: type === MSG.error ? 'error' : 'warning', text: noticeText(payload) }, 'the peer sent a notice');
          if (type === MSG.error) this.close(`the peer sent an error: ${noticeText(payload)}`);
          return;
      }
      if (!this.o.taken(type)) {
        if (type % 2 === 0) throw new WireError(`unknown even message type ${type} (BOLT 1: it must be understood)`);
        return; // odd: "it's ok to be odd"
      }
      this.chain = this.chain
        .then(() => this.o.deliver(type, payload))
        .catch((err: Error) => this.o.log.warn({ type, reason: err.message }, 'a message handler failed'));
    } catch (err) {
      if (err instanceof WireError) this.fail(err.message);
      else throw err;
    }
  }
}
