// The curve operations an ECDSA adaptor signature needs (ecdsa-adaptor.ts), on two backends:
//  - libsecp256k1, compiled to wasm by tiny-secp256k1 (the bitcoinjs build: a registry package, no install script,
//    the same .wasm on x64 and arm64). Its multiplication of an arbitrary point is ~10× @noble's here (0.22 against
//    2.2 ms), and an adaptor signature needs two of them (k*Y and the proof's a*Y), on a Y that changes with every
//    CET, so no table can be precomputed for it. That multiplication (ec_pubkey_tweak_mul of the libsecp256k1 0.2
//    that tiny-secp256k1 2.2 vendors) is VARIABLE time in its scalar: our secret nonces never go into it as they
//    are. They are blinded (mulSecret): Z = r*Y for a fresh random r, then k*Y = (k/r)*Z, so each scalar the
//    variable-time code sees is uniform and independent of the nonce. It costs one more multiplication per
//    signature (three for two products); the base-point multiplication (ecmult_gen) is constant time as it is.
//  - @noble/curves, the fallback where the wasm module does not load (a bundle without it, a build without wasm).
// No npm package exposes secp256k1-zkp's own ecdsa_adaptor module (the one rust-dlc links): the kept wasm build of
// secp256k1-zkp (@vulpemventures/secp256k1-zkp) exports Elements' proofs and MuSig only, and the rust-dlc bindings
// (@bennyblader/ddk-ts) ship native builds for linux-x64 and darwin-arm64 alone. So the scheme stays ours, on
// libsecp256k1's group arithmetic.
//
// Points travel as bytes between the scheme and a backend: 33-byte compressed encodings, which are what the scheme
// hashes and serializes anyway. A backend's parsed point (P) is its own.

import { libsecp256k1 } from './libsecp256k1.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { randomBytes } from 'node:crypto';

const Point = secp256k1.Point;
type NoblePoint = InstanceType<typeof Point>;
const Fn = Point.Fn;

export interface AdaptorCurve<P> {
  readonly name: string;
  /** A 33- or 65-byte SEC1 encoding as this backend's point, or null when it is not a point of the curve. */
  parse(b: Uint8Array): P | null;
  /** The 33-byte compressed encoding. */
  encode(p: P): Uint8Array;
  /** k*G, compressed; k a secret scalar in [1, n): constant time. */
  mulG(k: bigint): Uint8Array;
  /** k*P for each k, compressed; the k secret scalars in [1, n): nothing about them may show in the time taken. */
  mulSecret(p: P, ks: bigint[]): Uint8Array[];
  /** a*A + b*B (A = G when null), compressed, or null at infinity; a and b public scalars in [0, n): may be variable time. */
  lin(a: bigint, A: P | null, b: bigint, B: P): Uint8Array | null;
}

export const nobleCurve: AdaptorCurve<NoblePoint> = {
  name: '@noble/curves',
  parse(b) {
    try {
      const p = Point.fromBytes(b);
      return p.is0() ? null : p;
    } catch {
      return null;
    }
  },
  encode: (p) => p.toBytes(true),
  mulG: (k) => Point.BASE.multiply(k).toBytes(true),
  // (@noble's multiply is constant time.)
  mulSecret: (p, ks) => ks.map((k) => p.multiply(k).toBytes(true)),
  lin(a, A, b, B) {
    const ta = a === 0n ? Point.ZERO : (A ?? Point.BASE).multiplyUnsafe(a);
    const tb = b === 0n ? Point.ZERO : B.multiplyUnsafe(b);
    const sum = ta.add(tb);
    return sum.is0() ? null : sum.toBytes(true);
  },
};

