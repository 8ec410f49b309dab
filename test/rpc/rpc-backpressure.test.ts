// A client that never reads its answers (issue 26 item 9): on both transports, with real sockets, anyad stops
// reading the client once rpcmaxpending bytes of answers are unread (the client's own writes then queue on its
// side), holds the requests it had already read instead of running them, answers other clients meanwhile, and cuts
// the client off once it has stayed over the bound for rpcpendingtimeout. A batch's answers count against the bound
// as they are built: past it, the rest of the batch is answered with Busy (-32015, data.ran false) without running.
// Before this, a burst of batches of rpc.discover read in one go was built whole, each batch's answer at once, and
// a client reading late lost its connection to the cut-off instead of being paused.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { LineSplitter } from '../../src/core/lines.js';
import { PendingBound } from '../../src/rpc/transports/backpressure.js';
import { call, unixChannel, wsChannel } from '../helpers/channel.js';
import { useDaemon, type RunningDaemon } from '../helpers/daemon.js';

const LIMIT = 1048576;
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface RawClient {
  /** The client's own socket: what it has written and anyad has not read queues here. */
  socket: Socket;
  /** Sends messages in one write (one WebSocket frame each, or one line each). */
  send(messages: string[]): void;
  /** Starts reading; every message received from then on goes to `onMessage`. */
  read(onMessage: (m: unknown) => void): void;
  closed: Promise<void>;
}

async function rawClient(d: RunningDaemon, transport: 'unix' | 'ws'): Promise<RawClient> {
  if (transport === 'unix') {
    const socket = connect(d.socket);
    await new Promise((r) => socket.once('connect', r));
    socket.on('error', () => undefined);
    socket.pause();
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    return {
      socket,
      send: (messages) => void socket.write(messages.map((m) => `${m}\n`).join('')),
      read: (onMessage) => {
        const lines = new LineSplitter();
        socket.setEncoding('utf8').on('data', (c: string) => lines.push(c, (l) => onMessage(JSON.parse(l))));
        socket.resume();
      },
      closed,
    };
  }
  const ws = new WebSocket(d.wsUrl!, ['anya-rpc'], { headers: { authorization: `Bearer ${await d.cookie()}` } });
  ws.on('error', () => undefined);
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const socket = (ws as unknown as { _socket: Socket })._socket;
  socket.pause();
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  return {
    socket,
    send: (messages) => {
      socket.cork();
      for (const m of messages) ws.send(m);
      socket.uncork();
    },
    read: (onMessage) => {
      ws.on('message', (m) => onMessage(JSON.parse(m.toString())));
      socket.resume();
    },
    closed,
  };
}

const discover = (id: number): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'rpc.discover' });
const discoverBatch = (n: number): string => `[${Array.from({ length: n }, (_, i) => discover(i)).join(',')}]`;

