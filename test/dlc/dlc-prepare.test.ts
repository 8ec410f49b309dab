// A contract's preparation as the negotiation uses it (issue 30 item 1): the CETs' sighashes made with BIP143's
// shared part once (closingSighashes) are closingSighash's, on the dlcspecs vectors; the counterparty's adaptor
// signatures checked in slices across the DLC workers report the first that fails, as one worker checking them in
// order would, and the prepared points and digests are the ones the vectors' signatures verify over.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import pino from 'pino';
import { adaptorSign, adaptorVerify } from '../../src/core/ecdsa-adaptor.js';
import { decodeAccept, decodeOffer, encodeOffer, numericPayouts, HARD_LIMITS, type Offer } from '../../src/adapters/dlc/messages.js';
import { verifyAnnouncement } from '../../src/adapters/dlc/oracle.js';
import { adaptorPoints } from '../../src/adapters/dlc/outcomes.js';
import { buildTransactions, closingSighash, closingSighashes } from '../../src/adapters/dlc/transactions.js';
import { DlcWorkers } from '../../src/adapters/dlc/worker.js';
import { ROOT } from '../helpers/daemon.js';
import { acceptTerms, type VectorAccept } from '../helpers/dlc-vectors.js';
import { digitDescriptor, makeOracle } from '../peers/dlc-oracle.js';

const b = (h: string): Buffer => Buffer.from(h, 'hex');
const vector = (name: string) =>
  JSON.parse(readFileSync(join(ROOT, 'test/vectors', name), 'utf8')) as { offer: string; accept: (VectorAccept & Record<string, unknown>) | string };
const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');

describe('a contract prepared for signing and checking', () => {
  it("the CETs' sighashes with BIP143's shared part made once are closingSighash's, on every dlcspecs vector", () => {
    for (const name of [
      'dlc_enum_single_oracle.json',
      'dlc_enum_3_of_5.json',
      'dlc_single_oracle_numerical.json',
      'dlc_numerical_2_of_5.json',
      'dlc_numerical_hyperbola.json',
    ]) {
      const v = vector(name);
      // (The enum_single_oracle vector keeps its accept as the message itself.)
      const accept = typeof v.accept === 'string' ? decodeAccept(b(v.accept)) : acceptTerms(v.accept);
      const t = buildTransactions(decodeOffer(b(v.offer)), accept);
      const fast = closingSighashes(t.cets, t);
      assert.equal(fast.length, t.cets.length);
      t.cets.forEach((cet, i) => assert.equal(hex(fast[i]!), hex(closingSighash(cet, t)), `${name}: CET ${i}`));
      // (A transaction of another shape, here the refund among them, is hashed as closingSighash hashes it.)
      assert.equal(hex(closingSighashes([...t.cets.slice(0, 1), t.refund], t)[1]!), hex(closingSighash(t.refund, t)));
    }
  });

  it("the vector's adaptor signatures verify over the prepared points and digests; a check split across workers names the first bad signature", async () => {
    const workers = new DlcWorkers(2, 60, pino({ level: 'silent' }));
    try {
      const v = vector('dlc_numerical_hyperbola.json') as unknown as { offer: string; accept: VectorAccept & { cet_adaptor_signatures_first: string[] } };
      const offer = decodeOffer(b(v.offer));
      const p = await workers.prepare(offer, acceptTerms(v.accept), undefined, 'the test');
      assert.deepEqual(
        p.items.map((x) => hex(x.point)),
        adaptorPoints(offer.contract_info).map((x) => hex(x.point)),
      );
      v.accept.cet_adaptor_signatures_first.forEach((sig, i) =>
        assert.ok(adaptorVerify(b(v.accept.funding_pubkey), p.items[i]!.point, p.items[i]!.digest, b(sig))),
      );

      // A 2^10 contract (207 CETs): signed here, checked in slices; a bad signature in the second slice and one in
      // the last are both wrong, the first of them is reported.
      const numericVector = vector('dlc_single_oracle_numerical.json') as { offer: string; accept: VectorAccept };
      const base = decodeOffer(b(numericVector.offer));
      const accept = acceptTerms(numericVector.accept);
      const annBytes = makeOracle(digitDescriptor(2, false, 10), 10, 'prepare', 'tagged').ann;
      const announcement = verifyAnnouncement(annBytes);
      const total = base.contract_info.total_collateral;
      const pt = (x: number, y: bigint) => ({ event_outcome: BigInt(x), outcome_payout: y, extra_precision: 0 });
      const numeric = {
        num_digits: 10,
        pieces: [
          { end_point: pt(0, 0n), points: [] },
          { end_point: pt(400, 0n), points: [] },
          { end_point: pt(600, total), points: [] },
        ],
        last_endpoint: pt(1023, total),
        rounding: [{ begin: 0n, mod: total / 100n }],
      };
      const ci = { total_collateral: total, payouts: numericPayouts(numeric, announcement, total), numeric, announcement, announcement_tlv: hex(annBytes) };
      const big: Offer = decodeOffer(encodeOffer({ ...base, contract_info: ci }), HARD_LIMITS);
      const prepared = await workers.prepare(big, accept, undefined, 'the test');
      assert.ok(prepared.items.length > 100, `${prepared.items.length} CETs`);
      const key = secp256k1.utils.randomSecretKey();
      const pubkey = hex(secp256k1.getPublicKey(key, true));
      const sigs = prepared.items.map((x) => hex(adaptorSign(key, x.point, x.digest)));
      const good = await workers.prepare(big, accept, { pubkey, adaptor: sigs }, 'the test');
      assert.deepEqual([good.badAdaptor, good.adaptorCount], [-1, prepared.items.length]);
      const n = sigs.length;
      const bad = [...sigs];
      [n - 1, Math.floor(n / 2) + 3].forEach((i) => (bad[i] = sigs[i - 1]!)); // another CET's signature
      const checked = await workers.prepare(big, accept, { pubkey, adaptor: bad }, 'the test');
      assert.deepEqual([checked.badAdaptor, checked.adaptorCount], [Math.floor(n / 2) + 3, n]);
      const short = await workers.prepare(big, accept, { pubkey, adaptor: sigs.slice(1) }, 'the test');
      assert.deepEqual([short.badAdaptor, short.adaptorCount], [-1, n - 1], 'a count that does not match is left to the caller');
    } finally {
      await workers.close();
    }
  });
});
