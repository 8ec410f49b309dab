// The state channels room against a hostile counterparty (issue 26, "Money safety"): a peer written by hand in the
// test (channels-peer.ts) holds its own keys and sends exactly the values an anyad must refuse, on a real bcoin
// regtest chain, over anyad's socket.
//   1. Funding: an opener naming someone else's confirmed coin, a funding transaction paying less than the capacity
//      or to another script, or none at all, is refused before the accepter signs anything.
//   2. Consent: a state that takes this side's balance is not signed (nor the previous state revoked) unless the
//      call approves that much; each side sets the to_self_delay the other waits, with a floor and a ceiling.
//   5. Low-S: a high-S counterparty signature (funding_signed, update, close) is refused by name.
//      Records an earlier anyad kept without these checks (funding named by the opener alone) are checked on chain:
//      a confirmed coin that is not the channel's funding output fails the channel instead of opening it, and a
//      spend that is no close or commitment of the channel is reported as unknown, never as a cooperative close.
//  10. Tower: a blob that opens to bytes that are not a transaction does not stop the pass for the others.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { perCommitmentPoint } from '../../src/adapters/channels/keys.js';
import { sealJustice } from '../../src/adapters/channels/justice.js';
import { fundingScript, p2wsh } from '../../src/adapters/channels/transactions.js';
import { fund, newWallet, pay, startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';
import { HandPeer } from '../peers/channels-peer.js';
import { createHash } from 'node:crypto';
import { Level } from 'level';

interface Party {
  name: string;
  d: RunningDaemon;
  ch: Channel;
  address: string;
}
interface Step {
  id: string;
  state: string;
  number: number;
  message: string | null;
  txid?: string;
}
interface View {
  state: string;
  number: number;
  pending: number | null;
  to_opener_sat: number;
  to_accepter_sat: number;
  to_self_delay: number;
  their_to_self_delay: number;
  funding_txid: string | null;
}
type Answer = { result?: unknown; error?: { code: number; message: string; data?: Record<string, unknown> } };

const INVALID = -32602;
const POLICY = -32013;

describe('state channels against a hostile counterparty', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Party;
  let bob: Party;

  const start = async (name: string): Promise<Party> => {
    const pf = join(dir.path, `${name}.pass`);
    await writeFile(pf, `${name}'s keystore passphrase\n`, { mode: 0o600 });
    const d = await startDaemon(join(dir.path, name), { args: keystorePartyArgs(node, pf) });
    const ch = await unixChannel(d.socket);
    const p: Party = { name, d, ch, address: '' };
    await until(`${name} connected`, async () => ((await call<{ state: string }>(p, 'chain.getinfo')).state === 'connected' ? true : undefined));
    const key = await call<{ id: string }>(p, 'hsm.generatekey', { label: `${name} coins` });
    p.address = (await call<{ addresses: { p2wpkh: string } }>(p, 'hsm.getpubkey', { key: key.id })).addresses.p2wpkh;
    return p;
  };
  const raw = (p: Party, method: string, params?: unknown): Promise<Answer> => p.ch.call(method, params, undefined, 30_000) as Promise<Answer>;
  async function call<T>(p: Party, method: string, params?: unknown): Promise<T> {
    const r = await raw(p, method, params);
    if (r.error) throw new Error(`${p.name} ${method}: ${r.error.code} ${r.error.message}`);
    return r.result as T;
  }
  const refused = async (p: Party, method: string, params: unknown, code: number, re: RegExp): Promise<Answer['error']> => {
    const r = await raw(p, method, params);
    assert.ok(r.error, `${method} should be refused: ${JSON.stringify(r.result)}`);
    assert.equal(r.error.code, code, r.error.message);
    assert.match(r.error.message, re);
    return r.error;
  };
  const view = (p: Party, id: string): Promise<View> => call(p, 'sc.get', { id });
  /** A mature coinbase of Alice's keystore. */
  const aliceCoin = async (): Promise<{ txid: string; vout: number }> => {
    const [block] = await node.mine(1, alice.address);
    await node.mine(100, bob.address);
    return { txid: (await node.rpc<{ tx: string[] }>('getblock', block, true, false)).tx[0]!, vout: 0 };
  };

  /** Alice opens to a hand-written accepter; open → accept → funding_created, answered by `signed` (or a proper funding_signed). */
  const openToPeer = async (
    peer: HandPeer,
    opts: { aliceDelay?: number; peerDelay?: number; highS?: boolean } = {},
  ): Promise<{ id: string; created: Step; funded: Answer }> => {
    const opened = await call<{ id: string; message: string }>(alice, 'sc.open', {
      capacity_sat: 10_000_000,
      to_self_delay: opts.aliceDelay ?? 144,
      fee_rate_sat_vb: 2,
      utxos: [await aliceCoin()],
    });
    const created = await call<Step>(alice, 'sc.receive', { message: peer.accept(opened.message, opts.peerDelay ?? 144) });
    const funded = await raw(alice, 'sc.receive', { message: peer.fundingSigned(created.message!, { highS: opts.highS }) });
    return { id: opened.id, created, funded };
  };

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    alice = await start('alice');
    bob = await start('bob');
  });
  after(async () => {
    alice?.ch.close();
    bob?.ch.close();
    await alice?.d.kill();
    await bob?.d.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it("funding: an opener naming someone else's confirmed coin, or a funding output that is not the channel's, is refused before any signature", async () => {
    // Someone else's coin: a confirmed coinbase paying Alice's keystore; the hostile opener sets the capacity to its
    // value, so only the script gives it away.
    const [block] = await node.mine(1, alice.address);
    const cbTxid = (await node.rpc<{ tx: string[] }>('getblock', block, true, false)).tx[0]!;
    const cb = bitcoin.Transaction.fromHex(await node.rpc<string>('getrawtransaction', cbTxid, false));
    const capacity = BigInt(cb.outs[0]!.value);
    const peer = new HandPeer();
    const accepted = await call<{ id: string; message: string }>(bob, 'sc.accept', { message: peer.open(capacity) });
    peer.takeAccept(accepted.message);

    // Today's message without the funding transaction: nothing to check the outpoint against.
    await refused(bob, 'sc.receive', { message: peer.fundingCreated(cbTxid, 0, undefined) }, INVALID, /funding_tx must be lowercase hex/);
    // The coinbase itself as the funding transaction: the right txid and value, another script.
    await refused(bob, 'sc.receive', { message: peer.fundingCreated(cbTxid, 0, cb) }, INVALID, /not the P2WSH of the 2-of-2 of both funding keys/);
    // A transaction paying the 2-of-2 one satoshi less than the capacity.
    const short = new bitcoin.Transaction();
    short.version = 2;
    short.addInput(Buffer.alloc(32, 7), 0, 0xfffffffd);
    short.addOutput(peer.fundingOutputScript(), capacity - 1n);
    await refused(
      bob,
      'sc.receive',
      { message: peer.fundingCreated(short.getId(), 0, short) },
      INVALID,
      new RegExp(`pays ${capacity - 1n} sat to the funding output, not the channel's capacity of ${capacity} sat`),
    );
    // A right-looking funding transaction whose txid is not the outpoint named (the coinbase's).
    const right = new bitcoin.Transaction();
    right.version = 2;
    right.addInput(Buffer.alloc(32, 8), 0, 0xfffffffd);
    right.addOutput(peer.fundingOutputScript(), capacity);
    await refused(bob, 'sc.receive', { message: peer.fundingCreated(cbTxid, 0, right) }, INVALID, /not the funding_txid/);
    await refused(bob, 'sc.receive', { message: peer.fundingCreated(right.getId(), 1, right) }, INVALID, /no output at the funding outpoint/);
    // The funding key order does not matter to the script (BOLT 3 sorts them).
    assert.deepEqual(peer.fundingOutputScript(), p2wsh(fundingScript(peer.theirs!.funding, peer.keys.funding)));

    // Nothing was signed: Bob's channel is still waiting for a funding it can check.
    await node.mine(1, bob.address);
    const v = await view(bob, peer.id);
    assert.deepEqual([v.state, v.funding_txid], ['accepted', null]);
    // The real thing goes through: a funding transaction paying the capacity to the 2-of-2.
    const signed = await call<Step>(bob, 'sc.receive', { message: peer.fundingCreated(right.getId(), 0, right) });
    assert.equal(signed.state, 'funding');
  });

  it('to_self_delay: each side sets what the other waits, with a floor for its own and a ceiling for the other', async () => {
    // Alice asks too short a window of her counterparty: her floor (sc.mintoselfdelay, 144) refuses it.
    const low = await refused(
      alice,
      'sc.open',
      { capacity_sat: 1_000_000, to_self_delay: 6, utxos: [{ txid: 'ab'.repeat(32), vout: 0 }] },
      POLICY,
      /under this anyad's floor of 144 blocks/,
    );
    assert.equal(low?.data?.rule, 'sc.mintoselfdelay');
    // An opener that lets Bob wait only 1 block does not choose Bob's window: Bob requires his own (sc.toselfdelay).
    const short = new HandPeer();
    const acc = await call<{ message: string }>(bob, 'sc.accept', { message: short.open(1_000_000n, 1) });
    short.takeAccept(acc.message);
    assert.equal(short.delays.theirs, 144, 'the accept carries the delay Bob requires of the opener');
    const v = await view(bob, short.id);
    assert.deepEqual([v.to_self_delay, v.their_to_self_delay], [1, 144]);
    // Bob asking less than his own floor is refused.
    await refused(bob, 'sc.accept', { message: new HandPeer().open(1_000_000n, 144), to_self_delay: 10 }, POLICY, /floor of 144/);
    // An opener locking Bob's funds for 5000 blocks: over sc.maxtoselfdelay (2016).
    await refused(bob, 'sc.accept', { message: new HandPeer().open(1_000_000n, 5000) }, INVALID, /requires a to_self_delay of 5000 blocks .* over the 2016/);
    // An accepter locking Alice's funds for 3000 blocks: refused in its accept.
    const opened = await call<{ message: string }>(alice, 'sc.open', { capacity_sat: 1_000_000, to_self_delay: 144, utxos: [await aliceCoin()] });
    await refused(alice, 'sc.receive', { message: new HandPeer().accept(opened.message, 3000) }, INVALID, /requires a to_self_delay of 3000 blocks/);
  });

  it('fee rate: an open at 1 sat/vB is refused on both sides (its commitments would stay under the relay floor)', async () => {
    // 1 × 202 sat for a 224 vB commitment: no node would relay a force close of it.
    await refused(
      alice,
      'sc.open',
      { capacity_sat: 1_000_000, to_self_delay: 144, fee_rate_sat_vb: 1, utxos: [{ txid: 'ab'.repeat(32), vout: 0 }] },
      INVALID,
      /fee_rate_sat_vb/,
    );
    await refused(bob, 'sc.accept', { message: new HandPeer().open(1_000_000n, 144, 1) }, INVALID, /fee_rate_sat_vb/);
    // 2 sat/vB is taken.
    const ok = new HandPeer();
    const acc = await call<{ message: string }>(bob, 'sc.accept', { message: ok.open(1_000_000n, 144, 2) });
    assert.ok(acc.message);
  });

  it('low-S: a high-S funding_signed is refused by name and the funding is not broadcast', async () => {
    const peer = new HandPeer();
    const { id, funded } = await openToPeer(peer, { highS: true });
    assert.equal(funded.error?.code, INVALID);
    assert.match(funded.error!.message, /high S \(BIP146 LOW_S\)/);
    const v = await view(alice, id);
    assert.equal(v.state, 'funding');
    assert.equal((await call<{ state: string }>(alice, 'sc.cancel', { id })).state, 'cancelled', 'never signed, so still cancellable');
  });

  it('consent: a state taking our balance is not signed, nor our previous state revoked, unless the call approves that much; high-S and foreign signatures are refused', async () => {
    const peer = new HandPeer();
    // Different delays each way: the signatures below verify only if each commitment carries the right one.
    const { id, funded } = await openToPeer(peer, { aliceDelay: 150, peerDelay: 200 });
    assert.ok(funded.result, JSON.stringify(funded.error));
    await node.mine(1, bob.address);
    await until("Alice's channel open", async () => ((await view(alice, id)).state === 'open' ? true : undefined), 400);
    const v0 = await view(alice, id);
    assert.deepEqual([v0.to_self_delay, v0.their_to_self_delay], [200, 150]);
    const avail = BigInt(v0.to_opener_sat);
    const state = (n: number, toPeer: bigint) => ({ number: n, to_opener_sat: avail - toPeer, to_accepter_sat: toPeer, app_hash: '11'.repeat(32) });

    // The peer takes 1,000,000 sat of Alice's with a valid signature: refused, with what it asks.
    const take = peer.update(state(1, 1_000_000n));
    const denied = await refused(alice, 'sc.receive', { message: take }, POLICY, /pays it 1000000 sat out of this side's balance/);
    assert.deepEqual([denied?.data?.rule, denied?.data?.pays_sat, denied?.data?.number], ['sc.consent', 1_000_000, 1]);
    await refused(alice, 'sc.receive', { message: take, max_pay_sat: 999_999 }, POLICY, /over the 999999 sat approved/);
    let v = await view(alice, id);
    assert.deepEqual([v.number, v.pending, v.to_accepter_sat], [0, null, 0], 'nothing signed, nothing revoked');

    // Approved by the call: acknowledged, and the secret revealed is the one of state 0.
    const ack = await call<Step>(alice, 'sc.receive', { message: take, max_pay_sat: 1_000_000 });
    const body = peer.read(ack.message!).body as { secret: string; next_point: string; number: number };
    assert.equal(Buffer.from(perCommitmentPoint(Buffer.from(body.secret, 'hex'))).toString('hex'), peer.theirPoints[0]);
    peer.theirPoints[2] = body.next_point;
    peer.current = state(1, 1_000_000n);
    await call<Step>(alice, 'sc.receive', {
      message: peer.message('revoke', { number: 0, secret: Buffer.from(peer.secret(0)).toString('hex'), next_point: peer.point(2) }),
    });

    // A signature that is not on Alice's commitment of the state: refused before any secret leaves.
    const other = peer.update(state(2, 500_000n));
    const forged = peer.read(other);
    const wrongSig = peer.signTheirCommitment(state(2, 400_000n));
    await refused(alice, 'sc.receive', { message: peer.message('update', { ...forged.body, sig: wrongSig }) }, INVALID, /not on our commitment of state 2/);
    // A high-S one on the right commitment: refused by name.
    await refused(alice, 'sc.receive', { message: peer.update(state(2, 500_000n), { highS: true }) }, INVALID, /high S \(BIP146 LOW_S\)/);
    // The same update with a high-S signature on the message itself.
    const e = peer.read(other);
    await refused(alice, 'sc.receive', { message: peer.message('update', e.body, id, { highS: true }) }, INVALID, /update message's signature has a high S/);
    v = await view(alice, id);
    assert.deepEqual([v.number, v.pending], [1, null]);
    // A state giving Alice more needs no approval.
    const back = await call<Step>(alice, 'sc.receive', { message: other });
    assert.equal(back.number, 2);
    // A close with a high-S signature: refused by name, the channel stays open.
    const ack2 = peer.read(back.message!).body as { next_point: string };
    peer.theirPoints[3] = ack2.next_point;
    peer.current = state(2, 500_000n);
    await call<Step>(alice, 'sc.receive', {
      message: peer.message('revoke', { number: 1, secret: Buffer.from(peer.secret(1)).toString('hex'), next_point: peer.point(3) }),
    });
    await refused(alice, 'sc.receive', { message: peer.close({ highS: true }) }, INVALID, /closing transaction .* high S/);
    assert.equal((await view(alice, id)).state, 'open');
  });

  it("records kept before the funding check: a coin that is not the channel's fails it (funding or open), an unknown spend is reported as such", async () => {
    // Two channels Bob accepted from hand-written openers, each at 'funding' with a proper funding_created.
    const funded = async (): Promise<HandPeer> => {
      const peer = new HandPeer();
      const acc = await call<{ message: string }>(bob, 'sc.accept', { message: peer.open(1_000_000n) });
      peer.takeAccept(acc.message);
      const tx = new bitcoin.Transaction();
      tx.version = 2;
      tx.addInput(Buffer.alloc(32, 9), 0, 0xfffffffd);
      tx.addOutput(peer.fundingOutputScript(), 1_000_000n);
      assert.equal((await call<Step>(bob, 'sc.receive', { message: peer.fundingCreated(tx.getId(), 0, tx) })).state, 'funding');
      return peer;
    };
    const [a, b, c] = [await funded(), await funded(), await funded()];
    // Someone else's confirmed coinbase, and a coin of a wallet the test holds.
    const [block] = await node.mine(1, alice.address);
    const cbTxid = (await node.rpc<{ tx: string[] }>('getblock', block, true, false)).tx[0]!;
    const w = newWallet();
    const coin = await fund(node, w);
    // Bob's records as an anyad without the funding check kept them: A funding at the coinbase, B open at the
    // wallet's coin (its funding output named by the opener alone), C open at another coinbase.
    bob.ch.close();
    await bob.d.kill();
    const db = new Level<string, unknown>(join(dir.path, 'bob', 'regtest', 'state'), { valueEncoding: 'json' });
    await db.open();
    const sub = db.sublevel<string, Record<string, unknown>>('channels', { valueEncoding: 'json' });
    const tip = await node.rpc<number>('getblockcount');
    await sub.put(`c:${a.id}`, { ...(await sub.get(`c:${a.id}`))!, funding_txid: cbTxid, funding_vout: 0 });
    // C open already at someone else's coin: caught at the next block, while its coin is unspent.
    const [block2] = await node.mine(1, alice.address);
    const cb2 = (await node.rpc<{ tx: string[] }>('getblock', block2, true, false)).tx[0]!;
    await sub.put(`c:${c.id}`, { ...(await sub.get(`c:${c.id}`))!, funding_txid: cb2, funding_vout: 0, state: 'open' });
    await sub.put(`c:${b.id}`, { ...(await sub.get(`c:${b.id}`))!, funding_txid: coin.txid, funding_vout: coin.vout, state: 'open', scan_height: tip });
    await db.close();
    // While Bob is down, B's coin is spent by a transaction that is neither a close nor a commitment of the channel
    // (were it unspent, Bob would fail B at once for its funding output, as C).
    const spend = pay(w, coin, w.address);
    await node.send(spend.hex);
    await node.mine(1, alice.address);
    bob = await start('bob');
    await node.mine(1, alice.address);
    const va = await until('A failed', async () => {
      const v = await call<View & { failure: string | null }>(bob, 'sc.get', { id: a.id });
      return v.state === 'funding' ? undefined : v;
    });
    assert.equal(va.state, 'failed', 'never reported open');
    assert.match(va.failure!, /pays \d+ sat to the funding output, not the channel's capacity of 1000000 sat/);
    const vb = await until('B failed', async () => {
      const v = await call<View & { failure: string | null; closed_by: string | null; closing_txid: string | null }>(bob, 'sc.get', { id: b.id });
      return v.state === 'open' ? undefined : v;
    });
    assert.deepEqual([vb.state, vb.closed_by, vb.closing_txid], ['failed', 'unknown', spend.txid]);
    const vc = await until('C failed', async () => {
      const v = await call<View & { failure: string | null }>(bob, 'sc.get', { id: c.id });
      return v.state === 'open' ? undefined : v;
    });
    assert.equal(vc.state, 'failed');
    assert.match(vc.failure!, /not the channel's capacity/);
    assert.match(vb.failure!, /no close or commitment of this channel/);
    assert.ok(
      bob.d.logs.some((l) => (l.level as number) >= 50 && l.id === b.id && /channel failed/.test(String(l.msg))),
      'logged as an error',
    );
  });

  it('tower: a blob that opens to bytes that are not a transaction is skipped, the other blobs of the block are acted on', async () => {
    // Two breaches-to-be X and Y (any transactions will do for a tower) and their penalties, from coins of a wallet
    // held by the test.
    const w = newWallet();
    const c1 = await fund(node, w);
    const c2 = await fund(node, w);
    const x = pay(w, c1, w.address);
    const y = pay(w, c2, w.address);
    const value = (t: { hex: string }) => BigInt(bitcoin.Transaction.fromHex(t.hex).outs[0]!.value);
    const px = pay(w, { txid: x.txid, vout: 0, value: value(x) }, w.address);
    const py = pay(w, { txid: y.txid, vout: 0, value: value(y) }, w.address);
    const good = [sealJustice(x.txid, px.hex), sealJustice(y.txid, py.hex)];
    // A blob for X that opens to bytes that are not a transaction, made to sort before X's good blob in the tower.
    const keyOf = (b: { blob: string }) => createHash('sha256').update(b.blob, 'hex').digest('hex').slice(0, 16);
    let bad = sealJustice(x.txid, 'ff'.repeat(80));
    while (keyOf(bad) >= keyOf(good[0]!)) bad = sealJustice(x.txid, 'ff'.repeat(80));
    for (const b of [bad, ...good]) await call(bob, 'sc.towerwatch', b);
    await call(bob, 'subscribe', { topics: ['sc.tower'] });
    await node.send(x.hex);
    await node.send(y.hex);
    await node.mine(1, alice.address);
    const seen = new Set<string>();
    await until('both penalties', async () => {
      const n = (await bob.ch.next(10_000)) as { params?: { topic: string; data: { breach_txid: string } } };
      if (n.params?.topic === 'sc.tower') seen.add(n.params.data.breach_txid);
      return seen.size === 2 ? true : undefined;
    });
    assert.deepEqual([...seen].sort(), [x.txid, y.txid].sort());
    assert.ok(bob.d.logs.some((l) => l.msg === 'tower: a blob opens to bytes that are not a transaction; skipped'));
  });
});
