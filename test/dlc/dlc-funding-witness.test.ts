// A hostile offerer's funding witnesses in sign_dlc, against a real accepting anyad (Bob) on a bcoin regtest node.
// The offerer here is the test: it takes an offer Alice's anyad made and puts in its own coins (a P2WSH output of a
// script it chose, a P2TR output of a key it holds), lets Bob accept, and sends sign_dlc with exactly the witness a
// cheat would send. Bob must refuse, before signing his funding input:
// - a P2WSH witness longer than the max_witness_len its input declared (the funding fee, computed from the declared
//   lengths, would be short: the funding transaction pays less than the agreed rate, or does not relay);
// - a P2TR key-path witness whose Schnorr signature does not verify (BIP 340 over the BIP 341 sighash): before, only
//   its length was checked, and the funding could never be broadcast once Bob had signed.
// A witness that fits (a short P2WSH stack, a valid key-path signature) passes those checks and reaches the next
// one (the adaptor signatures, left invalid by the test): the checks refuse only what they name.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { schnorr } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import { decodeAccept, decodeOffer, encodeOffer, encodeSign, type FundingInput } from '../../src/adapters/dlc/messages.js';
import { buildFunding } from '../../src/adapters/dlc/transactions.js';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { call, startParty, type Party } from '../helpers/contract-party.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const NET = bitcoin.networks.regtest;
/** The test's P2WSH script: OP_DROP OP_TRUE (any one element spends it). */
const WSCRIPT = Buffer.of(0x75, 0x51);
const P2WSH = bitcoin.payments.p2wsh({ redeem: { output: WSCRIPT }, network: NET });

