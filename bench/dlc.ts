// DLC benchmarks, each against plain ECDSA of the same curve library in the same run (issue 30 item 1):
//  - one CET adaptor signature (ECDSA-adaptor.md: the signature and its DLEQ proof) vs one plain ECDSA signature,
//    on the backend adaptorSign uses (libsecp256k1 in wasm where it loads: tiny-secp256k1's sign and verify are the
//    baseline) and on the @noble/curves fallback (against @noble's sign and verify);
//  - verifying one vs verifying a plain ECDSA signature, the same way;
//  - a numeric contract over 2^10 outcomes (10 binary digits, a three-piece payout curve rounded to 0.01 BTC), on
//    the path anyad takes (negotiation.ts): each party reads the offer in a DLC worker (the payout curve evaluated),
//    prepares the CETs (sighashes, adaptor points: DlcWorkers.prepare) and checks the counterparty's adaptor
//    signatures in slices across the DLC workers; its own are made as the HSM makes them, split across its adaptor
//    workers (AdaptorSigners). Offer, accept (read, prepare, sign), sign (read, prepare + check, sign), finalize
//    (read, prepare + check); the HSM's audit writes and the RPC are measured by the hsm and rpc benchmarks. Against
//    as many plain ECDSA signatures (two per CET); wall and CPU time (all threads) per phase reported;
//  - the same contract over 2^17 outcomes (BENCH_DLC_17=0 leaves it out: it takes a while).

import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { DEFAULT_BOUNDS } from '../src/adapters/dlc/context.js';
import { decodeOffer, encodeOffer, HARD_LIMITS, numericPayouts, type Offer } from '../src/adapters/dlc/messages.js';
import type { NumericDescriptor } from '../src/adapters/dlc/numeric.js';
import { verifyAnnouncement } from '../src/adapters/dlc/oracle.js';
import type { AcceptTerms } from '../src/adapters/dlc/transactions.js';
import { DlcWorkers } from '../src/adapters/dlc/worker.js';
import { adaptorSignWith, adaptorVerifyWith } from '../src/core/ecdsa-adaptor.js';
import { curve, nobleCurve, type AdaptorCurve } from '../src/core/ecdsa-adaptor-curve.js';
import { AdaptorSigners } from '../src/hsm/adaptor-worker.js';
import { acceptTerms, type VectorAccept } from '../test/helpers/dlc-vectors.js';
import { digitDescriptor, makeOracle } from '../test/peers/dlc-oracle.js';
import { r3 } from './measure.js';

interface PlainEcdsa {
  sign(h: Uint8Array, d: Uint8Array): Uint8Array;
  verify(h: Uint8Array, q: Uint8Array, sig: Uint8Array): boolean;
}
const noblePlain: PlainEcdsa = {
  sign: (h, d) => secp256k1.sign(h, d, { prehash: false }),
  verify: (h, q, sig) => secp256k1.verify(sig, h, q, { prehash: false }),
};

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

/** A three-piece curve over 2^digits outcomes (0 up to 400/1024, rising to the total at 600/1024), rounded to 1%. */
function payoutCurve(digits: number, total: bigint): NumericDescriptor {
  const top = 2 ** digits - 1;
  const pt = (x: number, y: number) => ({ event_outcome: BigInt(x), outcome_payout: BigInt(y), extra_precision: 0 });
  return {
    num_digits: digits,
    pieces: [
      { end_point: pt(0, 0), points: [] },
      { end_point: pt(Math.round(400 * 2 ** (digits - 10)), 0), points: [] },
      { end_point: pt(Math.round(600 * 2 ** (digits - 10)), Number(total)), points: [] },
    ],
    last_endpoint: pt(top, Number(total)),
    rounding: [{ begin: 0n, mod: total / 100n }],
  };
}

/** The dlcspecs single-oracle numeric vector's parties (their funding inputs, keys, serial ids), on `digits` digits. */
function contractOffer(digits: number): { offer: Uint8Array; accept: AcceptTerms } {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const v = JSON.parse(readFileSync(join(root, 'test/vectors/dlc_single_oracle_numerical.json'), 'utf8')) as { offer: string; accept: VectorAccept };
  const base = decodeOffer(Buffer.from(v.offer, 'hex'));
  const annBytes = makeOracle(digitDescriptor(2, false, digits), digits, 'bench', 'tagged').ann;
  const announcement = verifyAnnouncement(annBytes);
  const total = base.contract_info.total_collateral;
  const numeric = payoutCurve(digits, total);
  const contract_info = {
    total_collateral: total,
    payouts: numericPayouts(numeric, announcement, total),
    numeric,
    announcement,
    announcement_tlv: Buffer.from(annBytes).toString('hex'),
  };
  return { offer: encodeOffer({ ...base, contract_info }), accept: acceptTerms(v.accept) };
}

