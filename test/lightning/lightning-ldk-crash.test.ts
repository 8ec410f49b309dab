// The embedded LDK node (ldk.enable) killed with SIGKILL in the middle of a payment, at several points, on either
// side, then started again: every payment settles exactly once (one ln.payment succeeded at the payer across runs,
// one ln.invoice settled at the payee), both sides of the channel are exact to the millisatoshi, and no old state
// is broadcast (the mempool stays empty, the channel stays open). Two real anyads on one bcoin regtest node; events
// are read from a subscription made as soon as each run serves RPC, before its LDK node starts.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { closeAll, unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type LogLine, type RunningDaemon } from '../helpers/daemon.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';

interface Side {
  name: 'alice' | 'bob';
  d: RunningDaemon;
  ch: Channel;
  events: Channel;
  id: string;
  port: number;
}
interface Ev {
  topic: string;
  status: string;
  payment_hash: string;
  amount_msat?: number;
  amount_received_msat?: number;
}
interface Chan {
  channel_id: string;
  active: boolean;
  state: string;
  local_msat: number;
  remote_msat: number;
}

const started = (l: LogLine): boolean => l.msg === 'LDK node started';
const CAPACITY = 1_000_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('LDK killed mid-payment (SIGKILL) and restarted: each payment settles exactly once', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  const sides: Partial<Record<'alice' | 'bob', Side>> = {};
  /** Every ln.invoice / ln.payment event each side published, across all its runs. */
  const seen: Record<'alice' | 'bob', Ev[]> = { alice: [], bob: [] };
  /** What Alice paid Bob in all, msat: Bob's side of the channel. */
  let paid = 0;
  let channelId = '';

  const side = (name: 'alice' | 'bob'): Side => sides[name]!;

  async function call<T>(s: Side, method: string, params?: unknown, timeoutMs = 30_000): Promise<T> {
    const r = await s.ch.call(method, params, undefined, timeoutMs);
    if (r.error) throw Object.assign(new Error(`${s.name} ${method}: ${r.error.code} ${r.error.message}`), { code: r.error.code });
    return r.result as T;
  }

  /** Starts a run: subscribed to the ln events as soon as it serves RPC, then waits for its LDK node. */
  async function start(name: 'alice' | 'bob'): Promise<Side> {
    const pf = join(dir.path, `${name}.pass`);
    await writeFile(pf, `${name}'s keystore passphrase\n`, { mode: 0o600, flag: 'w' });
    const extra = ['-ldk.enable', '-ldk.port=0', '-ln.watchinterval=200', ...(name === 'bob' ? ['-nowallet.enable'] : [])];
    const d = await startDaemon(join(dir.path, name), { args: keystorePartyArgs(node, pf, extra), waitFor: 'serving' });
    const events = await unixChannel(d.socket);
    const sub = await events.call('subscribe', { topics: ['ln.invoice', 'ln.payment'] });
    assert.ok(!sub.error, JSON.stringify(sub.error));
    void (async () => {
      for (;;) {
        const m = (await events.next(3_600_000).catch(() => undefined)) as { method: string; params: { topic: string; data: Ev } } | undefined;
        if (!m) return;
        if (m.method === 'event') seen[name].push({ ...m.params.data, topic: m.params.topic });
      }
    })();
    const line = await d.waitForLog(started, 30_000);
    const s = { name, d, ch: await unixChannel(d.socket), events, id: line.id as string, port: line.port as number };
    sides[name] = s;
    return s;
  }

  async function kill(s: Side): Promise<void> {
    process.kill(s.d.pid, 'SIGKILL');
    await s.d.exited;
    s.ch.close();
    s.events.close();
  }

  /**
   * The restarted side meets the other again and the channel is active. A side that reached the other by ln.connect
   * before redials it by itself (at the address kept then); the other is dialed here, as an operator would, until
   * the channel is active: LDK refuses a second connection of one node while the killed one is still listed.
   */
  async function restart(name: 'alice' | 'bob'): Promise<void> {
    const s = await start(name);
    const other = side(name === 'alice' ? 'bob' : 'alice');
    await until(`${name}'s channel active again`, async () => {
      if ((await call<Chan[]>(s, 'ln.listchannels'))[0]?.active) return true;
      const r = await s.ch.call('ln.connect', { id: other.id, host: '127.0.0.1', port: other.port });
      // -32016: no handshake (the other side still holds the killed connection): dialed again at the next look.
      if (r.error && r.error.code !== -32016) throw new Error(`ln.connect: ${r.error.code} ${r.error.message}`);
      return undefined;
    });
  }

  const channel = async (s: Side): Promise<Chan> => {
    const cs = await call<Chan[]>(s, 'ln.listchannels');
    assert.equal(cs.length, 1, `${s.name} has one channel`);
    return cs[0]!;
  };

  /** Exactly once on each side, both sides exact, the channel open and nothing broadcast. */
  async function settledOnce(hash: string, amount: number): Promise<void> {
    const bob = side('bob');
    const inv = await until("Bob's invoice paid", async () => {
      const r = await call<{ status: string; amount_received_msat?: number }>(bob, 'ln.lookupinvoice', { payment_hash: hash });
      return r.status === 'paid' ? r : undefined;
    });
    assert.equal(inv.amount_received_msat, amount);
    const pays = (name: 'alice' | 'bob', topic: string, status: string): Ev[] =>
      seen[name].filter((e) => e.topic === topic && e.status === status && e.payment_hash === hash);
    await until('ln.payment succeeded at Alice', async () => (pays('alice', 'ln.payment', 'succeeded').length > 0 ? true : undefined));
    await until('ln.invoice settled at Bob', async () => (pays('bob', 'ln.invoice', 'settled').length > 0 ? true : undefined));
    // Long enough for a second event to come if one were to.
    await sleep(600);
    assert.deepEqual(
      pays('alice', 'ln.payment', 'succeeded').map((e) => e.amount_msat),
      [amount],
      'one ln.payment succeeded across runs',
    );
    assert.deepEqual(
      pays('bob', 'ln.invoice', 'settled').map((e) => e.amount_received_msat),
      [amount],
      'one ln.invoice settled across runs',
    );
    paid += amount;
    const [a, b] = [await channel(side('alice')), await channel(bob)];
    assert.deepEqual([a.channel_id, a.state, a.local_msat, a.remote_msat], [channelId, 'open', CAPACITY * 1000 - paid, paid]);
    assert.deepEqual([b.channel_id, b.state, b.local_msat, b.remote_msat], [channelId, 'open', paid, CAPACITY * 1000 - paid]);
    assert.deepEqual(await node.rpc<string[]>('getrawmempool'), [], 'nothing broadcast: no commitment, no claim');
  }

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    await node.mine(3);
    const alice = await start('alice');
    const bob = await start('bob');
    await call(alice, 'ln.connect', { id: bob.id, host: '127.0.0.1', port: bob.port });
    const { address } = await call<{ address: string }>(alice, 'wallet.getnewaddress');
    await node.mine(1, address);
    await node.mine(100);
    await until("Alice's wallet funded", async () =>
      (await call<{ confirmed_sat: number }>(alice, 'wallet.getbalance')).confirmed_sat > 0 ? true : undefined,
    );
    const opened = await call<{ txid: string; channel_id: string }>(alice, 'ln.openchannel', { peer: bob.id, amount_sat: CAPACITY });
    channelId = opened.channel_id;
    await until('the funding in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(opened.txid) ? true : undefined));
    await node.mine(6);
    for (const s of [alice, bob]) await until(`${s.name}'s channel active`, async () => ((await channel(s)).active ? true : undefined));
  });
  after(() => {
    if (process.env.LDK_TEST_LOGS)
      for (const s of Object.values(sides))
        console.log(s?.name, JSON.stringify(s?.d.logs.filter((l) => l.backend === 'ldk' || (l.level as number) >= 40).slice(-40), null, 1));
  });
  after(() => closeAll(sides.alice?.ch, sides.alice?.events, sides.bob?.ch, sides.bob?.events, sides.alice?.d, sides.bob?.d, node, dir));

  it('the payee killed after the HTLC is sent (frozen before it reads it, then at 0, 25, 60 and 150 ms): settled once', async () => {
    const points: Array<'frozen' | number> = ['frozen', 0, 25, 60, 150];
    for (const [i, point] of points.entries()) {
      const amount = 10_000_000 + i * 1_000_003;
      const inv = await call<{ payment_hash: string; bolt11: string }>(side('bob'), 'ln.createinvoice', {
        amount_msat: amount,
        description: `payee crash ${point}`,
      });
      const before = (await channel(side('alice'))).local_msat;
      if (point === 'frozen') process.kill(side('bob').d.pid, 'SIGSTOP');
      const paying = call<{ status: string; amount_msat: number }>(side('alice'), 'ln.pay', { invoice: inv.bolt11 }, 90_000);
      if (point === 'frozen')
        // The HTLC left Alice (it is in flight, off her side): Bob is killed before he ever reads it.
        await until('the HTLC in flight at Alice', async () => ((await channel(side('alice'))).local_msat === before - amount ? true : undefined));
      else await sleep(point);
      await kill(side('bob'));
      await restart('bob');
      const r = await paying;
      assert.deepEqual([r.status, r.amount_msat], ['complete', amount], `ln.pay answers once Bob is back (${point})`);
      await settledOnce(inv.payment_hash, amount);
    }
  });

  it('the payer killed right after ln.pay (at 0, 20, 60 and 150 ms): settled once, or failed cleanly and paid again once', async () => {
    for (const [i, point] of [0, 20, 60, 150].entries()) {
      const amount = 5_000_000 + i * 999_999;
      const inv = await call<{ payment_hash: string; bolt11: string }>(side('bob'), 'ln.createinvoice', {
        amount_msat: amount,
        description: `payer crash ${point}`,
      });
      const paying = call(side('alice'), 'ln.pay', { invoice: inv.bolt11 }).catch(() => undefined);
      await sleep(point);
      await kill(side('alice'));
      await paying;
      await restart('alice');
      // The record anyad made before handing the payment over settles from LDK's word: complete, or failed when
      // LDK never took it (then nothing reached Bob, and paying again is allowed and pays once).
      const status = await until("Alice's payment record settled", async () => {
        const r = await call<{ payments: Array<{ payment_hash: string; status: string }> }>(side('alice'), 'ln.listpayments');
        const p = r.payments.find((x) => x.payment_hash === inv.payment_hash);
        // No record at all: killed before anyad took the call (nothing was recorded, nothing sent).
        return p === undefined ? 'none' : p.status !== 'pending' ? p.status : undefined;
      });
      if (status === 'failed' || status === 'none') {
        const bobs = await call<{ status: string }>(side('bob'), 'ln.lookupinvoice', { payment_hash: inv.payment_hash });
        assert.equal(bobs.status, 'unpaid', 'failed at Alice: nothing reached Bob');
        const again = await call<{ status: string }>(side('alice'), 'ln.pay', { invoice: inv.bolt11 });
        assert.equal(again.status, 'complete');
      } else assert.equal(status, 'complete');
      console.log(`# payer killed at ${point} ms: the record was ${status} after the restart`);
      await settledOnce(inv.payment_hash, amount);
      // No failure reported after the success.
      const mine = seen.alice.filter((e) => e.topic === 'ln.payment' && e.payment_hash === inv.payment_hash).map((e) => e.status);
      assert.equal(mine.at(-1), 'succeeded', mine.join());
    }
  });
});
