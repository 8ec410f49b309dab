// DLC benchmarks, each against plain ECDSA of the same curve library in the same run (issue 30 item 1):
//  - one CET adaptor signature (ECDSA-adaptor.md: the signature and its DLEQ proof) vs one plain ECDSA signature,
//    on the backend adaptorSign uses (libsecp256k1 in wasm where it loads: tiny-secp256k1's sign and verify are the
//    baseline) and on the @noble/curves fallback (against @noble's sign and verify);
//  - verifying one vs verifying a plain ECDSA signature, the same way;
//  - a numeric contract over 2^10 outcomes (10 binary digits, a three-piece payout curve rounded to 0.01 BTC): the
//    CETs from the curve, their outcome points, the accepter's adaptor signatures, the offerer's verification of
//    them and its own signatures, and the accepter's verification (the computation of offer, accept and sign; the
//    HSM's audit writes and the RPC are measured by the hsm and rpc benchmarks) vs as many plain ECDSA signatures;
//    the signatures made as the HSM makes them, split across its adaptor workers (AdaptorSigners);
//  - the same contract over 2^17 outcomes (BENCH_DLC_17=0 leaves it out: it takes a while).

import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { numericCets, type NumericDescriptor } from '../src/adapters/dlc/numeric.js';
import { CetPoints } from '../src/adapters/dlc/outcomes.js';
import { verifyAnnouncement } from '../src/adapters/dlc/oracle.js';
import { adaptorSignWith, adaptorVerify, adaptorVerifyWith } from '../src/core/ecdsa-adaptor.js';
import { curve, nobleCurve, type AdaptorCurve } from '../src/core/ecdsa-adaptor-curve.js';
import { AdaptorSigners } from '../src/hsm/adaptor-worker.js';
import { digitDescriptor, makeOracle } from '../test/peers/dlc-oracle.js';

interface PlainEcdsa {
  sign(h: Uint8Array, d: Uint8Array): Uint8Array;
  verify(h: Uint8Array, q: Uint8Array, sig: Uint8Array): boolean;
}
const noblePlain: PlainEcdsa = {
  sign: (h, d) => secp256k1.sign(h, d, { prehash: false }),
  verify: (h, q, sig) => secp256k1.verify(sig, h, q, { prehash: false }),
};

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

