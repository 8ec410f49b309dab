// The software provider: a BIP39/BIP32 seed in an encrypted keystore file (keystore-file.ts: scrypt, AES-256-GCM,
// mode 0600, replaced atomically), unlocked by a passphrase from a file or credential at start, or by hsm.unlock with
// a timeout. Keys are BIP32 children of the seed, so xpubs can be exported and BIP340 Schnorr (Taproot) is available.
// The simulator provider is the same signing code over a fixed, public seed and no file: for regtest and tests
// only, refused on mainnet by the factory.

import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { HDKey } from '@scure/bip32';
import { entropyToMnemonic, mnemonicToSeedSync, validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { rawToLowSDer, verifySignature } from './ecdsa.js';
import { adaptorSign } from '../core/ecdsa-adaptor.js';
import { libsecp256k1 } from '../core/libsecp256k1.js';
import { AdaptorSigners } from './adaptor-worker.js';
import { KeyedLock } from '../core/keyed-lock.js';
import { passphraseProblem } from './passphrase.js';
import { bolt8Ecdh, deriveNodeKey } from './node-key.js';
import { decryptKeystore, readKeystoreFile, writeKeystoreFile, type KeystoreSecret } from './keystore-file.js';
import {
  ProviderError,
  ProviderLockedError,
  ProviderUnsupportedError,
  type Curve,
  type HdAccount,
  type KeyProvider,
  type PassphraseKeystore,
  type ProviderCapabilities,
  type ProviderKey,
  type ProviderStatus,
  type Scheme,
  type SignOptions,
  type WalletAccountType,
} from './provider.js';

const N_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** Keys are children of m/0'/i' (hardened: a leaked child key and the xpub do not reveal siblings). */
const ACCOUNT_PATH = "m/0'";
/** BIP32 version bytes: xpub/xprv on mainnet, tpub/tprv on every test network (as Bitcoin Core prints them). */
const VERSIONS = { main: { private: 0x0488ade4, public: 0x0488b21e }, test: { private: 0x04358394, public: 0x043587cf } };

export class SoftwareProvider implements KeyProvider, PassphraseKeystore, HdAccount {
  readonly kind: 'software' | 'simulator';
  readonly capabilities: ProviderCapabilities;
  private secret: KeystoreSecret | undefined;
  private root: HDKey | undefined;
  /** The wallet accounts (BIP84, BIP86) of the seed, held while unlocked like root. */
  private accounts: Record<WalletAccountType, HDKey> | undefined;
  private lockTimer: NodeJS.Timeout | undefined;
  private detail = 'locked';
  /**
   * The audit MAC key (HKDF of the seed). Kept after a lock, so lock and refusal events stay keyed: it can forge
   * audit entries, never a signature. Wiped on close.
   */
  private macKey: Buffer | undefined;
  /** The key secrets at rest are sealed with (HKDF of the seed): held only while unlocked, wiped at lock. */
  private sealKey: Buffer | undefined;
  /** The node key (node-key.ts): its private scalar held only while unlocked; its public key kept after a lock. */
  private nodePriv: Uint8Array | undefined;
  private nodePub: Uint8Array | undefined;
  /** The master key's fingerprint (BIP32), for key origins in descriptors. Public. */
  private masterFingerprint: number | undefined;
  /** One writer for the keystore file: read-modify-write of `next` and `disabled` never interleave. */
  private readonly writer = new KeyedLock();
  /** Worker threads for a contract's adaptor signatures (adaptorSignAll), started on first use. */
  private readonly adaptorSigners = new AdaptorSigners();

  constructor(
    private readonly opts: {
      /** The keystore file; undefined for the simulator. */
      file?: string;
      passphrase?: () => Promise<string | undefined>;
      logN?: number;
      onLock?: () => void;
      /** 'main' for xpub versions, anything else for tpub. */
      network?: 'main' | 'test';
    },
  ) {
    this.kind = opts.file ? 'software' : 'simulator';
    // The keys are in reach of this code: every signature a contract needs, Taproot, and sealing under the seed.
    this.capabilities = {
      // (The simulator's seed is public and always open: nothing to unlock.)
      passphraseKeystore: this.kind === 'software' ? this : undefined,
      hdAccount: this,
      namedHandles: false,
      taprootTweak: true,
      adaptorSignatures: true,
      tweakedKeys: true,
      derivedSecrets: true,
      sealing: 'seed',
    };
  }

  async initialize(): Promise<void> {
    if (this.kind === 'simulator') {
      // A fixed seed anyone can reproduce: deterministic keys for regtest and tests, never for real funds.
      const mnemonic = entropyToMnemonic(createHash('sha256').update('anya-core simulator seed').digest().subarray(0, 16), wordlist);
      this.unlockWith({ mnemonic, next: 0, disabled: [] });
      this.detail = 'simulator (deterministic public seed; regtest and tests only)';
      return;
    }
    const pass = await this.opts.passphrase?.();
    if (pass !== undefined) await this.unlock(pass, 0);
  }

  async close(): Promise<void> {
    await this.adaptorSigners.close();
    this.lock();
    this.macKey?.fill(0);
    this.macKey = undefined;
  }

  status(): ProviderStatus {
    return {
      kind: this.kind,
      ready: this.root !== undefined,
      locked: this.root === undefined,
      detail: this.detail,
      curves: ['secp256k1'],
      schnorr: true,
      info: this.kind === 'software' ? { keystore: this.opts.file } : {},
    };
  }

  /** Whether the keystore file exists (a first start may create it). */
  async exists(): Promise<boolean> {
    return (
      this.kind === 'software' &&
      (await readFile(this.opts.file!).then(
        () => true,
        () => false,
      ))
    );
  }

  /** Creates a new keystore with fresh entropy; refuses to overwrite an existing one. Answers the mnemonic, once. */
  async create(passphrase: string): Promise<string> {
    const entropy = randomBytes(32);
    const mnemonic = entropyToMnemonic(entropy, wordlist);
    entropy.fill(0);
    await this.install(mnemonic, passphrase);
    return mnemonic;
  }

  /** Writes a keystore holding a seed written down before (checked BIP39 words); refuses to overwrite one. */
  async restore(mnemonic: string, passphrase: string): Promise<void> {
    if (!validateMnemonic(mnemonic, wordlist)) throw new ProviderError('the recovery words are not a valid BIP39 mnemonic');
    await this.install(mnemonic, passphrase);
  }

  /** The keystore file for a seed, new (never over one), under the passphrase in its NFKD form; then unlocked. */
  private async install(mnemonic: string, passphrase: string): Promise<void> {
    if (this.kind !== 'software') throw new ProviderError('only the software provider has a keystore');
    if (passphrase.normalize('NFC').length < 8) throw new ProviderError('the passphrase must have at least 8 characters');
    const problem = passphraseProblem(passphrase);
    if (problem) throw new ProviderError(problem);
    await this.writer.run('file', async () => {
      const secret: KeystoreSecret = { mnemonic, next: 0, disabled: [] };
      const was = this.norm;
      this.norm = 'nfkd';
      try {
        await this.write(secret, passphrase, true);
      } catch (err) {
        this.norm = was;
        throw err;
      }
      this.unlockWith(secret);
      this.passphraseForWrites = passphrase;
    });
  }

  /** Decrypts the keystore; with timeoutSec > 0 it locks itself again after that long. */
  async unlock(passphrase: string, timeoutSec: number): Promise<void> {
    if (this.kind !== 'software') return;
    const file = await readKeystoreFile(this.opts.file!);
    const problem = file.kdf.norm === 'nfkd' ? passphraseProblem(passphrase) : undefined;
    if (problem) throw new ProviderError(`${problem}: it cannot be this keystore's passphrase`);
    const secret = await decryptKeystore(file, passphrase);
    if (!validateMnemonic(secret.mnemonic, wordlist)) throw new ProviderError('the keystore holds no valid seed');
    this.unlockWith(secret);
    this.passphraseForWrites = passphrase;
    this.norm = file.kdf.norm;
    if (this.lockTimer) clearTimeout(this.lockTimer);
    if (timeoutSec > 0) {
      this.lockTimer = setTimeout(() => {
        this.lock();
        this.opts.onLock?.();
      }, timeoutSec * 1000);
      this.lockTimer.unref();
    }
  }

  /** Held only while unlocked, to re-encrypt when a key is added or disabled. */
  private passphraseForWrites: string | undefined;
  /** How the keystore read (or made) takes its passphrase; kept when it is rewritten. */
  private norm: 'nfkd' | undefined;

  lock(): void {
    if (this.kind === 'simulator') return;
    if (this.lockTimer) clearTimeout(this.lockTimer);
    this.secret = undefined;
    // JavaScript strings (the mnemonic, the passphrase) cannot be wiped; the key bytes can.
    this.root?.wipePrivateData();
    this.root = undefined;
    this.accounts?.wpkh.wipePrivateData();
    this.accounts?.tr.wipePrivateData();
    this.accounts = undefined;
    this.sealKey?.fill(0);
    this.sealKey = undefined;
    this.nodePriv?.fill(0);
    this.nodePriv = undefined;
    this.passphraseForWrites = undefined;
    this.detail = 'locked';
  }

  /** Writes the keystore file (keystore-file.ts) under the passphrase, with this keystore's KDF cost and norm. */
  private async write(secret: KeystoreSecret, passphrase: string, mustBeNew: boolean): Promise<void> {
    await writeKeystoreFile(this.opts.file!, secret, passphrase, { logN: this.opts.logN ?? 15, norm: this.norm, mustBeNew });
  }

  private unlockWith(secret: KeystoreSecret): void {
    this.secret = secret;
    const seed = mnemonicToSeedSync(secret.mnemonic);
    const master = HDKey.fromMasterSeed(seed, VERSIONS[this.opts.network === 'main' ? 'main' : 'test']);
    this.masterFingerprint = master.fingerprint;
    this.macKey ??= Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), 'anyad audit mac v1', 32));
    // A label of its own: the sealing key and the audit key are independent (the audit key outlives a lock).
    this.sealKey?.fill(0);
    this.sealKey = Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), 'anyad secrets at rest v1', 32));
    seed.fill(0);
    this.root = master.derive(ACCOUNT_PATH);
    const coin = this.opts.network === 'main' ? 0 : 1;
    this.accounts = { wpkh: master.derive(`m/84'/${coin}'/0'`), tr: master.derive(`m/86'/${coin}'/0'`) };
    this.nodePriv?.fill(0);
    this.nodePriv = deriveNodeKey(master, coin);
    this.nodePub = secp256k1.getPublicKey(this.nodePriv, true);
    master.wipePrivateData();
    if (this.kind === 'software') this.detail = `keystore ${this.opts.file} unlocked`;
  }

  private unlocked(): { secret: KeystoreSecret; root: HDKey } {
    if (!this.secret || !this.root) throw new ProviderLockedError('the keystore is locked: call hsm.unlock');
    return { secret: this.secret, root: this.root };
  }

  /** The account xpub (m/0'), from which every key's public key follows; tpub off mainnet. */
  xpub(): string {
    return this.unlocked().root.publicExtendedKey;
  }

  /** The master fingerprint, 8 hex digits (known once the keystore was unlocked in this process). */
  fingerprint(): string {
    if (this.masterFingerprint === undefined) throw new ProviderLockedError('the keystore is locked: call hsm.unlock');
    return this.masterFingerprint.toString(16).padStart(8, '0');
  }

  /** The BIP32 path of a key, in descriptor notation (h for hardened). */
  static path(handle: string): string {
    return `0h/${Number(handle)}h`;
  }

  keyPath(handle: string): string {
    return SoftwareProvider.path(handle);
  }

  private account(type: WalletAccountType): HDKey {
    const a = this.accounts?.[type];
    if (!a) throw new ProviderLockedError('the keystore is locked: call hsm.unlock');
    return a;
  }

  walletAccount(type: WalletAccountType): { path: string; xpub: string } {
    const coin = this.opts.network === 'main' ? 0 : 1;
    return { path: `${type === 'wpkh' ? 84 : 86}'/${coin}'/0'`, xpub: this.account(type).publicExtendedKey };
  }

  private walletChild(type: WalletAccountType, chain: number, index: number): HDKey {
    if (![0, 1].includes(chain) || !Number.isInteger(index) || index < 0 || index >= 0x80000000) throw new ProviderError(`no wallet key ${chain}/${index}`);
    return this.account(type).deriveChild(chain).deriveChild(index);
  }

  walletPublicKey(type: WalletAccountType, chain: number, index: number): Uint8Array {
    return this.walletChild(type, chain, index).publicKey!;
  }

  async walletSign(type: WalletAccountType, chain: number, index: number, digest: Uint8Array, scheme: Scheme, opts: SignOptions = {}): Promise<Uint8Array> {
    if (digest.length !== 32) throw new ProviderError('digest must be 32 bytes');
    const child = this.walletChild(type, chain, index);
    return signWith(child, digest, scheme, opts);
  }

  async auditMac(data: Uint8Array): Promise<Buffer | undefined> {
    return this.macKey ? createHmac('sha256', this.macKey).update(data).digest() : undefined;
  }

  async nodePublicKey(): Promise<Uint8Array> {
    if (!this.nodePub) throw new ProviderLockedError('the keystore is locked: call hsm.unlock');
    return this.nodePub;
  }

  async nodeEcdh(theirs: Uint8Array): Promise<Uint8Array> {
    if (!this.nodePriv) throw new ProviderLockedError('the keystore is locked: call hsm.unlock');
    return bolt8Ecdh(this.nodePriv, theirs);
  }

  sealingKey(): Uint8Array {
    if (!this.sealKey) throw new ProviderLockedError('the keystore is locked: call hsm.unlock');
    return this.sealKey;
  }

  private child(handle: string): HDKey {
    const { root } = this.unlocked();
    const i = Number(handle);
    if (!Number.isInteger(i) || i < 0 || i >= 0x80000000) throw new ProviderError(`no key ${handle} in the keystore`);
    return root.deriveChild(i + 0x80000000);
  }

  async generateKey(_label: string, curve: Curve): Promise<ProviderKey> {
    if (curve !== 'secp256k1') throw new ProviderUnsupportedError('the software provider makes secp256k1 keys only');
    return this.writer.run('file', async () => {
      const { secret } = this.unlocked();
      const next: KeystoreSecret = { ...secret, next: secret.next + 1 };
      if (this.kind === 'software') await this.write(next, this.passphraseForWrites!, false);
      this.secret = next;
      return this.getPublicKey(String(secret.next));
    });
  }

  async sign(handle: string, digest: Uint8Array, scheme: Scheme, opts: SignOptions = {}): Promise<Uint8Array> {
    if (digest.length !== 32) throw new ProviderError('digest must be 32 bytes');
    const { secret } = this.unlocked();
    if (secret.disabled.includes(Number(handle))) throw new ProviderError(`key ${handle} is disabled`);
    return signWith(this.child(handle), digest, scheme, opts);
  }

  async adaptorSign(handle: string, encryptionPoint: Uint8Array, digest: Uint8Array): Promise<Uint8Array> {
    if (digest.length !== 32) throw new ProviderError('digest must be 32 bytes');
    return this.withChild(handle, (priv) => adaptorSign(priv, encryptionPoint, digest));
  }

  /**
   * Every item's adaptor signature, made in a worker thread (adaptor-worker.ts) so the event loop stays free: the
   * key's private scalar is handed to the worker for the call and wiped there after; here the child key is wiped
   * as soon as it is handed over. The key's state is checked once, at the start, as the service's gates are.
   */
  async adaptorSignAll(handle: string, items: Array<{ point: Uint8Array; digest: Uint8Array }>): Promise<Uint8Array[]> {
    if (items.some((x) => x.digest.length !== 32)) throw new ProviderError('digest must be 32 bytes');
    // (adaptorSign's own refusal of a point that is not 33 bytes, said before any key leaves this thread.)
    if (items.some((x) => x.point.length !== 33)) throw new ProviderError('the encryption key is not a point of secp256k1');
    const { secret } = this.unlocked();
    if (secret.disabled.includes(Number(handle))) throw new ProviderError(`key ${handle} is disabled`);
    const child = this.child(handle);
    let signing: Promise<Uint8Array[]>;
    try {
      signing = this.adaptorSigners.signAll(child.privateKey!, items);
    } finally {
      child.wipePrivateData();
    }
    try {
      return await signing;
    } catch (err) {
      throw err instanceof ProviderError ? err : new ProviderError((err as Error).message);
    }
  }

  async tweakedSign(handle: string, digest: Uint8Array, mul: Uint8Array, add: Uint8Array): Promise<Uint8Array> {
    if (digest.length !== 32 || mul.length !== 32 || add.length !== 32) throw new ProviderError('digest, mul and add must be 32 bytes');
    return this.withChild(handle, (priv) => {
      const n = secp256k1.Point.Fn.ORDER;
      const big = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex')}`);
      const k = (big(priv) * (big(mul) % n) + (big(add) % n)) % n;
      if (k === 0n) throw new ProviderError('the tweaked key is zero');
      const tweaked = Buffer.from(k.toString(16).padStart(64, '0'), 'hex');
      try {
        return ecdsaSign(digest, tweaked);
      } finally {
        tweaked.fill(0);
      }
    });
  }

  async derivedSecret(handle: string, label: Uint8Array): Promise<Uint8Array> {
    return this.withChild(handle, (priv) => createHmac('sha256', priv).update(label).digest());
  }

  /** Runs fn with an active key's private key, wiped afterwards. */
  private withChild<T>(handle: string, fn: (priv: Uint8Array) => T): T {
    const { secret } = this.unlocked();
    if (secret.disabled.includes(Number(handle))) throw new ProviderError(`key ${handle} is disabled`);
    const child = this.child(handle);
    try {
      return fn(child.privateKey!);
    } catch (err) {
      throw err instanceof ProviderError ? err : new ProviderError((err as Error).message);
    } finally {
      child.wipePrivateData();
    }
  }

  async getPublicKey(handle: string): Promise<ProviderKey> {
    const { secret } = this.unlocked();
    if (Number(handle) >= secret.next && this.kind === 'software') throw new ProviderError(`no key ${handle} in the keystore`);
    return { handle, curve: 'secp256k1', publicKey: Buffer.from(this.child(handle).publicKey!).toString('hex') };
  }

  async listKeys(): Promise<ProviderKey[]> {
    const { secret } = this.unlocked();
    return Promise.all(Array.from({ length: secret.next }, (_, i) => this.getPublicKey(String(i))));
  }

  async disableKey(handle: string): Promise<void> {
    await this.writer.run('file', async () => {
      const { secret } = this.unlocked();
      const next = { ...secret, disabled: [...new Set([...secret.disabled, Number(handle)])] };
      if (this.kind === 'software') await this.write(next, this.passphraseForWrites!, false);
      this.secret = next;
    });
  }

  async healthCheck(handle: string): Promise<void> {
    const digest = randomBytes(32);
    const key = await this.getPublicKey(handle);
    if (!verifySignature('secp256k1', 'ecdsa', key.publicKey, digest, await this.sign(handle, digest, 'ecdsa')))
      throw new ProviderError(`key ${handle}: signature did not verify`);
  }
}

