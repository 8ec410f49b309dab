// ECDSA adaptor signatures with a DLEQ proof, as dlcspecs' ECDSA-adaptor.md specifies them (the scheme of Fournier,
// with Aumayr et al.'s proof): a signature on a CET encrypted under the point of an oracle's anticipated signature,
// decrypted by its s value once the oracle attests. Curve arithmetic is @noble/curves'; only the scheme is here.
// Encoding: R (33) || R_a (33) || s_a (32) || proof b (32) || proof c (32) = 162 bytes.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from 'node:crypto';

const Point = secp256k1.Point;
type Pt = InstanceType<typeof Point>;
const Fn = Point.Fn;
const N = Fn.ORDER;
export const ADAPTOR_SIG_LENGTH = 162;

export class AdaptorError extends Error {
  override name = 'AdaptorError';
}

const toScalar = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`) % N;
const scalarBytes = (s: bigint): Uint8Array => Buffer.from(s.toString(16).padStart(64, '0'), 'hex');
const enc = (p: Pt): Uint8Array => p.toBytes(true);
const mod = (a: bigint): bigint => ((a % N) + N) % N;

function point(b: Uint8Array, what: string): Pt {
  try {
    const p = Point.fromBytes(b);
    if (p.is0()) throw new Error('infinity');
    return p;
  } catch {
    throw new AdaptorError(`${what} is not a point of secp256k1`);
  }
}

/** The DLEQ tag: SHA256("DLEQ") || SHA256("DLEQ"), prefixed to every hash of the proof. */
const DLEQ_TAG = (() => {
  const t = sha256(new TextEncoder().encode('DLEQ'));
  return Buffer.concat([t, t]);
})();
const challenge = (...parts: Uint8Array[]): bigint => toScalar(sha256(Buffer.concat([DLEQ_TAG, ...parts])));

/** sample_nonce: the spec leaves it to implementations; the input hashed with 32 fresh random bytes, as it recommends. */
function sampleNonce(...parts: Uint8Array[]): bigint {
  for (;;) {
    const k = toScalar(sha256(Buffer.concat([...parts, randomBytes(32)])));
    if (k !== 0n) return k;
  }
}

function dleqProve(x: bigint, X: Pt, Y: Pt, Z: Pt): Uint8Array {
  const a = sampleNonce(DLEQ_TAG, enc(X), enc(Y), enc(Z), scalarBytes(x));
  const b = challenge(enc(X), enc(Y), enc(Z), enc(Point.BASE.multiply(a)), enc(Y.multiply(a)));
  return Buffer.concat([scalarBytes(b), scalarBytes(mod(a + b * x))]);
}

function dleqVerify(X: Pt, Y: Pt, Z: Pt, proof: Uint8Array): boolean {
  const b = BigInt(`0x${Buffer.from(proof.subarray(0, 32)).toString('hex')}`);
  const c = BigInt(`0x${Buffer.from(proof.subarray(32, 64)).toString('hex')}`);
  if (b >= N || c >= N) return false;
  // c*G - b*X and c*Y - b*Z (a zero scalar multiplies to infinity, which has no encoding: not a valid proof). Every
  // scalar here is public, so the faster variable-time multiplication is safe.
  const mul = (p: Pt, k: bigint): Pt => (k === 0n ? Point.ZERO : p.multiplyUnsafe(k));
  const AG = mul(Point.BASE, c).subtract(mul(X, b));
  const AY = mul(Y, c).subtract(mul(Z, b));
  if (AG.is0() || AY.is0()) return false;
  return challenge(enc(X), enc(Y), enc(Z), enc(AG), enc(AY)) === b;
}

interface Parsed {
  R: Pt;
  Ra: Pt;
  sa: bigint;
  proof: Uint8Array;
}

function parse(sig: Uint8Array): Parsed {
  if (sig.length !== ADAPTOR_SIG_LENGTH) throw new AdaptorError(`an adaptor signature is ${ADAPTOR_SIG_LENGTH} bytes, not ${sig.length}`);
  const sa = BigInt(`0x${Buffer.from(sig.subarray(66, 98)).toString('hex')}`);
  if (sa === 0n || sa >= N) throw new AdaptorError('the adaptor signature s_a is not a non-zero scalar');
  return { R: point(sig.subarray(0, 33), 'R'), Ra: point(sig.subarray(33, 66), 'R_a'), sa, proof: sig.subarray(98) };
}

/** ecdsa_adaptor_encrypt(x, Y, message_hash): a signature by secret key x on the hash, encrypted under Y. */
export function adaptorSign(secretKey: Uint8Array, encryptionKey: Uint8Array, messageHash: Uint8Array): Uint8Array {
  const x = toScalar(secretKey);
  if (x === 0n) throw new AdaptorError('the secret key is zero');
  const Y = point(encryptionKey, 'the encryption key');
  const k = sampleNonce(enc(Y), messageHash, secretKey);
  const Ra = Point.BASE.multiply(k);
  const R = Y.multiply(k);
  const proof = dleqProve(k, Ra, Y, R);
  const r = mod(R.x);
  const sa = mod(Fn.inv(k) * (toScalar(messageHash) + r * x));
  return Buffer.concat([enc(R), enc(Ra), scalarBytes(sa), proof]);
}

/** ecdsa_adaptor_verify(X, Y, message_hash, a). */
export function adaptorVerify(publicKey: Uint8Array, encryptionKey: Uint8Array, messageHash: Uint8Array, sig: Uint8Array): boolean {
  let p: Parsed;
  let X: Pt;
  let Y: Pt;
  try {
    p = parse(sig);
    X = point(publicKey, 'the public key');
    Y = point(encryptionKey, 'the encryption key');
  } catch {
    return false;
  }
  if (!dleqVerify(p.Ra, Y, p.R, p.proof)) return false;
  const inv = Fn.inv(p.sa);
  const u1 = mod(inv * toScalar(messageHash));
  const u2 = mod(inv * mod(p.R.x));
  const mul = (q: Pt, k: bigint): Pt => (k === 0n ? Point.ZERO : q.multiplyUnsafe(k)); // public scalars
  return mul(Point.BASE, u1).add(mul(X, u2)).equals(p.Ra);
}

/** ecdsa_adaptor_decrypt(a, y): the ECDSA signature (r || s, 64 bytes, low s) once y, the discrete log of Y, is known. */
export function adaptorDecrypt(sig: Uint8Array, decryptionKey: Uint8Array): Uint8Array {
  const p = parse(sig);
  const y = toScalar(decryptionKey);
  if (y === 0n) throw new AdaptorError('the decryption key is zero');
  let s = mod(p.sa * Fn.inv(y));
  if (s > N >> 1n) s = N - s;
  return Buffer.concat([scalarBytes(mod(p.R.x)), scalarBytes(s)]);
}

/** ecdsa_adaptor_recover(Y, a, sig): the decryption key from the adaptor signature and the decrypted one. */
export function adaptorRecover(encryptionKey: Uint8Array, sig: Uint8Array, signature: Uint8Array): Uint8Array {
  const p = parse(sig);
  const Y = point(encryptionKey, 'the encryption key');
  if (signature.length !== 64) throw new AdaptorError('the signature must be 64 bytes (r || s)');
  const r = BigInt(`0x${Buffer.from(signature.subarray(0, 32)).toString('hex')}`);
  const s = BigInt(`0x${Buffer.from(signature.subarray(32)).toString('hex')}`);
  if (s === 0n || s >= N) throw new AdaptorError('the signature s is not a non-zero scalar');
  if (r !== mod(p.R.x)) throw new AdaptorError('the R value of the signature does not match the adaptor signature');
  const y = mod(Fn.inv(s) * p.sa);
  const implied = Point.BASE.multiply(y);
  if (implied.equals(Y)) return scalarBytes(y);
  if (implied.negate().equals(Y)) return scalarBytes(N - y);
  throw new AdaptorError('the recovered key does not match the encryption key');
}
