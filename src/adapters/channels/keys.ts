// BOLT 3's key derivation: each commitment's keys are the parties' basepoints tweaked by that commitment's
// per-commitment point, so every state has its own keys; the revocation key combines the counterparty's revocation
// basepoint with the per-commitment point so that neither party alone can sign with it until the per-commitment
// secret is revealed, which is what lets the victim of a revoked state take all its funds.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { channelCurve } from './curve.js';

const Point = secp256k1.Point;
const N = Point.Fn.ORDER;
const scalar = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex')}`) % N;
const bytes32 = (s: bigint): Uint8Array => Buffer.from(s.toString(16).padStart(64, '0'), 'hex');
const cat = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);

/** per_commitment_point = per_commitment_secret·G (33 bytes, compressed). */
export function perCommitmentPoint(perCommitmentSecret: Uint8Array): Uint8Array {
  return channelCurve().pubFromSecret(perCommitmentSecret);
}

/** localpubkey, remotepubkey, the htlc and delayed keys: basepoint + SHA256(per_commitment_point || basepoint)·G. */
export function derivePubkey(basepoint: Uint8Array, perCommitmentPointBytes: Uint8Array): Uint8Array {
  return channelCurve().addTweak(basepoint, scalar(sha256(cat(perCommitmentPointBytes, basepoint))));
}

/** Their secret: basepoint_secret + SHA256(per_commitment_point || basepoint). */
export function derivePrivkey(basepointSecret: Uint8Array, perCommitmentPointBytes: Uint8Array): Uint8Array {
  const basepoint = secp256k1.getPublicKey(basepointSecret, true);
  return bytes32((scalar(basepointSecret) + scalar(sha256(cat(perCommitmentPointBytes, basepoint)))) % N);
}

/**
 * revocationpubkey = revocation_basepoint·SHA256(revocation_basepoint || per_commitment_point)
 *                  + per_commitment_point·SHA256(per_commitment_point || revocation_basepoint)
 */
export function revocationPubkey(revocationBasepoint: Uint8Array, perCommitmentPointBytes: Uint8Array): Uint8Array {
  const a = scalar(sha256(cat(revocationBasepoint, perCommitmentPointBytes)));
  const b = scalar(sha256(cat(perCommitmentPointBytes, revocationBasepoint)));
  // Public points and public scalars (hashes of public points): the variable-time multiplication leaks nothing (four
  // of these per channel update, on libsecp256k1 where it loads: curve.ts).
  return channelCurve().lin(a, revocationBasepoint, b, perCommitmentPointBytes);
}

/** The revocation secret, known only once the per-commitment secret is revealed to the holder of the basepoint secret. */
export function revocationPrivkey(revocationBasepointSecret: Uint8Array, perCommitmentSecret: Uint8Array): Uint8Array {
  const rb = secp256k1.getPublicKey(revocationBasepointSecret, true);
  const pcp = perCommitmentPoint(perCommitmentSecret);
  const a = scalar(sha256(cat(rb, pcp)));
  const b = scalar(sha256(cat(pcp, rb)));
  return bytes32((scalar(revocationBasepointSecret) * a + scalar(perCommitmentSecret) * b) % N);
}