describe('DLC: a hostile offerer’s funding witnesses (sign_dlc)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Party;
  let bob: Party;
  const taprootKey = schnorr.utils.randomSecretKey();
  /** The test's coins: P2WSH coinbases, and a P2TR output made from one of them. */
  let wshCoins: string[] = [];
  let trCoin: { txid: string; vout: number } | undefined;
  const bobCoins: Array<{ txid: string; vout: number }> = [];
  const aliceCoins: Array<{ txid: string; vout: number }> = [];

  const start = (name: string): Promise<Party> => startParty(dir.path, node, name);
  const coinbase = async (hash: string): Promise<{ txid: string; vout: number }> => {
    const block = await node.rpc<{ tx: string[] }>('getblock', hash, true, false);
    return { txid: block.tx[0]!, vout: 0 };
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
    wshCoins = await Promise.all((await node.mine(3, P2WSH.address!)).map(async (h) => (await coinbase(h)).txid));
    for (const h of await node.mine(3, bob.address)) bobCoins.push(await coinbase(h));
    for (const h of await node.mine(3, alice.address)) aliceCoins.push(await coinbase(h));
    await node.mine(100);
    // A P2TR output of the test's key (the key itself as output key: a key-path spend signs with it as it is).
    const spend = new bitcoin.Transaction();
    spend.version = 2;
    spend.addInput(Buffer.from(wshCoins[2]!, 'hex').reverse(), 0);
    spend.addOutput(Buffer.concat([Buffer.of(0x51, 0x20), schnorr.getPublicKey(taprootKey)]), 4_999_990_000n);
    spend.setWitness(0, [Buffer.of(1), WSCRIPT]);
    try {
      await node.send(spend.toHex());
      await node.mine(1);
      trCoin = { txid: spend.getId(), vout: 0 };
    } catch {
      trCoin = undefined; // a node that does not relay v1 outputs: the P2TR case is skipped (dlc-rules tests the rule)
    }
  });
  after(async () => {
    alice?.ch.close();
    bob?.ch.close();
    await alice?.d.kill();
    await bob?.d.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  /** Alice's offer with the test's coin as the offerer's one funding input; Bob accepts it. */
  const acceptedWith = async (coin: { txid: string; vout: number }, maxWitnessLen: number, event: string) => {
    const oracle = makeOracle(enumDescriptor(['yes', 'no']), 1, event, 'tagged', 1_600_000_000);
    const made = await call<{ offer: string }>(alice.ch, 'dlc.offer', {
      announcement: hex(oracle.ann),
      payouts: [
        { outcome: 'yes', offer_payout_sat: 20_000_000 },
        { outcome: 'no', offer_payout_sat: 0 },
      ],
      offer_collateral_sat: 10_000_000,
      total_collateral_sat: 20_000_000,
      fee_rate_sat_vb: 2,
      utxos: [aliceCoins.shift()!],
    });
    const o = decodeOffer(Buffer.from(made.offer, 'hex'));
    const input: FundingInput = {
      input_serial_id: o.funding_inputs[0]!.input_serial_id,
      prev_tx: await node.rpc<string>('getrawtransaction', coin.txid, false),
      prev_tx_vout: coin.vout,
      sequence: 0xffffffff,
      max_witness_len: maxWitnessLen,
      redeem_script: '',
    };
    const offer = { ...o, temporary_contract_id: hex(randomBytes(32)), funding_inputs: [input] };
    const accepted = await call<{ id: string; accept: string }>(bob.ch, 'dlc.accept', { offer: hex(encodeOffer(offer)), utxos: [bobCoins.shift()!] });
    const rec = await call<{ contract_id: string }>(bob.ch, 'dlc.get', { id: accepted.id });
    return { id: accepted.id, offer, accept: decodeAccept(Buffer.from(accepted.accept, 'hex')), contract_id: rec.contract_id };
  };
  /** sign_dlc with the given funding witness and (invalid) adaptor signatures: only the witness checks come first. */
  const signWith = (contractId: string, stack: Buffer[]): string =>
    hex(
      encodeSign({
        protocol_version: 1,
        contract_id: contractId,
        cet_adaptor_signatures: [hex(randomBytes(162)), hex(randomBytes(162))],
        refund_signature: '01'.repeat(64),
        funding_signatures: [stack.map(hex)],
      }),
    );

  it('a P2WSH witness longer than its declared max_witness_len is refused; one that fits passes on', async () => {
    const c = await acceptedWith({ txid: wshCoins[0]!, vout: 0 }, 40, 'wsh');
    const long = await bob.ch.call('dlc.finalize', { sign: signWith(c.contract_id, [Buffer.alloc(300, 7), WSCRIPT]) });
    assert.equal(long.error?.code, -32602, JSON.stringify(long));
    assert.match(long.error!.message, /the offerer's funding witness 1 is 307 bytes, more than the 40 its input's max_witness_len declared/);
    const fits = await bob.ch.call('dlc.finalize', { sign: signWith(c.contract_id, [Buffer.alloc(10, 7), WSCRIPT]) });
    assert.match(fits.error?.message ?? '', /adaptor signature .* does not verify/, 'the witness passed; the next check refused');
    assert.equal((await call<{ state: string }>(bob.ch, 'dlc.get', { id: c.id })).state, 'accepted', 'nothing of Bob signed or sent');
  });

  it('a P2TR key-path signature that does not verify for the funding transaction is refused; a valid one passes on', async (t) => {
    if (!trCoin) return t.skip('the node does not relay witness v1 outputs');
    const c = await acceptedWith(trCoin, 66, 'tr');
    const bad = await bob.ch.call('dlc.finalize', { sign: signWith(c.contract_id, [randomBytes(64)]) });
    assert.equal(bad.error?.code, -32602, JSON.stringify(bad));
    assert.match(bad.error!.message, /the offerer's funding witness 1: the Schnorr signature does not verify for the funding transaction/);
    // The right signature: BIP 341 key path over every input's previous output, SIGHASH_DEFAULT.
    const f = buildFunding(c.offer, c.accept);
    const all = [...c.offer.funding_inputs, ...c.accept.funding_inputs];
    const prevouts = f.funding.ins.map((x) => {
      const i = all.find((a) => bitcoin.Transaction.fromHex(a.prev_tx).getId() === hex(Buffer.from(x.hash).reverse()) && a.prev_tx_vout === x.index)!;
      return bitcoin.Transaction.fromHex(i.prev_tx).outs[i.prev_tx_vout]!;
    });
    const idx = f.funding.ins.findIndex((x) => hex(Buffer.from(x.hash).reverse()) === trCoin!.txid);
    const digest = f.funding.hashForWitnessV1(
      idx,
      prevouts.map((p) => p.script),
      prevouts.map((p) => p.value),
      0x00,
    );
    const good = await bob.ch.call('dlc.finalize', { sign: signWith(c.contract_id, [Buffer.from(schnorr.sign(digest, taprootKey))]) });
    assert.match(good.error?.message ?? '', /adaptor signature .* does not verify/, 'the signature passed; the next check refused');
  });
});
