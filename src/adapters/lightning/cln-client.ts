// A client for Core Lightning's JSON-RPC on its Unix socket (lightning-rpc): requests are JSON objects with no
// delimiter, and every response is followed by "\n\n". One connection, requests matched by id, reopened when it
// drops; a request timeout bounds every call.

import { createConnection, type Socket } from 'node:net';
import { TickCork } from '../../core/tick-cork.js';

export class ClnError extends Error {
  override name = 'ClnError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export class ClnUnreachable extends Error {
  override name = 'ClnUnreachable';
}

const MAX_RESPONSE = 64 * 1024 * 1024;

export class ClnClient {
  private sock: Socket | undefined;
  /** Requests made in the same turn (several callers at once) go to lightningd in one write. */
  private readonly corks = new WeakMap<Socket, TickCork>();
  private connecting: Promise<Socket> | undefined;
  private buf = '';
  private closed = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout | undefined }>();

  constructor(
    private readonly path: string,
    readonly timeoutMs: number,
  ) {}

  /** opts.timeoutMs 0: no timeout, for calls that block until something happens (wait); losing the connection still ends them. */
  async call<T = unknown>(method: string, params: Record<string, unknown> = {}, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.closed) throw new ClnUnreachable('the client is closed');
    // Connected, the call goes out in this turn (no hop through an already-resolved promise).
    const sock = this.sock ?? (await this.connect());
    const id = this.nextId++;
    const ms = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer =
        ms > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              reject(new ClnUnreachable(`no answer from lightningd to ${method} within ${ms} ms`));
            }, ms)
          : undefined;
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.corks.get(sock)?.hold();
      sock.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /** Closes for good: later calls fail at once (a follower loop must not reconnect behind a shutdown). */
  close(): void {
    this.closed = true;
    this.sock?.destroy();
    this.sock = undefined;
  }

  private connect(): Promise<Socket> {
    if (this.sock) return Promise.resolve(this.sock);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const s = createConnection(this.path);
      s.setEncoding('utf8');
      s.once('error', (err: NodeJS.ErrnoException) => {
        this.connecting = undefined;
        reject(new ClnUnreachable(`cannot connect to lightningd at ${this.path} (${err.code ?? err.message})`));
      });
      s.once('connect', () => {
        s.on('error', () => undefined);
        s.on('close', () => this.dropped(s));
        s.on('data', (c: string) => this.onData(c));
        this.sock = s;
        this.corks.set(s, new TickCork(s));
        this.connecting = undefined;
        resolve(s);
      });
    });
    return this.connecting;
  }

  private dropped(s: Socket): void {
    if (this.sock === s) this.sock = undefined;
    this.buf = '';
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ClnUnreachable('the connection to lightningd closed'));
      this.pending.delete(id);
    }
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    if (this.buf.length > MAX_RESPONSE) {
      this.sock?.destroy();
      return;
    }
    let end: number;
    while ((end = this.buf.indexOf('\n\n')) >= 0) {
      const text = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 2);
      if (!text.trim()) continue;
      let msg: { id?: number; result?: unknown; error?: { code: number; message: string; data?: unknown } };
      try {
        msg = JSON.parse(text);
      } catch {
        continue;
      }
      const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
      if (!p) continue;
      this.pending.delete(msg.id!);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new ClnError(msg.error.code, msg.error.message, msg.error.data));
      else p.resolve(msg.result);
    }
  }
}