/** BIP341: the private key for a tweaked output key (negate d when its point has odd Y, then add the tweak). */
function tweakPrivate(priv: Uint8Array, tweak: Uint8Array): Uint8Array {
  let d = BigInt(`0x${Buffer.from(priv).toString('hex')}`);
  const P = secp256k1.Point.BASE.multiply(d);
  if (P.y % 2n === 1n) d = N_ORDER - d;
  const t = BigInt(`0x${Buffer.from(tweak).toString('hex')}`);
  if (t >= N_ORDER) throw new ProviderError('invalid taproot tweak');
  const out = (d + t) % N_ORDER;
  return Buffer.from(out.toString(16).padStart(64, '0'), 'hex');
}

/** ECDSA (DER, low S) or BIP340 Schnorr (key-path tweaked when asked) with a child key, wiped after. */
function signWith(child: HDKey, digest: Uint8Array, scheme: Scheme, opts: SignOptions): Uint8Array {
  const priv = child.privateKey!;
  try {
    if (scheme === 'schnorr') {
      const tweaked = opts.tapTweak ? tweakPrivate(priv, opts.tapTweak) : undefined;
      const sig = schnorr.sign(digest, tweaked ?? priv, randomBytes(32));
      tweaked?.fill(0);
      return sig;
    }
    return ecdsaSign(digest, priv);
  } finally {
    child.wipePrivateData();
  }
}

/**
 * RFC 6979 ECDSA, DER, low S: on libsecp256k1 (wasm, constant time, ~4× @noble here) where it loads, @noble
 * otherwise; both give the same bytes for the same key and digest (a test holds this).
 */
function ecdsaSign(digest: Uint8Array, priv: Uint8Array): Uint8Array {
  const lib = libsecp256k1();
  return rawToLowSDer(lib ? lib.sign(digest, priv) : secp256k1.sign(digest, priv, { prehash: false, lowS: true }), 'secp256k1');
}
