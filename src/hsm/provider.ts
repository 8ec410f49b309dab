// The contract every key provider follows. Key material never leaves a provider: callers get public keys and
// signatures. A provider says what it can do (curves, Schnorr, its capabilities) instead of pretending: the service
// asks the declared capabilities, never the provider's class or kind.

export type Curve = 'secp256k1' | 'p256';
export type Scheme = 'ecdsa' | 'schnorr';

export interface ProviderKey {
  /** The provider's own handle for the key (CKA_ID hex on a token, a derivation index in the keystore). */
  handle: string;
  curve: Curve;
  /** Compressed SEC1 public key, hex. */
  publicKey: string;
}

export interface ProviderStatus {
  kind: 'pkcs11' | 'software' | 'simulator';
  ready: boolean;
  locked: boolean;
  detail: string;
  curves: Curve[];
  schnorr: boolean;
  /** Token or keystore facts for hsm.status (model, label, mechanisms); never a secret. */
  info: Record<string, unknown>;
}

export interface SignOptions {
  /** BIP341 tweak for a Taproot key-path spend (the signer signs with the tweaked key). */
  tapTweak?: Uint8Array;
}

/** A keystore file encrypted under a passphrase: what hsm.createkeystore, hsm.unlock and hsm.lock act on. */
export interface PassphraseKeystore {
  /** Whether the keystore file exists (a first start with hsm.passphrasefile creates it). */
  exists(): Promise<boolean>;
  /** Creates the keystore with fresh entropy; answers its recovery words, once. */
  create(passphrase: string): Promise<string>;
  /** Creates the keystore from recovery words written down before (BIP39, checked); never over an existing one. */
  restore(mnemonic: string, passphrase: string): Promise<void>;
  /** Decrypts the keystore; with timeoutSec > 0 it locks itself again after that long. */
  unlock(passphrase: string, timeoutSec: number): Promise<void>;
  lock(): void;
}

/** Keys that are BIP32 children of one account: its xpub, the master fingerprint and each key's path. */
export interface HdAccount {
  xpub(): string;
  fingerprint(): string;
  /** The key's BIP32 path below the master, in descriptor notation (h for hardened). */
  keyPath(handle: string): string;
  /**
   * A wallet account of the seed: 'wpkh' is BIP84's m/84'/coin'/0', 'tr' BIP86's m/86'/coin'/0' (coin 0 on main,
   * 1 on every test network). Its path below the master (with ') and its xpub. Throws ProviderLockedError while locked.
   */
  walletAccount(type: WalletAccountType): { path: string; xpub: string };
  /** Signs with the wallet account's key at chain/index (what a wallet PSBT input's key origin names). */
  walletSign(type: WalletAccountType, chain: number, index: number, digest: Uint8Array, scheme: Scheme, opts?: SignOptions): Promise<Uint8Array>;
  /** The public key (33 bytes) of the wallet account's key at chain/index. */
  walletPublicKey(type: WalletAccountType, chain: number, index: number): Uint8Array;
}

export type WalletAccountType = 'wpkh' | 'tr';

/** What a provider can do beyond the plain signatures every provider makes, declared by the provider itself. */
export interface ProviderCapabilities {
  /** A passphrase keystore to create, unlock and lock (the software provider); undefined: none (always usable). */
  passphraseKeystore: PassphraseKeystore | undefined;
  /** BIP32 account facts for xpubs and descriptors with key origin (software and simulator); undefined: none. */
  hdAccount: HdAccount | undefined;
  /**
   * anyad names each new key's handle (a token's CKA_ID) and writes its intent before the key is made; a key held
   * without an intent is someone else's (a token others may share), never adopted as an orphan.
   */
  namedHandles: boolean;
  /** sign() takes SignOptions.tapTweak (BIP341 key-path spends). */
  taprootTweak: boolean;
  /** adaptorSign (and adaptorSignAll where present): a DLC's CETs. */
  adaptorSignatures: boolean;
  /** tweakedSign: BOLT 3 per-commitment and revocation keys. */
  tweakedKeys: boolean;
  /** derivedSecret: a per-channel seed kept derivable from the key. */
  derivedSecrets: boolean;
  /**
   * How secrets at rest are sealed: 'seed' with sealingKey() (derived from the seed), 'wrapped-data-key' with a data
   * key that wrapDataKey/unwrapDataKey keep under a key of the provider; undefined: the provider cannot seal.
   */
  sealing: 'seed' | 'wrapped-data-key' | undefined;
}

