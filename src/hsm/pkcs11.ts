// Keys on a PKCS#11 token (SoftHSM2 in the tests; YubiHSM 2's yubihsm_pkcs11.so and tpm2-pkcs11 documented). The
// token is found by its label, never by slot number (slot ids change). Private keys are generated on the token as
// sensitive and non-extractable; the public key comes from CKA_EC_POINT; CKM_ECDSA answers raw r||s, which is
// normalised to low S and DER-encoded. A lost session (token pulled, module error) is reopened with backoff.

import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { Backoff } from '../core/backoff.js';
import { compressPoint, rawToLowSDer, verifySignature } from './ecdsa.js';
import {
  ProviderError,
  ProviderMismatchError,
  ProviderUnsupportedError,
  type Curve,
  type KeyProvider,
  type ProviderCapabilities,
  type ProviderKey,
  type ProviderStatus,
  type Scheme,
} from './provider.js';

const require = createRequire(import.meta.url);
// pkcs11js is CommonJS (its types come along), loaded only when this provider is configured.
let pkcs11js: typeof import('pkcs11js');
type PKCS11 = import('pkcs11js').PKCS11;

const EC_PARAMS: Record<Curve, Buffer> = {
  secp256k1: Buffer.from('06052b8104000a', 'hex'), // OID 1.3.132.0.10
  p256: Buffer.from('06082a8648ce3d030107', 'hex'), // OID 1.2.840.10045.3.1.7
};

/**
 * Sessions that sign on the thread pool at once. Two: a second signature runs on the other core while the first
 * does, and two of libuv's four threads stay free for the audit log's synced writes, which a signature waits for.
 */
const SIGN_SESSIONS = 2;

/** CKA_ID of the audit MAC key: fixed, so every start finds the same key. */
const AUDIT_KEY_ID = Buffer.from('anyad-audit-mac-v1');
/** Label and CKA_ID of the AES key that wraps the data key secrets at rest are sealed with (seal.ts). */
const WRAP_KEY_LABEL = 'anyad secrets at rest v1';
const WRAP_KEY_ID = Buffer.from('anyad-secrets-wrap-v1');
/** Associated data of the wrapped data key: a wrapped value of any other kind does not unwrap as one. */
const WRAP_AAD = Buffer.from('anyad data key v1');

export interface Pkcs11Options {
  module: string;
  tokenLabel: string;
  pin: () => Promise<string>;
}