/** Adaptor vs plain sign and verify on one backend, N of each, p50s. */
function pair(c: AdaptorCurve<unknown>, plain: PlainEcdsa, N: number) {
  const key = secp256k1.utils.randomSecretKey();
  const pub = secp256k1.getPublicKey(key, true);
  const digests = Array.from({ length: N }, () => randomBytes(32));
  const points = Array.from({ length: N }, () => secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
  const rawSigs: Uint8Array[] = [];
  const raw = each(N, (i) => rawSigs.push(plain.sign(digests[i]!, key)));
  const adaptors: Uint8Array[] = [];
  const adaptor = each(N, (i) => adaptors.push(adaptorSignWith(c, key, points[i]!, digests[i]!)));
  const rawVerify = each(N, (i) => plain.verify(digests[i]!, pub, rawSigs[i]!));
  const adaptorVer = each(N, (i) => adaptorVerifyWith(c, pub, points[i]!, digests[i]!, adaptors[i]!));
  return {
    adaptor_sign_p50_ms: r3(p50(adaptor)),
    raw_ecdsa_sign_p50_ms: r3(p50(raw)),
    adaptor_sign_ratio: r3(p50(adaptor) / p50(raw)),
    adaptor_verify_p50_ms: r3(p50(adaptorVer)),
    raw_ecdsa_verify_p50_ms: r3(p50(rawVerify)),
    adaptor_verify_ratio: r3(p50(adaptorVer) / p50(rawVerify)),
  };
}

/** A three-piece curve over 2^digits outcomes (0 up to 400/1024, rising to 1 BTC at 600/1024), rounded to 0.01 BTC. */
function payoutCurve(digits: number): NumericDescriptor {
  const top = 2 ** digits - 1;
  const pt = (x: number, y: number) => ({ event_outcome: BigInt(x), outcome_payout: BigInt(y), extra_precision: 0 });
  return {
    num_digits: digits,
    pieces: [
      { end_point: pt(0, 0), points: [] },
      { end_point: pt(Math.round(400 * 2 ** (digits - 10)), 0), points: [] },
      { end_point: pt(Math.round(600 * 2 ** (digits - 10)), 100_000_000), points: [] },
    ],
    last_endpoint: pt(top, 100_000_000),
    rounding: [{ begin: 0n, mod: 1_000_000n }],
  };
}

/** Both parties' computation for a numeric contract; the signatures made on the HSM's adaptor workers. */
async function contract(digits: number, signers: AdaptorSigners) {
  const oracle = verifyAnnouncement(makeOracle(digitDescriptor(2, false, digits), digits, 'bench', 'tagged').ann);
  const acceptKey = secp256k1.utils.randomSecretKey();
  const offerKey = secp256k1.utils.randomSecretKey();
  const t0 = performance.now();
  const cets = numericCets(payoutCurve(digits), 2, 100_000_000n);
  const cetPoints = new CetPoints(oracle);
  const encryptions = cets.map((c) => cetPoints.of({ outcome: '', digits: c.digits }));
  const sighashes = cets.map(() => randomBytes(32)); // a CET's sighash costs microseconds: not what is measured here
  const items = encryptions.map((point, i) => ({ point, digest: sighashes[i]! }));
  const acceptSigs = await signers.signAll(new Uint8Array(acceptKey), items); // accept
  const acceptPub = secp256k1.getPublicKey(acceptKey, true);
  const offerOk = acceptSigs.every((s, i) => adaptorVerify(acceptPub, encryptions[i]!, sighashes[i]!, s)); // sign: verify
  const offerSigs = await signers.signAll(new Uint8Array(offerKey), items); // sign: its own
  const offerPub = secp256k1.getPublicKey(offerKey, true);
  const acceptOk = offerSigs.every((s, i) => adaptorVerify(offerPub, encryptions[i]!, sighashes[i]!, s)); // finalize
  const contractMs = performance.now() - t0;
  if (!offerOk || !acceptOk) throw new Error('a DLC adaptor signature did not verify in the benchmark');
  return { cets: cets.length, sighashes, contractMs };
}

export async function benchDlc(results: Record<string, unknown>): Promise<void> {
  const N = 300;
  const backend = curve();
  // The libsecp256k1 backend's baseline: the same wasm build's plain ECDSA.
  const tiny = backend === nobleCurve ? null : (createRequire(import.meta.url)('tiny-secp256k1') as PlainEcdsa);
  const main = pair(backend, tiny ?? noblePlain, N);
  const fallback = backend === nobleCurve ? main : pair(nobleCurve, noblePlain, 100);

  const key = secp256k1.utils.randomSecretKey();
  const signers = new AdaptorSigners();
  const rawTimes = (sighashes: Uint8Array[], sign: PlainEcdsa['sign']) => {
    const t1 = performance.now();
    for (let i = 0; i < 2 * sighashes.length; i++) sign(sighashes[i % sighashes.length]!, key);
    return performance.now() - t1;
  };
  const numeric = async (digits: number) => {
    const c = await contract(digits, signers);
    const rawMs = rawTimes(c.sighashes, (tiny ?? noblePlain).sign);
    return { cets: c.cets, contract_ms: Math.round(c.contractMs), raw_signatures_ms: Math.round(rawMs), ratio: r3(c.contractMs / rawMs) };
  };
  await contract(4, signers); // (the workers started and warmed)
  const n10 = await numeric(10);
  const n17 = process.env.BENCH_DLC_17 === '0' ? undefined : await numeric(17);
  await signers.close();

  const res = {
    backend: backend.name,
    ...main,
    noble_fallback: fallback,
    numeric_1024: n10,
    ...(n17 ? { numeric_131072: n17 } : {}),
  };
  results.dlc = res;
  console.log(
    `dlc (${res.backend}): adaptor sign p50 ${res.adaptor_sign_p50_ms} ms vs ECDSA ${res.raw_ecdsa_sign_p50_ms} ms (${res.adaptor_sign_ratio}×); verify ${res.adaptor_verify_p50_ms} vs ${res.raw_ecdsa_verify_p50_ms} ms (${res.adaptor_verify_ratio}×); ` +
      `@noble fallback: sign ${fallback.adaptor_sign_p50_ms} ms (${fallback.adaptor_sign_ratio}×), verify ${fallback.adaptor_verify_p50_ms} ms (${fallback.adaptor_verify_ratio}×); ` +
      `numeric 2^10: ${n10.cets} CETs, both parties ${n10.contract_ms} ms vs ${n10.raw_signatures_ms} ms of plain signatures (${n10.ratio}×)` +
      (n17 ? `; 2^17: ${n17.cets} CETs, ${n17.contract_ms} ms (${n17.ratio}×)` : ''),
  );
}
