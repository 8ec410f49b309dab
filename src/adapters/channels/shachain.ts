// BOLT 3's per-commitment secrets: generated from one seed (each index's secret is a chain of SHA256 with bits of
// the index flipped), and the receiver's compact storage of the secrets revealed to it: 49 entries hold every one
// of up to 2^48 secrets, and a revealed secret that does not derive the earlier ones it should is refused. The
// state channels room (issue 15) keeps the counterparty's revocation secrets this way.

import { sha256 } from '@noble/hashes/sha2.js';

/** Commitment numbers count down from 2^48 - 1, as in BOLT 3. */
export const MAX_INDEX = (1n << 48n) - 1n;

export class ShachainError extends Error {
  override name = 'ShachainError';
}

/** derive_secret: flips the index's bits below `bits`, highest first, hashing after each. */
function derive(base: Uint8Array, bits: number, index: bigint): Uint8Array {
  let p = Uint8Array.from(base);
  for (let b = bits - 1; b >= 0; b--) {
    if ((index >> BigInt(b)) & 1n) {
      p[b >> 3] ^= 1 << (b & 7);
      p = sha256(p);
    }
  }
  return p;
}

/** The secret of commitment `index` from the seed (generate_from_seed). */
export function secretFromSeed(seed: Uint8Array, index: bigint): Uint8Array {
  if (seed.length !== 32) throw new ShachainError('the seed must be 32 bytes');
  if (index < 0n || index > MAX_INDEX) throw new ShachainError(`index ${index} is outside 0..2^48-1`);
  return derive(seed, 48, index);
}

/** The number of trailing zero bits of the index (48 for index 0): where its secret is stored. */
function position(index: bigint): number {
  for (let b = 0; b < 48; b++) if ((index >> BigInt(b)) & 1n) return b;
  return 48;
}

export interface StoredSecret {
  index: string;
  secret: string;
}

/** The receiver's store of revealed secrets (BOLT 3 "Efficient Per-commitment Secret Storage"). */
export class SecretStore {
  private readonly known: Array<{ index: bigint; secret: Uint8Array } | undefined>;

  constructor(saved: StoredSecret[] = []) {
    this.known = Array.from({ length: 49 }, (_, i) => {
      const s = saved[i];
      return s ? { index: BigInt(s.index), secret: Buffer.from(s.secret, 'hex') } : undefined;
    });
  }

  /** Adds the secret of `index`; refuses one that does not derive the secrets stored below it. */
  insert(secret: Uint8Array, index: bigint): void {
    if (secret.length !== 32) throw new ShachainError('a per-commitment secret is 32 bytes');
    if (index < 0n || index > MAX_INDEX) throw new ShachainError(`index ${index} is outside 0..2^48-1`);
    const pos = position(index);
    for (let i = 0; i < pos; i++) {
      const k = this.known[i];
      if (k && Buffer.compare(Buffer.from(derive(secret, pos, k.index)), Buffer.from(k.secret)) !== 0)
        throw new ShachainError(`the secret of commitment ${index} does not derive the one of commitment ${k.index} revealed before`);
    }
    this.known[pos] = { index, secret: Uint8Array.from(secret) };
  }

  /** The secret of an earlier commitment, derived from what is stored; undefined when it was never revealed. */
  get(index: bigint): Uint8Array | undefined {
    for (let b = 0; b < 49; b++) {
      const k = this.known[b];
      if (!k) continue;
      const mask = ~((1n << BigInt(b)) - 1n) & ((1n << 48n) - 1n);
      if ((index & mask) === k.index) return derive(k.secret, b, index);
    }
    return undefined;
  }

  /** The entries to persist (at most 49, whatever the number of states). */
  save(): StoredSecret[] {
    return this.known.map((k) => (k ? { index: k.index.toString(), secret: Buffer.from(k.secret).toString('hex') } : undefined)) as StoredSecret[];
  }
}
