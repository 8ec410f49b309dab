// ECDSA adaptor signatures with a DLEQ proof, as dlcspecs' ECDSA-adaptor.md specifies them (the scheme of Fournier,
// with Aumayr et al.'s proof): a signature on a CET encrypted under the point of an oracle's anticipated signature,
// decrypted by its s value once the oracle attests. Encoding: R (33) || R_a (33) || s_a (32) || proof b (32) ||
// proof c (32) = 162 bytes.
//
// The scheme is here; the curve is a backend (ecdsa-adaptor-curve.ts): libsecp256k1 compiled to wasm
// (tiny-secp256k1) where it loads, @noble/curves otherwise. Both compute the same points from the same scalars, so
// a signature's bytes depend only on the key, the inputs and the nonces, never on the backend (a test holds this).
// Scalar arithmetic (a few bigint operations per signature) stays in JavaScript, whose bigints are not constant time
// (as @noble says of itself): the curve multiplications, where a nonce would show most, are the guarded part.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from 'node:crypto';
import { curve, nobleCurve, type AdaptorCurve } from './ecdsa-adaptor-curve.js';

const Fn = secp256k1.Point.Fn;
const N = Fn.ORDER;
export const ADAPTOR_SIG_LENGTH = 162;

export class AdaptorError extends Error {
  override name = 'AdaptorError';
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
function big(b: Uint8Array): bigint {
  let h = '0x0';
  for (let i = 0; i < b.length; i++) h += HEX[b[i]!];
  return BigInt(h);
}
const toScalar = (b: Uint8Array): bigint => big(b) % N;
const scalarBytes = (s: bigint): Uint8Array => Fn.toBytes(s);
const mod = (a: bigint): bigint => ((a % N) + N) % N;

/** The DLEQ tag: SHA256("DLEQ") || SHA256("DLEQ"), prefixed to every hash of the proof. */
const DLEQ_TAG = (() => {
  const t = sha256(new TextEncoder().encode('DLEQ'));
  return Buffer.concat([t, t]);
})();
const challenge = (...parts: Uint8Array[]): bigint => toScalar(sha256(Buffer.concat([DLEQ_TAG, ...parts])));

/** Where a nonce's fresh 32 bytes come from: the system's CSPRNG, except in the test of the backends' agreement. */
export type NonceSource = () => Uint8Array;
const fresh: NonceSource = () => randomBytes(32);

/** sample_nonce: the spec leaves it to implementations; the input hashed with 32 fresh random bytes, as it recommends. */
function sampleNonce(rand: NonceSource, ...parts: Uint8Array[]): bigint {
  for (;;) {
    const k = toScalar(sha256(Buffer.concat([...parts, rand()])));
    if (k !== 0n) return k;
  }
}

interface Parsed<P> {
  R: P;
  Ra: P;
  sa: bigint;
  proof: Uint8Array;
}

function parse<P>(c: AdaptorCurve<P>, sig: Uint8Array): Parsed<P> {
  if (sig.length !== ADAPTOR_SIG_LENGTH) throw new AdaptorError(`an adaptor signature is ${ADAPTOR_SIG_LENGTH} bytes, not ${sig.length}`);
  const sa = big(sig.subarray(66, 98));
  if (sa === 0n || sa >= N) throw new AdaptorError('the adaptor signature s_a is not a non-zero scalar');
  return { R: point(c, sig.subarray(0, 33), 'R'), Ra: point(c, sig.subarray(33, 66), 'R_a'), sa, proof: sig.subarray(98) };
}

function point<P>(c: AdaptorCurve<P>, b: Uint8Array, what: string): P {
  const p = c.parse(b);
  if (p === null) throw new AdaptorError(`${what} is not a point of secp256k1`);
  return p;
}

/** ecdsa_adaptor_encrypt(x, Y, message_hash) on the given curve backend with the given nonce randomness. */
export function adaptorSignWith<P>(
  c: AdaptorCurve<P>,
  secretKey: Uint8Array,
  encryptionKey: Uint8Array,
  messageHash: Uint8Array,
  rand: NonceSource = fresh,
): Uint8Array {
  const x = toScalar(secretKey);
  if (x === 0n) throw new AdaptorError('the secret key is zero');
  const Y = point(c, encryptionKey, 'the encryption key');
  const Yb = c.encode(Y);
  const k = sampleNonce(rand, Yb, messageHash, secretKey);
  // Secret scalars (k, and the proof's nonce a): the backends' mulG and mulSecret only, whose time shows nothing of
  // them. a is drawn before R is known (R = k*Y adds nothing to k and Y in its hash), so one blinded call takes
  // both products of Y.
  const Ra = c.mulG(k);
  const kb = scalarBytes(k);
  const a = sampleNonce(rand, DLEQ_TAG, Ra, Yb, kb);
  kb.fill(0);
  const [R, aY] = c.mulSecret(Y, [k, a]) as [Uint8Array, Uint8Array];
  // The DLEQ proof that log_G(R_a) = log_Y(R).
  const b = challenge(Ra, Yb, R, c.mulG(a), aY);
  const r = toScalar(R.subarray(1));
  const sa = mod(Fn.inv(k) * (toScalar(messageHash) + r * x));
  return Buffer.concat([R, Ra, scalarBytes(sa), scalarBytes(b), scalarBytes(mod(a + b * k))]);
}

/** ecdsa_adaptor_verify(X, Y, message_hash, a) on the given curve backend. */
export function adaptorVerifyWith<P>(c: AdaptorCurve<P>, publicKey: Uint8Array, encryptionKey: Uint8Array, messageHash: Uint8Array, sig: Uint8Array): boolean {
  let p: Parsed<P>;
  let X: P;
  let Y: P;
  try {
    p = parse(c, sig);
    X = point(c, publicKey, 'the public key');
    Y = point(c, encryptionKey, 'the encryption key');
  } catch {
    return false;
  }
  // The DLEQ proof: A_G = c*G - b*R_a and A_Y = c*Y - b*R must hash back to b (a commitment at infinity has no
  // encoding: not a valid proof). Every scalar here is public: the backends may use variable-time arithmetic.
  const pb = big(p.proof.subarray(0, 32));
  const pc = big(p.proof.subarray(32, 64));
  if (pb >= N || pc >= N) return false;
  const nb = mod(-pb);
  const Ra = sig.subarray(33, 66);
  const AG = c.lin(pc, null, nb, p.Ra);
  if (AG === null) return false;
  const AY = c.lin(pc, Y, nb, p.R);
  if (AY === null) return false;
  if (challenge(Ra, c.encode(Y), sig.subarray(0, 33), AG, AY) !== pb) return false;
  // R_a = (m/s_a)*G + (r/s_a)*X, r the x coordinate of R.
  const inv = Fn.inv(p.sa);
  const u1 = mod(inv * toScalar(messageHash));
  const u2 = mod(inv * toScalar(sig.subarray(1, 33)));
  const V = c.lin(u1, null, u2, X);
  return V !== null && Buffer.compare(V, Ra) === 0;
}

/** ecdsa_adaptor_encrypt(x, Y, message_hash): a signature by secret key x on the hash, encrypted under Y. */
export function adaptorSign(secretKey: Uint8Array, encryptionKey: Uint8Array, messageHash: Uint8Array): Uint8Array {
  return adaptorSignWith(curve(), secretKey, encryptionKey, messageHash);
}

/** ecdsa_adaptor_verify(X, Y, message_hash, a). */
export function adaptorVerify(publicKey: Uint8Array, encryptionKey: Uint8Array, messageHash: Uint8Array, sig: Uint8Array): boolean {
  return adaptorVerifyWith(curve(), publicKey, encryptionKey, messageHash, sig);
}

/** ecdsa_adaptor_decrypt(a, y): the ECDSA signature (r || s, 64 bytes, low s) once y, the discrete log of Y, is known. */
export function adaptorDecrypt(sig: Uint8Array, decryptionKey: Uint8Array): Uint8Array {
  const p = parse(nobleCurve, sig);
  const y = toScalar(decryptionKey);
  if (y === 0n) throw new AdaptorError('the decryption key is zero');
  let s = mod(p.sa * Fn.inv(y));
  if (s > N >> 1n) s = N - s;
  return Buffer.concat([scalarBytes(toScalar(sig.subarray(1, 33))), scalarBytes(s)]);
}

/** ecdsa_adaptor_recover(Y, a, sig): the decryption key from the adaptor signature and the decrypted one. */
export function adaptorRecover(encryptionKey: Uint8Array, sig: Uint8Array, signature: Uint8Array): Uint8Array {
  const p = parse(nobleCurve, sig);
  const Y = point(nobleCurve, encryptionKey, 'the encryption key');
  if (signature.length !== 64) throw new AdaptorError('the signature must be 64 bytes (r || s)');
  const r = big(signature.subarray(0, 32));
  const s = big(signature.subarray(32));
  if (s === 0n || s >= N) throw new AdaptorError('the signature s is not a non-zero scalar');
  if (r !== toScalar(sig.subarray(1, 33))) throw new AdaptorError('the R value of the signature does not match the adaptor signature');
  const y = mod(Fn.inv(s) * p.sa);
  const implied = secp256k1.Point.BASE.multiply(y);
  if (implied.equals(Y)) return scalarBytes(y);
  if (implied.negate().equals(Y)) return scalarBytes(N - y);
  throw new AdaptorError('the recovered key does not match the encryption key');
}
