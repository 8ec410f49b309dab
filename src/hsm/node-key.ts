// The node key: the static secp256k1 key anyad's peer network (the p2p room, BOLT 8) is known by. Like every key of
// the HSM room it never leaves it: the p2p room gets its public key and an ECDH with it (BOLT 8's
// sha256(compressed(k·P))), nothing else. ECDH is not a signature: it moves no funds and is not audited (a
// handshake per connection would flood the log); it does stop while the keystore is locked.
//
// On the software keystore the key is the BIP32 child m/1017'/<coin>'/6'/0/0 of the seed: LND's key family 6
// (NodeKey), so the identity comes back with the recovery words and a restore on another machine is the same node,
// while the family lies apart from every other path this seed is used on (m/0' contract keys, m/84' and m/86'
// wallet accounts). Hardened down to the family: its xpub is never exported, and a family key does not lead to
// siblings. <coin> is 0 on mainnet and 1 on every test network (as the wallet's accounts): test networks share it.

import { createHash } from 'node:crypto';
import type { HDKey } from '@scure/bip32';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { NodeKey } from './api.js';
import { providerError, type HsmContext } from './context.js';
import { ProviderError, ProviderUnsupportedError } from './provider.js';

/** The node key's BIP32 path below the master (LND's key family 6, NodeKey). */
export const nodeKeyPath = (coin: number): string => `m/1017'/${coin}'/6'/0/0`;

/** The node key's private scalar, a copy (the caller wipes it), from the master key of the seed. */
export function deriveNodeKey(master: HDKey, coin: number): Uint8Array {
  const child = master.derive(nodeKeyPath(coin));
  try {
    return Uint8Array.from(child.privateKey!);
  } finally {
    child.wipePrivateData();
  }
}

/** BOLT 8's ECDH: sha256 of the compressed shared point k·P. Refuses a public key that is not a point of the curve. */
export function bolt8Ecdh(priv: Uint8Array, theirs: Uint8Array): Buffer {
  if (theirs.length !== 33) throw new ProviderError(`the peer's public key must be 33 bytes (compressed), got ${theirs.length}`);
  let shared: Uint8Array;
  try {
    shared = secp256k1.getSharedSecret(priv, theirs, true);
  } catch {
    throw new ProviderError("the peer's public key is not a point of secp256k1");
  }
  try {
    return createHash('sha256').update(shared).digest();
  } finally {
    shared.fill(0);
  }
}

/** Why this HSM has no node key (its provider cannot do ECDH), or undefined when it has one. */
export function nodeKeyRefusal(c: HsmContext): string | undefined {
  const p = c.provider;
  if (p) return p.nodePublicKey && p.nodeEcdh ? undefined : `the ${p.kind} provider holds no node key: ${TOKEN_REFUSAL}`;
  // Before the provider is open (the rooms are made before services open): what its kind will be able to do.
  return c.kinds.some((k) => k !== 'pkcs11') ? undefined : `the pkcs11 provider holds no node key: ${TOKEN_REFUSAL}`;
}

const TOKEN_REFUSAL =
  "ECDH with a token's key (CKM_ECDH1_DERIVE) answers the shared point's x coordinate only, and BOLT 8 hashes the compressed point: not done on a token yet; run the peer network on the software keystore";

/**
 * HsmApi.nodeKey: the public key (Locked until the keystore was unlocked once in this process) and an ECDH that
 * asks the provider each time, so a lock stops new handshakes (Locked) while connections made before stay up.
 */
export async function nodeKey(c: HsmContext): Promise<NodeKey> {
  try {
    const p = c.need();
    const refusal = nodeKeyRefusal(c);
    if (refusal || !p.nodePublicKey || !p.nodeEcdh) throw new ProviderUnsupportedError(refusal ?? 'no node key');
    const publicKey = Buffer.from(await p.nodePublicKey());
    return {
      publicKey,
      ecdh: async (theirs) => {
        try {
          return Buffer.from(await p.nodeEcdh!(theirs));
        } catch (err) {
          throw providerError(err);
        }
      },
    };
  } catch (err) {
    throw providerError(err);
  }
}
