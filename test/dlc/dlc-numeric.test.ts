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
import { adaptorVerify } from '../../src/core/ecdsa-adaptor.js';
import { decodeOffer, decodeSign, encodeOffer, type ContractInfo } from '../../src/adapters/dlc/messages.js';
import { decodeAttestation, verifyAnnouncement } from '../../src/adapters/dlc/oracle.js';
import { prefixes } from '../../src/adapters/dlc/numeric.js';
import { adaptorPoints, attestedByThreshold, cetPoint } from '../../src/adapters/dlc/outcomes.js';
import { buildTransactions, closingSighash, contractId } from '../../src/adapters/dlc/transactions.js';
import { ROOT } from '../helpers/daemon.js';
import { acceptTerms, type VectorAccept } from '../helpers/dlc-vectors.js';
import { digitDescriptor, enumDescriptor, makeOracle, type TestOracle } from '../peers/dlc-oracle.js';

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

describe('numeric contracts on several oracles (dlcspecs two_of_five_oracle_numerical vector)', () => {
  const m = JSON.parse(readFileSync(join(ROOT, 'test/vectors/dlc_numerical_2_of_5.json'), 'utf8')) as {
    offer: string;
    accept: VectorAccept & { cet_adaptor_signatures_first: string[] };
  };

  it("reads and writes the offer byte for byte; each CET gets one adaptor signature per pair of oracles, in rust-dlc's order", () => {
    const offer = decodeOffer(b(m.offer));
    assert.equal(Buffer.from(encodeOffer(offer)).toString('hex'), m.offer);
    assert.deepEqual([offer.contract_info.oracles!.threshold, offer.contract_info.oracles!.announcements.length], [2, 5]);
    assert.equal(offer.contract_info.payouts.length, 14, 'the same 14 CETs as with one oracle');
    const t = buildTransactions(offer, acceptTerms(m.accept));
    const points = adaptorPoints(offer.contract_info);
    assert.equal(points.length, 14 * 10);
    m.accept.cet_adaptor_signatures_first.forEach((sig, i) => {
      const { cet, point } = points[i]!;
      assert.ok(adaptorVerify(b(m.accept.funding_pubkey), point, closingSighash(t.cets[cet]!, t), b(sig)), `accepter's signature ${i}`);
    });
  });
});

describe('closing with the attestations of several oracles', () => {
  const contract = (descriptor: Uint8Array, nbNonces: number, payouts: ContractInfo['payouts']): { ci: ContractInfo; oracles: TestOracle[] } => {
    const oracles = [0, 1, 2].map(() => makeOracle(descriptor, nbNonces, 'three-oracles', 'tagged'));
    const announcements = oracles.map((o) => verifyAnnouncement(o.ann));
    const ci: ContractInfo = {
      total_collateral: 1000n,
      payouts,
      announcement: announcements[0]!,
      announcement_tlv: '',
      oracles: { threshold: 2, announcements, tlvs: [] },
    };
    return { ci, oracles };
  };
  const opens = (ci: ContractInfo, atts: Uint8Array[]): { cetIdx: number; idx: number } => {
    const r = attestedByThreshold(
      ci,
      atts.map((a) => decodeAttestation(a)),
    );
    // The key found is the discrete log of the adaptor point at the index found: it decrypts that signature.
    assert.equal(
      Buffer.from(secp256k1.Point.BASE.multiply(BigInt(`0x${r.s.toString('hex')}`)).toBytes(true)).toString('hex'),
      Buffer.from(adaptorPoints(ci)[r.idx]!.point).toString('hex'),
    );
    assert.equal(adaptorPoints(ci)[r.idx]!.cet, r.cetIdx);
    return { cetIdx: r.cetIdx, idx: r.idx };
  };

  it('enumerated: the outcome two of three oracles attest, the first two of them; fewer agreeing is refused', () => {
    const { ci, oracles } = contract(enumDescriptor(['x', 'y']), 1, [
      { outcome: 'x', offer_payout: 1000n },
      { outcome: 'y', offer_payout: 0n },
    ]);
    // oracles 0 and 2 say "y" (combination [0, 2], the second of [0,1], [0,2], [1,2]); oracle 1 says "x"
    assert.deepEqual(opens(ci, [oracles[2]!.attest(['y']), oracles[1]!.attest(['x']), oracles[0]!.attest(['y'])]), { cetIdx: 1, idx: 1 * 3 + 1 });
    // all three say "x": the first two, [0, 1]
    assert.deepEqual(
      opens(
        ci,
        oracles.map((o) => o.attest(['x'])),
      ),
      { cetIdx: 0, idx: 0 },
    );
    assert.throws(
      () => attestedByThreshold(ci, [decodeAttestation(oracles[0]!.attest(['x'])), decodeAttestation(oracles[1]!.attest(['y']))]),
      /agree at most 1/,
    );
  });

  it('numeric: the CET whose digit prefix two oracles attest, with the s values of those digits', () => {
    const payouts: ContractInfo['payouts'] = [
      { outcome: '00', offer_payout: 0n, digits: [0, 0] },
      { outcome: '01', offer_payout: 300n, digits: [0, 1] },
      { outcome: '1', offer_payout: 1000n, digits: [1] },
    ];
    const { ci, oracles } = contract(digitDescriptor(2, false, 2), 2, payouts);
    // 3 (binary 11) by oracles 1 and 2: the CET of prefix "1", combination [1, 2]; oracle 0 says 1 (binary 01)
    assert.deepEqual(opens(ci, [oracles[0]!.attest(['0', '1']), oracles[1]!.attest(['1', '1']), oracles[2]!.attest(['1', '0'])]), {
      cetIdx: 2,
      idx: 2 * 3 + 2,
    });
  });
});
