// A message channel over either transport, so one test body can run against the Unix socket and the WebSocket.

import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { LineSplitter } from '../../src/core/lines.js';

export interface Channel {
  send(text: string): void;
  /** The next message received (parsed), or rejects after timeoutMs. */
  next(timeoutMs?: number): Promise<unknown>;
  /** Sends a request and resolves with the answer whose id matches (other messages stay for next()). */
  /** timeoutMs: 10 s unless a call is known to be long (a numeric DLC's hundreds of adaptor signatures under load). */
  call(
    method: string,
    params?: unknown,
    id?: string | number,
    timeoutMs?: number,
  ): Promise<{ result?: unknown; error?: { code: number; message: string; data?: unknown } }>;
  close(): void;
  closed: Promise<void>;
}

function makeChannel(sendRaw: (t: string) => void, closeRaw: () => void): { ch: Channel; deliver: (msg: unknown) => void; end: () => void } {
  const queue: unknown[] = [];
  let waiter: ((m: unknown) => void) | undefined;
  let abandon: (() => void) | undefined;
  let ended = false;
  let endResolve!: () => void;
  const closed = new Promise<void>((r) => (endResolve = r));
  let counter = 0;
  /** Answers awaited by call(), by id; everything else goes to next(). */
  const pending = new Map<unknown, (m: unknown) => void>();
  const ch: Channel = {
    send: sendRaw,
    next: (timeoutMs = 5000) => {
      if (queue.length) return Promise.resolve(queue.shift());
      if (ended) return Promise.reject(new Error('the channel is closed'));
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          waiter = undefined;
          abandon = undefined;
          reject(new Error('timeout waiting for a message'));
        }, timeoutMs);
        waiter = (m) => {
          clearTimeout(t);
          abandon = undefined;
          resolve(m);
        };
        // A wait still pending when the channel ends is given up at once: its timer would keep the test process
        // alive after its last test (node --test then waits for the file to exit).
        abandon = () => {
          clearTimeout(t);
          waiter = undefined;
          abandon = undefined;
          reject(new Error('the channel closed while waiting for a message'));
        };
      });
    },
    call: (method, params, id, timeoutMs = 10_000) => {
      const myId = id ?? `c${++counter}`;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          pending.delete(myId);
          reject(new Error(`timeout waiting for the answer to ${method}`));
        }, timeoutMs);
        pending.set(myId, (m) => {
          clearTimeout(t);
          resolve(m as never);
        });
        sendRaw(JSON.stringify({ jsonrpc: '2.0', id: myId, method, ...(params !== undefined ? { params } : {}) }));
      });
    },
    close: closeRaw,
    closed,
  };
  return {
    ch,
    deliver: (msg) => {
      const id = msg && typeof msg === 'object' && !Array.isArray(msg) ? (msg as { id?: unknown }).id : undefined;
      const p = id !== undefined ? pending.get(id) : undefined;
      if (p) {
        pending.delete(id);
        p(msg);
      } else if (waiter) {
        const w = waiter;
        waiter = undefined;
        w(msg);
      } else queue.push(msg);
    },
    end: () => {
      ended = true;
      abandon?.();
      endResolve();
    },
  };
}

export function unixChannel(path: string): Promise<Channel & { socket: Socket }> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const { ch, deliver, end } = makeChannel(
      (t) => s.write(`${t}\n`),
      () => s.destroy(),
    );
    const lines = new LineSplitter();
    s.setEncoding('utf8');
    s.on('data', (c: string) => lines.push(c, (l) => deliver(JSON.parse(l))));
    s.on('close', end);
    s.once('error', reject);
    s.once('connect', () => resolve(Object.assign(ch, { socket: s })));
  });
}

export function wsChannel(
  url: string,
  token: string | undefined,
  opts: { headers?: Record<string, string>; protocols?: string[] } = {},
): Promise<Channel & { ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: { ...opts.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } });
    const { ch, deliver, end } = makeChannel(
      (t) => ws.send(t),
      () => ws.close(),
    );
    ws.on('message', (d) => deliver(JSON.parse(d.toString())));
    ws.on('close', end);
    ws.once('unexpected-response', (_q, res) => {
      ws.terminate();
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', reject);
    ws.once('open', () => resolve(Object.assign(ch, { ws })));
  });
}

/** Calls a method and returns its result, or throws an Error carrying the JSON-RPC error's code and data. */
export async function call<T>(ch: Channel, method: string, params?: unknown): Promise<T> {
  const r = await ch.call(method, params);
  if (r.error) throw Object.assign(new Error(`${method}: ${r.error.message}`), { code: r.error.code, data: r.error.data });
  return r.result as T;
}

/** The data of the next event on `topic` that satisfies pred (other messages are skipped). */
export async function nextEvent(
  ch: Channel,
  topic: string,
  pred: (d: Record<string, unknown>) => boolean = () => true,
  timeoutMs = 10000,
): Promise<Record<string, unknown>> {
  for (;;) {
    const e = (await ch.next(timeoutMs)) as { method: string; params: { topic: string; data: Record<string, unknown> } };
    if (e.method === 'event' && e.params.topic === topic && pred(e.params.data)) return e.params.data;
  }
}

/** A daemon's Unix channel plus a WebSocket subscribed to `topics` (e.g. ['ln.*']). */
export async function channelsWithEvents(
  d: { socket: string; wsUrl?: string; cookie(): Promise<string> },
  topics: string[],
): Promise<{ ch: Channel; ws: Channel }> {
  const ch = await unixChannel(d.socket);
  const ws = await wsChannel(d.wsUrl!, await d.cookie());
  await call(ws, 'subscribe', { topics });
  return { ch, ws };
}

type Closable = { close(): void } | { kill(): Promise<unknown> } | { stop(): Promise<void> } | { remove(): Promise<void> } | undefined;

/** Tears down, in order, whatever a suite opened: channels, daemons, test peers, temp dirs (undefined is skipped). */
export async function closeAll(...things: Closable[]): Promise<void> {
  for (const t of things) {
    if (!t) continue;
    if ('close' in t) t.close();
    else if ('kill' in t) await t.kill();
    else if ('stop' in t) await t.stop();
    else await t.remove();
  }
}

/** A chain event notification as the tests read it. */
export interface ChainEv {
  method: string;
  params: { topic: string; data: Record<string, unknown> & { height?: number; hash?: string; status?: string; txid?: string } };
}

/** Reads events until one satisfies pred; returns it and everything read before it (other messages are skipped). */
export async function eventsUntil(ch: Channel, pred: (e: ChainEv) => boolean, seen: ChainEv[] = []): Promise<ChainEv[]> {
  for (;;) {
    const e = (await ch.next(20000)) as ChainEv;
    if (e.method !== 'event') continue;
    seen.push(e);
    if (pred(e)) return seen;
  }
}
