// Secrets at rest (issue 26): what other rooms keep in LevelDB that must not be readable from a copy of the datadir
// (a channel's per-commitment seed, a peer's session key) is sealed with XChaCha20-Poly1305 under a 32-byte key the
// HSM room holds: in the software keystore an HKDF of the seed; on a PKCS#11 token a random data key kept wrapped (by
// an AES key that never leaves the token) in the hsm sublevel.
//
// A sealed string: `anyad-sealed-v1:` then base64url of nonce (24 random bytes) || ciphertext || Poly1305 tag. The
// caller's purpose is the associated data (with the version), so a value sealed for one purpose does not open as
// another's; the 24-byte nonce is random (XChaCha's extended nonce makes random nonces safe for any number of
// seals under one key). On the simulator provider (regtest and tests only) the seed is public, and so is the
// sealing key: values sealed there are bound to their purpose but hidden from nobody.

import { randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export const SEALED_PREFIX = 'anyad-sealed-v1:';
const NONCE = 24;
const TAG = 16;
/** The most a purpose may hold: a short name such as 'channels.seed' or 'dlc.contract:<id>'. */
const MAX_PURPOSE = 200;

/** Why a purpose is not acceptable, or undefined. */
export function purposeProblem(purpose: string): string | undefined {
  if (typeof purpose !== 'string' || purpose.length === 0) return 'the purpose must be a non-empty string';
  if (purpose.length > MAX_PURPOSE) return `the purpose must be at most ${MAX_PURPOSE} characters`;
  // (Printable ASCII only: a purpose is a name chosen by code, and one spelling per name keeps it binding.)
  if (!/^[\x21-\x7e]+$/.test(purpose)) return 'the purpose must be printable ASCII without spaces';
  return undefined;
}

const aad = (purpose: string): Uint8Array => new TextEncoder().encode(`${SEALED_PREFIX}${purpose}`);

export function seal(key: Uint8Array, purpose: string, plaintext: Uint8Array): string {
  const nonce = randomBytes(NONCE);
  const sealed = xchacha20poly1305(key, nonce, aad(purpose)).encrypt(plaintext);
  return SEALED_PREFIX + Buffer.concat([nonce, sealed]).toString('base64url');
}

/** The plaintext, or undefined when the string is not one this key sealed for this purpose (or it was changed). */
export function open(key: Uint8Array, purpose: string, sealed: string): Buffer | undefined {
  if (typeof sealed !== 'string' || !sealed.startsWith(SEALED_PREFIX)) return undefined;
  const body = sealed.slice(SEALED_PREFIX.length);
  if (!/^[A-Za-z0-9_-]*$/.test(body)) return undefined;
  const raw = Buffer.from(body, 'base64url');
  if (raw.length < NONCE + TAG) return undefined;
  try {
    return Buffer.from(xchacha20poly1305(key, raw.subarray(0, NONCE), aad(purpose)).decrypt(raw.subarray(NONCE)));
  } catch {
    return undefined;
  }
}