describe('a client that does not read its answers (rpcmaxpending)', () => {
  const ctx = useDaemon({ args: [`-rpcmaxpending=${LIMIT}`, '-rpcpendingtimeout=4', '-rpcratelimit=1000000'] });

  for (const transport of ['unix', 'ws'] as const) {
    it(`${transport}: writes and never reads — anyad stops reading it, its memory stays bounded, others are answered, then it is cut off`, async () => {
      const d = ctx.d;
      const client = await rawClient(d, transport);
      const before = rssMb(d.pid);
      let peak = before;
      // Bursts of 32 batches of 100 rpc.discover (80 kB an answer: 256 MB of answers a burst), each burst in one write,
      // until the client's own socket holds what anyad no longer reads.
      let bursts = 0;
      const burst = Array.from({ length: 32 }, () => discoverBatch(100));
      while (client.socket.writableLength < 2 * LIMIT && bursts < 1000 && !client.socket.destroyed) {
        client.send(burst);
        bursts++;
        await tick();
        peak = Math.max(peak, rssMb(d.pid));
      }
      assert.ok(client.socket.writableLength >= 2 * LIMIT, `anyad went on reading: ${bursts} bursts written, ${client.socket.writableLength} bytes queued`);
      // Another client is answered while this one is held.
      const other = transport === 'unix' ? await unixChannel(d.socket) : await wsChannel(d.wsUrl!, await d.cookie());
      assert.equal(typeof (await call(other, 'uptime')), 'number');
      const cut = await d.waitForLog((l) => l.msg.startsWith('client does not read its answers; cut off') && l.transport === transport, 15000);
      assert.match(cut.msg, /rpcpendingtimeout/);
      peak = Math.max(peak, rssMb(d.pid));
      const grew = peak - before;
      assert.ok(grew < 64, `anyad grew ${grew.toFixed(1)} MB while a client left its answers unread (${bursts} bursts)`);
      client.read(() => undefined);
      await client.closed;
      assert.equal(typeof (await call(other, 'uptime')), 'number', 'the other client is still answered');
      other.close();
    });

    it(`${transport}: requests read before reading stopped are held, not dropped — once the client reads, each is answered in order`, async () => {
      const d = ctx.d;
      const client = await rawClient(d, transport);
      // 60 requests of 80 kB answers: about 5 MB, five times the bound, written at once.
      const n = 60;
      client.send(Array.from({ length: n }, (_, i) => discover(i)));
      // A round trip on another connection: by its answer anyad has read the burst and stopped.
      const other = transport === 'unix' ? await unixChannel(d.socket) : await wsChannel(d.wsUrl!, await d.cookie());
      assert.equal(typeof (await call(other, 'uptime')), 'number');
      other.close();
      const ids: unknown[] = [];
      const all = new Promise<void>((resolve) =>
        client.read((m) => {
          const a = m as { id: unknown; result?: { openrpc?: string }; error?: unknown };
          assert.equal(a.error, undefined, JSON.stringify(a.error));
          assert.equal(typeof a.result?.openrpc, 'string');
          ids.push(a.id);
          if (ids.length === n) resolve();
        }),
      );
      await Promise.race([all, client.closed.then(() => assert.fail(`cut off after ${ids.length} of ${n} answers`))]);
      assert.deepEqual(
        ids,
        Array.from({ length: n }, (_, i) => i),
      );
      client.socket.destroy();
    });

    it(`${transport}: a batch whose answers pass the bound runs until they do; the rest is answered Busy, not run`, async () => {
      const d = ctx.d;
      const ch = transport === 'unix' ? await unixChannel(d.socket) : await wsChannel(d.wsUrl!, await d.cookie());
      ch.send(discoverBatch(100));
      const answers = (await ch.next(10_000)) as Array<{ id: number; result?: unknown; error?: { code: number; data?: { ran?: boolean; limit?: number } } }>;
      assert.equal(answers.length, 100, 'every element is answered');
      const ran = answers.filter((a) => a.result !== undefined);
      const refused = answers.filter((a) => a.error !== undefined);
      assert.ok(ran.length >= 1 && ran.length < 100, `${ran.length} ran`);
      assert.equal(ran.length + refused.length, 100);
      const ranBytes = ran.reduce((n, a) => n + JSON.stringify(a).length, 0);
      assert.ok(ranBytes <= LIMIT + JSON.stringify(ran[0]).length, `${ranBytes} bytes of answers built`);
      for (const a of refused) {
        assert.equal(a.error!.code, -32015);
        assert.deepEqual(a.error!.data, { limit: LIMIT, ran: false });
      }
      // The answered ones come first: the batch stopped building, it did not skip around.
      assert.deepEqual(
        ran.map((a) => a.id),
        Array.from({ length: ran.length }, (_, i) => i),
      );
      // The connection goes on.
      assert.equal(typeof (await call(ch, 'uptime')), 'number');
      ch.close();
    });
  }
});

