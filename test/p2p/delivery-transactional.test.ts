// The transactional side of durable delivery (delivery.ts), on real LevelDB stores: deliver() with commitWith puts
// the outbox entry in the caller's own batch (a throw queues nothing, and the numbering has no gap), a handler's
// replies are queued in the batch that takes the message they answer, a handler that commits itself (m.commit) is
// not committed twice, what a connected peer leaves unacknowledged is sent again on the same connection
// (p2p.resendinterval), and the peers with waiting messages are capped (p2p.maxoutboxpeers). The two Delivery objects talk through a function here, not a socket: the
// connection itself is tested by delivery.test.ts between two daemons.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { RoomDb } from '../../src/core/store.js';
import { Store } from '../../src/store/store.js';
import { Delivery, type Delivered, type DeliveryHandler } from '../../src/p2p/delivery.js';
import { CustomInbox, type CustomMsg } from '../../src/p2p/custommsg.js';
import { tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

const A = '02'.padEnd(66, 'a');
const B = '03'.padEnd(66, 'b');

interface Side {
  store: Store;
  db: RoomDb;
  app: RoomDb;
  delivery: Delivery;
  got: Delivered[];
  handler: DeliveryHandler;
}

/** A handler on `side` that throws (the room not ready: nothing committed) until ready(); what it was handed in `seen`. */
function refuseUntilReady(side: Side, reply?: Buffer): { seen: string[]; ready: () => void } {
  let fail = true;
  const seen: string[] = [];
  side.handler = (m) => {
    seen.push(m.payload.toString());
    if (fail) throw new Error('the room is not ready');
    return { ops: [], replies: reply ? [{ type: 103, payload: reply }] : [] };
  };
  return { seen, ready: () => void (fail = false) };
}

describe('p2p delivery: transactional outbox and replies', () => {
  let dir: { path: string; remove(): Promise<void> };
  const sides: Record<string, Side> = {};
  let linkUp = true;

  async function side(name: string, self: string, other: string): Promise<Side> {
    const store = await Store.open(join(dir.path, name));
    const s: Side = {
      store,
      db: await store.room('p2p'),
      app: await store.room('app'),
      got: [],
      handler: (m) => {
        s.got.push(m);
        return { ops: [] };
      },
      delivery: undefined as unknown as Delivery,
    };
    s.delivery = new Delivery({
      db: s.db,
      store,
      maxOutboxBytes: 1 << 20,
      maxOutboxPeers: 2,
      log: pino({ level: 'silent' }),
      handlerFor: () => (m) => s.handler(m),
      send: async (to, type, payload) => {
        if (!linkUp || to !== other) throw new Error('not connected');
        // As a connection does: the other side handles one message at a time, after this write.
        setImmediate(() => void sides[other === A ? 'a' : 'b']!.delivery.onMessage(self, type, Buffer.from(payload)).catch(() => undefined));
      },
    });
    await s.delivery.load();
    return s;
  }

  before(async () => {
    dir = await tempDir('delivery-tx');
    sides.a = await side('a', A, B);
    sides.b = await side('b', B, A);
  });
  after(async () => {
    for (const s of Object.values(sides)) await s.store.close();
    await dir.remove();
  });

  it('commitWith: the message is queued exactly when the caller batch lands; a throw queues nothing and leaves no gap', async () => {
    const a = sides.a!;
    const b = sides.b!;
    await assert.rejects(
      a.delivery.deliver(B, 101, Buffer.from('lost'), async () => {
        throw new Error('the caller batch failed');
      }),
      /the caller batch failed/,
    );
    assert.equal(a.delivery.state(B).outbox_messages, 0);
    const r = await a.delivery.deliver(B, 101, Buffer.from('kept'), (ops) =>
      a.store.batch([...ops, { type: 'put', sublevel: a.app, key: 'state', value: 'sent' }]),
    );
    assert.equal(r.seq, 1, 'the failed one did not take a number');
    assert.equal(await a.app.get('state'), 'sent');
    await until('B takes the message', async () => b.got.length === 1 || undefined);
    assert.equal(b.got[0]!.payload.toString(), 'kept');
    await until('A is acknowledged', async () => a.delivery.state(B).outbox_messages === 0 || undefined);
  });

  it('replies are queued with the mark "taken" and reach the sender once; m.commit is not committed twice', async () => {
    const a = sides.a!;
    const b = sides.b!;
    b.handler = (m) => {
      b.got.push(m);
      return {
        ops: [{ type: 'put', sublevel: b.app, key: `took:${m.seq}`, value: m.payload.toString() }],
        replies: [{ type: 103, payload: Buffer.from(`re:${m.payload.toString()}`) }],
      };
    };
    a.handler = async (m) => {
      a.got.push(m);
      await m.commit({ ops: [{ type: 'put', sublevel: a.app, key: `reply:${m.seq}`, value: m.payload.toString() }] });
      return undefined;
    };
    await a.delivery.deliver(B, 101, Buffer.from('ping-1'));
    await until('the reply comes back', async () => a.got.length === 1 || undefined);
    assert.equal(a.got[0]!.payload.toString(), 're:ping-1');
    assert.equal(await b.app.get('took:2'), 'ping-1');
    assert.equal(await a.app.get('reply:1'), 're:ping-1');
    await until('both acknowledged', async () => (b.delivery.state(A).outbox_messages === 0 && a.delivery.state(B).outbox_messages === 0) || undefined);
    assert.equal(b.delivery.state(A).sent_seq, 1);
  });

  it('a handler that throws after nothing was committed gets the message again on the next connection, once', async () => {
    const a = sides.a!;
    const b = sides.b!;
    const { seen, ready } = refuseUntilReady(b, Buffer.from('done'));
    a.handler = (m) => {
      a.got.push(m);
      return { ops: [] };
    };
    linkUp = true;
    await a.delivery.deliver(B, 101, Buffer.from('retry-me'));
    await until('B tried it', async () => seen.length === 1 || undefined);
    assert.equal(a.delivery.state(B).outbox_messages, 1, 'not acknowledged');
    ready();
    a.delivery.connected(B);
    await until('the reply of the second try', async () => a.got.some((m) => m.payload.toString() === 'done') || undefined);
    assert.deepEqual(seen, ['retry-me', 'retry-me']);
    a.delivery.connected(B); // a resend of what is acknowledged already sends nothing
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, 2);
    assert.equal(a.got.filter((m) => m.payload.toString() === 'done').length, 1);
  });

  it('what a connected peer leaves unacknowledged is sent again after the resend interval, on the same connection', async () => {
    const a = sides.a!;
    const b = sides.b!;
    const { seen, ready } = refuseUntilReady(b);
    await a.delivery.deliver(B, 101, Buffer.from('stale'));
    await until('B tried it', async () => seen.length === 1 || undefined);
    a.delivery.resendStale(() => true, 60_000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, 1, 'not before the interval');
    a.delivery.resendStale(() => false, 0, Date.now() + 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, 1, 'not to a peer that is not connected');
    ready();
    a.delivery.resendStale(() => true, 0, Date.now() + 1);
    await until('A is acknowledged after the resend', async () => a.delivery.state(B).outbox_messages === 0 || undefined);
    assert.deepEqual(seen, ['stale', 'stale']);
  });

  it('p2p.maxoutboxpeers: a message to one more peer than may wait is refused Busy, naming the key', async () => {
    const a = sides.a!;
    linkUp = false;
    const others = ['02'.padEnd(66, 'c'), '02'.padEnd(66, 'd'), '02'.padEnd(66, 'e')];
    // The link here only reaches B, and is down: messages to the others wait in their outboxes.
    const send = (to: string): Promise<unknown> => a.delivery.deliver(to, 101, Buffer.from('x'));
    await send(others[0]!);
    await send(others[1]!);
    await assert.rejects(send(others[2]!), (e: Error & { code?: number }) => /p2p\.maxoutboxpeers=2/.test(e.message));
    await send(others[1]!); // a peer that has messages waiting already takes more
    assert.equal(a.delivery.state(others[2]!).outbox_messages, 0);
  });
});

