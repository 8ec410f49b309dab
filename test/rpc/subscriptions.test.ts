// Subscriptions over both transports: delivery in order, patterns, unsubscribe, unknown topics, the
// per-connection limit, and a slow consumer cut off with a final notice while the daemon's memory stays bounded.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useDaemon } from '../helpers/daemon.js';
import { unixChannel, wsChannel, type Channel } from '../helpers/channel.js';

interface EventMsg {
  method: string;
  params: { subscription: string; topic: string; data: { n: number; reason?: string; queued_bytes?: number; limit_bytes?: number } };
}

describe('subscriptions', () => {
  const ctx = useDaemon({ args: ['-rpcsubscriberqueue=65536', '-rpcmaxsubscriptions=3'] });

  for (const [name, open] of [
    ['unix', () => unixChannel(ctx.d.socket)],
    ['ws', async () => wsChannel(ctx.d.wsUrl!, await ctx.d.cookie())],
  ] as Array<[string, () => Promise<Channel>]>) {
    it(`events arrive in order as notifications (${name})`, async () => {
      const ch = await open();
      const sub = (await ch.call('subscribe', { topics: ['test.tick'] })).result as { subscription: string };
      const wild = (await ch.call('subscribe', [['test.*']])).result as { subscription: string };
      assert.equal((await ch.call('test.emit', { count: 50 })).result, 50);
      const got: EventMsg[] = [];
      while (got.length < 100) got.push((await ch.next()) as EventMsg);
      for (const s of [sub.subscription, wild.subscription]) {
        const mine = got.filter((e) => e.params.subscription === s);
        assert.deepEqual(
          mine.map((e) => e.params.data.n),
          Array.from({ length: 50 }, (_, i) => i),
        );
        assert.ok(mine.every((e) => e.method === 'event' && e.params.topic === 'test.tick'));
      }
      assert.equal((await ch.call('unsubscribe', [sub.subscription])).result, true);
      assert.equal((await ch.call('unsubscribe', [sub.subscription])).error?.code, -32011);
      await ch.call('unsubscribe', [wild.subscription]);
      await ch.call('test.emit', { count: 5 });
      await assert.rejects(ch.next(100), /timeout/, 'no events after unsubscribing');
      ch.close();
    });
  }

  it("refuses unknown topics and too many subscriptions; a connection cannot end another's subscription", async () => {
    const a = await unixChannel(ctx.d.socket);
    const b = await unixChannel(ctx.d.socket);
    const bad = await a.call('subscribe', { topics: ['chain.nothing'] });
    assert.equal(bad.error?.code, -32602);
    assert.match(bad.error!.message, /unknown topic 'chain\.nothing'/);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(((await a.call('subscribe', { topics: ['daemon.*'] })).result as { subscription: string }).subscription);
    assert.equal((await a.call('subscribe', { topics: ['daemon.*'] })).error?.code, -32015);
    assert.equal((await b.call('unsubscribe', [ids[0]])).error?.code, -32011);
    a.close();
    b.close();
  });

  it('a subscriber that stops reading is cut off with a final notice; others keep receiving', async () => {
    const slow = await wsChannel(ctx.d.wsUrl!, await ctx.d.cookie());
    const fast = await unixChannel(ctx.d.socket);
    const slowSub = ((await slow.call('subscribe', { topics: ['test.tick'] })).result as { subscription: string }).subscription;
    await fast.call('subscribe', { topics: ['test.tick'] });
    // Stop reading from the slow socket: the kernel buffers fill, then anyad's queue for it grows.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    let emitted = 0;
    // Two 20 kB events a round stay under the fast reader's 64 kB bound; the paused one accumulates.
    for (let round = 0; round < 5000; round++) {
      emitted += (await fast.call('test.emit', { count: 2, pad: 20000 })).result as number;
      let received = 0;
      while (received < 2) if (((await fast.next()) as EventMsg).params.topic === 'test.tick') received++;
      const info = (await fast.call('metrics')).result as Array<{ name: string; values: Array<{ value: number }> }>;
      if (info.find((m) => m.name === 'anyad_subscriber_cutoffs_total')!.values[0]!.value > 0) break;
    }
    const cutoffs = ((await fast.call('metrics')).result as Array<{ name: string; values: Array<{ value: number }> }>).find(
      (m) => m.name === 'anyad_subscriber_cutoffs_total',
    )!;
    assert.equal(cutoffs.values[0]!.value, 1, `cut off after ${emitted} events of 20 kB`);
    assert.ok(emitted < 10000, 'cut off long before everything was queued');
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    // The slow reader drains what was queued and then finds the notice, and nothing after it.
    let last: EventMsg;
    do last = (await slow.next()) as EventMsg;
    while (last.params.topic === 'test.tick');
    assert.equal(last.params.topic, 'subscription.closed');
    assert.equal(last.params.subscription, slowSub);
    assert.equal(last.params.data.reason, 'slow consumer');
    assert.equal(last.params.data.limit_bytes, 65536);
    await fast.call('test.emit', { count: 3 });
    assert.equal(((await slow.call('uptime')).result as number) >= 0, true, 'the connection itself stays usable');
    await assert.rejects(slow.next(100), /timeout/);
    slow.close();
    fast.close();
  });
});
