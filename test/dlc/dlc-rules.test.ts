// The DLC room's checks of a counterparty's values (src/adapters/dlc/rules.ts and the limits of messages.ts), rule by
// rule: each with a value it takes and the hostile values it refuses. The daemon-level regressions (a counterparty
// sending these values to a real anyad) are in dlc-hostile.test.ts.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import { decodeOffer, encodeOffer, HARD_LIMITS, LimitError, type DlcLimits, type FundingInput } from '../../src/adapters/dlc/messages.js';
import {
  checkCloseFee,
  checkCompactLowS,
  checkDerLowS,
  checkFeeRate,
  checkFundingInput,
  checkFundingPubkey,
  checkLocktimes,
  checkStandardSpk,
  checkTaprootKeySpend,
  checkWitnessLen,
  RuleError,
  witnessSize,
} from '../../src/adapters/dlc/rules.js';
import type { PayoutPoint } from '../../src/adapters/dlc/numeric.js';
import { ROOT } from '../helpers/paths.js';

const N = secp256k1.Point.Fn.ORDER;
const WEEK = 604_800;
const bounds = { minRefundDelay: WEEK, maxRefundDelay: 365 * 86_400 };
const refused = (f: () => unknown, re: RegExp, rule?: string): void =>
  assert.throws(f, (err: unknown) => err instanceof RuleError && re.test(err.message) && err.rule === rule);

/** A transaction paying `script` 1 BTC at output 0, from a made-up outpoint, and the funding input naming it. */
function inputPaying(script: Buffer, redeem = '', maxWitness = 108): FundingInput {
  const tx = new bitcoin.Transaction();
  tx.version = 2;
  tx.addInput(Buffer.alloc(32, 7), 0);
  tx.addOutput(script, 100_000_000n);
  return { input_serial_id: 1n, prev_tx: tx.toHex(), prev_tx_vout: 0, sequence: 0xffffffff, max_witness_len: maxWitness, redeem_script: redeem };
}

