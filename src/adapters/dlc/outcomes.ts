// The oracle's anticipated signature point for an outcome: S = R + e·P, with e BIP340's challenge of the nonce R,
// the oracle key P and the outcome's message. A CET's adaptor signature is encrypted under it, and the oracle's
// attestation s (with s·G = S) decrypts it. The message is hashed the way the oracle signs (see oracle.ts).

import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { normalizeZ } from '@noble/curves/abstract/curve.js';
import { curve } from '../../core/ecdsa-adaptor-curve.js';
import type { ContractInfo } from './messages.js';
import { attestationScalars, OracleError, oracleTaggedHash, verifyAttestation, type OracleAnnouncement, type OracleAttestation } from './oracle.js';

const N = secp256k1.Point.Fn.ORDER;
const x32 = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
type Point = InstanceType<typeof secp256k1.Point>;

/** The even-y point of an x-only key (BIP340's lift_x), compressed: 0x02 || x. */
const evenY = (xHex: string): Uint8Array => Buffer.from(`02${xHex.padStart(64, '0')}`, 'hex');

/**
 * S for `outcome` signed with the nonce at `nonceIndex` (33-byte compressed point): R + e·P on the adaptor
 * signatures' curve backend (libsecp256k1 where it loads: a tenth of @noble's time for the multiplication, and its
 * square root for lift_x; both give the same point). Public data: the variable-time multiplication is safe.
 */
export function outcomePoint(ann: OracleAnnouncement, outcome: string, nonceIndex = 0): Uint8Array {
  const c = curve();
  const Pb = evenY(ann.oracle_public_key);
  const Rb = evenY(ann.event.nonces[nonceIndex]!);
  const P = c.parse(Pb);
  const R = c.parse(Rb);
  if (P === null || R === null) throw new OracleError(`the oracle's ${P === null ? 'key' : `nonce ${nonceIndex}`} is not a point of secp256k1`);
  const m = new TextEncoder().encode(outcome.normalize('NFC'));
  const msg = ann.signing === 'tagged' ? oracleTaggedHash('attestation/v0', m) : sha256(m);
  const e = BigInt(`0x${Buffer.from(schnorr.utils.taggedHash('BIP0340/challenge', Buffer.concat([Rb.subarray(1), Pb.subarray(1), msg]))).toString('hex')}`) % N;
  const S = c.lin(1n, R, e, P);
  // (R = -e·P only for an oracle that knows its nonce is its key times -e: no honest announcement; S has no encoding.)
  if (S === null) throw new OracleError(`the oracle's point for "${outcome}" (nonce ${nonceIndex}) is at infinity`);
  return S;
}

/**
 * The points the CETs' adaptor signatures are encrypted under: an enumerated outcome's point, or for a numeric CET
 * the sum of its prefix digits' points (digit i signed with nonce i; the attestation's s values for them sum to its
 * discrete log). Each (nonce, digit) point is computed once: a 10-digit binary event has 20 of them for hundreds of
 * CETs. Sums stay projective (an addition is microseconds; making a point affine costs an inversion) until `all`
 * makes a whole contract's affine with one inversion.
 */
export class CetPoints {
  private readonly digit = new Map<string, Point>();
  /** Sums per digit prefix: a numeric contract's CETs share their prefixes, so each CET costs about one addition. */
  private readonly prefix = new Map<string, Point>();
  constructor(private readonly ann: OracleAnnouncement) {}

  of(cet: { outcome: string; digits?: number[] }): Uint8Array {
    return this.point(cet).toBytes(true);
  }

  /** Every CET's point, in order (one field inversion for all of them). */
  all(cets: Array<{ outcome: string; digits?: number[] }>): Point[] {
    return normalizeZ(
      secp256k1.Point,
      cets.map((c) => this.point(c)),
    );
  }

  /** The CET's point, possibly projective. */
  point(cet: { outcome: string; digits?: number[] }): Point {
    if (!cet.digits) return secp256k1.Point.fromBytes(outcomePoint(this.ann, cet.outcome));
    return this.sum(cet.digits, cet.digits.length);
  }

  private sum(digits: number[], n: number): Point {
    if (n === 0) return secp256k1.Point.ZERO;
    const key = digits.slice(0, n).join(',');
    let s = this.prefix.get(key);
    if (s) return s;
    const i = n - 1;
    const d = digits[i]!;
    let p = this.digit.get(`${i}:${d}`);
    if (!p) this.digit.set(`${i}:${d}`, (p = secp256k1.Point.fromBytes(outcomePoint(this.ann, String(d), i))));
    s = this.sum(digits, n - 1).add(p);
    this.prefix.set(key, s);
    return s;
  }
}

/** One CET's point (see CetPoints, which keeps the digits' points for a whole contract). */
export function cetPoint(ann: OracleAnnouncement, cet: { outcome: string; digits?: number[] }): Uint8Array {
  return new CetPoints(ann).of(cet);
}

/** The `t`-element subsets of 0..n-1 in lexicographic order ([0,1,2], [0,1,3], …), as rust-dlc enumerates them. */
export function combinations(n: number, t: number): number[][] {
  const out: number[][] = [];
  const pick = (start: number, chosen: number[]): void => {
    if (chosen.length === t) {
      out.push([...chosen]);
      return;
    }
    for (let i = start; i <= n - (t - chosen.length); i++) pick(i + 1, [...chosen, i]);
  };
  pick(0, []);
  return out;
}