describe('PendingBound, rule by rule', () => {
  /** A bound over a queue the test sets by hand; what the bound did is logged in `did`. */
  const make = (stallMs = 60_000) => {
    const q = { bytes: 0 };
    const did: string[] = [];
    let cut!: (why: string) => void;
    const wasCut = new Promise<string>((r) => (cut = r));
    const bound = new PendingBound({
      limit: 1000,
      stallMs,
      queued: () => q.bytes,
      pause: () => did.push('pause'),
      resume: () => did.push('resume'),
      cut: (_queued, why) => {
        did.push('cut');
        cut(why);
      },
    });
    return { q, did, bound, wasCut };
  };

  it('under the bound every request runs at once', () => {
    const { q, did, bound } = make();
    const ran: number[] = [];
    for (let i = 0; i < 3; i++)
      bound.admit(10, () => {
        ran.push(i);
        q.bytes += 300;
        bound.wrote(q.bytes - 300);
      });
    assert.deepEqual(ran, [0, 1, 2]);
    assert.deepEqual(did, []);
  });

  it('over the bound reading pauses and requests are held; after the drain they run in order, and reading resumes', () => {
    const { q, did, bound } = make();
    q.bytes = 1500;
    bound.wrote(0);
    assert.deepEqual(did, ['pause']);
    const ran: number[] = [];
    for (let i = 0; i < 3; i++) bound.admit(10, () => ran.push(i));
    assert.deepEqual(ran, []);
    bound.drained();
    assert.deepEqual(ran, [], 'still over the bound: nothing runs');
    q.bytes = 0;
    bound.drained();
    assert.deepEqual(ran, [0, 1, 2]);
    assert.deepEqual(did, ['pause', 'resume']);
  });

  it('a held request that fills the queue again pauses the rest until the next drain', () => {
    const { q, did, bound } = make();
    q.bytes = 1500;
    bound.wrote(0);
    const ran: number[] = [];
    for (let i = 0; i < 3; i++)
      bound.admit(10, () => {
        ran.push(i);
        q.bytes += 1200;
        bound.wrote(q.bytes - 1200);
      });
    q.bytes = 0;
    bound.drained();
    assert.deepEqual(ran, [0]);
    q.bytes = 0;
    bound.drained();
    assert.deepEqual(ran, [0, 1]);
    assert.deepEqual(did, ['pause', 'resume', 'pause', 'resume', 'pause']);
  });

  it('one answer larger than the bound, written to a queue under it, is no reason to cut', () => {
    const { q, did, bound } = make();
    q.bytes = 5000;
    bound.wrote(0);
    assert.deepEqual(did, ['pause']);
  });

  it('a write to a queue over the bound that takes it past twice the bound cuts the client', async () => {
    const { q, bound, wasCut } = make();
    q.bytes = 1500;
    bound.wrote(0);
    q.bytes = 2500;
    bound.wrote(1500);
    assert.match(await wasCut, /twice rpcmaxpending=1000/);
  });

  it('a client still over the bound after the stall time is cut; one back under it goes on', async () => {
    const over = make(20);
    over.q.bytes = 1500;
    over.bound.wrote(0);
    assert.match(await over.wasCut, /rpcpendingtimeout/);
    const under = make(20);
    under.q.bytes = 1500;
    under.bound.wrote(0);
    under.q.bytes = 500;
    const ran = new Promise<void>((r) => under.bound.admit(10, r));
    await ran;
    assert.deepEqual(under.did, ['pause', 'resume']);
  });

  it('requests held past the bound (a client that keeps writing while read from no more) cut it', async () => {
    const { q, bound, wasCut } = make();
    q.bytes = 1500;
    bound.wrote(0);
    for (let i = 0; i < 11; i++) bound.admit(100, () => assert.fail('held requests never run once the client is cut'));
    assert.match(await wasCut, /requests held/);
    q.bytes = 0;
    bound.drained();
  });
});
