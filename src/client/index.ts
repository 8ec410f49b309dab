// AnyaClient: what a local app imports to talk to anyad, over its Unix socket or its WebSocket. Typed `call()`,
// `subscribe()` as an async iterator, and (when asked) automatic reconnect that re-subscribes by itself.
// anya-cli is built on it.

import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { JSONRPCClient, JSONRPCErrorException, type JSONRPCResponse } from 'json-rpc-2.0';
import type WebSocket from 'ws';
import { LineSplitter } from '../core/lines.js';

export interface ClientOptions {
  /** Path of anyad's Unix socket (e.g. ~/.anya/regtest/anya.sock). */
  socket?: string;
  /** ws:// or wss:// URL of anyad's WebSocket. */
  url?: string;
  /** For the WebSocket: the cookie file's content (`__cookie__:<secret>`) or `<user>:<password>`. */
  token?: string;
  /** How the token is sent: an Authorization header (default), a Sec-WebSocket-Protocol entry, or an `auth` call. */
  authMethod?: 'header' | 'protocol' | 'call';
  /** Per-call timeout in milliseconds (default 60 s). */
  timeoutMs?: number;
  /** Reconnect when the connection drops, re-subscribing every open subscription. */
  reconnect?: boolean | { initialDelayMs?: number; maxDelayMs?: number };
  /** Extra options for the ws connection (e.g. a CA for wss with a self-signed cert). */
  wsOptions?: WebSocket.ClientOptions;
}

/** A JSON-RPC error answered by anyad: its code, message and data as sent. */
export class RpcCallError extends Error {
  override name = 'RpcCallError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** The connection could not be made or was lost before an answer came. */
export class ConnectionError extends Error {
  override name = 'ConnectionError';
}

export interface AnyaEvent<T = unknown> {
  topic: string;
  data: T;
}

interface Link {
  send(text: string): void;
  close(): void;
}

export class Subscription<T = unknown> implements AsyncIterable<AnyaEvent<T>> {
  /** The id anyad gave this subscription; changes after a reconnect. */
  id: string;
  private readonly queue: AnyaEvent<T>[] = [];
  private waiting: { resolve: (r: IteratorResult<AnyaEvent<T>>) => void; reject: (e: Error) => void } | undefined;
  private ended: Error | null | undefined;

  constructor(
    readonly topics: string[],
    id: string,
    private readonly onClose: (s: Subscription<T>) => Promise<void>,
    private readonly maxQueue = 10_000,
  ) {
    this.id = id;
  }

