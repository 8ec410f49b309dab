// The curve work of a channel update on libsecp256k1 (issue 30 item 2): every state builds two commitments (BOLT 3
// keys: two variable-base multiplications for the revocation key, a base-point tweak for the delayed key), derives
// per-commitment points and verifies two counterparty signatures on each side. On @noble/curves these were most of
// an update's CPU time (~25 ms of ~35 under load); tiny-secp256k1's wasm build of libsecp256k1 (already a
// dependency: the DLC adaptor curve, core/ecdsa-adaptor-curve.ts, loads it the same way) does each ~10× faster.
// Results are the same bytes (a self-check on load compares both backends; the BOLT 3 vectors test them); where the
// wasm module does not load, @noble is used as before.
//
// Only public values go through the variable-time calls (points and hashes of points, signatures); a secret scalar
// goes only to pointFromScalar (libsecp256k1's ecmult_gen, constant time).

import { libsecp256k1 } from '../../core/libsecp256k1.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';

const Point = secp256k1.Point;
const N = Point.Fn.ORDER;

/** tiny-secp256k1's functions used here (its own types are not needed at build time). */
interface Tiny {
  isPoint(p: Uint8Array): boolean;
  pointFromScalar(d: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointMultiply(p: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointAdd(a: Uint8Array, b: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointAddScalar(p: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array | null;
  verify(h: Uint8Array, q: Uint8Array, sig: Uint8Array, strict?: boolean): boolean;
}

export interface ChannelCurve {
  readonly name: string;
  /** secret·G, compressed (constant time in the secret). */
  pubFromSecret(secret: Uint8Array): Uint8Array;
  /** P + t·G, compressed; t a public scalar below n. */
  addTweak(p: Uint8Array, t: bigint): Uint8Array;
  /** a·A + b·B, compressed; a and b public scalars in [1, n), A and B public points. */
  lin(a: bigint, A: Uint8Array, b: bigint, B: Uint8Array): Uint8Array;
  /** True when the DER signature is the key's over the digest with a low S (BIP146); false for anything malformed. */
  verifyDer(sigDer: Uint8Array, digest: Uint8Array, pubkey: Uint8Array): boolean;
  /** True for a 33- or 65-byte SEC1 encoding of a point of the curve. */
  isPoint(p: Uint8Array): boolean;
}

const be32 = (s: bigint): Uint8Array => Buffer.from(s.toString(16).padStart(64, '0'), 'hex');

export const nobleChannelCurve: ChannelCurve = {
  name: '@noble/curves',
  pubFromSecret: (secret) => secp256k1.getPublicKey(secret, true),
  addTweak: (p, t) => Point.fromBytes(p).add(Point.BASE.multiply(t)).toBytes(true),
  lin: (a, A, b, B) => Point.fromBytes(A).multiplyUnsafe(a).add(Point.fromBytes(B).multiplyUnsafe(b)).toBytes(true),
  verifyDer(sig, digest, pubkey) {
    try {
      return secp256k1.verify(sig, digest, pubkey, { prehash: false, format: 'der', lowS: true });
    } catch {
      return false;
    }
  },
  isPoint(p) {
    try {
      Point.fromBytes(p);
      return true;
    } catch {
      return false;
    }
  },
};

/**
 * A strict DER signature (BIP66 shape: 0x30 len 0x02 lenR R 0x02 lenS S) as libsecp256k1's 64-byte compact form, or
 * null when it is not one or r or s is not in [1, n). (Callers that refuse non-strict DER check it first; this
 * only has to be right for what it accepts.)
 */
export function derToCompact(sig: Uint8Array): Uint8Array | null {
  if (sig.length < 8 || sig.length > 72 || sig[0] !== 0x30 || sig[1] !== sig.length - 2 || sig[2] !== 0x02) return null;
  const lenR = sig[3]!;
  if (lenR === 0 || 5 + lenR >= sig.length || sig[4 + lenR] !== 0x02) return null;
  const lenS = sig[5 + lenR]!;
  if (lenS === 0 || 6 + lenR + lenS !== sig.length) return null;
  const int = (from: number, len: number): bigint | null => {
    const b = sig.subarray(from, from + len);
    if (b[0]! & 0x80) return null; // negative
    const v = BigInt(`0x${Buffer.from(b).toString('hex')}`);
    return v === 0n || v >= N ? null : v;
  };
  const r = int(4, lenR);
  const s = int(6 + lenR, lenS);
  if (r === null || s === null) return null;
  const out = new Uint8Array(64);
  out.set(be32(r), 0);
  out.set(be32(s), 32);
  return out;
}

export function tinyChannelCurve(t: Tiny): ChannelCurve {
  const sure = (p: Uint8Array | null, what: string): Uint8Array => {
    if (p === null) throw new Error(`libsecp256k1 answered the point at infinity for ${what}`);
    return p;
  };
  return {
    name: 'libsecp256k1 (tiny-secp256k1, wasm)',
    pubFromSecret: (secret) => sure(t.pointFromScalar(secret, true), 'a per-commitment point'),
    addTweak: (p, tw) => sure(t.pointAddScalar(p, be32(tw), true), 'a derived key'),
    lin: (a, A, b, B) =>
      sure(t.pointAdd(sure(t.pointMultiply(A, be32(a), false), 'a·A'), sure(t.pointMultiply(B, be32(b), false), 'b·B'), true), 'a revocation key'),
    verifyDer(sig, digest, pubkey) {
      const compact = derToCompact(sig);
      if (!compact || digest.length !== 32) return false;
      try {
        // strict: a high S is refused (libsecp256k1 verifies only normalized signatures), as @noble's lowS: true.
        return t.verify(digest, pubkey, compact, true);
      } catch {
        return false;
      }
    },
    isPoint(p) {
      if (!((p.length === 33 && (p[0] === 2 || p[0] === 3)) || (p.length === 65 && p[0] === 4))) return false;
      try {
        return t.isPoint(p);
      } catch {
        return false;
      }
    },
  };
}

/** The wasm backend, checked against @noble before it is trusted; null where it does not load. */
function loadTiny(): ChannelCurve | null {
  try {
    const lib = libsecp256k1();
    if (!lib) return null;
    const c = tinyChannelCurve(lib);
    const secret = be32(3n);
    const P = nobleChannelCurve.pubFromSecret(secret);
    const same = (x: Uint8Array, y: Uint8Array): boolean => Buffer.compare(Buffer.from(x), Buffer.from(y)) === 0;
    if (!same(c.pubFromSecret(secret), P)) return null;
    if (!same(c.addTweak(P, 5n), nobleChannelCurve.addTweak(P, 5n))) return null;
    if (!same(c.lin(7n, P, 11n, Point.BASE.toBytes(true)), nobleChannelCurve.lin(7n, P, 11n, Point.BASE.toBytes(true)))) return null;
    return c;
  } catch {
    return null;
  }
}

let chosen: ChannelCurve | undefined;

/** The backend in use: libsecp256k1 where its wasm module loads, @noble/curves otherwise. Chosen once. */
export function channelCurve(): ChannelCurve {
  chosen ??= loadTiny() ?? nobleChannelCurve;
  return chosen;
}
