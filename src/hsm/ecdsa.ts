// Signature encoding shared by the providers: raw r||s to low-S DER, and verification of either scheme with
// @noble/curves (the reference the tests use too).

import { libsecp256k1 } from '../core/libsecp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import type { Curve, Scheme } from './provider.js';

const ORDER: Record<Curve, bigint> = {
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
  p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
};

/** r||s (as PKCS#11 CKM_ECDSA returns it) to DER, with s replaced by n - s when s is high (BIP62 / BIP146). */
export function rawToLowSDer(raw: Uint8Array, curve: Curve): Uint8Array {
  const half = raw.length / 2;
  const r = BigInt(`0x${Buffer.from(raw.subarray(0, half)).toString('hex')}`);
  let s = BigInt(`0x${Buffer.from(raw.subarray(half)).toString('hex')}`);
  const n = ORDER[curve];
  if (s > n / 2n) s = n - s;
  return derEncode(r, s);
}

function intBytes(x: bigint): Buffer {
  let hex = x.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return b;
}

function derEncode(r: bigint, s: bigint): Uint8Array {
  const rb = intBytes(r);
  const sb = intBytes(s);
  return Buffer.concat([Buffer.from([0x30, rb.length + sb.length + 4, 0x02, rb.length]), rb, Buffer.from([0x02, sb.length]), sb]);
}

/** DER back to 64-byte compact r||s (what bitcoinjs-lib's signers return). */
export function derToCompact(der: Uint8Array): Uint8Array {
  const b = Buffer.from(der);
  const rLen = b[3]!;
  const r = b.subarray(4, 4 + rLen);
  const sLen = b[5 + rLen]!;
  const s = b.subarray(6 + rLen, 6 + rLen + sLen);
  const pad = (x: Buffer): Buffer => (x.length > 32 ? x.subarray(x.length - 32) : Buffer.concat([Buffer.alloc(32 - x.length), x]));
  return Buffer.concat([pad(r), pad(s)]);
}

export function isLowS(der: Uint8Array, curve: Curve): boolean {
  const c = derToCompact(der);
  return BigInt(`0x${Buffer.from(c.subarray(32)).toString('hex')}`) <= ORDER[curve] / 2n;
}

/** Verifies a signature made by sign(): DER ECDSA (low S required) or BIP340 Schnorr against an x-only key. */
export function verifySignature(curve: Curve, scheme: Scheme, publicKeyHex: string, digest: Uint8Array, signature: Uint8Array): boolean {
  try {
    const pub = Buffer.from(publicKeyHex, 'hex');
    if (scheme === 'schnorr') return curve === 'secp256k1' && schnorr.verify(signature, digest, pub.subarray(1));
    const compact = derToCompact(signature);
    // secp256k1 on libsecp256k1 where it loads (strict: a high S is refused, as lowS: true refuses it below).
    const fast = curve === 'secp256k1' ? libsecp256k1() : null;
    if (fast) return fast.verify(digest, pub, compact, true);
    const lib = curve === 'secp256k1' ? secp256k1 : p256;
    return lib.verify(compact, digest, pub, { prehash: false, lowS: true });
  } catch {
    return false;
  }
}

/** An uncompressed or compressed SEC1 point to compressed hex. */
export function compressPoint(curve: Curve, point: Uint8Array): string {
  const lib = curve === 'secp256k1' ? secp256k1 : p256;
  return Buffer.from(lib.Point.fromBytes(point).toBytes(true)).toString('hex');
}
