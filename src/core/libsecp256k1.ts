// libsecp256k1 compiled to wasm by tiny-secp256k1 (the bitcoinjs build: a registry package, no install script, the
// same .wasm on x64 and arm64), loaded once for every room that wants the curve at its speed: ECDSA signing and
// verification there cost ~0.11 / 0.22 ms against @noble's ~0.49 / 1.3 ms here. Null where the module does not load
// or fails its self-check (a bundle without it): callers keep @noble as the fallback.
//
// Mind what the vendored libsecp256k1 (0.2) does in constant time: sign and pointFromScalar (ecmult_gen) are; the
// multiplication of an arbitrary point (pointMultiply) is NOT, so a secret scalar never goes into it as it is (see
// ecdsa-adaptor-curve.ts's blinding).

import { createRequire } from 'node:module';
import { secp256k1 } from '@noble/curves/secp256k1.js';

/** tiny-secp256k1's functions the project uses (its own types are not needed at build time). */
export interface Libsecp256k1 {
  isPoint(p: Uint8Array): boolean;
  pointCompress(p: Uint8Array, compressed?: boolean): Uint8Array;
  pointFromScalar(d: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointMultiply(p: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointAdd(a: Uint8Array, b: Uint8Array, compressed?: boolean): Uint8Array | null;
  pointAddScalar(p: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array | null;
  recover(h: Uint8Array, signature: Uint8Array, recoveryId: 0 | 1 | 2 | 3, compressed?: boolean): Uint8Array | null;
  /** RFC 6979 ECDSA, 64 bytes r || s, s low: the bytes @noble's sign(…, { lowS: true }) gives. */
  sign(h: Uint8Array, d: Uint8Array, e?: Uint8Array): Uint8Array;
  verify(h: Uint8Array, Q: Uint8Array, signature: Uint8Array, strict?: boolean): boolean;
}

let loaded: Libsecp256k1 | null | undefined;

export function libsecp256k1(): Libsecp256k1 | null {
  if (loaded !== undefined) return loaded;
  try {
    // (Through createRequire, so a bundler leaves it to be loaded from node_modules, beside its .wasm file.)
    const t = createRequire(import.meta.url)('tiny-secp256k1') as Libsecp256k1;
    // A self-check before it is trusted: 3*G by both libraries.
    const three = secp256k1.Point.Fn.toBytes(3n);
    const ok = Buffer.compare(Buffer.from(t.pointFromScalar(three, true) ?? []), Buffer.from(secp256k1.Point.BASE.multiply(3n).toBytes(true))) === 0;
    loaded = ok ? t : null;
  } catch {
    loaded = null;
  }
  return loaded;
}
