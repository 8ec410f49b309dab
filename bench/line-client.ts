// A bare JSON-RPC client for anyad's Unix socket: one connection, newline-delimited JSON, answers matched by id.
// It is as lean as ClnClient, the client the ln.getinfo row's baseline calls lightningd with, so the ratio measures
// what anyad adds between the two, not the difference between two client libraries (AnyaClient, built on
// json-rpc-2.0's client, costs about twice ClnClient's CPU per call).

import { connect } from 'node:net';
import { LineSplitter } from '../src/core/lines.js';

export interface LineClient {
  call(method: string, params?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

export function lineClient(path: string): Promise<LineClient> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const lines = new LineSplitter();
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    let nextId = 1;
    s.setEncoding('utf8');
    s.on('data', (c: string) =>
      lines.push(c, (l) => {
        const m = JSON.parse(l) as { id: number; result?: unknown; error?: { message: string } };
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.error) p?.reject(new Error(m.error.message));
        else p?.resolve(m.result);
      }),
    );
    s.once('error', reject);
    s.once('connect', () =>
      resolve({
        call: (method, params) =>
          new Promise((res, rej) => {
            const id = nextId++;
            pending.set(id, { resolve: res, reject: rej });
            s.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) })}\n`);
          }),
        close: () => s.destroy(),
      }),
    );
  });
}
