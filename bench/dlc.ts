// DLC benchmarks, each against raw @noble/curves ECDSA in the same run:
//  - one CET adaptor signature (ECDSA-adaptor.md: the signature and its DLEQ proof) vs one plain ECDSA signature;
//  - verifying one vs verifying a plain ECDSA signature;
//  - a numeric contract over 2^10 outcomes (10 binary digits, a three-piece payout curve rounded to 0.01 BTC): the
//    CETs from the curve, their outcome points, the accepter's adaptor signatures, the offerer's verification of
//    them and its own signatures, and the accepter's verification (the computation of offer, accept and sign; the
//    HSM's audit writes and the RPC are measured by the hsm and rpc benchmarks) vs as many plain ECDSA signatures.

import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { numericCets, type NumericDescriptor } from '../src/adapters/dlc/numeric.js';
import { CetPoints } from '../src/adapters/dlc/outcomes.js';
import { verifyAnnouncement } from '../src/adapters/dlc/oracle.js';
import { adaptorSign, adaptorVerify } from '../src/core/ecdsa-adaptor.js';
import { digitDescriptor, makeOracle } from '../test/peers/dlc-oracle.js';

const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function each(n: number, f: (i: number) => unknown): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    f(i);
    out.push(performance.now() - t);
  }
  return out;
}

export async function benchDlc(results: Record<string, unknown>): Promise<void> {
  const N = 300;
  const key = secp256k1.utils.randomSecretKey();
  const pub = secp256k1.getPublicKey(key, true);
  const digests = Array.from({ length: N }, () => randomBytes(32));
  const points = Array.from({ length: N }, () => secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
  const rawSigs: Uint8Array[] = [];
  const raw = each(N, (i) => rawSigs.push(secp256k1.sign(digests[i]!, key, { prehash: false })));
  const adaptors: Uint8Array[] = [];
  const adaptor = each(N, (i) => adaptors.push(adaptorSign(key, points[i]!, digests[i]!)));
  const rawVerify = each(N, (i) => secp256k1.verify(rawSigs[i]!, digests[i]!, pub, { prehash: false }));
  const adaptorVer = each(N, (i) => adaptorVerify(pub, points[i]!, digests[i]!, adaptors[i]!));

  // A numeric contract over 2^10 outcomes, both parties' computation.
  const oracle = verifyAnnouncement(makeOracle(digitDescriptor(2, false, 10), 10, 'bench', 'tagged').ann);
  const pt = (x: number, y: number) => ({ event_outcome: BigInt(x), outcome_payout: BigInt(y), extra_precision: 0 });
  const curve: NumericDescriptor = {
    num_digits: 10,
    pieces: [
      { end_point: pt(0, 0), points: [] },
      { end_point: pt(400, 0), points: [] },
      { end_point: pt(600, 100_000_000), points: [] },
    ],
    last_endpoint: pt(1023, 100_000_000),
    rounding: [{ begin: 0n, mod: 1_000_000n }],
  };
  const offerKey = secp256k1.utils.randomSecretKey();
  const t0 = performance.now();
  const cets = numericCets(curve, 2, 100_000_000n);
  const cetPoints = new CetPoints(oracle);
  const encryptions = cets.map((c) => cetPoints.of({ outcome: '', digits: c.digits }));
  const sighashes = cets.map(() => randomBytes(32)); // a CET's sighash costs microseconds: not what is measured here
  const acceptSigs = encryptions.map((e, i) => adaptorSign(key, e, sighashes[i]!)); // accept
  const offerOk = acceptSigs.every((s, i) => adaptorVerify(pub, encryptions[i]!, sighashes[i]!, s)); // sign: verify
  const offerSigs = encryptions.map((e, i) => adaptorSign(offerKey, e, sighashes[i]!)); // sign: its own
  const acceptOk = offerSigs.every((s, i) => adaptorVerify(secp256k1.getPublicKey(offerKey, true), encryptions[i]!, sighashes[i]!, s)); // finalize
  const contractMs = performance.now() - t0;
  if (!offerOk || !acceptOk) throw new Error('a DLC adaptor signature did not verify in the benchmark');
  const t1 = performance.now();
  for (let i = 0; i < 2 * cets.length; i++) secp256k1.sign(sighashes[i % cets.length]!, key, { prehash: false });
  const rawContractMs = performance.now() - t1;

  const res = {
    adaptor_sign_p50_ms: r3(p50(adaptor)),
    raw_ecdsa_sign_p50_ms: r3(p50(raw)),
    adaptor_sign_ratio: r3(p50(adaptor) / p50(raw)),
    adaptor_verify_p50_ms: r3(p50(adaptorVer)),
    raw_ecdsa_verify_p50_ms: r3(p50(rawVerify)),
    adaptor_verify_ratio: r3(p50(adaptorVer) / p50(rawVerify)),
    numeric_1024: {
      cets: cets.length,
      contract_ms: Math.round(contractMs),
      raw_signatures_ms: Math.round(rawContractMs),
      ratio: r3(contractMs / rawContractMs),
    },
  };
  results.dlc = res;
  console.log(
    `dlc: adaptor sign p50 ${res.adaptor_sign_p50_ms} ms vs ECDSA ${res.raw_ecdsa_sign_p50_ms} ms (${res.adaptor_sign_ratio}×); verify ${res.adaptor_verify_p50_ms} vs ${res.raw_ecdsa_verify_p50_ms} ms (${res.adaptor_verify_ratio}×); numeric 2^10: ${cets.length} CETs, both parties ${res.numeric_1024.contract_ms} ms vs ${res.numeric_1024.raw_signatures_ms} ms of plain signatures (${res.numeric_1024.ratio}×)`,
  );
}