describe('p2p delivery: peers received in parallel, the custom-message inbox numbered in one order', () => {
  it('two peers sending 60 messages each at once: every message in the inbox once, seqs 1..120 without a gap, each peer in its order', async () => {
    const dir = await tempDir('delivery-inbox');
    const keys = { a: A, b: B, c: '02'.padEnd(66, 'c') };
    const stores: Store[] = [];
    const parties = new Map<string, Delivery>();
    try {
      const published: CustomMsg[] = [];
      let inbox: CustomInbox | undefined;
      for (const [name, self] of Object.entries(keys)) {
        const store = await Store.open(join(dir.path, name));
        stores.push(store);
        const db = await store.room('p2p');
        if (name === 'a') {
          inbox = new CustomInbox(db, (m) => published.push(m));
          await inbox.load();
        }
        const d = new Delivery({
          db,
          store,
          maxOutboxBytes: 1 << 20,
          maxOutboxPeers: 4,
          log: pino({ level: 'silent' }),
          handlerFor: () => (m) => inbox!.take(m),
          send: async (to, type, payload) => {
            const peer = parties.get(to);
            if (!peer) throw new Error('not connected');
            setImmediate(() => void peer.onMessage(self, type, Buffer.from(payload)).catch(() => undefined));
          },
        });
        await d.load();
        parties.set(self, d);
      }
      const sends: Array<Promise<unknown>> = [];
      for (let i = 0; i < 60; i++)
        for (const from of [keys.b, keys.c]) sends.push(parties.get(from)!.deliver(keys.a, 32769, Buffer.from(`${from.slice(64)}:${i}`)));
      await Promise.all(sends);
      await until('all 120 in the inbox', async () => (published.length === 120 ? true : undefined));
      assert.deepEqual(
        published.map((m) => m.seq),
        Array.from({ length: 120 }, (_, i) => i + 1),
      );
      const listed = await inbox!.list(0, 1000);
      assert.equal(listed.messages.length, 120);
      for (const from of [keys.b, keys.c]) {
        const mine = published.filter((m) => m.pubkey === from).map((m) => Buffer.from(m.payload, 'hex').toString());
        assert.deepEqual(
          mine,
          Array.from({ length: 60 }, (_, i) => `${from.slice(64)}:${i}`),
        );
      }
    } finally {
      for (const s of stores) await s.close();
      await dir.remove();
    }
  });
});
