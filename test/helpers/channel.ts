// A message channel over either transport, so one test body can run against the Unix socket and the WebSocket.

import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { LineSplitter } from '../../src/core/lines.js';

export interface Channel {
  send(text: string): void;
  /** The next message received (parsed), or rejects after timeoutMs. */
  next(timeoutMs?: number): Promise<unknown>;
  /** Sends a request and resolves with the answer whose id matches (other messages stay for next()). */
  call(method: string, params?: unknown, id?: string | number): Promise<{ result?: unknown; error?: { code: number; message: string; data?: unknown } }>;
  close(): void;
  closed: Promise<void>;
}

function makeChannel(sendRaw: (t: string) => void, closeRaw: () => void): { ch: Channel; deliver: (msg: unknown) => void; end: () => void } {
  const queue: unknown[] = [];
  let waiter: ((m: unknown) => void) | undefined;
  let endResolve!: () => void;
  const closed = new Promise<void>((r) => (endResolve = r));
  let counter = 0;
  /** Answers awaited by call(), by id; everything else goes to next(). */
  const pending = new Map<unknown, (m: unknown) => void>();
  const ch: Channel = {
    send: sendRaw,
    next: (timeoutMs = 5000) => {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          waiter = undefined;
          reject(new Error('timeout waiting for a message'));
        }, timeoutMs);
        waiter = (m) => {
          clearTimeout(t);
          resolve(m);
        };
      });
    },
    call: (method, params, id) => {
      const myId = id ?? `c${++counter}`;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          pending.delete(myId);
          reject(new Error(`timeout waiting for the answer to ${method}`));
        }, 10000);
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
    end: () => endResolve(),
  };
}

export function unixChannel(path: string): Promise<Channel & { socket: Socket }> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const { ch, deliver, end } = makeChannel((t) => s.write(`${t}\n`), () => s.destroy());
    const lines = new LineSplitter();
    s.setEncoding('utf8');
    s.on('data', (c: string) => lines.push(c, (l) => deliver(JSON.parse(l))));
    s.on('close', end);
    s.once('error', reject);
    s.once('connect', () => resolve(Object.assign(ch, { socket: s })));
  });
}

export function wsChannel(url: string, token: string | undefined, opts: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<Channel & { ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: { ...opts.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } });
    const { ch, deliver, end } = makeChannel((t) => ws.send(t), () => ws.close());
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
