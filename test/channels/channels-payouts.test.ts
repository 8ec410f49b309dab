// Where a channel pays this side on chain when the wallet room is on (issue 27 item 4), two anyads on one bcoin
// regtest node (channels-setup.ts), the wallet room on as by default: the cooperative close pays the payout scripts
// both anyads named at the open (BOLT 2's upfront_shutdown_script) and each wallet counts and lists its output as
// received; a sweep after a unilateral close, the other side's sweep of its to_remote, and a penalty after a breach
// pay the wallet address the channel took once (kept across a restart) and land in the wallet too. The counterparty's payout script is an adversary's input:
// P2PKH, P2SH, bare and over-long scripts are refused at the open and at the accept by name; P2WSH and P2TR are
// taken. A message without one (an earlier anyad's) and a record an earlier anyad wrote close to the payment keys.
// With the wallet room off, channels-breach.test.ts has everything paying the payment key as before.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import * as ecc from '@bitcoinerlab/secp256k1';
import { Level } from 'level';
import { until } from '../helpers/until.js';
import { HandPeer } from '../peers/channels-peer.js';
import { appHash, call, CAPACITY, DELAY, refuses, twoAnyads, type Party, type Step } from './channels-setup.js';

interface WalletTx {
  txid: string;
  direction: string;
  amount_sat: number;
  confirmations: number;
}
const INVALID = -32602;

