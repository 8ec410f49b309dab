// What the room adds on top of a BOLT 1 WireSession (wire-session.ts) for one connected peer: the per-peer
// message rate (p2p.maxmsgrate, every message counted, BOLT 1's own included), a fault told to the peer as an
// `error` before the connection closes, and the messages of the types some room takes handed over one at a time,
// in the order they came (the next waits for the handler before it).

import type { Logger } from 'pino';
import type { WireSession } from './wire-session.js';
import { encodeError, featureBits, MSG_ERROR } from './wire.js';

export interface LinkOptions {
  /** Messages a second the peer may send, averaged over 10 s. */
  maxMsgRate: number;
  /** Hands a message to the room that takes its type. */
  deliver(type: number, payload: Buffer): Promise<void>;
  log: Logger;
}

export class PeerLink {
  private tokens: number;
  private lastRefill = Date.now();
  private chain: Promise<void> = Promise.resolve();
  private closed: string | undefined;
  private readonly closeHandlers: Array<(reason: string) => void> = [];

  constructor(
    readonly session: WireSession,
    private readonly o: LinkOptions,
  ) {
    this.tokens = o.maxMsgRate * 10;
    session.transport.on('message', () => {
      if (this.closed === undefined && this.rateExceeded()) this.fail(`more than ${o.maxMsgRate} messages a second (p2p.maxmsgrate)`);
    });
    session.on('message', (type: number, payload: Buffer) => {
      if (this.closed !== undefined) return;
      this.chain = this.chain.then(() => o.deliver(type, payload)).catch((err: Error) => o.log.warn({ type, reason: err.message }, 'a message handler failed'));
    });
    session.on('warning', (text: string) => o.log.warn({ text }, 'the peer sent a warning'));
    session.on('channelError', (_id: Uint8Array, text: string) => o.log.warn({ text }, 'the peer sent an error about a channel'));
    session.once('close', (reason: string) => {
      this.closed = reason;
      for (const fn of this.closeHandlers.splice(0)) fn(reason);
    });
  }

  get features(): number[] {
    return featureBits(this.session.remoteFeatures);
  }

  get isClosed(): boolean {
    return this.closed !== undefined;
  }

  onClose(fn: (reason: string) => void): void {
    if (this.closed !== undefined) fn(this.closed);
    else this.closeHandlers.push(fn);
  }

  send(type: number, payload: Uint8Array): Promise<void> {
    if (this.closed !== undefined) return Promise.reject(new Error(`the connection is closed: ${this.closed}`));
    return this.session.send(type, payload);
  }

  /** Tells the peer why (an `error` for the whole connection, best effort), then closes. Answers an Error to throw. */
  fail(reason: string): Error {
    if (this.closed === undefined) {
      const done = (): void => this.session.close(reason);
      const data = new TextEncoder().encode(reason.slice(0, 500));
      this.session.send(MSG_ERROR, encodeError({ channelId: new Uint8Array(32), data })).then(done, done);
      setTimeout(done, 1000).unref();
    }
    return new Error(reason);
  }

  close(reason: string): void {
    this.session.close(reason);
  }

  private rateExceeded(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.o.maxMsgRate * 10, this.tokens + ((now - this.lastRefill) / 1000) * this.o.maxMsgRate);
    this.lastRefill = now;
    if (this.tokens < 1) return true;
    this.tokens -= 1;
    return false;
  }
}
