// Numeric-outcome DLCs against the dlcspecs' single_oracle_numerical test vector (10 binary digits, a payout curve
// of two polynomial pieces, rounding to the satoshi): the offer decodes and encodes back to its bytes; the payout
// function evaluated here, grouped and compressed into digit prefixes, gives the vector's 14 CETs in its order (all
// 14 of the offerer's adaptor signatures verify over the CETs built here, under the sums of the prefix digits'
// oracle points); the funding transaction has the vector's contract id; the accepter's refund signature verifies.
// And CET compression by itself: the fewest aligned prefixes cover a range exactly.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { adaptorVerify } from '../src/core/ecdsa-adaptor.js';
import { decodeOffer, decodeSign, encodeOffer } from '../src/adapters/dlc/messages.js';
import { prefixes } from '../src/adapters/dlc/numeric.js';
import { adaptorPoints, cetPoint } from '../src/adapters/dlc/outcomes.js';
import { buildTransactions, closingSighash, contractId } from '../src/adapters/dlc/transactions.js';
import { ROOT } from './helpers/daemon.js';
import { acceptTerms, type VectorAccept } from './helpers/dlc-vectors.js';

interface Vector {
  offer: string;
  sign: string;
  accept: VectorAccept & {
    refund_signature_der: string;
    first_cet_adaptor_signatures: string[];
  };
  expected: { contract_id: string; cets: number };
}

const v = JSON.parse(readFileSync(join(ROOT, 'test/vectors/dlc_single_oracle_numerical.json'), 'utf8')) as Vector;
const b = (h: string): Buffer => Buffer.from(h, 'hex');

describe('numeric-outcome DLCs (dlcspecs single_oracle_numerical vector)', () => {
  it('derives the vector CETs from the payout curve: every adaptor signature verifies over them', () => {
    const offer = decodeOffer(b(v.offer));
    assert.equal(Buffer.from(encodeOffer(offer)).toString('hex'), v.offer);
    const sign = decodeSign(b(v.sign));
    const cets = offer.contract_info.payouts;
    assert.equal(cets.length, v.expected.cets);
    assert.deepEqual(
      cets.slice(0, 6).map((c) => [c.outcome, Number(c.offer_payout)]),
      [
        ['0000000000', 0],
        ['0000000001', 26_666_667],
        ['0000000010', 60_000_000],
        ['0000000011', 100_000_000],
        ['0000000100', 146_666_667],
        ['0000000101', 200_000_000],
      ],
    );
    const a = v.accept;
    const t = buildTransactions(offer, acceptTerms(a));
    assert.equal(contractId(t, offer.temporary_contract_id), v.expected.contract_id);
    const ann = offer.contract_info.announcement;
    cets.forEach((c, i) => {
      assert.ok(
        adaptorVerify(b(offer.funding_pubkey), cetPoint(ann, c), closingSighash(t.cets[i]!, t), b(sign.cet_adaptor_signatures[i]!)),
        `offerer's CET ${i} (${c.outcome})`,
      );
    });
    a.first_cet_adaptor_signatures.forEach((sig, i) => {
      assert.ok(adaptorVerify(b(a.funding_pubkey), cetPoint(ann, cets[i]!), closingSighash(t.cets[i]!, t), b(sig)), `accepter's CET ${i}`);
    });
    const refund = secp256k1.Signature.fromBytes(b(a.refund_signature_der), 'der').toBytes('compact');
    assert.ok(secp256k1.verify(refund, closingSighash(t.refund, t), b(a.funding_pubkey), { prehash: false, lowS: false }));
    // A CET under another prefix's point does not verify.
    assert.equal(adaptorVerify(b(offer.funding_pubkey), cetPoint(ann, cets[1]!), closingSighash(t.cets[0]!, t), b(sign.cet_adaptor_signatures[0]!)), false);
  });

  it('covers a range with the fewest aligned digit prefixes, exactly', () => {
    assert.deepEqual(
      prefixes(5, 1023, 2, 10).map((p) => p.join('')),
      ['0000000101', '000000011', '0000001', '000001', '00001', '0001', '001', '01', '1'],
    );
    assert.deepEqual(
      prefixes(0, 99, 10, 3).map((p) => p.join('')),
      ['0'],
    );
    assert.deepEqual(
      prefixes(123, 250, 10, 3).map((p) => p.join('')),
      ['123', '124', '125', '126', '127', '128', '129', '13', '14', '15', '16', '17', '18', '19', '20', '21', '22', '23', '24', '250'],
    );
    for (const [s, e] of [
      [0, 0],
      [7, 300],
      [999, 999],
    ] as const) {
      const covered = prefixes(s, e, 10, 3).flatMap((p) => {
        const k = 3 - p.length;
        const lo = Number(p.join('')) * 10 ** k;
        return Array.from({ length: 10 ** k }, (_, i) => lo + i);
      });
      assert.deepEqual(
        covered,
        Array.from({ length: e - s + 1 }, (_, i) => s + i),
        `${s}..${e}`,
      );
    }
  });
});

describe('a hyperbola payout piece (dlcspecs single_oracle_numerical_hyperbola vector)', () => {
  const h = JSON.parse(readFileSync(join(ROOT, 'test/vectors/dlc_numerical_hyperbola.json'), 'utf8')) as {
    offer: string;
    accept: VectorAccept & { cet_adaptor_signatures_first: string[] };
  };

  it("reads and writes the piece byte for byte; the payouts evaluated here make the CETs the vector's adaptor signatures verify over", () => {
    const offer = decodeOffer(b(h.offer));
    assert.equal(Buffer.from(encodeOffer(offer)).toString('hex'), h.offer);
    const piece = offer.contract_info.numeric!.pieces[0]!;
    assert.deepEqual([piece.hyperbola!.use_positive_piece, piece.hyperbola!.b], [true, { positive: false, int: 1n, frac: 0 }]);
    // 10/(t + √(t² + 20)) + 50 sat with t = x − 50: 100 at 0, one satoshi less at each step, then flatter
    assert.deepEqual(
      offer.contract_info.payouts.slice(0, 4).map((c) => [c.outcome, Number(c.offer_payout)]),
      [
        ['0000000000', 100],
        ['0000000001', 99],
        ['0000000010', 98],
        ['0000000011', 97],
      ],
    );
    const t = buildTransactions(offer, acceptTerms(h.accept));
    const points = adaptorPoints(offer.contract_info);
    h.accept.cet_adaptor_signatures_first.forEach((sig, i) => {
      const { cet, point } = points[i]!;
      assert.ok(adaptorVerify(b(h.accept.funding_pubkey), point, closingSighash(t.cets[cet]!, t), b(sig)), `accepter's CET ${i}`);
    });
  });
});