bitcoin.initEccLib(ecc); // the test reads P2TR addresses
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('state channels paying the wallet: closes, sweeps and penalties land in it', () => {
  const w = twoAnyads();
  const { start, view, waitState, inMempool, paymentAddress, outputsOf, openChannel, update } = w;

  const confirmed = async (p: Party): Promise<number> => (await call<{ confirmed_sat: number }>(p, 'wallet.getbalance')).confirmed_sat;
  /** The wallet's entry of a transaction once it has a confirmation (the wallet follows the block). */
  const walletEntry = (p: Party, txid: string): Promise<WalletTx> =>
    until(`${p.name}'s wallet lists ${txid} confirmed`, async () => {
      const { items } = await call<{ items: WalletTx[] }>(p, 'wallet.listtransactions', { count: 1000 });
      return items.find((t) => t.txid === txid && t.confirmations >= 1);
    });
  /** The transaction landed in p's wallet: listed as received for `value`, and the confirmed balance up by it. */
  const landed = async (p: Party, txid: string, value: number, balanceBefore: number): Promise<void> => {
    const e = await walletEntry(p, txid);
    assert.deepEqual([e.direction, e.amount_sat], ['received', value], `${p.name}'s wallet lists ${txid} as received`);
    await until(`${p.name}'s confirmed balance counts it`, async () => ((await confirmed(p)) === balanceBefore + value ? true : undefined));
  };
  /** The penalties Alice's anyad logged as broadcast for a channel, oldest first. */
  const penalties = (id: string): string[] => w.alice.d.logs.filter((l) => l.msg === 'channel penalty broadcast' && l.id === id).map((l) => l.txid as string);
  const restart = async (name: 'alice' | 'bob'): Promise<void> => {
    w[name].ch.close();
    await w[name].d.kill();
    w[name] = await start(name, w[name]);
  };

  it('a cooperative close pays the payout addresses named at the open; each wallet counts its output as received', async () => {
    const id = await openChannel(20_000_000);
    const avail = CAPACITY - (await view(w.alice, id)).fee_sat;
    await update(id, w.alice, w.bob, avail - 30_000_000, 30_000_000, appHash(1));
    const [a, b] = await Promise.all([view(w.alice, id), view(w.bob, id)]);
    // Each anyad knows both payout addresses, the same ones, and neither is the channel's payment key.
    assert.deepEqual([a.payout.close, a.payout.their_close], [b.payout.their_close, b.payout.close]);
    assert.notEqual(a.payout.close, await paymentAddress(w.alice, a.keys.payment));
    assert.notEqual(b.payout.close, await paymentAddress(w.bob, b.keys.payment));
    // One wallet address per channel: the close's, and the one its sweeps and penalties would pay.
    assert.equal(a.payout.claim, a.payout.close);
    const before = { alice: await confirmed(w.alice), bob: await confirmed(w.bob) };

    const close = await call<{ message: string }>(w.alice, 'sc.close', { id });
    const closed = await call<Step>(w.bob, 'sc.receive', { message: close.message });
    await inMempool(closed.txid!);
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, id, 'closed');
    await waitState(w.bob, id, 'closed');
    const outs = (await outputsOf(closed.txid!)).filter((o) => o.address);
    assert.deepEqual(
      outs.sort((x, y) => x.value - y.value),
      [
        { address: b.payout.close, value: 30_000_000 },
        { address: a.payout.close, value: avail - 30_000_000 },
      ],
    );
    await landed(w.alice, closed.txid!, avail - 30_000_000, before.alice);
    await landed(w.bob, closed.txid!, 30_000_000, before.bob);
  });

  it('a unilateral close: the sweep after the delay pays the wallet address the channel took at its open (kept across a restart); the other side sweeps its to_remote into its wallet', async () => {
    const id = await openChannel(20_000_000);
    const claimAddress = (await view(w.bob, id)).payout.claim!;
    assert.notEqual(claimAddress, await paymentAddress(w.bob, (await view(w.bob, id)).keys.payment));
    const forced = await call<{ txid: string }>(w.bob, 'sc.forceclose', { id });
    await inMempool(forced.txid);
    await w.node.mine(1, w.alice.address);
    // Alice's balance is the commitment's to_remote: it pays her channel's payment key (the commitment both signed
    // names that key). Once the commitment confirms, her anyad sweeps it to the channel's claim address: her wallet.
    const alice = await view(w.alice, id);
    const aliceKey = await paymentAddress(w.alice, alice.keys.payment);
    assert.ok((await outputsOf(forced.txid)).some((o) => o.address === aliceKey && o.value === alice.to_opener_sat));
    const aliceBefore = await confirmed(w.alice);
    const remoteSweep = await w.confirmClaim(w.alice, id);
    const swept = await outputsOf(remoteSweep);
    assert.equal(swept.length, 1);
    assert.equal(swept[0]!.address, (await view(w.alice, id)).payout.claim);
    assert.ok(swept[0]!.value > alice.to_opener_sat - 1000 && swept[0]!.value < alice.to_opener_sat, `${swept[0]!.value} sat swept`);
    await landed(w.alice, remoteSweep, swept[0]!.value, aliceBefore);
    // A restart while Bob waits for his delay takes no new address.
    await restart('bob');
    assert.equal((await view(w.bob, id)).payout.claim, claimAddress);
    const before = await confirmed(w.bob);
    await w.node.mine(DELAY - 2, w.alice.address);
    const sweep = await w.confirmClaim(w.bob, id);
    const outs = await outputsOf(sweep);
    assert.equal(outs.length, 1);
    assert.equal(outs[0]!.address, claimAddress);
    assert.ok(outs[0]!.value > 20_000_000 - 1000 && outs[0]!.value < 20_000_000);
    await landed(w.bob, sweep, outs[0]!.value, before);
  });

  it("a breach: the penalty pays the victim's wallet address and lands in its wallet", async () => {
    const id = await openChannel();
    const avail = CAPACITY - (await view(w.alice, id)).fee_sat;
    await update(id, w.alice, w.bob, avail - 40_000_000, 40_000_000, appHash(1));
    // Bob's anyad put back to a copy of its datadir made at state 1 (40M his then, 10M now).
    await w.keepOldBob();
    await update(id, w.alice, w.bob, avail - 10_000_000, 10_000_000, appHash(2));
    await w.restoreOldBob();
    const claimAddress = (await view(w.alice, id)).payout.claim!;
    const before = await confirmed(w.alice);
    const forced = await call<{ txid: string }>(w.bob, 'sc.forceclose', { id });
    await inMempool(forced.txid);
    // Alice's anyad sees the revoked commitment in the mempool and sends the penalty before any block.
    await until('the penalty in the mempool', async () => {
      const txid = penalties(id).at(-1);
      return txid && (await w.node.rpc<string[]>('getrawmempool')).includes(txid) ? txid : undefined;
    });
    await w.node.mine(1, w.bob.address);
    // Then Alice's own balance of that state, in the revoked commitment's to_remote (her payment key), is swept to
    // her wallet too, once the penalty has confirmed: both outputs of the commitment end in her wallet.
    const sweep = await until(
      'the sweep of the to_remote',
      async () => w.alice.d.logs.find((l) => l.msg === 'channel sweep broadcast' && l.id === id)?.txid as string | undefined,
    );
    await inMempool(sweep);
    assert.equal((await view(w.alice, id)).state, 'penalizing', 'not closed before its last output is ours');
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, id, 'closed');
    assert.equal((await view(w.alice, id)).closed_by, 'penalty');
    // The penalty that confirmed (a bumped one may have followed it): its one output is the wallet's.
    const penalty = await until('the confirmed penalty', async () => {
      for (const txid of penalties(id)) {
        const t = await w.node.rpc<{ confirmations?: number }>('getrawtransaction', txid, true).catch(() => undefined);
        if ((t?.confirmations ?? 0) >= 1) return txid;
      }
      return undefined;
    });
    const outs = await outputsOf(penalty);
    assert.deepEqual(
      outs.map((o) => o.address),
      [claimAddress],
    );
    assert.ok(outs[0]!.value > 40_000_000 - 5_000, `the penalty takes Bob's 40M less its fee (${outs[0]!.value})`);
    const entry = await walletEntry(w.alice, penalty);
    assert.deepEqual([entry.direction, entry.amount_sat], ['received', outs[0]!.value], "Alice's wallet lists the penalty as received");
    const swept = await outputsOf(sweep);
    assert.deepEqual(
      swept.map((o) => o.address),
      [claimAddress],
    );
    assert.ok(swept[0]!.value > avail - 40_000_000 - 5_000, `the sweep takes Alice's state-1 balance less its fee (${swept[0]!.value})`);
    await landed(w.alice, sweep, swept[0]!.value, before + outs[0]!.value);
  });

  it('payout scripts from the counterparty: P2PKH, P2SH, bare and over-long refused by name at the open and at the accept; P2WSH and P2TR taken', async () => {
    const key = Buffer.from(new HandPeer().keys.payment_basepoint, 'hex');
    const bad: Array<[string, string, RegExp]> = [
      ['P2PKH', hexOf(bitcoin.payments.p2pkh({ pubkey: key }).output!), /payout_script is a P2PKH script: a payout script must be P2WPKH, P2WSH or P2TR/],
      ['P2SH', hexOf(bitcoin.payments.p2sh({ redeem: { output: Buffer.of(0x51) } }).output!), /payout_script is a P2SH script/],
      ['over-long', `0026${'ab'.repeat(38)}`, /payout_script is 40 bytes long \(at most 34\)/],
      ['bare', '51', /payout_script is not a segwit v0 or v1 output script/],
      ['not hex', 'zz', /payout_script must be lowercase hex/],
    ];
    // At the open: Bob's sc.accept refuses it, and keeps nothing of the channel.
    for (const [what, script, re] of bad) {
      const peer = new HandPeer();
      peer.payoutScript = script;
      await refuses(w.bob, 'sc.accept', { message: peer.open(1_000_000n) }, INVALID, re);
      assert.equal((await w.bob.ch.call('sc.get', { id: peer.id })).error?.code, -32011, `${what}: no channel kept`);
    }
    // At the accept: Alice's channel stays 'opening', nothing funded.
    const opened = await call<{ id: string; message: string }>(w.alice, 'sc.open', {
      capacity_sat: 1_000_000,
      to_self_delay: DELAY,
      utxos: [await w.aliceCoin()],
    });
    for (const [, script, re] of bad) {
      const peer = new HandPeer();
      peer.payoutScript = script;
      await refuses(w.alice, 'sc.receive', { message: peer.accept(opened.message) }, INVALID, re);
    }
    assert.equal((await view(w.alice, opened.id)).state, 'opening');
    // A P2TR payout from the accepter is taken: both payout addresses are known to Alice.
    const taproot = new HandPeer();
    taproot.payoutScript = `5120${key.subarray(1).toString('hex')}`;
    const created = await call<Step>(w.alice, 'sc.receive', { message: taproot.accept(opened.message) });
    assert.equal(created.state, 'funding');
    const a = await view(w.alice, opened.id);
    assert.equal(a.payout.their_close, bitcoin.address.fromOutputScript(Buffer.from(taproot.payoutScript, 'hex'), bitcoin.networks.regtest));
    assert.equal(a.payout.close, a.payout.claim, "Alice's own: the wallet address her open named");
    assert.equal(taproot.theirPayout, hexOf(bitcoin.address.toOutputScript(a.payout.close!, bitcoin.networks.regtest)));
    await call(w.alice, 'sc.cancel', { id: opened.id });
    // A P2WSH payout from the opener is taken, and Bob's accept names his own back.
    const wsh = new HandPeer();
    wsh.payoutScript = hexOf(bitcoin.payments.p2wsh({ redeem: { output: Buffer.of(0x51) } }).output!);
    const acc = await call<{ message: string }>(w.bob, 'sc.accept', { message: wsh.open(1_000_000n) });
    wsh.takeAccept(acc.message);
    const b = await view(w.bob, wsh.id);
    assert.equal(b.payout.their_close, bitcoin.address.fromOutputScript(Buffer.from(wsh.payoutScript, 'hex'), bitcoin.networks.regtest));
    assert.equal(wsh.theirPayout, hexOf(bitcoin.address.toOutputScript(b.payout.close!, bitcoin.networks.regtest)));
    // An open naming none is an earlier anyad's: Bob names none back, the close pays both payment keys, and his
    // sweeps and penalties still pay a wallet address.
    const old = new HandPeer();
    const acc2 = await call<{ message: string }>(w.bob, 'sc.accept', { message: old.open(1_000_000n) });
    old.takeAccept(acc2.message);
    assert.equal(old.theirPayout, undefined);
    const o = await view(w.bob, old.id);
    assert.equal(o.payout.close, await paymentAddress(w.bob, o.keys.payment));
    assert.equal(
      o.payout.their_close,
      bitcoin.payments.p2wpkh({ pubkey: Buffer.from(old.keys.payment_basepoint, 'hex'), network: bitcoin.networks.regtest }).address,
    );
    assert.notEqual(o.payout.claim, o.payout.close);
  });

  it('a channel an earlier anyad recorded (no payout scripts) still loads and closes cooperatively, to the payment keys', async () => {
    const id = await openChannel(20_000_000);
    for (const name of ['alice', 'bob'] as const) {
      w[name].ch.close();
      await w[name].d.kill();
      const db = new Level<string, unknown>(join(w.dir.path, name, 'regtest', 'state'), { valueEncoding: 'json' });
      await db.open();
      const sub = db.sublevel<string, Record<string, unknown>>('channels', { valueEncoding: 'json' });
      const { our_payout: _o, their_payout: _t, claim_script: _c, ...earlier } = (await sub.get(`c:${id}`))!;
      await sub.put(`c:${id}`, earlier);
      await db.close();
      w[name] = await start(name, w[name]);
    }
    const [a, b] = await Promise.all([view(w.alice, id), view(w.bob, id)]);
    const aliceKey = await paymentAddress(w.alice, a.keys.payment);
    const bobKey = await paymentAddress(w.bob, b.keys.payment);
    assert.deepEqual([a.payout.close, a.payout.their_close, b.payout.close], [aliceKey, bobKey, bobKey]);
    const close = await call<{ message: string }>(w.bob, 'sc.close', { id });
    const closed = await call<Step>(w.alice, 'sc.receive', { message: close.message });
    await inMempool(closed.txid!);
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, id, 'closed');
    await waitState(w.bob, id, 'closed');
    const outs = (await outputsOf(closed.txid!)).filter((o) => o.address);
    assert.deepEqual(outs.map((o) => o.address).sort(), [aliceKey, bobKey].sort());
  });
});