describe('DLC rules', () => {
  it("fee rate: 1 to dlc.maxfeerate (rust-dlc's 25 × 250 by default)", () => {
    checkFeeRate(1n, 6250);
    checkFeeRate(6250n, 6250);
    refused(() => checkFeeRate(6251n, 6250), /over dlc.maxfeerate \(6250 sat\/vB\)/, 'dlc.maxfeerate');
    refused(() => checkFeeRate(2n ** 63n, 6250), /over dlc.maxfeerate/, 'dlc.maxfeerate');
    refused(() => checkFeeRate(0n, 6250), /under 1 sat\/vB/);
  });

  it('locktimes: CET not after maturity, refund a bounded delay after the CETs, both of one unit', () => {
    const m = 1_700_000_000;
    checkLocktimes(m, m + WEEK, m, bounds, undefined);
    refused(() => checkLocktimes(m + 1, m + 1 + WEEK, m, bounds, undefined), /after the event's maturity/);
    refused(() => checkLocktimes(m, m + 1, m, bounds, undefined), /dlc.minrefunddelay asks for at least 604800 seconds/, 'dlc.minrefunddelay');
    refused(() => checkLocktimes(m, m, m, { minRefundDelay: 0, maxRefundDelay: 0 }, undefined), /0 seconds after/, 'dlc.minrefunddelay');
    refused(() => checkLocktimes(m, m + 2 * 365 * 86_400, m, bounds, undefined), /dlc.maxrefunddelay allows at most/, 'dlc.maxrefunddelay');
    checkLocktimes(m, m + 20 * 365 * 86_400, m, { ...bounds, maxRefundDelay: 0 }, undefined);
    refused(() => checkLocktimes(100, m, m, bounds, { height: 100, now: m }), /not both block heights or both times/);
    // Heights: 600 s a block, the maturity placed at the height the chain reaches by then.
    checkLocktimes(100, 100 + 1008, m, bounds, { height: 90, now: m - 6000 });
    refused(() => checkLocktimes(100, 100 + 1007, m, bounds, { height: 90, now: m - 6000 }), /at least 1008 blocks/, 'dlc.minrefunddelay');
    refused(() => checkLocktimes(101, 101 + 1008, m, bounds, { height: 90, now: m - 6000 }), /after the event's maturity/);
  });

  it('payout and change scripts: standard only', () => {
    for (const spk of [
      `76a914${'11'.repeat(20)}88ac`,
      `a914${'11'.repeat(20)}87`,
      `0014${'11'.repeat(20)}`,
      `0020${'11'.repeat(32)}`,
      `5120${'11'.repeat(32)}`,
    ])
      checkStandardSpk(spk, 'payout_spk');
    for (const spk of ['51', '', `6a04${'00'.repeat(4)}`, `0015${'11'.repeat(21)}`, `5220${'11'.repeat(32)}`, `21${'02'.repeat(33)}ac`])
      refused(() => checkStandardSpk(spk, 'payout_spk'), /not a standard output script/);
  });

  it('funding keys: a valid compressed point, not ours', () => {
    const key = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');
    checkFundingPubkey(key, undefined);
    refused(() => checkFundingPubkey(`02${'ff'.repeat(32)}`, undefined), /not a compressed secp256k1 point/);
    refused(() => checkFundingPubkey(`04${key.slice(2)}`, undefined), /not a compressed secp256k1 point/);
    refused(() => checkFundingPubkey(key, key), /our own funding key/);
  });

  it('funding inputs: segwit only (P2SH only wrapping a witness program it hashes to)', () => {
    const h20 = Buffer.alloc(20, 3);
    assert.equal(checkFundingInput(inputPaying(Buffer.concat([Buffer.from('0014', 'hex'), h20])), 'i').kind, 'p2wpkh');
    assert.equal(checkFundingInput(inputPaying(Buffer.concat([Buffer.from('0020', 'hex'), Buffer.alloc(32)]), '', 200), 'i').kind, 'p2wsh');
    assert.equal(checkFundingInput(inputPaying(Buffer.concat([Buffer.from('5120', 'hex'), Buffer.alloc(32, 1)]), '', 66), 'i').kind, 'p2tr');
    const program = Buffer.concat([Buffer.from('0014', 'hex'), h20]);
    const p2sh = bitcoin.payments.p2sh({ redeem: { output: program } }).output!;
    assert.equal(checkFundingInput(inputPaying(Buffer.from(p2sh), program.toString('hex')), 'i').kind, 'p2sh-p2wpkh');
    // The hostile ones: a P2PKH output (its scriptSig, and so the funding txid, is its owner's to choose after we
    // signed), a P2SH output without the witness program, or with one that does not hash to it, a bare script.
    const p2pkh = bitcoin.payments.p2pkh({ hash: h20 }).output!;
    refused(() => checkFundingInput(inputPaying(Buffer.from(p2pkh)), 'the input'), /is not segwit/);
    refused(() => checkFundingInput(inputPaying(Buffer.from(p2sh)), 'the input'), /only as wrapped segwit/);
    // A v1 program wrapped in P2SH is no Taproot output (BIP 341): anyone can spend it.
    const v1 = Buffer.from(`5120${'66'.repeat(32)}`, 'hex');
    const p2shV1 = bitcoin.payments.p2sh({ redeem: { output: v1 } }).output!;
    refused(() => checkFundingInput(inputPaying(Buffer.from(p2shV1), v1.toString('hex'), 66), 'the input'), /v1 program inside P2SH is not Taproot/);
    refused(() => checkFundingInput(inputPaying(Buffer.from(p2sh), `0014${'44'.repeat(20)}`), 'the input'), /does not hash to the P2SH output/);
    refused(() => checkFundingInput(inputPaying(Buffer.from('51', 'hex')), 'the input'), /is not segwit/);
    refused(() => checkFundingInput(inputPaying(program, program.toString('hex')), 'the input'), /takes no redeem_script/);
    refused(() => checkFundingInput({ ...inputPaying(program), prev_tx_vout: 1 }, 'the input'), /has no output 1/);
    refused(() => checkFundingInput({ ...inputPaying(program), prev_tx: 'ffff' }, 'the input'), /not a transaction/);
    refused(() => checkFundingInput(inputPaying(program, '', 50), 'the input'), /max_witness_len 50 is under the 107 bytes/);
  });

  it('signatures: compact and DER, low S only (BIP 146), strict DER and SIGHASH_ALL (BIP 66)', () => {
    const sk = secp256k1.utils.randomSecretKey();
    const sig = secp256k1.sign(Buffer.alloc(32, 9), sk, { prehash: false, lowS: true });
    const compact = Buffer.from(sig); // compact r || s
    checkCompactLowS(compact.toString('hex'), 'sig');
    const s = BigInt(`0x${compact.subarray(32).toString('hex')}`);
    const high = Buffer.concat([compact.subarray(0, 32), Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex')]);
    // The high-S twin verifies (that is why it was taken before) but is not standard.
    assert.ok(secp256k1.verify(high, Buffer.alloc(32, 9), secp256k1.getPublicKey(sk), { prehash: false, lowS: false }));
    refused(() => checkCompactLowS(high.toString('hex'), 'sig'), /high S value/);
    refused(() => checkCompactLowS('00'.repeat(64), 'sig'), /out of range/);
    const der = (c: Buffer, type = 1): Buffer => Buffer.from(bitcoin.script.signature.encode(c, type));
    checkDerLowS(der(compact), 'sig');
    refused(() => checkDerLowS(der(high), 'sig'), /high S value/);
    refused(() => checkDerLowS(der(compact, 0x83), 'sig'), /not SIGHASH_ALL/);
    const padded = Buffer.from(der(compact));
    padded[3] = padded[3]! + 1; // r's length off by one: not strict DER
    refused(() => checkDerLowS(padded, 'sig'), /not a strict DER/);
  });

  it('limits: an offer over one is refused while it is read, naming the limit, its value and the contract’s', () => {
    const v = JSON.parse(readFileSync(join(ROOT, 'test/vectors/dlc_numerical_2_of_5.json'), 'utf8')) as { offer: string };
    const bytes = Buffer.from(v.offer, 'hex');
    const offer = decodeOffer(bytes); // the vectors pass the default limits and the build's
    const defaults: DlcLimits = { maxOutcomes: 1 << 20, maxCets: 2500, maxPayoutPoints: 16, maxOracles: 10, maxOracleCombinations: 252 };
    assert.equal(Buffer.from(encodeOffer(decodeOffer(bytes, defaults))).toString('hex'), v.offer);
    const over = (limits: Partial<DlcLimits>, rule: string, limit: number, value: number): void =>
      assert.throws(
        () => decodeOffer(bytes, { ...HARD_LIMITS, ...limits }),
        (err: unknown) => err instanceof LimitError && err.rule === rule && err.limit === limit && err.value === value && err.message.includes(rule),
      );
    over({ maxOracles: 4 }, 'dlc.maxoracles', 4, 5);
    over({ maxOracleCombinations: 9 }, 'dlc.maxoraclecombinations', 9, 10);
    over({ maxOutcomes: 1023 }, 'dlc.maxoutcomes', 1023, 1024);
    over({ maxCets: 139 }, 'dlc.maxcets', 139, 140);
    over({ maxPayoutPoints: 0 }, 'dlc.maxpayoutpoints', 0, 1);
    // A piece with 10,000 points (what made one offer take 11.9 s) is refused before the curve is evaluated.
    const piece = offer.contract_info.numeric!.pieces[0]!;
    const many = Array.from({ length: 10_000 }, (_, i) => ({ event_outcome: BigInt(i + 1), outcome_payout: 0n, extra_precision: 0 }));
    const numeric = { ...offer.contract_info.numeric!, pieces: [{ ...piece, points: many }, ...offer.contract_info.numeric!.pieces.slice(1)] };
    const deadly = encodeOffer({ ...offer, contract_info: { ...offer.contract_info, numeric } });
    assert.throws(
      () => decodeOffer(deadly, defaults),
      (err: unknown) => err instanceof LimitError && err.rule === 'dlc.maxpayoutpoints' && err.value === 10_000,
    );
    // A curve paying the same everywhere: one CET of no digit, which no attestation unlocks; refused by name.
    const zero = (p: PayoutPoint): PayoutPoint => ({ ...p, outcome_payout: 0n });
    const d = offer.contract_info.numeric!;
    const constant = {
      ...d,
      pieces: d.pieces.map((p) => ({ ...p, end_point: zero(p.end_point), points: p.points.map(zero) })),
      last_endpoint: zero(d.last_endpoint),
    };
    assert.throws(() => decodeOffer(encodeOffer({ ...offer, contract_info: { ...offer.contract_info, numeric: constant } })), /pays the same at every outcome/);
  });
  it('close_dlc pays at most the total collateral (the rest of the funding output is its fee)', () => {
    checkCloseFee(15_000_000n, 5_000_000n, 20_000_000n);
    checkCloseFee(0n, 0n, 20_000_000n);
    refused(() => checkCloseFee(15_000_001n, 5_000_000n, 20_000_000n), /more than the total collateral 20000000: it takes the fee/);
    refused(() => checkCloseFee(2n ** 64n - 1n, 0n, 20_000_000n), /more than the total collateral/);
  });

  it('a funding witness no larger than its declared max_witness_len (BIP 141 size: count, then each element with its length)', () => {
    const sig = Buffer.alloc(72, 1);
    const key = Buffer.alloc(33, 2);
    assert.equal(witnessSize([sig, key]), 1 + 1 + 72 + 1 + 33); // 108: P2WPKH with the longest low-S DER signature
    assert.equal(witnessSize([Buffer.alloc(300)]), 1 + 3 + 300);
    checkWitnessLen([sig, key], 108, 'w');
    refused(() => checkWitnessLen([sig, key], 107, 'w'), /w is 108 bytes, more than the 107 its input's max_witness_len declared/);
    // A P2WSH stack the counterparty chose: a script and a push far longer than it declared.
    refused(() => checkWitnessLen([Buffer.alloc(500), Buffer.of(0x75, 0x51)], 40, 'w'), /more than the 40/);
  });

  it('a P2TR key-path funding signature verifies (BIP 340) for the BIP 341 sighash of the funding transaction', () => {
    const priv = schnorr.utils.randomSecretKey();
    const outputKey = schnorr.getPublicKey(priv);
    const tx = new bitcoin.Transaction();
    tx.version = 2;
    tx.addInput(Buffer.alloc(32, 7), 0);
    tx.addInput(Buffer.alloc(32, 8), 1);
    tx.addOutput(Buffer.concat([Buffer.of(0x00, 0x20), Buffer.alloc(32, 9)]), 90_000n);
    const scripts = [Buffer.concat([Buffer.of(0x51, 0x20), outputKey]), Buffer.concat([Buffer.of(0x00, 0x14), Buffer.alloc(20, 3)])];
    const sighash = (hashType: number): Uint8Array => tx.hashForWitnessV1(0, scripts, [60_000n, 40_000n], hashType);
    const good = schnorr.sign(sighash(0x00), priv);
    checkTaprootKeySpend([good], outputKey, sighash, 'w');
    checkTaprootKeySpend([Buffer.concat([schnorr.sign(sighash(0x01), priv), Buffer.of(0x01)])], outputKey, sighash, 'w');
    // The right length but not a signature of this transaction (another value of a prevout: another sighash).
    const other = schnorr.sign(tx.hashForWitnessV1(0, scripts, [60_000n, 40_001n], 0x00), priv);
    refused(() => checkTaprootKeySpend([other], outputKey, sighash, 'w'), /w: the Schnorr signature does not verify/);
    refused(() => checkTaprootKeySpend([Buffer.alloc(64, 1)], outputKey, sighash, 'w'), /does not verify/);
    // A SIGHASH_DEFAULT signature with a SIGHASH_ALL byte appended signs another message.
    refused(() => checkTaprootKeySpend([Buffer.concat([good, Buffer.of(0x01)])], outputKey, sighash, 'w'), /does not verify/);
    refused(() => checkTaprootKeySpend([Buffer.concat([good, Buffer.of(0x83)])], outputKey, sighash, 'w'), /one 64-byte Schnorr signature/);
    refused(() => checkTaprootKeySpend([Buffer.alloc(63)], outputKey, sighash, 'w'), /one 64-byte Schnorr signature/);
    refused(() => checkTaprootKeySpend([], outputKey, sighash, 'w'), /empty/);
    refused(() => checkTaprootKeySpend([good, Buffer.of(0x50, 1)], outputKey, sighash, 'w'), /annex/);
  });
});
