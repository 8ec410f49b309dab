// The embedded LDK node (ldk.enable) in two real anyads on one bcoin regtest node: each derives its node from its
// own keystore, follows the chain through its bitcoin room, and they meet over real TCP (LDK's BOLT 8 and init on
// both ends). A restart keeps the node id and catches up with the blocks mined while it was down, and dials the
// peers of its channels again. 100 invoices are paid each way, each balance and event checked. The methods not
// built yet refuse with Unsupported instead of answering something made up.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { closeAll, unixChannel, wsChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type LogLine, type RunningDaemon } from '../helpers/daemon.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';

interface Side {
  name: string;
  d: RunningDaemon;
  ch: Channel;
  id: string;
  port: number;
}
interface Info {
  backend: string;
  id: string;
  block_height: number;
  num_peers: number;
  version: string;
}

const started = (l: LogLine): boolean => l.msg === 'LDK node started';
/** Large enough that each payment stays under LDK's default in-flight limit (10% of the channel) and over the reserve. */
const CAPACITY = 1_000_000;

describe('Lightning on the embedded LDK node (ldk.enable), two anyads on bcoin regtest', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Side;
  let bob: Side;
  /** What the 100 payments each way and the payment after the restart moved to Bob's side, net (msat): the close counts it. */
  let netToBob = 0;

  async function call<T>(s: Side, method: string, params?: unknown): Promise<T> {
    const r = await s.ch.call(method, params, undefined, 30_000);
    if (r.error) throw Object.assign(new Error(`${s.name} ${method}: ${r.error.code} ${r.error.message}`), { code: r.error.code, data: r.error.data });
    return r.result as T;
  }

  /** Alice funds channels from her wallet; Bob only accepts them (no wallet room). */
  const extra = (name: string): string[] => ['-ldk.enable', '-ldk.port=0', ...(name === 'bob' ? ['-nowallet.enable'] : [])];

  async function start(name: string): Promise<Side> {
    const pf = join(dir.path, `${name}.pass`);
    await writeFile(pf, `${name}'s keystore passphrase\n`, { mode: 0o600, flag: 'w' });
    const d = await startDaemon(join(dir.path, name), { args: keystorePartyArgs(node, pf, extra(name)), alsoWaitFor: started });
    const line = await d.waitForLog(started);
    return { name, d, ch: await unixChannel(d.socket), id: line.id as string, port: line.port as number };
  }

  /** The ldk service's health, as the daemon's health method answers it. */
  const ldkHealth = async (s: Side): Promise<{ state: string; detail: string }> =>
    (await call<{ services: Record<string, { state: string; detail: string }> }>(s, 'health')).services.ldk!;

  async function stop(s: Side): Promise<void> {
    s.ch.close();
    assert.equal(await s.d.kill(), 0, `${s.name} stops cleanly`);
  }

  const heightIs = (s: Side, h: number): Promise<true> =>
    until(`${s.name}'s LDK node at height ${h}`, async () => ((await call<Info>(s, 'ln.getinfo')).block_height === h ? true : undefined));

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    await node.mine(3);
    alice = await start('alice');
    bob = await start('bob');
  });
  after(() => {
    if (process.env.LDK_TEST_LOGS)
      for (const s of [alice, bob])
        console.log(s?.name, JSON.stringify(s?.d.logs.filter((l) => l.backend === 'ldk' || (l.level as number) >= 40).slice(-40), null, 1));
  });
  after(() => closeAll(alice?.ch, bob?.ch, alice?.d, bob?.d, node, dir));

  it('getinfo: the node id LDK derived from the keystore, following the chain', async () => {
    const a = await call<Info>(alice, 'ln.getinfo');
    assert.equal(a.backend, 'ldk');
    assert.equal(a.id, alice.id);
    assert.match(a.id, /^0[23][0-9a-f]{64}$/);
    assert.notEqual(a.id, bob.id, 'two keystores, two nodes');
    assert.equal(a.num_peers, 0);
    const count = await node.rpc<number>('getblockcount');
    await heightIs(alice, count);
    await node.mine(2);
    await heightIs(alice, count + 2);
    await heightIs(bob, count + 2);
    // What LDK's bindings print with console.log went into the log as JSON (stdout stays one object per line).
    const banner = alice.d.logs.find((l) => /Loaded LDK/.test(String(l.msg)));
    assert.ok(banner, 'the bindings banner, as a log line');
    assert.equal(banner.source, 'console');
  });

  it('connect over TCP: both LDK nodes list each other; a wrong node id at that address is refused', async () => {
    await assert.rejects(call(alice, 'ln.connect', { id: `02${'11'.repeat(32)}`, host: '127.0.0.1', port: bob.port }), (e: Error & { code: number }) => {
      assert.equal(e.code, -32602, e.message);
      assert.match(e.message, /not a point of secp256k1/);
      return true;
    });
    // A real key, but not Bob's: BOLT 8's act two fails at Alice, and no peer comes of it.
    const wrong = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');
    await assert.rejects(call(alice, 'ln.connect', { id: wrong, host: '127.0.0.1', port: bob.port }), (e: Error & { code: number }) => {
      assert.equal(e.code, -32016, e.message);
      assert.match(e.message, /no handshake/);
      return true;
    });
    await call(alice, 'ln.connect', { id: bob.id, host: '127.0.0.1', port: bob.port });
    const peers = await call<Array<{ id: string; connected: boolean }>>(alice, 'ln.listpeers');
    assert.deepEqual(
      peers.map((p) => [p.id, p.connected]),
      [[bob.id, true]],
    );
    await until("Alice in Bob's peers", async () =>
      (await call<Array<{ id: string }>>(bob, 'ln.listpeers')).some((p) => p.id === alice.id) ? true : undefined,
    );
    assert.equal((await call<Info>(bob, 'ln.getinfo')).num_peers, 1);
    assert.deepEqual(await call(alice, 'ln.listchannels'), []);
  });

  it('ln.balance with no channel: nothing on chain held by LDK, nothing in channels', async () => {
    assert.deepEqual(await call(alice, 'ln.balance', {}), { onchain_confirmed_sat: 0, onchain_unconfirmed_sat: 0, channel_local_msat: 0 });
  });

  it('a restart keeps the node id and catches up with the blocks mined while it was down; peers meet again', async () => {
    const oldId = bob.id;
    await stop(bob);
    await node.mine(3);
    const count = await node.rpc<number>('getblockcount');
    bob = await start('bob');
    assert.equal(bob.id, oldId, 'the same node: its seed comes from the keystore');
    assert.equal((await call<Info>(bob, 'ln.getinfo')).id, oldId);
    await heightIs(bob, count);
    await until("Alice's peer list without Bob", async () => ((await call<unknown[]>(alice, 'ln.listpeers')).length === 0 ? true : undefined));
    await call(bob, 'ln.connect', { id: alice.id, host: '127.0.0.1', port: alice.port });
    await until("Bob in Alice's peers", async () =>
      (await call<Array<{ id: string }>>(alice, 'ln.listpeers')).some((p) => p.id === bob.id) ? true : undefined,
    );
  });

  it('openchannel: funded by the wallet, pending until confirmed, then active on both sides', async () => {
    const { address } = await call<{ address: string }>(alice, 'wallet.getnewaddress');
    await node.mine(1, address);
    await node.mine(100);
    const funds = await until("Alice's wallet funded", async () => {
      const b = await call<{ confirmed_sat: number }>(alice, 'wallet.getbalance');
      return b.confirmed_sat > 0 ? b.confirmed_sat : undefined;
    });
    const opened = await call<{ txid: string; channel_id: string }>(alice, 'ln.openchannel', { peer: bob.id, amount_sat: CAPACITY });
    assert.equal(opened.channel_id, `${opened.txid}:0`);
    await until('the funding in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(opened.txid) ? true : undefined));
    const pending = await call<Array<{ channel_id: string; state: string; active: boolean; capacity_sat: number; peer: string }>>(alice, 'ln.listchannels');
    assert.deepEqual(
      pending.map((c) => [c.channel_id, c.state, c.active, c.capacity_sat, c.peer]),
      [[opened.channel_id, 'pending_open', false, CAPACITY, bob.id]],
    );
    const waiting = await ldkHealth(alice);
    assert.equal(waiting.state, 'ok', 'a channel waiting for its confirmations is not a fault');
    assert.match(waiting.detail, new RegExp(`not usable: channel ${opened.channel_id} \\(funding not confirmed yet \\(0 of \\d+ confirmations\\)\\)`));
    await node.mine(6);
    for (const [s, other] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      const c = await until(`${s.name}'s channel active`, async () => {
        const [only] = await call<
          Array<{ channel_id: string; active: boolean; short_channel_id: string | null; peer: string; local_msat: number; remote_msat: number }>
        >(s, 'ln.listchannels');
        return only?.active ? only : undefined;
      });
      assert.equal(c.channel_id, opened.channel_id);
      assert.equal(c.peer, other.id);
      assert.match(c.short_channel_id!, /^\d+x\d+x0$/);
    }
    const [a] = await call<Array<{ local_msat: number; remote_msat: number }>>(alice, 'ln.listchannels');
    assert.equal(a.remote_msat, 0, 'nothing pushed to Bob');
    assert.equal(a.local_msat, CAPACITY * 1000, "Alice's side, her reserve included");
    assert.deepEqual(await call(alice, 'ln.balance', {}), { onchain_confirmed_sat: 0, onchain_unconfirmed_sat: 0, channel_local_msat: CAPACITY * 1000 });
    assert.doesNotMatch((await ldkHealth(alice)).detail, /not usable/);
    // The wallet paid the capacity and the fee, and took the change back.
    await until("Alice's wallet after the funding", async () => {
      const b = await call<{ confirmed_sat: number }>(alice, 'wallet.getbalance');
      return b.confirmed_sat < funds - CAPACITY && b.confirmed_sat > funds - CAPACITY - 5_000 ? true : undefined;
    });
  });

  it('invoices and payments both ways: amounts exact, ln.invoice settled and ln.payment succeeded once each', async () => {
    const ws = { alice: await wsChannel(alice.d.wsUrl!, await alice.d.cookie()), bob: await wsChannel(bob.d.wsUrl!, await bob.d.cookie()) };
    for (const w of Object.values(ws)) assert.ok(!(await w.call('subscribe', { topics: ['ln.invoice', 'ln.payment'] })).error);
    const events: Record<string, Array<Record<string, unknown>>> = { alice: [], bob: [] };
    const collect = async (name: 'alice' | 'bob', n: number): Promise<void> => {
      while (events[name]!.length < n) {
        const e = (await ws[name].next(20_000)) as { method: string; params: { topic: string; data: Record<string, unknown> } };
        if (e.method === 'event') events[name]!.push({ topic: e.params.topic, ...e.params.data });
      }
    };
    const rounds: Array<[Side, Side, number]> = [
      [alice, bob, 50_000_123],
      [alice, bob, 1_000],
      [bob, alice, 20_000_007],
    ];
    for (const [payer, payee, amount] of rounds) {
      const inv = await call<{ payment_hash: string; bolt11: string; label: string }>(payee, 'ln.createinvoice', {
        amount_msat: amount,
        description: `pay ${amount}`,
      });
      const dec = await call<{ payment_hash: string; payee: string; amount_msat: number; description: string }>(payer, 'ln.decode', { invoice: inv.bolt11 });
      assert.deepEqual([dec.payment_hash, dec.payee, dec.amount_msat, dec.description], [inv.payment_hash, payee.id, amount, `pay ${amount}`]);
      const paid = await call<{ status: string; amount_msat: number; fee_msat: number; preimage: string }>(payer, 'ln.pay', { invoice: inv.bolt11 });
      assert.deepEqual([paid.status, paid.amount_msat, paid.fee_msat], ['complete', amount, 0], 'a direct channel: no routing fee');
      assert.equal(createHash('sha256').update(Buffer.from(paid.preimage, 'hex')).digest('hex'), inv.payment_hash);
      const got = await until(`${payee.name}'s invoice paid`, async () => {
        const r = await call<{ status: string; amount_received_msat?: number }>(payee, 'ln.lookupinvoice', { payment_hash: inv.payment_hash });
        return r.status === 'paid' ? r : undefined;
      });
      assert.equal(got.amount_received_msat, amount);
    }
    // Alice: 2 payments, 1 invoice (created + settled); Bob: 2 invoices (created + settled), 1 payment.
    await collect('alice', 4);
    await collect('bob', 5);
    await new Promise((r) => setTimeout(r, 500));
    const summary = (name: 'alice' | 'bob'): string[] => events[name]!.map((e) => `${e.topic} ${e.status} ${e.payment_hash}`);
    for (const name of ['alice', 'bob'] as const) assert.equal(new Set(summary(name)).size, summary(name).length, `${name}: each event once`);
    assert.deepEqual(
      events.bob!.filter((e) => e.status === 'settled').map((e) => e.amount_received_msat),
      [50_000_123, 1_000],
    );
    assert.deepEqual(
      events.alice!.filter((e) => e.topic === 'ln.payment').map((e) => [e.status, e.amount_msat, e.fee_msat]),
      [
        ['succeeded', 50_000_123, 0],
        ['succeeded', 1_000, 0],
      ],
    );
    const pays = await call<{ total: number; payments: Array<{ status: string; amount_msat: number }> }>(alice, 'ln.listpayments');
    assert.deepEqual(pays.payments.map((p) => [p.status, p.amount_msat]).sort(), [
      ['complete', 1_000],
      ['complete', 50_000_123],
    ]);
    const invs = await call<{ total: number; invoices: Array<{ status: string; amount_received_msat: number }> }>(bob, 'ln.listinvoices');
    assert.deepEqual(invs.invoices.map((i) => [i.status, i.amount_received_msat]).sort(), [
      ['paid', 1_000],
      ['paid', 50_000_123],
    ]);
    const [a] = await call<Array<{ local_msat: number; remote_msat: number }>>(alice, 'ln.listchannels');
    assert.equal(a!.remote_msat > 0, true);
    const [b] = await call<Array<{ local_msat: number; remote_msat: number }>>(bob, 'ln.listchannels');
    // Each side exact, reserves included: what was paid and received, to the millisatoshi.
    const bobSide = 50_000_123 + 1_000 - 20_000_007;
    assert.deepEqual([b!.local_msat, b!.remote_msat], [bobSide, CAPACITY * 1000 - bobSide]);
    assert.deepEqual([a!.local_msat, a!.remote_msat], [CAPACITY * 1000 - bobSide, bobSide]);
    assert.equal((await call<{ channel_local_msat: number }>(bob, 'ln.balance', {})).channel_local_msat, bobSide);
    assert.equal((await call<{ channel_local_msat: number }>(alice, 'ln.balance', {})).channel_local_msat, CAPACITY * 1000 - bobSide);
    for (const w of Object.values(ws)) w.close();
  });

  it('100 BOLT11 invoices each way, in concurrent batches: balances move by exactly the sums, each event once by payment hash', async () => {
    const N = 100;
    const BATCH = 5;
    type Ev = { topic: string; status: string; payment_hash: string; amount_msat?: number; amount_received_msat?: number; fee_msat?: number };
    const ws = { alice: await wsChannel(alice.d.wsUrl!, await alice.d.cookie()), bob: await wsChannel(bob.d.wsUrl!, await bob.d.cookie()) };
    for (const w of Object.values(ws)) assert.ok(!(await w.call('subscribe', { topics: ['ln.invoice', 'ln.payment'] })).error);
    const events: Record<'alice' | 'bob', Ev[]> = { alice: [], bob: [] };
    /** Every event until `n` have come, then whatever else comes in the next half second (none should). */
    const collect = async (name: 'alice' | 'bob', n: number): Promise<void> => {
      const take = (e: unknown): void => {
        const m = e as { method: string; params: { topic: string; data: Omit<Ev, 'topic'> } };
        if (m.method === 'event') events[name].push({ topic: m.params.topic, ...m.params.data });
      };
      while (events[name].length < n) take(await ws[name].next(30_000));
      for (;;) {
        const e = await ws[name].next(500).catch(() => undefined);
        if (e === undefined) return;
        take(e);
      }
    };
    const local = async (s: Side): Promise<[number, number, number]> => {
      const [c] = await call<Array<{ local_msat: number; remote_msat: number }>>(s, 'ln.listchannels');
      return [c!.local_msat, c!.remote_msat, (await call<{ channel_local_msat: number }>(s, 'ln.balance', {})).channel_local_msat];
    };
    const before = { alice: await local(alice), bob: await local(bob) };
    const done: Array<{ payer: Side; payee: Side; hash: string; amount: number }> = [];
    const payOne = async (payer: Side, payee: Side, amount: number): Promise<void> => {
      const inv = await call<{ payment_hash: string; bolt11: string }>(payee, 'ln.createinvoice', { amount_msat: amount, description: `bulk ${amount}` });
      const paid = await call<{ status: string; amount_msat: number; fee_msat: number; preimage: string }>(payer, 'ln.pay', { invoice: inv.bolt11 });
      assert.deepEqual([paid.status, paid.amount_msat, paid.fee_msat], ['complete', amount, 0], `${payer.name} paid ${amount}`);
      assert.equal(createHash('sha256').update(Buffer.from(paid.preimage, 'hex')).digest('hex'), inv.payment_hash);
      done.push({ payer, payee, hash: inv.payment_hash, amount });
    };
    // Above what LDK counts as dust (the fee rate plus its buffer of 2530 sat/kw puts that at about 2,840 sat: a few
    // dust HTLCs in flight pass its dust exposure limit, 10,000 sat here), and Bob's first batch within what he holds
    // over his reserve.
    const toBob = (i: number): number => 3_100_000 + i * 1_001;
    const toAlice = (i: number): number => 3_000_000 + i * 7;
    for (let b = 0; b < N / BATCH; b++) {
      const batch: Array<Promise<void>> = [];
      for (let i = b * BATCH; i < (b + 1) * BATCH; i++) batch.push(payOne(alice, bob, toBob(i)), payOne(bob, alice, toAlice(i)));
      await Promise.all(batch);
      // ln.pay answers when the preimage comes back (LDK's PaymentSent), a step before the HTLC leaves both
      // commitments; until then it still holds the payer's liquidity, and a payment that does not fit in what is
      // left is refused at once (RouteNotFound). A user paying in batches waits for the channel to settle likewise.
      await until('no HTLC in flight on either side', async () => {
        for (const s of [alice, bob]) {
          const [c] = await call<Array<{ local_msat: number; remote_msat: number }>>(s, 'ln.listchannels');
          if (c!.local_msat + c!.remote_msat !== CAPACITY * 1000) return undefined;
        }
        return true;
      });
    }
    assert.equal(done.length, 2 * N);
    assert.equal(new Set(done.map((d) => d.hash)).size, 2 * N, 'each invoice its own payment hash');
    // Each side: its invoices created and settled, its payments succeeded, and nothing else.
    await collect('alice', 3 * N);
    await collect('bob', 3 * N);
    for (const [name, s] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      const evs = events[name];
      assert.equal(evs.length, 3 * N, `${name}: ${evs.length} events`);
      for (const d of done) {
        const of = evs.filter((e) => e.payment_hash === d.hash);
        if (d.payer === s) {
          assert.deepEqual(
            of.map((e) => [e.topic, e.status, e.amount_msat, e.fee_msat]),
            [['ln.payment', 'succeeded', d.amount, 0]],
            `${name}'s payment ${d.hash}`,
          );
        } else {
          assert.deepEqual(
            of.filter((e) => e.status === 'settled').map((e) => [e.topic, e.amount_received_msat]),
            [['ln.invoice', d.amount]],
            `${name}'s invoice ${d.hash} settled once`,
          );
          assert.deepEqual(
            of.map((e) => e.status),
            ['created', 'settled'],
          );
          const r = await call<{ status: string; amount_received_msat: number }>(s, 'ln.lookupinvoice', { payment_hash: d.hash });
          assert.deepEqual([r.status, r.amount_received_msat], ['paid', d.amount]);
        }
      }
    }
    // To the millisatoshi on both sides, reserves included: a direct channel charges no fee.
    let net = 0;
    for (let i = 0; i < N; i++) net += toBob(i) - toAlice(i);
    const after = { alice: await local(alice), bob: await local(bob) };
    assert.deepEqual(after.bob, [before.bob[0] + net, before.bob[1] - net, before.bob[2] + net]);
    assert.deepEqual(after.alice, [before.alice[0] - net, before.alice[1] + net, before.alice[2] - net]);
    netToBob = net;
    for (const w of Object.values(ws)) w.close();
  });

  it('a restart keeps the channel, and Bob dials Alice again by himself (no ln.connect): the channel is active and carries a payment', async () => {
    const [before] = await call<Array<{ channel_id: string; short_channel_id: string }>>(bob, 'ln.listchannels');
    await stop(bob);
    // While Bob is away, Alice's health names the channel whose peer is away.
    const away = await until("Alice's health naming the channel whose peer is away", async () => {
      const h = await ldkHealth(alice);
      return /peer disconnected/.test(h.detail) ? h : undefined;
    });
    assert.equal(away.state, 'degraded');
    assert.match(away.detail, new RegExp(`channel ${before!.short_channel_id} \\(peer disconnected[;)]`));
    // Alice redials Bob at the address she last reached him on (his port of an earlier run: it is chosen anew at each
    // start here), in vain: her health says so.
    const redialing = await until("Alice's health naming her redial of Bob", async () => {
      const h = await ldkHealth(alice);
      return /redialing/.test(h.detail) ? h : undefined;
    });
    assert.match(
      redialing.detail,
      new RegExp(`channel ${before!.short_channel_id} \\(peer disconnected; redialing 127\\.0\\.0\\.1:\\d+, \\d+ attempts? failed\\)`),
    );
    bob = await start('bob');
    // What his scorer learned from the payments is kept across the restart.
    assert.equal(bob.d.logs.find((l) => l.msg === 'LDK scorer read back')?.read, true);
    const [after] = await call<Array<{ channel_id: string }>>(bob, 'ln.listchannels');
    assert.equal(after?.channel_id, before!.channel_id);
    // Bob reached Alice by ln.connect before the channel (her address kept since); Alice's address for Bob is stale
    // (his port is chosen anew at each start), so it is Bob's redial that brings them together.
    for (const s of [alice, bob])
      await until(`the channel active again at ${s.name}`, async () =>
        (await call<Array<{ active: boolean }>>(s, 'ln.listchannels'))[0]?.active ? true : undefined,
      );
    // The redial logs once its dial has seen both inits, which can come a poll after the channel shows active.
    const redialed = await bob.d.waitForLog((l) => l.msg === 'LDK peer of a channel redialed' && l.peer === alice.id);
    assert.equal(redialed.port, alice.port, 'Bob redialed Alice at her address');
    assert.equal((await ldkHealth(bob)).state, 'ok');
    const inv = await call<{ bolt11: string; payment_hash: string }>(alice, 'ln.createinvoice', { amount_msat: 5_000_000, description: 'after the restart' });
    const paid = await call<{ status: string; amount_msat: number; fee_msat: number }>(bob, 'ln.pay', { invoice: inv.bolt11 });
    assert.deepEqual([paid.status, paid.amount_msat, paid.fee_msat], ['complete', 5_000_000, 0]);
    await until("Alice's invoice paid", async () =>
      (await call<{ status: string }>(alice, 'ln.lookupinvoice', { payment_hash: inv.payment_hash })).status === 'paid' ? true : undefined,
    );
    netToBob -= 5_000_000;
  });

  it('keysend: Alice pays Bob without an invoice; the amount lands exactly, each side records and reports it once', async () => {
    const ws = await wsChannel(bob.d.wsUrl!, await bob.d.cookie());
    assert.ok(!(await ws.call('subscribe', { topics: ['ln.invoice'] })).error);
    const before = (await call<{ channel_local_msat: number }>(bob, 'ln.balance', {})).channel_local_msat;
    // A node Alice has no route to: refused at once by LDK's router, recorded as failed.
    const stranger = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');
    await assert.rejects(call(alice, 'ln.keysend', { destination: stranger, amount_msat: 1_000 }), (e: Error & { code: number; data: { kind?: string } }) => {
      assert.equal(e.data?.kind, 'no_route', e.message);
      return true;
    });
    await assert.rejects(call(alice, 'ln.keysend', { destination: bob.id, amount_msat: 0 }), (e: Error & { code: number }) => e.code === -32602);
    // A key that is no point of the curve (LDK would abort on it): refused before anything is recorded.
    await assert.rejects(call(alice, 'ln.keysend', { destination: `02${'11'.repeat(32)}`, amount_msat: 1_000 }), (e: Error & { code: number }) => {
      assert.equal(e.code, -32602);
      assert.match(e.message, /not a point of secp256k1/);
      return true;
    });
    const amount = 7_777_007;
    const paid = await call<{ payment_hash: string; status: string; amount_msat: number; fee_msat: number; preimage: string }>(alice, 'ln.keysend', {
      destination: bob.id,
      amount_msat: amount,
    });
    assert.deepEqual([paid.status, paid.amount_msat, paid.fee_msat], ['complete', amount, 0]);
    assert.equal(createHash('sha256').update(Buffer.from(paid.preimage, 'hex')).digest('hex'), paid.payment_hash);
    const got = await until("Bob's keysend recorded as paid", async () => {
      const r = await bob.ch.call('ln.lookupinvoice', { payment_hash: paid.payment_hash });
      const inv = r.result as { status: string; keysend?: boolean; amount_received_msat?: number; bolt11: string } | undefined;
      return inv?.status === 'paid' ? inv : undefined;
    });
    assert.deepEqual([got.keysend, got.amount_received_msat, got.bolt11], [true, amount, '']);
    const e = (await ws.next(20_000)) as { params: { topic: string; data: { status: string; payment_hash: string; amount_received_msat: number } } };
    assert.deepEqual(
      [e.params.topic, e.params.data.status, e.params.data.payment_hash, e.params.data.amount_received_msat],
      ['ln.invoice', 'settled', paid.payment_hash, amount],
    );
    await assert.rejects(ws.next(700), 'no second ln.invoice for the keysend');
    ws.close();
    assert.equal((await call<{ channel_local_msat: number }>(bob, 'ln.balance', {})).channel_local_msat, before + amount);
    const pays = await call<{ payments: Array<{ payment_hash: string; status: string; bolt11: string; destination?: string }> }>(alice, 'ln.listpayments');
    const rec = pays.payments.find((p) => p.payment_hash === paid.payment_hash);
    assert.deepEqual([rec?.status, rec?.bolt11, rec?.destination], ['complete', '', bob.id]);
    assert.equal(pays.payments.filter((p) => p.destination === stranger && p.status === 'failed').length, 1, 'the refused keysend is recorded as failed');
    netToBob += amount;
  });

  it("closechannel (cooperative): the closing transaction confirms and Alice's side is swept to her wallet", async () => {
    const [c] = await call<Array<{ channel_id: string; local_msat: number }>>(alice, 'ln.listchannels');
    const wallet = async (): Promise<number> => (await call<{ confirmed_sat: number }>(alice, 'wallet.getbalance')).confirmed_sat;
    const before = await wallet();
    const closed = await call<{ type: string; txid: string | null }>(alice, 'ln.closechannel', { channel: c!.channel_id });
    assert.equal(closed.type, 'mutual');
    await until('the channel gone on both sides', async () =>
      (await call<unknown[]>(alice, 'ln.listchannels')).length === 0 && (await call<unknown[]>(bob, 'ln.listchannels')).length === 0 ? true : undefined,
    );
    // The closing transaction, then LDK's anti-reorg delay (6 blocks) before it hands the output over to be swept.
    await until('the closing transaction in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).length > 0 ? true : undefined));
    await node.mine(1);
    // Confirmed, and LDK's until its anti-reorg delay ends: ln.balance counts it on chain, no more in channels.
    const side = Math.floor((CAPACITY * 1000 - 50_000_123 - 1_000 + 20_000_007 - netToBob) / 1000);
    const held = await until('the close counted on chain by ln.balance', async () => {
      const b = await call<{ onchain_confirmed_sat: number; channel_local_msat: number }>(alice, 'ln.balance', {});
      return b.onchain_confirmed_sat > 0 ? b : undefined;
    });
    assert.equal(held.channel_local_msat, 0);
    assert.ok(held.onchain_confirmed_sat <= side && held.onchain_confirmed_sat > side - 3_000, `on chain ${held.onchain_confirmed_sat} of a side of ${side}`);
    await node.mine(6);
    await until('the sweep in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).length > 0 ? true : undefined), 800);
    await node.mine(1);
    const after = await until("Alice's wallet credited", async () => {
      const b = await wallet();
      return b > before ? b : undefined;
    });
    assert.equal((await call<{ onchain_confirmed_sat: number }>(alice, 'ln.balance', {})).onchain_confirmed_sat, 0, 'swept: the wallet holds it now');
    // Her side of the channel (the capacity, less what she paid Bob, plus what he paid her, reserve included), less
    // the closing fee (hers: she opened) and the sweep's, a few thousand satoshis at most at the fallback rate.
    assert.ok(after - before < side && after - before > side - 3_000, `credited ${after - before} for a side of ${side}`);
  });

  it("closechannel force: the latest commitment is broadcast, and Alice's delayed side is swept to her wallet after the delay", async () => {
    const wallet = async (): Promise<number> => (await call<{ confirmed_sat: number; unconfirmed_sat: number }>(alice, 'wallet.getbalance')).confirmed_sat;
    const opened = await call<{ txid: string; channel_id: string }>(alice, 'ln.openchannel', { peer: bob.id, amount_sat: 300_000 });
    await until('the funding in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(opened.txid) ? true : undefined));
    await node.mine(6);
    await until('the channel active', async () => ((await call<Array<{ active: boolean }>>(bob, 'ln.listchannels'))[0]?.active ? true : undefined));
    const before = await wallet();
    const closed = await call<{ type: string }>(alice, 'ln.closechannel', { channel: opened.channel_id, force: true });
    assert.equal(closed.type, 'unilateral');
    await until('the commitment in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).length > 0 ? true : undefined));
    await node.mine(1);
    // Bob asked for LDK's default delay (144 blocks) on Alice's side of a commitment she broadcasts.
    await node.mine(150);
    await until('the sweep in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).length > 0 ? true : undefined), 800);
    await node.mine(1);
    const after = await until("Alice's wallet credited", async () => {
      const b = await wallet();
      return b > before ? b : undefined;
    });
    // The whole channel was hers, less the commitment's fee and the sweep's.
    assert.ok(after - before < 300_000 && after - before > 300_000 - 5_000, `credited ${after - before} of 300000`);
  });
});
