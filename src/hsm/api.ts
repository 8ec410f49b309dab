// What other rooms may use of the HSM room (declared in their `requires`): its api, the handle that names it, and
// the types the api speaks. A room imports this file of the HSM room and no other.

import { roomApi } from '../core/room.js';

export interface SpendFacts {
  /** Subjects the signing keys belong to: key:<id> and group:<name>. */
  subjects: string[];
  amount_sat: number;
  fee_sat: number;
  feerate_sat_vb: number;
  /** False when some input's amount could not be verified: then the fee is not known and fee rules refuse. */
  fee_verified: boolean;
  /** Sighash types the inputs ask for, other than ALL / Taproot DEFAULT. */
  sighash_types: number[];
  outputs: Array<{ address: string | null; own: boolean; value_sat: number }>;
  /** The PSBT being signed (base64), for vetoes that look at the whole transaction. */
  psbt?: string;
}

export interface Denial {
  rule: string;
  message: string;
  subject?: string;
}

export type Veto = (facts: SpendFacts) => Promise<Denial | undefined>;

/**
 * What a contract's signature moves for this side (issue 26 item 8): the signing policy's contract rule reads it
 * (budgets and velocity count spends_sat against the contract key's subjects) and the audit entry names the
 * contract and the counterparty. Rooms that sign for a contract (DLC, state channels) pass it with every signature.
 */
export interface ContractSigning {
  kind: 'dlc' | 'channel';
  /** The contract's or channel's id in its room. */
  contract: string;
  /** Who the contract is with: the counterparty's public key (hex), as the room knows it. */
  counterparty: string;
  /** Why this signature is made: 'funding', 'cet', 'refund', 'close', 'commitment', 'revocation', 'penalty', 'sweep', ... */
  purpose: string;
  /**
   * Satoshis this signature can move away from this side: own collateral put into a funding output, the decrease
   * of own balance in a new state; 0 when the signature only pays this side or keeps its balance.
   */
  spends_sat: number;
}

/** What other rooms may use of the HSM: a veto on signatures, contract keys and signatures, secrets at rest. */
/** A wallet account of the seed (BIP84 'wpkh', BIP86 'tr'): what a wallet's descriptors are made of. */
export interface WalletAccount {
  type: 'wpkh' | 'tr';
  /** The master key's fingerprint, 8 hex digits. */
  fingerprint: string;
  /** Below the master, hardened steps with ': 84'/1'/0'. */
  path: string;
  /** tpub off mainnet. */
  xpub: string;
}

/** The node key of the peer network (BOLT 8's static key): its public key and ECDH with it; the secret stays in the HSM. */
export interface NodeKey {
  /** Compressed, 33 bytes. */
  publicKey: Buffer;
  /**
   * BOLT 8's ECDH: sha256(compressed(k·theirs)), 32 bytes. Errors: Locked (-32012) while the keystore is locked,
   * BackendUnavailable (-32010) for a key that is not a point of secp256k1 or a token out of reach.
   */
  ecdh(theirs: Buffer): Promise<Buffer>;
}