export class Pkcs11Provider implements KeyProvider {
  readonly kind = 'pkcs11' as const;
  /**
   * A token signs with its key as it is (CKM_ECDSA): no adaptor, tweaked or Taproot signatures, no derived seeds.
   * anyad picks each key's CKA_ID (others may share the token), and seals secrets under a data key wrapped on it.
   */
  readonly capabilities: ProviderCapabilities = {
    passphraseKeystore: undefined,
    hdAccount: undefined,
    namedHandles: true,
    taprootTweak: false,
    adaptorSignatures: false,
    tweakedKeys: false,
    derivedSecrets: false,
    sealing: 'wrapped-data-key',
  };
  private p11: PKCS11 | undefined;
  private session: Buffer | undefined;
  private slot: Buffer | undefined;
  private curves: Curve[] = [];
  private info: Record<string, unknown> = {};
  private detail = 'not initialized';
  private reopenAfter = 0;
  /** Private key objects by handle, valid for the current session only (cleared when it is reopened). */
  private readonly objects = new Map<string, { key: Buffer; curve: Curve }>();
  /** 0.5 s doubling to 30 s between attempts to reopen a lost session. */
  private readonly reopenBackoff = new Backoff(500, 30_000);
  /**
   * The module was initialized for OS locking (CKF_OS_LOCKING_OK), so it may be called from the thread pool:
   * signatures then run as C_Sign on a session of their own while this thread goes on. A module that refuses
   * the flag signs on this thread, one call at a time, as before.
   */
  private threaded = false;
  /** Idle signing sessions of the current login, and how many exist; they share the main session's login. */
  private idleSignSessions: Buffer[] = [];
  private signSessionCount = 0;
  private readonly signSessionWaiters: Array<() => void> = [];
  /** Bumped whenever the sessions are reopened: a signing session of an older generation is not reused. */
  private generation = 0;
  /** Signatures still running on the thread pool; close() waits for them before C_Finalize. */
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly opts: Pkcs11Options) {}

  async initialize(): Promise<void> {
    pkcs11js ??= require('pkcs11js') as typeof import('pkcs11js');
    const p11 = new pkcs11js.PKCS11();
    try {
      p11.load(this.opts.module);
    } catch (err) {
      throw new ProviderError(`cannot load the PKCS#11 module ${this.opts.module}: ${(err as Error).message}`);
    }
    try {
      p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
      this.threaded = true;
    } catch (err) {
      // CKR_CANT_LOCK: a module without thread safety is still usable from this thread alone.
      if (!/CKR_CANT_LOCK|CKR_ARGUMENTS_BAD/.test((err as Error).message)) throw err;
      p11.C_Initialize();
      this.threaded = false;
    }
    this.p11 = p11;
    await this.openSession();
  }

  private async openSession(): Promise<void> {
    const p11 = this.p11!;
    const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === this.opts.tokenLabel);
    if (slot === undefined) throw new ProviderError(`no token labelled '${this.opts.tokenLabel}' is present (module ${this.opts.module})`);
    const ti = p11.C_GetTokenInfo(slot);
    const mechs = p11.C_GetMechanismList(slot);
    this.curves = [];
    if (mechs.includes(pkcs11js.CKM_EC_KEY_PAIR_GEN) && mechs.includes(pkcs11js.CKM_ECDSA)) {
      // Curve support is only known by trying: SoftHSM2 has both, tpm2-pkcs11 has P-256 only.
      this.curves = ['secp256k1', 'p256'];
    }
    this.info = {
      token_label: this.opts.tokenLabel,
      manufacturer: ti.manufacturerID.trim(),
      model: ti.model.trim(),
      serial: ti.serialNumber.trim(),
      mechanisms: mechs.length,
      ecdsa: mechs.includes(pkcs11js.CKM_ECDSA),
      module: this.opts.module,
    };
    const session = p11.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
    try {
      p11.C_Login(session, pkcs11js.CKU_USER, await this.opts.pin());
    } catch (err) {
      p11.C_CloseSession(session);
      const code = (err as Error).message.split(':')[0];
      // The PIN itself never goes into a message.
      throw new ProviderError(
        code?.includes('CKR_PIN_INCORRECT') ? `wrong PIN for token '${this.opts.tokenLabel}'` : `cannot log in to token '${this.opts.tokenLabel}': ${code}`,
      );
    }
    this.session = session;
    this.slot = slot;
    this.generation++;
    this.idleSignSessions = [];
    this.signSessionCount = 0;
    this.objects.clear();
    this.auditKey = undefined;
    this.detail = `token '${this.opts.tokenLabel}' (${this.info.manufacturer} ${this.info.model})`;
    this.reopenBackoff.reset();
  }

  get signsOffThread(): boolean {
    return this.threaded;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.running]);
    try {
      // C_Finalize ends every session, the signing ones too.
      if (this.session) this.p11?.C_CloseSession(this.session);
      this.p11?.C_Finalize();
    } catch {
      // closing a session whose token is gone fails; nothing is left to release
    }
    this.session = undefined;
    this.p11 = undefined;
  }

  status(): ProviderStatus {
    return { kind: 'pkcs11', ready: this.session !== undefined, locked: false, detail: this.detail, curves: this.curves, schnorr: false, info: this.info };
  }

  /** Runs an operation on the session; on a session-level failure, reopens (with backoff) and tries once more. */
  private async withSession<T>(op: (p11: PKCS11, session: Buffer) => T | Promise<T>): Promise<T> {
    if (!this.session) await this.reopen();
    try {
      return await op(this.p11!, this.session!);
    } catch (err) {
      if (!/CKR_(SESSION_HANDLE_INVALID|SESSION_CLOSED|DEVICE_REMOVED|TOKEN_NOT_PRESENT|DEVICE_ERROR|USER_NOT_LOGGED_IN)/.test((err as Error).message))
        throw err;
      this.session = undefined;
      this.detail = `session lost: ${(err as Error).message.split(':')[0]}`;
      await this.reopen();
      return await op(this.p11!, this.session!);
    }
  }

  /**
   * C_SignInit and C_Sign on a signing session of its own, the C_Sign on the thread pool; at most SIGN_SESSIONS at
   * once, the rest wait their turn. A session is opened on first need and shares the main session's login.
   */
  private async signOffThread(p11: PKCS11, key: Buffer, digest: Uint8Array): Promise<Buffer> {
    while (this.idleSignSessions.length === 0 && this.signSessionCount >= SIGN_SESSIONS) await new Promise<void>((r) => this.signSessionWaiters.push(r));
    // (Taken once a session is, since the sessions may have been reopened while this call waited.)
    const generation = this.generation;
    let s = this.idleSignSessions.pop();
    if (!s) {
      s = p11.C_OpenSession(this.slot!, pkcs11js.CKF_SERIAL_SESSION);
      this.signSessionCount++;
    }
    const signing = (async () => {
      p11.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, key);
      return p11.C_SignAsync(s, Buffer.from(digest), Buffer.alloc(132));
    })();
    this.running.add(signing);
    try {
      return await signing;
    } finally {
      this.running.delete(signing);
      // A session of an older login is left to the reopen, which replaced the lot.
      if (generation === this.generation) this.idleSignSessions.push(s);
      this.signSessionWaiters.shift()?.();
    }
  }

  private async reopen(): Promise<void> {
    if (Date.now() < this.reopenAfter)
      throw new ProviderError(`token unavailable (${this.detail}); retrying in ${Math.ceil((this.reopenAfter - Date.now()) / 1000)} s`);
    try {
      await this.openSession();
    } catch (err) {
      this.reopenAfter = Date.now() + this.reopenBackoff.next();
      this.detail = (err as Error).message;
      throw err;
    }
  }

  async generateKey(label: string, curve: Curve, handle?: string): Promise<ProviderKey> {
    if (!this.curves.includes(curve)) throw new ProviderUnsupportedError(`token '${this.opts.tokenLabel}' cannot make ${curve} keys`);
    const id = handle ? Buffer.from(handle, 'hex') : randomBytes(16);
    return this.withSession((p11, s) => {
      const kp = p11.C_GenerateKeyPair(
        s,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_EC_PARAMS, value: EC_PARAMS[curve] },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_LABEL, value: label },
          { type: pkcs11js.CKA_ID, value: id },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          { type: pkcs11js.CKA_LABEL, value: label },
          { type: pkcs11js.CKA_ID, value: id },
        ],
      );
      return { handle: id.toString('hex'), curve, publicKey: this.readPublic(p11, s, kp.publicKey, curve) };
    });
  }

  private readPublic(p11: PKCS11, s: Buffer, pub: Buffer, curve: Curve): string {
    const point = p11.C_GetAttributeValue(s, pub, [{ type: pkcs11js.CKA_EC_POINT }])[0]!.value as Buffer;
    // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
    const raw = point[0] === 0x04 && point.length === point[1]! + 2 ? point.subarray(2) : point;
    return compressPoint(curve, raw);
  }

  private find(p11: PKCS11, s: Buffer, cls: number, handle: string): Buffer | undefined {
    p11.C_FindObjectsInit(s, [
      { type: pkcs11js.CKA_CLASS, value: cls },
      { type: pkcs11js.CKA_ID, value: Buffer.from(handle, 'hex') },
    ]);
    const obj = p11.C_FindObjects(s);
    p11.C_FindObjectsFinal(s);
    return obj ?? undefined;
  }

  private curveOf(p11: PKCS11, s: Buffer, obj: Buffer): Curve {
    const params = p11.C_GetAttributeValue(s, obj, [{ type: pkcs11js.CKA_EC_PARAMS }])[0]!.value as Buffer;
    if (params.equals(EC_PARAMS.secp256k1)) return 'secp256k1';
    if (params.equals(EC_PARAMS.p256)) return 'p256';
    throw new ProviderError('key on an unsupported curve');
  }

  async sign(handle: string, digest: Uint8Array, scheme: Scheme): Promise<Uint8Array> {
    if (scheme === 'schnorr') throw new ProviderUnsupportedError('PKCS#11 has no BIP340 Schnorr mechanism; use the software provider for Taproot');
    if (digest.length !== 32) throw new ProviderError('digest must be 32 bytes');
    return this.withSession((p11, s) => {
      let obj = this.objects.get(handle);
      if (!obj) {
        const key = this.find(p11, s, pkcs11js.CKO_PRIVATE_KEY, handle);
        if (!key) throw new ProviderError(`no private key ${handle} on the token`);
        obj = { key, curve: this.curveOf(p11, s, key) };
        this.objects.set(handle, obj);
      }
      const { key, curve } = obj;
      if (this.threaded) return this.signOffThread(p11, key, digest).then((raw) => rawToLowSDer(raw, curve));
      p11.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, key);
      const raw = p11.C_Sign(s, Buffer.from(digest), Buffer.alloc(132));
      return rawToLowSDer(raw, curve);
    });
  }

  async getPublicKey(handle: string): Promise<ProviderKey> {
    return this.withSession((p11, s) => {
      const pub = this.find(p11, s, pkcs11js.CKO_PUBLIC_KEY, handle);
      if (!pub) throw new ProviderError(`no key ${handle} on the token`);
      const curve = this.curveOf(p11, s, pub);
      return { handle, curve, publicKey: this.readPublic(p11, s, pub, curve) };
    });
  }

  async listKeys(): Promise<ProviderKey[]> {
    return this.withSession((p11, s) => {
      p11.C_FindObjectsInit(s, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
      ]);
      const objs: Buffer[] = [];
      for (let o = p11.C_FindObjects(s); o; o = p11.C_FindObjects(s)) objs.push(o);
      p11.C_FindObjectsFinal(s);
      return objs.map((o) => {
        const id = (p11.C_GetAttributeValue(s, o, [{ type: pkcs11js.CKA_ID }])[0]!.value as Buffer).toString('hex');
        const curve = this.curveOf(p11, s, o);
        return { handle: id, curve, publicKey: this.readPublic(p11, s, o, curve) };
      });
    });
  }

  async disableKey(handle: string): Promise<void> {
    await this.withSession((p11, s) => {
      const key = this.find(p11, s, pkcs11js.CKO_PRIVATE_KEY, handle);
      // A private key already gone from the token signs nothing: disabling it is only anyad's record (else an
      // operator could neither use nor disable it, and the start's self-test would refuse it forever).
      if (key) p11.C_SetAttributeValue(s, key, [{ type: pkcs11js.CKA_SIGN, value: false }]);
      this.objects.delete(handle);
    });
  }

  /**
   * HMAC-SHA256 with the token's audit key: a generic secret made on the token the first time (sensitive, never
   * extractable), found again by its CKA_ID afterwards, so whoever can rewrite the database cannot recompute a MAC.
   */
  async auditMac(data: Uint8Array): Promise<Buffer | undefined> {
    return this.withSession((p11, s) => {
      let key = this.auditKey;
      if (!key) {
        p11.C_FindObjectsInit(s, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_ID, value: AUDIT_KEY_ID },
        ]);
        key = p11.C_FindObjects(s) ?? undefined;
        p11.C_FindObjectsFinal(s);
        key ??= p11.C_GenerateKey(s, { mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN }, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
          { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_LABEL, value: 'anyad audit MAC' },
          { type: pkcs11js.CKA_ID, value: AUDIT_KEY_ID },
        ]);
        this.auditKey = key;
      }
      p11.C_SignInit(s, { mechanism: pkcs11js.CKM_SHA256_HMAC }, key);
      return Buffer.from(p11.C_Sign(s, Buffer.from(data), Buffer.alloc(32)));
    });
  }

  /** The audit key's object handle in the current session (cleared when the session is reopened). */
  private auditKey: Buffer | undefined;

  /** The token's AES wrapping key, found by label and CKA_ID; made (sensitive, never extractable) only when `create`. */
  private wrapKey(p11: PKCS11, s: Buffer, create: boolean): Buffer {
    p11.C_FindObjectsInit(s, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_LABEL, value: WRAP_KEY_LABEL },
      { type: pkcs11js.CKA_ID, value: WRAP_KEY_ID },
    ]);
    const found = p11.C_FindObjects(s) ?? undefined;
    p11.C_FindObjectsFinal(s);
    if (found) return found;
    if (!create)
      throw new ProviderMismatchError(
        `token '${this.opts.tokenLabel}' holds no key labelled '${WRAP_KEY_LABEL}': this state's secrets were sealed on another token`,
      );
    return p11.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_LABEL, value: WRAP_KEY_LABEL },
      { type: pkcs11js.CKA_ID, value: WRAP_KEY_ID },
    ]);
  }

  /** AES-256-GCM on the token: a 12-byte random IV, then the ciphertext and its 16-byte tag. */
  async wrapDataKey(dataKey: Uint8Array): Promise<Buffer> {
    return this.withSession((p11, s) => {
      const key = this.wrapKey(p11, s, true);
      const iv = randomBytes(12);
      p11.C_EncryptInit(
        s,
        { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad: WRAP_AAD, ivBits: 96, tagBits: 128 } as never },
        key,
      );
      const out = p11.C_Encrypt(s, Buffer.from(dataKey), Buffer.alloc(dataKey.length + 16));
      return Buffer.concat([iv, out]);
    });
  }

  async unwrapDataKey(wrapped: Uint8Array): Promise<Buffer> {
    if (wrapped.length !== 12 + 32 + 16) throw new ProviderError('the wrapped data key has the wrong length');
    return this.withSession((p11, s) => {
      const key = this.wrapKey(p11, s, false);
      const iv = Buffer.from(wrapped.subarray(0, 12));
      p11.C_DecryptInit(
        s,
        { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad: WRAP_AAD, ivBits: 96, tagBits: 128 } as never },
        key,
      );
      try {
        return Buffer.from(p11.C_Decrypt(s, Buffer.from(wrapped.subarray(12)), Buffer.alloc(48)));
      } catch (err) {
        if (/CKR_(ENCRYPTED_DATA_INVALID|ENCRYPTED_DATA_LEN_RANGE)/.test((err as Error).message))
          throw new ProviderMismatchError(`token '${this.opts.tokenLabel}' cannot unwrap this state's data key: it was wrapped by another token's key`);
        throw err;
      }
    });
  }

  async healthCheck(handle: string): Promise<void> {
    const digest = randomBytes(32);
    const key = await this.getPublicKey(handle);
    const sig = await this.sign(handle, digest, 'ecdsa');
    if (!verifySignature(key.curve, 'ecdsa', key.publicKey, digest, sig)) throw new ProviderError(`key ${handle}: signature did not verify`);
  }
}
