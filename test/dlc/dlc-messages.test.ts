// The DLC messages and transactions against the dlcspecs' enum_single_oracle test vector (offer, accept and sign
// as serialized by the reference implementations): each message decodes and encodes back to the same bytes; the
// funding transaction built here has the vector's contract id (so its txid is the vector's); every CET adaptor
// signature of both parties verifies against the CETs built here (so each CET is byte-exact), under the oracle's
// anticipated signature point for its outcome; the refund signatures verify; the offerer's funding witness signs
// the funding transaction built here. A changed byte anywhere is refused.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import { adaptorVerify } from '../../src/core/ecdsa-adaptor.js';
import {
  decodeAccept,
  decodeClose,
  decodeOffer,
  decodeSign,
  encodeAccept,
  encodeClose,
  encodeOffer,
  encodeSign,
  MessageError,
} from '../../src/adapters/dlc/messages.js';
import { adaptorPoints, combinations, outcomePoint } from '../../src/adapters/dlc/outcomes.js';
import { buildTransactions, closingSighash, contractId, DlcTxError, inputValue, mutualClose } from '../../src/adapters/dlc/transactions.js';
import { ROOT } from '../helpers/daemon.js';
import { acceptTerms, type VectorAccept } from '../helpers/dlc-vectors.js';

const v = JSON.parse(readFileSync(join(ROOT, 'test/vectors/dlc_enum_single_oracle.json'), 'utf8')) as {
  offer: string;
  accept: string;
  sign: string;
  expected: {
    contract_id: string;
    total_collateral: number;
    fee_rate_per_vb: number;
    cet_locktime: number;
    refund_locktime: number;
    outcomes: string[];
    offer_payouts: number[];
  };
};
const b = (h: string): Buffer => Buffer.from(h, 'hex');
const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');