/**
 * Every adaptor signature's point and CET, in the order the messages carry them. One oracle: one per CET. A
 * threshold of several: for each CET (an outcome, or a numeric digit prefix), one per combination of `threshold`
 * oracles (lexicographic), encrypted under the sum of those oracles' points for it, so any `threshold` attestations
 * of it complete that CET (rust-dlc's order: CETs, then combinations; with no allowed differences between oracles).
 */
export function adaptorPoints(ci: ContractInfo): Array<{ cet: number; point: Uint8Array }> {
  return adaptorPointsAffine(ci).map(({ cet, P }) => ({ cet, point: P.toBytes(true) }));
}

/** adaptorPoints as affine points (one field inversion for all of them), for callers that want other encodings too. */
export function adaptorPointsAffine(ci: ContractInfo): Array<{ cet: number; P: Point }> {
  if (!ci.oracles) return new CetPoints(ci.announcement).all(ci.payouts).map((P, cet) => ({ cet, P }));
  const { threshold, announcements } = ci.oracles;
  const combos = combinations(announcements.length, threshold);
  const perOracle = announcements.map((a) => new CetPoints(a));
  const items = ci.payouts.flatMap((p, cet) => {
    // Each oracle's point for this CET (a numeric CET's: the sum of its prefix digits' points by that oracle).
    const each = perOracle.map((points) => points.point(p));
    return combos.map((c) => ({ cet, sum: c.reduce((sum, j) => sum.add(each[j]!), secp256k1.Point.ZERO) }));
  });
  const affine = normalizeZ(
    secp256k1.Point,
    items.map((x) => x.sum),
  );
  return items.map(({ cet }, i) => ({ cet, P: affine[i]! }));
}

/** Σ s_i mod n as 32 bytes: the decryption key of an adaptor signature whose point is the sum of the s_i·G. */
export function sumScalars(scalars: Uint8Array[]): Buffer {
  return x32(scalars.reduce((acc, x) => (acc + BigInt(`0x${Buffer.from(x).toString('hex')}`)) % N, 0n));
}

/**
 * The CET one oracle's attestation opens, checked against its announcement: the attested enumerated outcome's, or
 * the numeric CET whose digit prefix the attested digits start with; and the s values whose sum decrypts it (the
 * outcome's one, or those of the prefix's digits).
 */
export function attestedCet(ci: ContractInfo, ann: OracleAnnouncement, att: OracleAttestation, who = 'the oracle'): { cet: number; s: Uint8Array[] } {
  const proved = verifyAttestation(ann, att);
  const cet =
    proved.kind === 'enum'
      ? ci.payouts.findIndex((p) => p.outcome === proved.outcome)
      : ci.payouts.findIndex((p) => p.digits !== undefined && p.digits.every((d, i) => proved.digits[i] === d));
  if (cet < 0) throw new OracleError(`no CET covers what ${who} attests (${proved.kind === 'enum' ? `"${proved.outcome}"` : `the value ${proved.value}`})`);
  const scalars = attestationScalars(att);
  return { cet, s: proved.kind === 'enum' ? [scalars[0]!] : scalars.slice(0, ci.payouts[cet]!.digits!.length) };
}

/**
 * Which adaptor signature the attestations of several oracles open: the CET that at least `threshold` of them attest
 * (an enumerated outcome, or the numeric CET whose digit prefix their attested digits start with; the most attested
 * one), the first `threshold` of those oracles in announcement order (as rust-dlc picks them), the position of that
 * combination among all of them, and the sum of their s values for it (its discrete log).
 */
export function attestedByThreshold(ci: ContractInfo, attestations: OracleAttestation[]): { cetIdx: number; idx: number; s: Buffer } {
  const { threshold, announcements } = ci.oracles!;
  const byOracle = new Map<number, { cet: number; s: Uint8Array[] }>();
  for (const att of attestations) {
    const j = announcements.findIndex((a) => a.oracle_public_key === att.oracle_public_key);
    if (j < 0) throw new OracleError(`the attestation is by oracle ${att.oracle_public_key}, which this contract does not name`);
    byOracle.set(j, attestedCet(ci, announcements[j]!, att, `oracle ${j + 1}`));
  }
  const groups = new Map<number, number[]>();
  for (const [j, a] of [...byOracle].sort((x, y) => x[0] - y[0])) groups.set(a.cet, [...(groups.get(a.cet) ?? []), j]);
  const best = [...groups].sort((a, b) => b[1].length - a[1].length)[0];
  if (!best || best[1].length < threshold)
    throw new OracleError(`${threshold} oracles must attest the same outcome; the attestations given agree at most ${best?.[1].length ?? 0} on one`);
  const [cetIdx, oracles] = best;
  const chosen = oracles.slice(0, threshold);
  const combos = combinations(announcements.length, threshold);
  const combo = combos.findIndex((c) => c.every((j, i) => chosen[i] === j));
  return { cetIdx, idx: cetIdx * combos.length + combo, s: sumScalars(chosen.flatMap((j) => byOracle.get(j)!.s)) };
}