/** Both parties' computation for a numeric contract, as anyad does it; wall and CPU milliseconds per phase. */
async function contract(digits: number, workers: DlcWorkers, signers: AdaptorSigners) {
  const { offer, accept } = contractOffer(digits);
  const acceptKey = secp256k1.utils.randomSecretKey();
  const offerKey = secp256k1.utils.randomSecretKey();
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const wall: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  const phase = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const c = process.cpuUsage();
    const r = await f();
    const d = process.cpuUsage(c);
    wall[name] = Math.round(performance.now() - t);
    cpu[name] = Math.round((d.user + d.system) / 1000);
    return r;
  };
  const read = () => workers.run<Offer>({ op: 'decodeOffer', offer, limits: HARD_LIMITS }, 'bench');
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await phase('offer_read', read);
  const a = await phase('accept_read', read);
  const pa = await phase('accept_prepare', () => workers.prepare(a, accept, undefined, 'bench'));
  const acceptSigs = await phase('accept_sign', () => signers.signAll(new Uint8Array(acceptKey), pa.items));
  const o = await phase('sign_read', read);
  const check = (key: Uint8Array, sigs: Uint8Array[]) => ({ pubkey: hex(secp256k1.getPublicKey(key, true)), adaptor: sigs.map(hex) });
  const po = await phase('sign_prepare_verify', () => workers.prepare(o, accept, check(acceptKey, acceptSigs), 'bench'));
  const offerSigs = await phase('sign_sign', () => signers.signAll(new Uint8Array(offerKey), po.items));
  const f = await phase('finalize_read', read);
  const pf = await phase('finalize_prepare_verify', () => workers.prepare(f, accept, check(offerKey, offerSigs), 'bench'));
  const contractMs = performance.now() - t0;
  const used = process.cpuUsage(c0);
  if (po.badAdaptor !== -1 || pf.badAdaptor !== -1) throw new Error('a DLC adaptor signature did not verify in the benchmark');
  return {
    cets: pa.items.length,
    sighashes: pa.items.map((x) => x.digest),
    contractMs,
    cpuMs: (used.user + used.system) / 1000,
    wall,
    cpu,
  };
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
  const workers = new DlcWorkers(DEFAULT_BOUNDS.workers, 600, pino({ level: 'silent' }));
  const rawTimes = (sighashes: Uint8Array[], sign: PlainEcdsa['sign']) => {
    const t1 = performance.now();
    for (let i = 0; i < 2 * sighashes.length; i++) sign(sighashes[i % sighashes.length]!, key);
    return performance.now() - t1;
  };
  const numeric = async (digits: number) => {
    const c = await contract(digits, workers, signers);
    const rawMs = rawTimes(c.sighashes, (tiny ?? noblePlain).sign);
    return {
      cets: c.cets,
      contract_ms: Math.round(c.contractMs),
      contract_cpu_ms: Math.round(c.cpuMs),
      raw_signatures_ms: Math.round(rawMs),
      ratio: r3(c.contractMs / rawMs),
      phases_wall_ms: c.wall,
      phases_cpu_ms: c.cpu,
    };
  };
  // (The workers started and warmed: each has its own wasm instance, which V8 recompiles optimized only once hot,
  // as a running anyad's workers are after their first contract.)
  await contract(8, workers, signers);
  const n10 = await numeric(10);
  const n17 = process.env.BENCH_DLC_17 === '0' ? undefined : await numeric(17);
  await signers.close();
  await workers.close();

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
      `numeric 2^10: ${n10.cets} CETs, both parties ${n10.contract_ms} ms (CPU ${n10.contract_cpu_ms} ms, ${DEFAULT_BOUNDS.workers} DLC workers) vs ${n10.raw_signatures_ms} ms of plain signatures (${n10.ratio}×)` +
      (n17 ? `; 2^17: ${n17.cets} CETs, ${n17.contract_ms} ms (${n17.ratio}×)` : ''),
  );
}