  /** @internal */
  push(ev: AnyaEvent<T>): void {
    if (this.ended !== undefined) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ value: ev, done: false });
      return;
    }
    // An app that stops reading must not grow our memory either: past the bound, end with an error.
    if (this.queue.length >= this.maxQueue) return this.end(new Error(`subscription queue passed ${this.maxQueue} events; the reader is too slow`));
    this.queue.push(ev);
  }

  /** @internal Ends the iteration: normally (null) or with an error. */
  end(err: Error | null): void {
    if (this.ended !== undefined) return;
    this.ended = err;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      if (err) w.reject(err);
      else w.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<AnyaEvent<T>>> {
    const ev = this.queue.shift();
    if (ev) return Promise.resolve({ value: ev, done: false });
    if (this.ended !== undefined) return this.ended ? Promise.reject(this.ended) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** Unsubscribes (when still connected) and ends the iteration. */
  async close(): Promise<void> {
    if (this.ended === undefined) await this.onClose(this).catch(() => undefined);
    this.end(null);
  }

  [Symbol.asyncIterator](): AsyncIterator<AnyaEvent<T>> {
    return { next: () => this.next(), return: async () => (await this.close(), { value: undefined, done: true }) };
  }
}

export class AnyaClient extends EventEmitter {
  private link: Link | undefined;
  private rpc: JSONRPCClient | undefined;
  private readonly subs = new Map<string, Subscription<unknown>>();
  private closedByUser = false;
  /** Batch request ids: unique on this client however many batches run at once. */
  private batchSeq = 0;
  private reconnecting = false;

  private constructor(private readonly opts: ClientOptions) {
    super();
    if (!opts.socket === !opts.url) throw new Error('AnyaClient: give exactly one of socket or url');
  }

  static async connect(opts: ClientOptions): Promise<AnyaClient> {
    const c = new AnyaClient(opts);
    await c.open();
    return c;
  }

  get connected(): boolean {
    return this.link !== undefined;
  }

  /** Calls a method; resolves with its result or rejects with RpcCallError / ConnectionError. */
  async call<T = unknown>(method: string, params?: unknown[] | Record<string, unknown>): Promise<T> {
    const rpc = this.rpc;
    if (!rpc) throw new ConnectionError('not connected to anyad');
    const ms = this.opts.timeoutMs ?? 60_000;
    try {
      const timed = rpc.timeout(ms, (id) => ({ jsonrpc: '2.0', id, error: { code: 0, message: `no answer to ${method} within ${ms} ms` } }));
      return (await timed.request(method, params)) as T;
    } catch (err) {
      // Code 0 is what json-rpc-2.0 uses for client-side failures (timeout, connection dropped); anyad never sends it.
      if (err instanceof JSONRPCErrorException && err.code !== 0) throw new RpcCallError(err.code, err.message, err.data);
      throw new ConnectionError((err as Error).message);
    }
  }

  /** Sends a JSON-RPC batch; answers come back in the order of the requests. */
  async batch(
    calls: Array<{ method: string; params?: unknown[] | Record<string, unknown> }>,
  ): Promise<Array<{ result?: unknown; error?: { code: number; message: string; data?: unknown } }>> {
    const rpc = this.rpc;
    if (!rpc) throw new ConnectionError('not connected to anyad');
    const batch = ++this.batchSeq;
    const reqs = calls.map((c, i) => ({ jsonrpc: '2.0' as const, id: `b${batch}-${i}`, method: c.method, ...(c.params ? { params: c.params } : {}) }));
    const answers = await rpc.requestAdvanced(reqs);
    const byId = new Map(answers.map((a: JSONRPCResponse) => [a.id, a]));
    return reqs.map((r) => {
      const a = byId.get(r.id);
      if (!a) return { error: { code: -32603, message: 'no answer in batch' } };
      return 'error' in a && a.error ? { error: a.error } : { result: (a as { result: unknown }).result };
    });
  }

  /** Subscribes to topics; iterate the result with `for await`. */
  async subscribe<T = unknown>(topics: string[]): Promise<Subscription<T>> {
    const { subscription } = await this.call<{ subscription: string }>('subscribe', { topics });
    const sub = new Subscription<T>(topics, subscription, async (s) => {
      this.subs.delete(s.id);
      if (this.rpc) await this.call('unsubscribe', { subscription: s.id });
    });
    this.subs.set(subscription, sub as Subscription<unknown>);
    return sub;
  }

  async close(): Promise<void> {
    this.closedByUser = true;
    for (const s of this.subs.values()) s.end(null);
    this.subs.clear();
    this.link?.close();
    this.link = undefined;
    this.rpc?.rejectAllPendingRequests('client closed');
    this.rpc = undefined;
  }

  private async open(): Promise<void> {
    const rpc = new JSONRPCClient((req) => {
      if (!this.link) throw new ConnectionError('not connected to anyad');
      this.link.send(JSON.stringify(req));
    });
    const onMessage = (text: string): void => {
      let msg: unknown;
      try {
        msg = JSON.parse(text);
      } catch {
        return;
      }
      if (Array.isArray(msg)) {
        rpc.receive(msg as JSONRPCResponse[]);
        return;
      }
      const m = msg as { method?: string; params?: { subscription?: string; topic?: string; data?: unknown } };
      if (m.method === 'event' && m.params?.subscription) {
        const sub = this.subs.get(m.params.subscription);
        if (!sub) return;
        sub.push({ topic: m.params.topic ?? '', data: m.params.data });
        if (m.params.topic === 'subscription.closed') {
          this.subs.delete(sub.id);
          sub.end(new RpcCallError(-32015, `subscription cut off by anyad: ${JSON.stringify(m.params.data)}`, m.params.data));
        }
        return;
      }
      if ((msg as { id?: unknown }).id === null && (msg as { error?: unknown }).error) {
        // An error anyad could not tie to a request (e.g. the message was too large): fail what is pending.
        const e = (msg as { error: { code: number; message: string } }).error;
        rpc.rejectAllPendingRequests(`anyad: ${e.message} (${e.code})`);
        return;
      }
      rpc.receive(msg as JSONRPCResponse);
    };
    const onClose = (): void => {
      if (this.link === link) {
        this.link = undefined;
        this.rpc = undefined;
        rpc.rejectAllPendingRequests('connection to anyad closed');
        this.emit('disconnect');
        void this.afterDrop();
      }
    };
    const link = this.opts.socket ? await openUnix(this.opts.socket, onMessage, onClose) : await openWs(this.opts, onMessage, onClose);
    this.link = link;
    this.rpc = rpc;
    if (this.opts.url && this.opts.authMethod === 'call') {
      if (!this.opts.token) throw new Error('authMethod call needs a token');
      await this.call('auth', { token: this.opts.token });
    }
  }

  private async afterDrop(): Promise<void> {
    if (this.closedByUser || !this.opts.reconnect || this.reconnecting) {
      if (!this.opts.reconnect) for (const s of this.subs.values()) s.end(new ConnectionError('connection to anyad closed'));
      return;
    }
    this.reconnecting = true;
    const conf = typeof this.opts.reconnect === 'object' ? this.opts.reconnect : {};
    let delay = conf.initialDelayMs ?? 250;
    const max = conf.maxDelayMs ?? 10_000;
    while (!this.closedByUser) {
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
      try {
        await this.open();
        // Re-subscribe under new ids; iterators carry on as if nothing happened (events in the gap are lost).
        const old = [...this.subs.values()];
        this.subs.clear();
        for (const s of old) {
          const { subscription } = await this.call<{ subscription: string }>('subscribe', { topics: s.topics });
          s.id = subscription;
          this.subs.set(subscription, s);
        }
        this.reconnecting = false;
        this.emit('reconnect');
        return;
      } catch {
        this.link?.close();
        this.link = undefined;
        delay = Math.min(max, delay * 2);
      }
    }
    this.reconnecting = false;
  }
}

function openUnix(path: string, onMessage: (t: string) => void, onClose: () => void): Promise<Link> {
  return new Promise((resolve, reject) => {
    const s: Socket = createConnection(path);
    const lines = new LineSplitter();
    s.setEncoding('utf8');
    s.once('error', (err: NodeJS.ErrnoException) => reject(new ConnectionError(`cannot connect to ${path}: ${err.code ?? err.message}`)));
    s.once('connect', () => {
      s.on('error', () => undefined);
      s.on('close', onClose);
      resolve({ send: (t) => s.write(`${t}\n`), close: () => s.destroy() });
    });
    s.on('data', (chunk: string) => lines.push(chunk, (line) => line && onMessage(line)));
  });
}

async function openWs(opts: ClientOptions, onMessage: (t: string) => void, onClose: () => void): Promise<Link> {
  // Loaded only for a WebSocket: a Unix-socket client (anya-cli's default) starts without it.
  const { default: WebSocket } = await import('ws');
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    const protocols = ['anya-rpc'];
    if (opts.token && (opts.authMethod ?? 'header') === 'header') headers.authorization = `Bearer ${opts.token}`;
    if (opts.token && opts.authMethod === 'protocol') protocols.push(`anya-auth.${Buffer.from(opts.token).toString('base64url')}`);
    const ws = new WebSocket(opts.url!, protocols, { ...opts.wsOptions, headers: { ...opts.wsOptions?.headers, ...headers } });
    ws.once('unexpected-response', (_req, res) => {
      reject(new ConnectionError(`anyad refused the WebSocket: HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim()));
      ws.terminate();
    });
    ws.once('error', (err: NodeJS.ErrnoException) => reject(new ConnectionError(`cannot connect to ${opts.url}: ${err.code ?? err.message}`)));
    ws.once('open', () => {
      ws.on('error', () => undefined);
      ws.on('close', onClose);
      resolve({ send: (t) => ws.send(t), close: () => ws.close() });
    });
    ws.on('message', (data) => onMessage(data.toString()));
  });
}
