// Issue 26 ("Money safety"), the DLC items: a hostile counterparty against a real anyad. Two anyads (Alice, Bob) on
// one bcoin regtest node with the room's default bounds; the test takes the messages one of them makes and changes
// exactly the values a hostile counterparty would send (a P2PKH or made-up funding input, an unbounded fee rate, a
// refund usable a second after the CETs, a CET locktime after the event, an OP_TRUE payout script, high-S
// signatures, more oracles or payout points than allowed, the largest numeric offer allowed) and checks that the
// other anyad refuses each before signing anything, by name; that the RPC server answers while a large offer is
// worked on; and that a contract signed but never funded can be cancelled, its coins freed.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import {
  decodeAccept,
  decodeClose,
  decodeOffer,
  decodeSign,
  encodeAccept,
  encodeClose,
  encodeOffer,
  encodeSign,
  type Offer,
} from '../../src/adapters/dlc/messages.js';
import type { NumericDescriptor, PayoutPoint } from '../../src/adapters/dlc/numeric.js';
import { verifyAnnouncement } from '../../src/adapters/dlc/oracle.js';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';
import { digitDescriptor, enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { call, startParty, type Party } from '../helpers/contract-party.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const N = secp256k1.Point.Fn.ORDER;
const WEEK = 604_800;
const MATURITY = 1_600_000_000;

interface RpcErr {
  code: number;
  message: string;
  data?: { rule?: string; limit?: number; value?: number };
}

async function refusal(ch: Channel, method: string, params: unknown): Promise<RpcErr> {
  const r = await ch.call(method, params, undefined, 120_000);
  assert.ok(r.error, `${method} should have been refused; it answered ${JSON.stringify(r.result)?.slice(0, 200)}`);
  return r.error as RpcErr;
}

/** A compact (r || s) signature's high-S twin: it verifies all the same, but is not standard (BIP 146). */
function highS(compactHex: string): string {
  const sig = Buffer.from(compactHex, 'hex');
  const s = BigInt(`0x${sig.subarray(32).toString('hex')}`);
  return hex(sig.subarray(0, 32)) + (N - s).toString(16).padStart(64, '0');
}

describe('DLC: a hostile counterparty (issue 26)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Party;
  let bob: Party;

  // The room's default bounds; debug logs to see the worker start.
  const start = (name: string): Promise<Party> => startParty(dir.path, node, name, { extra: ['-loglevel=debug'] });
  const coinbase = async (hash: string): Promise<{ txid: string; vout: number }> => {
    const block = await node.rpc<{ tx: string[] }>('getblock', hash, true, false);
    return { txid: block.tx[0]!, vout: 0 };
  };
  /**
   * A fresh coin for each party, from coinbases mined before the tests (so no test waits for the anyads to follow a
   * hundred blocks, and no block arrives while a test looks at a contract's state).
   */
  const pool: Array<{ aliceCoin: { txid: string; vout: number }; bobCoin: { txid: string; vout: number } }> = [];
  const coins = async (): Promise<(typeof pool)[number]> => pool.shift()!;
  const state = async (p: Party, id: string): Promise<string> => (await call<{ state: string }>(p.ch, 'dlc.get', { id })).state;
  const enumOffer = async (coin: { txid: string; vout: number }, event = 'hostile'): Promise<{ id: string; offer: string }> => {
    const oracle = makeOracle(enumDescriptor(['yes', 'no']), 1, event, 'tagged', MATURITY);
    return call(alice.ch, 'dlc.offer', {
      announcement: hex(oracle.ann),
      payouts: [
        { outcome: 'yes', offer_payout_sat: 20_000_000 },
        { outcome: 'no', offer_payout_sat: 0 },
      ],
      offer_collateral_sat: 10_000_000,
      total_collateral_sat: 20_000_000,
      fee_rate_sat_vb: 2,
      utxos: [coin],
    });
  };
  /** The offer with some values changed, as a hostile offerer would send it (a fresh temporary id: nothing of Bob's is reused). */
  const altered = (offerHex: string, change: (o: Offer) => Partial<Offer>): string => {
    const o = decodeOffer(Buffer.from(offerHex, 'hex'));
    return hex(encodeOffer({ ...o, temporary_contract_id: hex(randomBytes(32)), ...change(o) }));
  };

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    alice = await start('alice');
    bob = await start('bob');
    await until('both connected to the node', async () => {
      const a = await call<{ state: string }>(alice.ch, 'chain.getinfo');
      const b = await call<{ state: string }>(bob.ch, 'chain.getinfo');
      return a.state === 'connected' && b.state === 'connected' ? true : undefined;
    });
    const bobBlocks = await node.mine(5, bob.address);
    const aliceBlocks = await node.mine(5, alice.address);
    await node.mine(100, bob.address);
    for (let i = 0; i < 5; i++) pool.push({ aliceCoin: await coinbase(aliceBlocks[i]!), bobCoin: await coinbase(bobBlocks[i]!) });
  });
  after(async () => {
    alice?.ch.close();
    bob?.ch.close();
    await alice?.d.kill();
    await bob?.d.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it('item 3: funding inputs that are not segwit, or not on chain as their prev_tx says, are refused before signing', async () => {
    const { aliceCoin, bobCoin } = await coins();
    const offered = await enumOffer(aliceCoin);
    // A P2PKH coin on chain: its scriptSig, and with it the funding txid, would be the offerer's to choose after
    // Bob signed every CET and the refund.
    const legacy = bitcoin.payments.p2pkh({
      pubkey: Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)),
      network: bitcoin.networks.regtest,
    });
    const [legacyBlock] = await node.mine(1, legacy.address!);
    const legacyTx = await node.rpc<string>('getrawtransaction', (await coinbase(legacyBlock!)).txid, false);
    const p2pkh = altered(offered.offer, (o) => ({ funding_inputs: [{ ...o.funding_inputs[0]!, prev_tx: legacyTx, prev_tx_vout: 0 }] }));
    const e1 = await refusal(bob.ch, 'dlc.accept', { offer: p2pkh, utxos: [bobCoin] });
    assert.equal(e1.code, -32602);
    assert.match(e1.message, /the offerer's funding input 1: the output [0-9a-f]{64}:0 is not segwit/);
    // A P2WPKH output of a transaction that does not exist: the funding transaction could never confirm.
    const madeUp = new bitcoin.Transaction();
    madeUp.version = 2;
    madeUp.addInput(randomBytes(32), 0);
    madeUp.addOutput(bitcoin.address.toOutputScript(alice.address, bitcoin.networks.regtest), 200_000_000n);
    const ghost = altered(offered.offer, (o) => ({ funding_inputs: [{ ...o.funding_inputs[0]!, prev_tx: madeUp.toHex(), prev_tx_vout: 0 }] }));
    const e2 = await refusal(bob.ch, 'dlc.accept', { offer: ghost, utxos: [bobCoin] });
    assert.match(e2.message, /is spent or not on chain: the funding transaction could never confirm/);
    // Bob's own coin named as the offerer's input: the funding transaction would spend it twice (and Bob's HSM
    // would be handed his own coin as the offerer's contribution).
    const bobsPrev = await node.rpc<string>('getrawtransaction', bobCoin.txid, false);
    const stolen = altered(offered.offer, (o) => ({ funding_inputs: [{ ...o.funding_inputs[0]!, prev_tx: bobsPrev, prev_tx_vout: bobCoin.vout }] }));
    const e3 = await refusal(bob.ch, 'dlc.accept', { offer: stolen, utxos: [bobCoin] });
    assert.match(e3.message, /is spent twice in the funding transaction/);
    assert.deepEqual(await call(bob.ch, 'dlc.list'), [], 'Bob made and signed nothing');
    await call(alice.ch, 'dlc.cancel', { id: offered.id });
  });

  it('item 4: fee rate, locktimes and scripts bounded; dlc.decodeoffer shows the terms; dlc.accept holds them to expect', async () => {
    const { aliceCoin, bobCoin } = await coins();
    const offered = await enumOffer(aliceCoin, 'terms');
    const accept = (offer: string, expect?: unknown) => refusal(bob.ch, 'dlc.accept', { offer, utxos: [bobCoin], ...(expect ? { expect } : {}) });
    const fee = await accept(altered(offered.offer, () => ({ fee_rate_per_vb: 6251n })));
    assert.equal(fee.code, -32013);
    assert.deepEqual(fee.data, { rule: 'dlc.maxfeerate', limit: 6250, value: 6251 });
    const early = await accept(altered(offered.offer, (o) => ({ refund_locktime: o.cet_locktime + 1 })));
    assert.equal(early.code, -32013);
    assert.equal(early.data?.rule, 'dlc.minrefunddelay');
    assert.match(early.message, /refund_locktime \d+ is 1 seconds after cet_locktime \d+; dlc.minrefunddelay asks for at least 604800 seconds/);
    const late = await accept(altered(offered.offer, () => ({ cet_locktime: MATURITY + 1, refund_locktime: MATURITY + 1 + WEEK })));
    assert.equal(late.code, -32602);
    assert.match(late.message, /cet_locktime 1600000001 is after the event's maturity 1600000000/);
    const forever = await accept(altered(offered.offer, () => ({ refund_locktime: MATURITY + 2 * 365 * 86_400 })));
    assert.equal(forever.data?.rule, 'dlc.maxrefunddelay');
    const opTrue = await accept(altered(offered.offer, () => ({ payout_spk: '51' })));
    assert.equal(opTrue.code, -32602);
    assert.match(opTrue.message, /the offer's payout_spk 51 is not a standard output script/);
    const badKey = await accept(altered(offered.offer, () => ({ funding_pubkey: `02${'ff'.repeat(32)}` })));
    assert.match(badKey.message, /not a compressed secp256k1 point/);

    const terms = await call<Record<string, unknown>>(bob.ch, 'dlc.decodeoffer', { offer: offered.offer });
    assert.deepEqual(
      [terms.accept_collateral_sat, terms.total_collateral_sat, terms.fee_rate_sat_vb, terms.cet_locktime, terms.refund_locktime, terms.refusal],
      [10_000_000, 20_000_000, 2, MATURITY, MATURITY + WEEK, null],
    );
    assert.deepEqual(terms.payouts, [
      { outcome: 'yes', offer_payout_sat: 20_000_000, accept_payout_sat: 0 },
      { outcome: 'no', offer_payout_sat: 0, accept_payout_sat: 20_000_000 },
    ]);
    assert.equal((terms.event as { event_id: string }).event_id, 'terms');
    assert.equal((terms.counterparty as { funding_inputs: Array<{ kind: string }> }).funding_inputs[0]!.kind, 'p2wpkh');
    const shown = await call<{ refusal: string }>(bob.ch, 'dlc.decodeoffer', { offer: altered(offered.offer, () => ({ fee_rate_per_vb: 10_000n })) });
    assert.match(shown.refusal, /over dlc.maxfeerate/);

    const more = await accept(offered.offer, { accept_collateral_sat: 5_000_000 });
    assert.match(more.message, /the offer's accept collateral is 10000000, not the 5000000 expected/);
    const dearer = await accept(offered.offer, { max_fee_rate_sat_vb: 1 });
    assert.match(dearer.message, /the offer's fee rate is 2, not the at most 1 expected/);
    const taken = await call<{ id: string }>(bob.ch, 'dlc.accept', {
      offer: offered.offer,
      utxos: [bobCoin],
      expect: { accept_collateral_sat: 10_000_000, total_collateral_sat: 20_000_000, max_fee_rate_sat_vb: 2, event_id: 'terms' },
    });
    assert.equal(taken.id, offered.id);
    await call(bob.ch, 'dlc.cancel', { id: offered.id });
    await call(alice.ch, 'dlc.cancel', { id: offered.id });
  });

  it('item 5 and item 10: high-S signatures refused at every step; a contract signed but never funded is cancelled and its coin freed', async () => {
    const { aliceCoin, bobCoin } = await coins();
    const offered = await enumOffer(aliceCoin, 'low-s');
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [bobCoin] });
    // Bob's refund signature turned high-S (it verifies all the same): Alice signs nothing.
    const a = decodeAccept(Buffer.from(accepted.accept, 'hex'));
    const e1 = await refusal(alice.ch, 'dlc.sign', { accept: hex(encodeAccept({ ...a, refund_signature: highS(a.refund_signature) })) });
    assert.equal(e1.code, -32602);
    assert.match(e1.message, /the accepter's refund signature has a high S value/);
    assert.equal(await state(alice, offered.id), 'offered');
    const signed = await call<{ sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept });
    // Alice's refund signature, then her funding input's signature, turned high-S: Bob funds nothing.
    const s = decodeSign(Buffer.from(signed.sign, 'hex'));
    const e2 = await refusal(bob.ch, 'dlc.finalize', { sign: hex(encodeSign({ ...s, refund_signature: highS(s.refund_signature) })) });
    assert.match(e2.message, /the offerer's refund signature has a high S value/);
    const [der, key] = s.funding_signatures[0]!;
    const compact = hex(bitcoin.script.signature.decode(Buffer.from(der!, 'hex')).signature);
    const highDer = hex(bitcoin.script.signature.encode(Buffer.from(highS(compact), 'hex'), bitcoin.Transaction.SIGHASH_ALL));
    const e3 = await refusal(bob.ch, 'dlc.finalize', { sign: hex(encodeSign({ ...s, funding_signatures: [[highDer, key!]] })) });
    assert.match(e3.message, /the offerer's funding witness 1's signature has a high S value/);
    assert.equal(await state(bob, offered.id), 'accepted');

    // Item 10: Bob never funds. Alice's contract is signed; with its funding nowhere, she cancels it and her coin
    // funds another offer.
    assert.equal(await state(alice, offered.id), 'signed');
    assert.deepEqual(await call(alice.ch, 'dlc.cancel', { id: offered.id }), { id: offered.id, state: 'cancelled' });
    const again = await enumOffer(aliceCoin, 'low-s again');
    await call(alice.ch, 'dlc.cancel', { id: again.id });
    // Bob funds after all (he holds Alice's funding signatures): Alice's anyad follows the contract again, and then
    // it cannot be cancelled.
    const funded = await call<{ txid: string }>(bob.ch, 'dlc.finalize', { sign: signed.sign });
    await until('the funding in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(funded.txid) ? true : undefined));
    await node.mine(1, bob.address);
    await until('Alice following the contract again', async () => ((await state(alice, offered.id)) === 'confirmed' ? true : undefined), 800);
    // Bob's anyad sees the same block on its own time: wait for it too, so the refused close below is judged against
    // a contract both sides hold as confirmed.
    await until('Bob seeing the funding confirmed', async () => ((await state(bob, offered.id)) === 'confirmed' ? true : undefined), 800);
    const e4 = await refusal(alice.ch, 'dlc.cancel', { id: offered.id });
    assert.equal(e4.code, -32014);

    // A funded contract: a close proposal whose signature is turned high-S is refused.
    const proposal = await call<{ close: string }>(alice.ch, 'dlc.proposeclose', { id: offered.id, payout_sat: 15_000_000 });
    const c = decodeClose(Buffer.from(proposal.close, 'hex'));
    const e5 = await refusal(bob.ch, 'dlc.acceptclose', {
      close: hex(encodeClose({ ...c, close_signature: highS(c.close_signature) })),
      payout_sat: 5_000_000,
    });
    assert.match(e5.message, /close_signature has a high S value/);
    assert.equal(await state(bob, offered.id), 'confirmed');
  });

  it('item 10: a signed contract whose funding is in the mempool cannot be cancelled', async () => {
    const { aliceCoin, bobCoin } = await coins();
    const offered = await enumOffer(aliceCoin, 'mempool');
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [bobCoin] });
    const signed = await call<{ sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept });
    const funded = await call<{ txid: string }>(bob.ch, 'dlc.finalize', { sign: signed.sign });
    await until('the funding in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(funded.txid) ? true : undefined));
    // Alice's follower has not seen a block since: her record still says signed.
    assert.equal(await state(alice, offered.id), 'signed');
    const e = await refusal(alice.ch, 'dlc.cancel', { id: offered.id });
    assert.equal(e.code, -32014);
    assert.match(e.message, /its funding transaction [0-9a-f]{64} is on chain or in the mempool/);
    await node.mine(1, bob.address);
  });

  it('item 6: more oracles or payout points than allowed are refused as read; the RPC server answers while the largest numeric offer allowed is worked on', async () => {
    const { aliceCoin, bobCoin } = await coins();
    const offered = await enumOffer(aliceCoin, 'limits');
    const base = decodeOffer(Buffer.from(offered.offer, 'hex'));
    // 11 oracles, threshold 6 (462 combinations): over dlc.maxoracles (10).
    const oracles = Array.from({ length: 11 }, () => makeOracle(enumDescriptor(['yes', 'no']), 1, 'limits', 'tagged', MATURITY));
    const many = altered(offered.offer, (o) => ({
      contract_info: {
        ...o.contract_info,
        oracles: { threshold: 6, announcements: oracles.map((x) => verifyAnnouncement(x.ann)), tlvs: oracles.map((x) => hex(x.ann)) },
      },
    }));
    const e1 = await refusal(bob.ch, 'dlc.accept', { offer: many, utxos: [bobCoin] });
    assert.equal(e1.code, -32013);
    assert.deepEqual(e1.data, { rule: 'dlc.maxoracles', limit: 10, value: 11 });
    assert.match(e1.message, /oracles: 11 is over dlc.maxoracles \(10\)/);

    // A numeric offer on 20 binary digits (2^20 outcomes, the most dlc.maxoutcomes allows): nothing up to 2^19 - 1,
    // everything from 2^19, each half a polynomial piece through 16 points (the most dlc.maxpayoutpoints allows).
    const total = base.contract_info.total_collateral;
    const half = 2 ** 19;
    const at = (x: number, y: bigint): PayoutPoint => ({ event_outcome: BigInt(x), outcome_payout: y, extra_precision: 0 });
    // Interior points spread evenly over each piece (a well-conditioned interpolation: each half stays flat).
    const flat = (from: number, to: number, y: bigint, points: number): PayoutPoint[] =>
      Array.from({ length: points }, (_, i) => at(Math.round(from + ((i + 1) * (to - from)) / (points + 1)), y));
    const numeric = (points: number): NumericDescriptor => ({
      num_digits: 20,
      pieces: [
        { end_point: at(0, 0n), points: flat(0, half - 1, 0n, points) },
        { end_point: at(half - 1, 0n), points: [] },
        { end_point: at(half, total), points: flat(half, 2 ** 20 - 1, total, points) },
      ],
      last_endpoint: at(2 ** 20 - 1, total),
      rounding: [{ begin: 0n, mod: 1n }],
    });
    const oracle = makeOracle(digitDescriptor(2, false, 20), 20, 'limits-numeric', 'tagged', MATURITY);
    const numericOffer = (points: number): string =>
      altered(offered.offer, (o) => ({
        contract_info: {
          total_collateral: o.contract_info.total_collateral,
          payouts: [],
          numeric: numeric(points),
          announcement: verifyAnnouncement(oracle.ann),
          announcement_tlv: hex(oracle.ann),
        },
      }));
    const e2 = await refusal(bob.ch, 'dlc.accept', { offer: numericOffer(17), utxos: [bobCoin] });
    assert.deepEqual(e2.data, { rule: 'dlc.maxpayoutpoints', limit: 16, value: 17 });
    const wide = makeOracle(digitDescriptor(2, false, 21), 21, 'limits-wide', 'tagged', MATURITY);
    const e3 = await refusal(bob.ch, 'dlc.accept', {
      offer: altered(offered.offer, (o) => ({
        contract_info: {
          ...o.contract_info,
          payouts: [],
          numeric: { ...numeric(1), num_digits: 21 },
          announcement: verifyAnnouncement(wide.ann),
          announcement_tlv: hex(wide.ann),
        },
      })),
      utxos: [bobCoin],
    });
    assert.deepEqual(e3.data, { rule: 'dlc.maxoutcomes', limit: 1 << 20, value: 1 << 21 });

    // The largest allowed: while Bob's anyad evaluates it (in a worker), uptime on another connection is answered
    // before the accept is, by order of events, not by a timing threshold.
    const other = await unixChannel(bob.d.socket);
    try {
      const started = bob.d.logs.length;
      let acceptAnswered = false;
      const accepting = bob.ch.call('dlc.accept', { offer: numericOffer(16), utxos: [bobCoin] }, undefined, 300_000).then((r) => {
        acceptAnswered = true;
        return r;
      });
      await bob.d.waitForLog((l) => l.msg === 'DLC work started in a worker' && l.what === 'reading an offer' && bob.d.logs.indexOf(l) >= started, 60_000);
      const up = await other.call('uptime');
      assert.equal(typeof up.result, 'number');
      assert.equal(acceptAnswered, false, 'uptime was answered while the offer was still being read');
      const done = await accepting;
      assert.ok(done.result, JSON.stringify(done.error));
      assert.equal(await state(bob, (done.result as { id: string }).id), 'accepted');
    } finally {
      other.close();
    }

    // The time budget: an anyad whose bounds allow 400 points a piece (a minute of work here) and one second of
    // it stops the worker at the second and refuses by name; its next offer is read by a fresh worker.
    const pf = join(dir.path, 'carol.pass');
    await writeFile(pf, "carol's keystore passphrase\n", { mode: 0o600 });
    const carol = await startDaemon(join(dir.path, 'carol'), {
      args: keystorePartyArgs(node, pf, ['-dlc.maxpayoutpoints=400', '-dlc.workertimeout=1']),
    });
    const cch = await unixChannel(carol.socket);
    try {
      const slow = await refusal(cch, 'dlc.decodeoffer', { offer: numericOffer(400) });
      assert.equal(slow.code, -32013);
      assert.deepEqual(slow.data, { rule: 'dlc.workertimeout', limit: 1 });
      assert.match(slow.message, /took longer than dlc.workertimeout \(1 s\): refused/);
      const quick = await call<{ cets: number }>(cch, 'dlc.decodeoffer', { offer: offered.offer });
      assert.equal(quick.cets, 2);
    } finally {
      cch.close();
      await carol.kill();
    }
  });
});