export interface HsmApi {
  addVeto(name: string, veto: Veto): void;
  /**
   * A fresh secp256k1 key for another room's contract (e.g. a DLC's funding key): its id and public key. It is a
   * contract key of `kind` (contract.ts), in the policy group named by the kind ('dlc', 'channel') unless `group`
   * names another; without `kind`, the kind is read from the label prefix this tree's rooms use ('dlc ', 'sc ').
   */
  generateKey(label: string, group: string | null, kind?: ContractSigning['kind']): Promise<{ id: string; public_key: string }>;
  /** ECDSA signature (DER, low S) of a digest, through the same gates and audit as hsm.sign. */
  signDigest(id: string, digest: Buffer, caller: string, contract?: ContractSigning): Promise<Buffer>;
  /** Why this HSM cannot make ECDSA adaptor signatures (a PKCS#11 token), or undefined when it can. */
  adaptorRefusal(): string | undefined;
  /** ECDSA adaptor signatures of digests, each under its encryption point (keystore keys only), one audit entry. */
  adaptorSignAll(id: string, items: Array<{ point: Buffer; digest: Buffer }>, caller: string, contract?: ContractSigning): Promise<Buffer[]>;
  /** Why this HSM cannot hold state channel keys (tweaked signing, derived seeds: a PKCS#11 token), or undefined. */
  channelRefusal(): string | undefined;
  /** ECDSA (DER, low S) with the key as (k·mul + add) mod n: BOLT 3's per-commitment and revocation keys. */
  tweakedSign(id: string, digest: Buffer, tweak: { mul?: Buffer; add?: Buffer }, caller: string, contract?: ContractSigning): Promise<Buffer>;
  /** HMAC-SHA256(key, label): a per-channel seed (BOLT 3 per-commitment secrets) kept derivable from the keystore. */
  derivedSecret(id: string, label: string, caller: string): Promise<Buffer>;
  /** hsm.signpsbt: the inputs the HSM has keys for, after the signing policy allows the spend. */
  signPsbt(base64: string, caller: string, contract?: ContractSigning): Promise<{ psbt: string; signed: number[] }>;
  /**
   * Seals a secret for keeping at rest (in the caller's sublevel): XChaCha20-Poly1305 under a key the HSM holds (the
   * keystore's, derived from its seed; on a token a data key wrapped by an AES key on the token), with `purpose`
   * (printable ASCII, 1..200 characters, e.g. 'channels.seed') bound as associated data. Answers
   * 'anyad-sealed-v1:' + base64url(nonce || ciphertext || tag). Errors: Locked (-32012) while the keystore is
   * locked, InvalidParams (-32602) for a bad purpose, BackendUnavailable (-32010) when the token is out of reach.
   */
  sealSecret(purpose: string, plaintext: Buffer): Promise<string>;
  /**
   * The plaintext of a value sealSecret made for the same purpose in this state. Errors: InvalidParams (-32602)
   * when it was sealed for another purpose, under another keystore or token, or was changed; Locked (-32012)
   * while the keystore is locked; Conflict (-32014) when this token cannot unwrap the state's data key (the state
   * was sealed on another token); BackendUnavailable (-32010) when the token is out of reach.
   */
  openSecret(purpose: string, sealed: string): Promise<Buffer>;
  /** Why this HSM cannot hold a wallet (a PKCS#11 token: single keys, no seed), or undefined. */
  walletRefusal(): string | undefined;
  /**
   * A wallet account of the seed. signPsbt signs the inputs whose key origin names it (master fingerprint and
   * m/84'/coin'/0'/chain/index or m/86'/…), under the policy subjects key:wallet and group:wallet. Errors: Locked
   * (-32012) while the keystore is locked, Unsupported (-32017) on a token.
   */
  walletAccount(type: 'wpkh' | 'tr'): Promise<WalletAccount>;
  /** Why this HSM has no node key (a provider without ECDH), or undefined when it has one. */
  nodeKeyRefusal(): string | undefined;
  /**
   * The node key (keystore: m/1017'/coin'/6'/0/0 of the seed, node-key.ts). Errors: Locked (-32012) until the
   * keystore was unlocked once in this process, Unsupported (-32017) where the provider has none.
   */
  nodeKey(): Promise<NodeKey>;
  /** Why this HSM has no seed to derive an embedded Lightning node's seed from (a PKCS#11 token), or undefined. */
  lightningSeedRefusal(): string | undefined;
  /**
   * The 32-byte seed of the embedded Lightning node (LDK's KeysManager): HKDF of the keystore's seed under a label
   * of its own, so the node's keys come back with the recovery words. Errors: Locked (-32012) while the keystore is
   * locked, Unsupported (-32017) on a token.
   */
  lightningSeed(): Promise<Buffer>;
}

/** The handle a room lists in `requires` and passes to `ctx.use` for the HSM room's api. */
export const HSM = roomApi<HsmApi>('hsm');
