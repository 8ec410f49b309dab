// AnyaClient, the library local apps import: calls and errors, batches, subscriptions as async iterators,
// each WebSocket auth method, and reconnect with re-subscription across a daemon restart.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnyaClient, ConnectionError, RpcCallError } from '../../src/client/index.js';
import { startDaemon, useDaemon } from '../helpers/daemon.js';

describe('AnyaClient', () => {
  const ctx = useDaemon();

  it('calls over the Unix socket; RPC errors carry code, message and data', async () => {
    const c = await AnyaClient.connect({ socket: ctx.d.socket });
    assert.equal(await c.call<number>('subtract', [5, 3]), 2);
    assert.equal(await c.call<number>('subtract', { minuend: 1, subtrahend: 3 }), -2);
    await assert.rejects(
      c.call('test.notfound'),
      (e: unknown) => e instanceof RpcCallError && e.code === -32011 && (e.data as { thing: string }).thing === 'x',
    );
    const b = await c.batch([{ method: 'subtract', params: [9, 1] }, { method: 'nope' }, { method: 'get_data' }]);
    assert.deepEqual(b, [{ result: 8 }, { error: { code: -32601, message: 'Method not found: nope' } }, { result: ['hello', 5] }]);
    await c.close();
    await assert.rejects(c.call('uptime'), ConnectionError);
  });

  for (const authMethod of ['header', 'protocol', 'call'] as const) {
    it(`authenticates over the WebSocket with ${authMethod}`, async () => {
      const c = await AnyaClient.connect({ url: ctx.d.wsUrl!, token: await ctx.d.cookie(), authMethod });
      assert.equal(typeof (await c.call('uptime')), 'number');
      await c.close();
    });
  }

  it('a refused WebSocket is a ConnectionError naming the HTTP status', async () => {
    await assert.rejects(
      AnyaClient.connect({ url: ctx.d.wsUrl!, token: '__cookie__:bad' }),
      (e: unknown) => e instanceof ConnectionError && /HTTP 401/.test(e.message),
    );
  });

  it('per-call timeout', async () => {
    const c = await AnyaClient.connect({ socket: ctx.d.socket, timeoutMs: 100 });
    await assert.rejects(
      c.call('test.sleep', { ms: 1000 }),
      (e: unknown) => e instanceof ConnectionError && /no answer to test\.sleep within 100 ms/.test(e.message),
    );
    await c.close();
  });

  it('subscribe() is an async iterator; close() unsubscribes', async () => {
    const c = await AnyaClient.connect({ socket: ctx.d.socket });
    const sub = await c.subscribe<{ n: number }>(['test.tick']);
    await c.call('test.emit', { count: 3 });
    const got: number[] = [];
    for await (const ev of sub) {
      got.push(ev.data.n);
      if (got.length === 3) break; // break calls return(), which unsubscribes
    }
    assert.deepEqual(got, [0, 1, 2]);
    await assert.rejects(c.call('unsubscribe', [sub.id]), (e: unknown) => e instanceof RpcCallError && e.code === -32011);
    await c.close();
  });

  it('reconnects after the daemon restarts and re-subscribes by itself', async () => {
    const dd = `${ctx.dir}/restart`;
    let daemon = await startDaemon(dd);
    const c = await AnyaClient.connect({ socket: daemon.socket, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    const sub = await c.subscribe<{ n: number }>(['test.tick']);
    const it = sub[Symbol.asyncIterator]();
    await c.call('test.emit', { count: 1 });
    assert.equal((await it.next()).value!.data.n, 0);
    const firstId = sub.id;
    const reconnected = new Promise((r) => c.once('reconnect', r));
    // The daemon says goodbye to subscribers before it closes; the iterator sees that event too.
    await daemon.kill();
    assert.equal((await it.next()).value!.topic, 'daemon.stopping');
    daemon = await startDaemon(dd);
    await reconnected;
    assert.notEqual(sub.id, firstId, 'a new subscription id after the restart');
    await c.call('test.emit', { count: 2 });
    assert.equal((await it.next()).value!.data.n, 0);
    assert.equal((await it.next()).value!.data.n, 1);
    await c.close();
    await daemon.kill();
  });
});