export interface KeyProvider {
  readonly kind: ProviderStatus['kind'];
  readonly capabilities: ProviderCapabilities;
  initialize(): Promise<void>;
  close(): Promise<void>;
  status(): ProviderStatus;
  /** Creates a key; `id` is the handle to give it where the provider lets the caller choose (a token's CKA_ID). */
  generateKey(label: string, curve: Curve, id?: string): Promise<ProviderKey>;
  /** Signs a 32-byte digest. ECDSA answers a DER signature with low S; Schnorr a 64-byte BIP340 signature. */
  sign(handle: string, digest: Uint8Array, scheme: Scheme, opts?: SignOptions): Promise<Uint8Array>;
  /**
   * True when sign() does its work off this thread (a token's C_Sign on the thread pool): the caller may then start
   * the signature first and prepare its audit entry while it runs. False (or absent) when sign() computes on this
   * thread before it yields (the keystore), so whatever should overlap with it must be issued before.
   */
  readonly signsOffThread?: boolean;
  /**
   * An ECDSA adaptor signature (dlcspecs ECDSA-adaptor.md) of a 32-byte digest, encrypted under a point: what a DLC's
   * CETs are signed with. Only where the provider holds the key in reach of its own code (the keystore): a token's
   * ECDSA mechanism cannot make one, so a PKCS#11 provider has none.
   */
  adaptorSign?(handle: string, encryptionPoint: Uint8Array, digest: Uint8Array): Promise<Uint8Array>;
  /**
   * adaptorSign of many items (a contract's CETs), in order, off the event loop (the keystore signs in a worker
   * thread): a contract of thousands of CETs must not hold every RPC while it is signed.
   */
  adaptorSignAll?(handle: string, items: Array<{ point: Uint8Array; digest: Uint8Array }>): Promise<Uint8Array[]>;
  /**
   * ECDSA with the key scaled and shifted, (k·mul + add) mod n: BOLT 3's per-commitment keys (mul 1, add a tweak)
   * and revocation keys (mul and add from the revealed secret), which a state channel signs with. Keystore only,
   * like adaptorSign: a token's key cannot be tweaked.
   */
  tweakedSign?(handle: string, digest: Uint8Array, mul: Uint8Array, add: Uint8Array): Promise<Uint8Array>;
  /** HMAC-SHA256 of a label with the key as the MAC key: a per-contract secret seed that never leaves the keystore's reach. Keystore only. */
  derivedSecret?(handle: string, label: Uint8Array): Promise<Uint8Array>;
  getPublicKey(handle: string): Promise<ProviderKey>;
  listKeys(): Promise<ProviderKey[]>;
  /** Makes the key unusable for signing at the provider, where the provider can (token: CKA_SIGN=false). */
  disableKey(handle: string): Promise<void>;
  /** Signs and verifies a fresh digest with the key; throws when it cannot. */
  healthCheck(handle: string): Promise<void>;
  /**
   * HMAC-SHA256 of the data with the audit key, which never leaves the provider (a non-extractable secret key on a
   * token; a key derived from the seed in the keystore). Undefined while the provider cannot reach it (a keystore
   * still locked since start).
   */
  auditMac(data: Uint8Array): Promise<Buffer | undefined>;
  /**
   * Secrets at rest (seal.ts), where the provider holds the seed: the 32-byte sealing key (an HKDF of the seed),
   * which it keeps only while unlocked (throws ProviderLockedError otherwise). The keystore has it.
   */
  sealingKey?(): Uint8Array;
  /**
   * Secrets at rest on a token: a random data key encrypted (AES-256-GCM) under an AES key made on the token once,
   * found by its label and never extractable; `unwrapDataKey` answers it again from what `wrapDataKey` made.
   */
  wrapDataKey?(dataKey: Uint8Array): Promise<Buffer>;
  unwrapDataKey?(wrapped: Uint8Array): Promise<Buffer>;
  /**
   * The node key of the peer network (node-key.ts): its compressed public key (33 bytes), and BOLT 8's ECDH with it,
   * sha256(compressed(k·P)). Absent where the provider cannot do ECDH with a key it holds. Throws
   * ProviderLockedError while the key is out of reach (a keystore locked since start; ECDH while locked).
   */
  nodePublicKey?(): Promise<Uint8Array>;
  nodeEcdh?(theirs: Uint8Array): Promise<Uint8Array>;
}

export class ProviderError extends Error {
  override name = 'ProviderError';
}
export class ProviderLockedError extends ProviderError {
  override name = 'ProviderLockedError';
}
/** A permanent refusal: this provider cannot do that at all (as opposed to a transient outage). */
export class ProviderUnsupportedError extends ProviderError {
  override name = 'ProviderUnsupportedError';
}
/** A permanent mismatch between this state and the provider (a data key wrapped by another token): Conflict. */
export class ProviderMismatchError extends ProviderError {
  override name = 'ProviderMismatchError';
}