describe('DLC messages and transactions (dlcspecs enum_single_oracle vector)', () => {
  const offer = decodeOffer(b(v.offer));
  const accept = decodeAccept(b(v.accept));
  const sign = decodeSign(b(v.sign));

  it('decodes offer, accept and sign, and encodes each back to the same bytes', () => {
    assert.equal(offer.contract_info.total_collateral, BigInt(v.expected.total_collateral));
    assert.deepEqual(
      offer.contract_info.payouts.map((p) => [p.outcome, Number(p.offer_payout)]),
      v.expected.outcomes.map((o, i) => [o, v.expected.offer_payouts[i]]),
    );
    assert.equal(offer.fee_rate_per_vb, BigInt(v.expected.fee_rate_per_vb));
    assert.deepEqual([offer.cet_locktime, offer.refund_locktime], [v.expected.cet_locktime, v.expected.refund_locktime]);
    assert.equal(accept.cet_adaptor_signatures.length, 4);
    assert.equal(sign.contract_id, v.expected.contract_id);
    assert.equal(hex(encodeOffer(offer)), v.offer);
    assert.equal(hex(encodeAccept(accept)), v.accept);
    assert.equal(hex(encodeSign(sign)), v.sign);
  });

  it('builds the funding transaction, CETs and refund the vector was signed over', () => {
    const t = buildTransactions(offer, accept);
    assert.equal(contractId(t, offer.temporary_contract_id), v.expected.contract_id, 'the funding txid and output index');
    const announcement = offer.contract_info.announcement;
    offer.contract_info.payouts.forEach((p, i) => {
      const point = outcomePoint(announcement, p.outcome);
      const digest = closingSighash(t.cets[i]!, t);
      assert.ok(
        adaptorVerify(b(accept.funding_pubkey), point, digest, b(accept.cet_adaptor_signatures[i]!)),
        `accepter's adaptor signature for "${p.outcome}"`,
      );
      assert.ok(adaptorVerify(b(offer.funding_pubkey), point, digest, b(sign.cet_adaptor_signatures[i]!)), `offerer's adaptor signature for "${p.outcome}"`);
      // under another outcome's point it does not verify
      const other = offer.contract_info.payouts[(i + 1) % 4]!.outcome;
      assert.equal(adaptorVerify(b(accept.funding_pubkey), outcomePoint(announcement, other), digest, b(accept.cet_adaptor_signatures[i]!)), false);
    });
    const refundDigest = closingSighash(t.refund, t);
    assert.ok(
      secp256k1.verify(b(accept.refund_signature), refundDigest, b(accept.funding_pubkey), { prehash: false, lowS: false }),
      "accepter's refund signature",
    );
    assert.ok(secp256k1.verify(b(sign.refund_signature), refundDigest, b(offer.funding_pubkey), { prehash: false, lowS: false }), "offerer's refund signature");
    assert.equal(t.refund.locktime, offer.refund_locktime);
    assert.equal(t.cets[0]!.locktime, offer.cet_locktime);
    assert.equal(t.cets[0]!.ins[0]!.sequence, 0xfffffffe);
    // outcome "b" pays the offerer 0: below dust, so the CET has the accepter's output alone
    assert.equal(t.cets[1]!.outs.length, 1);

    // the offerer's funding witness (P2WPKH) signs this funding transaction
    const [sigDer, pub] = sign.funding_signatures[0]!;
    const input = offer.funding_inputs[0]!;
    const idx = t.funding.ins.findIndex((x) => hex(Buffer.from(x.hash).reverse()) === bitcoin.Transaction.fromHex(input.prev_tx).getId());
    const p2pkh = bitcoin.payments.p2pkh({ pubkey: b(pub!) }).output!;
    const digest = t.funding.hashForWitnessV0(idx, p2pkh, inputValue(input), bitcoin.Transaction.SIGHASH_ALL);
    const decoded = bitcoin.script.signature.decode(b(sigDer!));
    assert.ok(secp256k1.verify(decoded.signature, digest, b(pub!), { prehash: false }), "offerer's funding signature");
  });

  it('refuses a changed message byte by byte with the field named, and impossible terms', () => {
    assert.throws(
      () => decodeOffer(b(v.accept)),
      (e: Error) => e instanceof MessageError && /not a offer_dlc message/.test(e.message),
    );
    assert.throws(
      () => decodeOffer(b(v.offer).subarray(0, 300)),
      (e: Error) => e instanceof MessageError && /offer_dlc: .*runs past the end/.test(e.message),
    );
    const badSig = b(v.offer);
    badSig[130] ^= 1; // inside the announcement signature (it starts at byte 127)
    assert.throws(() => decodeOffer(badSig), /announcement signature is not the oracle's/);
    assert.throws(() => decodeAccept(Buffer.concat([b(v.accept), Buffer.of(0)])), /unexpected bytes at the end/);
    // The announcement TLV claiming more bytes than the message has (0x9d → 0xff): refused, named
    const oversized = b(v.offer);
    assert.equal(oversized[126], 0x9d);
    oversized[126] = 0xff;
    assert.throws(() => decodeOffer(oversized), /oracle_announcement length \d+ is too large/);
    assert.throws(
      () => buildTransactions(offer, { ...accept, accept_collateral: accept.accept_collateral + 1n }),
      (e: Error) => e instanceof DlcTxError && /do not add up/.test(e.message),
    );
    assert.throws(() => buildTransactions(offer, { ...accept, payout_serial_id: offer.payout_serial_id }), /same serial id/);
  });

  it("close_dlc (node-dlc's close_dlc_v0) and its mutual close transaction over the vector's funding output", () => {
    const c = {
      contract_id: 'ab'.repeat(32),
      close_signature: 'cd'.repeat(64),
      offer_payout: 60_000_000n,
      accept_payout: 39_000_000n,
      fund_input_serial_id: 0x0102030405060708n,
    };
    const bytes = encodeClose(c);
    // type, contract id, signature, two payouts, the funding input's serial id, no extra inputs, no signatures
    assert.equal(bytes.length, 2 + 32 + 64 + 8 + 8 + 8 + 1 + 1);
    assert.equal(Buffer.from(bytes.subarray(0, 2)).toString('hex'), 'cbca');
    assert.deepEqual(decodeClose(bytes), c);
    const withInput = Buffer.from(bytes);
    withInput[bytes.length - 2] = 1;
    assert.throws(() => decodeClose(withInput), /close_dlc with extra funding inputs is not supported/);
    assert.throws(() => decodeClose(bytes.subarray(0, 50)), /close_dlc: .*runs past the end/);
    assert.throws(() => decodeClose(Buffer.concat([bytes, Buffer.of(0)])), /unexpected bytes at the end/);

    const t = buildTransactions(offer, accept);
    const tx = mutualClose(offer, accept, t, 1_000n, t.fundValue - 2_000n);
    assert.deepEqual([tx.version, tx.locktime, tx.ins.length, tx.ins[0]!.sequence, tx.ins[0]!.index], [2, 0, 1, 0, t.fundOutputIndex]);
    assert.equal(Buffer.from(tx.ins[0]!.hash).reverse().toString('hex'), t.funding.getId());
    // Outputs by payout_serial_id, as the CETs'.
    const first = offer.payout_serial_id < accept.payout_serial_id ? offer.payout_spk : accept.payout_spk;
    assert.equal(Buffer.from(tx.outs[0]!.script).toString('hex'), first);
    assert.equal(
      tx.outs.reduce((sum, o) => sum + o.value, 0n),
      t.fundValue - 1_000n,
    );
    assert.equal(mutualClose(offer, accept, t, 0n, 5_000n).outs.length, 1, 'an output under the dust limit is left out');
    assert.throws(() => mutualClose(offer, accept, t, 0n, 500n), /would pay nobody/);
    assert.throws(() => mutualClose(offer, accept, t, t.fundValue, 1n), /exceed the funding output/);
  });
});

describe('DLC with several oracles (dlcspecs enum_3_of_5 vector)', () => {
  const v3 = JSON.parse(readFileSync(join(ROOT, 'test/vectors/dlc_enum_3_of_5.json'), 'utf8')) as {
    offer: string;
    accept: VectorAccept & { cet_adaptor_signatures_first: string[] };
  };
  const offer3 = decodeOffer(b(v3.offer));
  const a = v3.accept;
  const terms = acceptTerms(a);

  it('reads the 3-of-5 offer (every announcement verified) and writes it back byte for byte', () => {
    const o = offer3.contract_info.oracles!;
    assert.equal(o.threshold, 3);
    assert.equal(o.announcements.length, 5);
    assert.equal(hex(encodeOffer(offer3)), v3.offer);
    assert.deepEqual(combinations(5, 3).slice(0, 4), [
      [0, 1, 2],
      [0, 1, 3],
      [0, 1, 4],
      [0, 2, 3],
    ]);
    assert.equal(combinations(5, 3).length, 10);
  });

  it("the accepter's adaptor signatures verify over anyad's CETs under the sums of each 3 oracles' points, in rust-dlc's order", () => {
    const t = buildTransactions(offer3, terms);
    const points = adaptorPoints(offer3.contract_info);
    assert.equal(points.length, 4 * 10, 'four outcomes, ten combinations each');
    a.cet_adaptor_signatures_first.forEach((sig, i) => {
      const { cet, point } = points[i]!;
      assert.ok(adaptorVerify(b(a.funding_pubkey), point, closingSighash(t.cets[cet]!, t), b(sig)), `signature ${i + 1}`);
      // under the next combination's point it does not verify
      assert.equal(adaptorVerify(b(a.funding_pubkey), points[(i + 1) % points.length]!.point, closingSighash(t.cets[cet]!, t), b(sig)), false);
    });
  });

  it('refuses an impossible threshold, a repeated oracle and oracle_params (allowed differences) by name', () => {
    const o = offer3.contract_info.oracles!;
    const withThreshold = (threshold: number): Buffer =>
      Buffer.from(encodeOffer({ ...offer3, contract_info: { ...offer3.contract_info, oracles: { ...o, threshold } } }));
    assert.throws(() => decodeOffer(withThreshold(6)), /threshold 6 of 5 oracles is impossible/);
    assert.throws(() => decodeOffer(withThreshold(0)), /threshold 0 of 5 oracles is impossible/);
    const twice = { ...o, tlvs: [o.tlvs[0]!, ...o.tlvs.slice(0, 4)], announcements: [o.announcements[0]!, ...o.announcements.slice(0, 4)] };
    assert.throws(() => decodeOffer(encodeOffer({ ...offer3, contract_info: { ...offer3.contract_info, oracles: twice } })), /an oracle is named twice/);
    const params = b(v3.offer);
    const at = v3.offer.indexOf(o.tlvs[4]!) / 2 + o.tlvs[4]!.length / 2;
    assert.equal(params[at], 0, 'oracle_params absent');
    params[at] = 1;
    assert.throws(() => decodeOffer(params), /oracle_params .* are not supported/);
  });
});