/** tiny-secp256k1's functions this file uses (its own types are not needed at build time). */
interface Tiny {
  isPoint(p: Uint8Array): boolean;
  pointCompress(p: Uint8Array, compressed?: boolean): Uint8Array;
  pointFromScalar(d: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointMultiply(p: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointAdd(a: Uint8Array, b: Uint8Array, compressed?: boolean): Uint8Array | null;
  recover(h: Uint8Array, signature: Uint8Array, recoveryId: 0 | 1 | 2 | 3, compressed?: boolean): Uint8Array | null;
}

/** The compressed encoding of a 65-byte uncompressed one. */
function compress(u: Uint8Array): Uint8Array {
  const out = new Uint8Array(33);
  out[0] = 2 | (u[64]! & 1);
  out.set(u.subarray(1, 33), 1);
  return out;
}

/** A multiplication whose scalar is secret: the scalar's bytes are wiped once the wasm call has copied them. */
function withScalar<T>(k: bigint, f: (kb: Uint8Array) => T): T {
  const kb = Fn.toBytes(k);
  try {
    return f(kb);
  } finally {
    kb.fill(0);
  }
}

/** Points are kept uncompressed (65 bytes) between calls: libsecp256k1 then parses them without a square root. */
export function tinyCurve(t: Tiny): AdaptorCurve<Uint8Array> {
  const sure = (p: Uint8Array | null): Uint8Array => {
    if (p === null) throw new Error('libsecp256k1 refused a multiplication of a point by a non-zero scalar');
    return p;
  };
  // (A 0 scalar's term is left out: libsecp256k1 refuses a multiplication by 0.)
  const term = (k: bigint, P: Uint8Array | null): Uint8Array | null =>
    k === 0n ? null : withScalar(k, (kb) => sure(P === null ? t.pointFromScalar(kb, false) : t.pointMultiply(P, kb, false)));
  /**
   * a*G + b*B in ONE multiplication (Strauss, with G's table), where two separate ones cost about twice: through
   * ECDSA public-key recovery, which computes r^-1 * (s*R - z*G) for the point R of x coordinate r and the parity of
   * the recovery id. With R = B, s = b*r and z = -a*r, that is b*B + a*G. Public scalars only (recovery is variable
   * time). Undefined where B's x is not below n (probability ~2^-128): the caller then takes the two-step path.
   */
  const withG = (a: bigint, b: bigint, B: Uint8Array): Uint8Array | null | undefined => {
    const r = Fn.fromBytes(B.subarray(1, 33), true);
    if (r === 0n || r >= Fn.ORDER) return undefined;
    const sig = new Uint8Array(64);
    sig.set(B.subarray(1, 33), 0);
    sig.set(Fn.toBytes(Fn.mul(b, r)), 32);
    return t.recover(Fn.toBytes(Fn.neg(Fn.mul(a, r))), sig, (B[64]! & 1) as 0 | 1, true);
  };
  return {
    name: 'libsecp256k1 (tiny-secp256k1, wasm)',
    parse(b) {
      // (The encodings @noble accepts, and only those: libsecp256k1 would also take the hybrid 0x06/0x07.)
      const ok = (b.length === 33 && (b[0] === 2 || b[0] === 3)) || (b.length === 65 && b[0] === 4);
      if (!ok || !t.isPoint(b)) return null;
      return b.length === 65 ? new Uint8Array(b) : t.pointCompress(b, false);
    },
    encode: compress,
    mulG: (k) => withScalar(k, (kb) => sure(t.pointFromScalar(kb, true))),
    mulSecret(p, ks) {
      // The blinding factor r: uniform in [1, n), fresh for each call, never reused.
      // (Rejection sampling: a 32-byte value at or above n, or zero, is drawn again.)
      let r: bigint;
      do r = Fn.fromBytes(randomBytes(32), true);
      while (r === 0n || r >= Fn.ORDER);
      const Z = withScalar(r, (rb) => sure(t.pointMultiply(p, rb, false)));
      const rInv = Fn.inv(r);
      r = 0n;
      return ks.map((k) => withScalar(Fn.mul(k, rInv), (kb) => sure(t.pointMultiply(Z, kb, true))));
    },
    lin(a, A, b, B) {
      if (A === null && a !== 0n && b !== 0n) {
        const both = withG(a, b, B);
        if (both !== undefined) return both;
      }
      const ta = term(a, A);
      const tb = term(b, B);
      if (ta && tb) return t.pointAdd(ta, tb, true);
      const one = ta ?? tb;
      return one === null ? null : compress(one);
    },
  };
}

function loadTiny(): AdaptorCurve<Uint8Array> | null {
  try {
    const t = libsecp256k1();
    if (!t) return null;
    const c = tinyCurve(t);
    // A self-check before it is trusted: 3*G by both backends.
    if (Buffer.compare(c.mulG(3n), nobleCurve.mulG(3n)) !== 0) return null;
    return c;
  } catch {
    return null;
  }
}

let chosen: AdaptorCurve<unknown> | undefined;

/** The backend in use: libsecp256k1 where its wasm module loads, @noble/curves otherwise. Chosen once. */
export function curve(): AdaptorCurve<unknown> {
  chosen ??= (loadTiny() ?? nobleCurve) as AdaptorCurve<unknown>;
  return chosen;
}

/** The libsecp256k1 backend, or null where it does not load (for the tests and the benchmark). */
export function libsecpCurve(): AdaptorCurve<Uint8Array> | null {
  const c = curve();
  return c === nobleCurve ? loadTiny() : (c as AdaptorCurve<Uint8Array>);
}
