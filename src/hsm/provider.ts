// The contract every key provider follows. Key material never leaves a provider: callers get public keys and
// signatures. A provider says what it can do (curves, Schnorr) instead of pretending.

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

export interface KeyProvider {
  readonly kind: ProviderStatus['kind'];
  initialize(): Promise<void>;
  close(): Promise<void>;
  status(): ProviderStatus;
  generateKey(label: string, curve: Curve): Promise<ProviderKey>;
  /** Signs a 32-byte digest. ECDSA answers a DER signature with low S; Schnorr a 64-byte BIP340 signature. */
  sign(handle: string, digest: Uint8Array, scheme: Scheme): Promise<Uint8Array>;
  getPublicKey(handle: string): Promise<ProviderKey>;
  listKeys(): Promise<ProviderKey[]>;
  /** Makes the key unusable for signing at the provider, where the provider can (token: CKA_SIGN=false). */
  disableKey(handle: string): Promise<void>;
  /** Signs and verifies a fresh digest with the key; throws when it cannot. */
  healthCheck(handle: string): Promise<void>;
}

export class ProviderError extends Error {
  override name = 'ProviderError';
}
export class ProviderLockedError extends ProviderError {
  override name = 'ProviderLockedError';
}
