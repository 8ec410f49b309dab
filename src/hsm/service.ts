// The HSM service: one key provider, the key registry (labels, groups, lifecycle: active, retired, disabled) in the
// hsm sublevel, the signing policy, and the audit log. Every key event is written together with its audit entry.
//
// Concurrency: every evaluate -> sign -> count runs in one critical section per policy subject (key:<id>,
// group:<name>), and policy changes take the same lock, so concurrent callers over the socket see what one caller
// after another would see. Key generation is one writer at a time.

import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import * as bitcoin from 'bitcoinjs-lib';
import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import { KeyedLock } from '../core/keyed-lock.js';
import { HealthCell, type Service } from '../core/service.js';
import { rpcError, RpcError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { BatchOp, RoomDb, Store } from '../core/store.js';

/**
 * What the service writes through: the store's synced, atomic batch (a test may pass a wrapper that fails it), and
 * the notes the state keeps of itself (an accepted state's, recorded in the audit log).
 */
export type HsmStore = Pick<Store, 'batch' | 'notes'>;
import { AuditLog, type AuditEntry } from './audit.js';
import { open as openSealed, purposeProblem, seal } from './seal.js';
import { contractDetail, contractProblem, type ContractKind } from './contract.js';
import type { ContractSigning } from './api.js';
import { verifySignature } from './ecdsa.js';
import { startProvider } from './factory.js';
import { loosening, meet, PolicyEngine, type PendingPolicy, type Policy, type SpendFacts, type Veto } from './policy.js';
import { ProviderError, ProviderLockedError, ProviderMismatchError, ProviderUnsupportedError, type Curve, type KeyProvider, type Scheme } from './provider.js';
import { ownScripts, planPsbt, PsbtError, signPlanned, type SigningKey } from './psbt.js';
import { passphraseProblem, SoftwareProvider } from './software.js';
import { HSM_POLICY } from './topics.js';

export interface KeyRecord {
  id: string;
  label: string;
  group: string | null;
  provider: KeyProvider['kind'];
  handle: string;
  curve: Curve;
  public_key: string;
  state: 'active' | 'retired' | 'disabled';
  created: string;
  successor?: string;
  predecessor?: string;
  /** A key made through HsmApi.generateKey for a contract of this kind (contract.ts). */
  contract_kind?: ContractKind;
}

export interface HsmSettings {
  /** Seconds a loosening of a policy waits before it takes effect. */
  policyDelaySec: number;
  /** A key group whose keys count as change for every signing key (besides the signing key's own group). */
  changeGroup: string | undefined;
}

/** Maps provider failures to the caller's error codes. */
export function providerError(err: unknown): unknown {
  if (err instanceof RpcError) return err;
  if (err instanceof ProviderLockedError) return rpcError('Locked', err.message);
  if (err instanceof ProviderUnsupportedError) return rpcError('Unsupported', err.message, { service: 'hsm' });
  if (err instanceof ProviderMismatchError) return rpcError('Conflict', err.message, { service: 'hsm' });
  if (err instanceof ProviderError)
    return rpcError(/^no (private )?key/.test(err.message) ? 'NotFound' : 'BackendUnavailable', err.message, { service: 'hsm' });
  return err;
}

/**
 * The id the transaction will have: the unsigned transaction's when every input is segwit (witnesses are not part
 * of the txid); with legacy inputs, known only once they are all signed (their scriptSig is part of it), else null.
 */
function txidOf(psbt: bitcoin.Psbt): string | null {
  try {
    const c = psbt.clone();
    c.finalizeAllInputs();
    return c.extractTransaction(true).getId();
  } catch {
    const segwit = psbt.data.inputs.every((i) => i.witnessUtxo !== undefined);
    return segwit ? bitcoin.Transaction.fromBuffer(psbt.data.globalMap.unsignedTx.toBuffer()).getId() : null;
  }
}

const keyIdOf = (publicKey: string): string => createHash('sha256').update(publicKey).digest('hex').slice(0, 16);

export class HsmService implements Service {
  readonly name = 'hsm';
  private readonly cell = new HealthCell('starting', 'opening the key provider');
  provider: KeyProvider | undefined;
  readonly audit: AuditLog;
  readonly policy: PolicyEngine;
  private readonly locks = new KeyedLock();
  private pendingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly kinds: string[],
    private readonly config: Config,
    private readonly db: RoomDb,
    private readonly store: HsmStore,
    private readonly network: bitcoin.Network,
    private readonly log: Logger,
    private readonly bus: EventBus,
    private readonly settings: HsmSettings,
  ) {
    this.audit = new AuditLog(
      db,
      join(config.netdir, 'hsm-audit.head'),
      (data) => this.provider?.auditMac(data) ?? Promise.resolve(undefined),
      (ops) => this.store.batch(ops),
      (err) => this.log.warn({ err }, 'HSM audit head file not brought up to date (it lags; retried with the next entry)'),
    );
    this.policy = new PolicyEngine(db);
  }

  health(): ReturnType<HealthCell['get']> {
    const s = this.provider?.status();
    if (s) this.cell.set(s.ready ? 'ok' : 'degraded', s.detail);
    return this.cell.get();
  }

  /** Opens the provider and runs the readiness self-test: every usable active key signs and verifies a fresh digest. */
  async open(): Promise<void> {
    this.provider = await startProvider(this.kinds, this.config, this.log, () => void this.record('lock', null, { reason: 'unlock timeout' }));
    const p = this.provider;
    const created =
      p instanceof SoftwareProvider && p.kind === 'software' && !p.status().ready && !!this.config.str('hsm.passphrasefile') && !(await p.exists())
        ? await this.firstKeystore(p)
        : false;
    const finding = await this.audit.load();
    if (finding) {
      this.log.warn(finding, 'HSM audit log rolled back or cut since it was last written; recorded in the log');
      await this.record('rollback', null, { ...finding });
    }
    if (created) await this.record('create', null, { caller: 'startup (hsm.passphrasefile)' });
    await this.recordAcceptedStates();
    const st = p.status();
    if (st.ready) {
      if (p.kind === 'software') await this.record('unlock', null, { caller: 'startup (hsm.passphrasefile)' });
      await this.adoptOrphans();
      const keys = (await this.keys()).filter((k) => k.state === 'active' && k.provider === st.kind);
      for (const k of keys) {
        try {
          await p.healthCheck(k.handle);
        } catch (err) {
          throw new Error(`HSM self-test failed for key ${k.id} (${k.label}): ${(err as Error).message}`);
        }
      }
      this.log.info({ provider: st.kind, keys: keys.length }, 'HSM ready; self-test passed');
    } else this.log.info({ provider: st.kind, detail: st.detail }, 'HSM open but locked');
    await this.applyDuePolicies();
    // Loosenings take effect on time (and are announced) even when nobody signs.
    this.pendingTimer = setInterval(
      () => void this.applyDuePolicies().catch((err) => this.log.error({ err }, 'applying pending policies failed')),
      Math.min(30_000, Math.max(1000, this.settings.policyDelaySec * 250)),
    );
    this.pendingTimer.unref();
  }

  /**
   * A start with -acceptstate took a state that did not match its record, and the state keeps a note of it
   * (`accepted:<time>`: the problems found, the records counted); issue 34 wants the acceptance in the audit log.
   * Each note not yet recorded becomes one state_accepted entry, written in one batch with a mark in this sublevel
   * (`sa:<note>`), so it is recorded exactly once across restarts, and a crash between the two cannot happen. With
   * hsm.audit off nothing is marked: the notes are recorded once the log is kept.
   */
  private async recordAcceptedStates(): Promise<void> {
    if (!this.config.bool('hsm.audit')) return;
    for (const note of await this.store.notes()) {
      if (!note.key.startsWith('accepted:')) continue;
      const mark = `sa:${note.key}`;
      if ((await this.db.get(mark)) !== undefined) continue;
      const v = (note.value ?? {}) as { problems?: unknown; counts?: unknown };
      const problems = Array.isArray(v.problems) ? v.problems.map(String) : [];
      this.log.warn({ accepted: note.key.slice('accepted:'.length), problems }, 'HSM: a state accepted with -acceptstate; recorded in the audit log');
      await this.record('state_accepted', null, { time: note.key.slice('accepted:'.length), problems, counts: v.counts ?? {} }, [
        { type: 'put', sublevel: this.db, key: mark, value: { recorded: new Date().toISOString() } },
      ]);
    }
  }

  /**
   * First start with hsm.passphrasefile and no keystore: create it with that passphrase. The mnemonic is written
   * once to a 0600 file beside the keystore, and the log says where: write it down, then delete the file.
   */
  private async firstKeystore(p: SoftwareProvider): Promise<true> {
    const { readSecret } = await import('./secrets.js');
    const pass = await readSecret(this.config.str('hsm.passphrasefile')!, 'hsm.passphrasefile');
    const mnemonic = await p.create(pass);
    const file = join(this.config.netdir, 'keystore-mnemonic.txt');
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.writeFile(`${mnemonic}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.log.warn(
      { keystore: this.config.path('hsm.keystore'), mnemonic_file: file },
      'created a new keystore from hsm.passphrasefile; its recovery words are in mnemonic_file: write them down, then delete the file',
    );
    return true;
  }

  async close(): Promise<void> {
    if (this.pendingTimer) clearInterval(this.pendingTimer);
    await this.audit.close();
    this.dataKey?.fill(0);
    this.dataKey = undefined;
    await this.provider?.close();
    this.cell.set('stopped', 'closed');
  }

  /** Lets another room veto signatures (e.g. the ML room's transaction risk). */
  addVeto(name: string, veto: Veto): void {
    this.policy.addVeto(name, veto);
  }

  private need(): KeyProvider {
    if (!this.provider) throw rpcError('BackendUnavailable', 'the HSM is not open', { service: 'hsm' });
    return this.provider;
  }

  /** Writes an event's operations with its audit entry; `issued` is called once the writes are on their way. */
  private async record(
    event: AuditEntry['event'],
    key: string | null,
    detail: Record<string, unknown>,
    extra: BatchOp[] = [],
    issued?: () => void,
  ): Promise<void> {
    if (!this.config.bool('hsm.audit')) {
      const written = this.store.batch(extra);
      issued?.();
      await written;
    } else await this.audit.append(event, key, detail, extra, issued);
    for (const op of extra) if (op.type === 'put' && op.sublevel === this.db && op.key.startsWith('k:')) this.cache.set(op.key.slice(2), op.value as KeyRecord);
    this.policy.written(extra);
  }

  async keys(): Promise<KeyRecord[]> {
    const out: KeyRecord[] = [];
    for await (const [, v] of this.db.iterator({ gte: 'k:', lt: 'k;' })) out.push(v as KeyRecord);
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  /** Key records are few and read on every signature: kept in memory, written through to LevelDB. */
  private readonly cache = new Map<string, KeyRecord>();

  async key(id: string): Promise<KeyRecord> {
    let k = this.cache.get(id);
    if (!k) {
      k = (await this.db.get(`k:${id}`)) as KeyRecord | undefined;
      if (!k) throw rpcError('NotFound', `no key ${id}`);
      // (A write that landed while this read ran is newer than what it read.)
      const written = this.cache.get(id);
      if (written) return written;
      this.cache.set(id, k);
    }
    return k;
  }

  /** The write of a key record; the cache is updated once the batch holding it is written (see record()). */
  private putKey(k: KeyRecord): BatchOp {
    return { type: 'put', sublevel: this.db, key: `k:${k.id}`, value: k };
  }

  /**
   * Creates a key. An intent naming the handle is durable before the provider makes the key, so a crash between
   * the two leaves an orphan that the next start finds (adoptOrphans) instead of a key nobody knows of.
   */
  async generateKey(
    label: string,
    curve: Curve,
    group: string | null,
    opts: {
      predecessor?: string;
      /** Writes that belong with the new key (a rotation's policy carried over), in its batch. */
      withKey?: (rec: KeyRecord) => BatchOp[];
      /** A contract key (HsmApi.generateKey): its group is the kind's unless one is named. */
      contractKind?: ContractKind;
    } = {},
  ): Promise<KeyRecord> {
    const { predecessor, withKey = () => [], contractKind } = opts;
    if (contractKind) group ??= contractKind;
    const p = this.need();
    return this.locks.run('keygen', async () => {
      try {
        const handle = p.kind === 'pkcs11' ? randomBytes(16).toString('hex') : undefined;
        const intent = `gi:${handle ?? 'keystore'}`;
        if (handle) await this.store.batch([{ type: 'put', sublevel: this.db, key: intent, value: { label, curve, group, time: new Date().toISOString() } }]);
        const pk = await p.generateKey(label, curve, handle);
        const rec: KeyRecord = {
          id: keyIdOf(pk.publicKey),
          label,
          group,
          provider: p.kind,
          handle: pk.handle,
          curve,
          public_key: pk.publicKey,
          state: 'active',
          created: new Date().toISOString(),
          ...(predecessor ? { predecessor } : {}),
          ...(contractKind ? { contract_kind: contractKind } : {}),
        };
        await this.record(
          'generate',
          rec.id,
          { label, curve, group, provider: p.kind, ...(predecessor ? { predecessor } : {}), ...(contractKind ? { contract_kind: contractKind } : {}) },
          [this.putKey(rec), ...withKey(rec), ...(handle ? [{ type: 'del' as const, sublevel: this.db, key: intent }] : [])],
        );
        return rec;
      } catch (err) {
        throw providerError(err);
      }
    });
  }

  /**
   * Keys the provider holds that the registry does not: made just before a crash, never acknowledged to anyone, so
   * nothing can have been paid to them. They are registered disabled (refuse rather than guess) and audited.
   */
  private async adoptOrphans(): Promise<void> {
    const p = this.need();
    const known = new Set((await this.keys()).filter((k) => k.provider === p.kind).map((k) => k.handle));
    const intents = new Map<string, { label: string; group: string | null }>();
    for await (const [k, v] of this.db.iterator({ gte: 'gi:', lt: 'gi;' })) intents.set(k.slice(3), v as { label: string; group: string | null });
    let held;
    try {
      held = await p.listKeys();
    } catch {
      return;
    }
    for (const pk of held) {
      if (known.has(pk.handle)) continue;
      // On a token, only keys anyad said it was making are its own (others may share the token).
      const intent = intents.get(pk.handle);
      if (p.kind === 'pkcs11' && !intent) continue;
      const rec: KeyRecord = {
        id: keyIdOf(pk.publicKey),
        label: intent?.label ?? 'orphan',
        group: intent?.group ?? null,
        provider: p.kind,
        handle: pk.handle,
        curve: pk.curve,
        public_key: pk.publicKey,
        state: 'disabled',
        created: new Date().toISOString(),
      };
      this.log.warn({ key: rec.id, handle: pk.handle }, 'HSM: a key made before a crash was never registered; registered as disabled');
      await this.record('orphan', rec.id, { handle: pk.handle, state: 'disabled' }, [
        this.putKey(rec),
        ...(intent ? [{ type: 'del' as const, sublevel: this.db, key: `gi:${pk.handle}` }] : []),
      ]);
    }
    for (const h of intents.keys()) if (known.has(h)) await this.store.batch([{ type: 'del', sublevel: this.db, key: `gi:${h}` }]);
  }

  private subjectsOf(k: KeyRecord): string[] {
    return [`key:${k.id}`, ...(k.group ? [`group:${k.group}`] : [])];
  }

  /** Signs a 32-byte digest with an active key, unless a policy on the key forbids raw signing. */
  async sign(id: string, digest: Buffer, scheme: Scheme, caller: string, contract?: ContractSigning): Promise<Buffer> {
    return this.signDigest(id, digest, caller, { scheme }, (p, handle) => p.sign(handle, digest, scheme), true, contract);
  }

  /** Why this HSM cannot make ECDSA adaptor signatures (a token's mechanism signs plain ECDSA only), or undefined. */
  adaptorRefusal(): string | undefined {
    return this.keystoreOnly('make ECDSA adaptor signatures', 'DLC keys', (p) => p.adaptorSign !== undefined);
  }

  /** Why this HSM cannot sign with tweaked keys or derive seeds (BOLT 3 channel keys), or undefined. */
  channelRefusal(): string | undefined {
    return this.keystoreOnly('sign with BOLT 3 tweaked keys', 'State channel keys', (p) => p.tweakedSign !== undefined && p.derivedSecret !== undefined);
  }

  private keystoreOnly(what: string, whose: string, can: (p: KeyProvider) => boolean): string | undefined {
    const provider = this.need();
    return can(provider)
      ? undefined
      : `the ${provider.kind} provider cannot ${what} (a token's ECDSA mechanism signs with its key as it is); ${whose} need the software keystore (hsm.provider=software)`;
  }

  /** ECDSA with the key as (k·mul + add) mod n (BOLT 3 per-commitment and revocation keys): gated and audited as hsm.sign. */
  async tweakedSign(id: string, digest: Buffer, tweak: { mul?: Buffer; add?: Buffer }, caller: string, contract?: ContractSigning): Promise<Buffer> {
    const refusal = this.channelRefusal();
    if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
    const mul = tweak.mul ?? Buffer.from('01'.padStart(64, '0'), 'hex');
    const add = tweak.add ?? Buffer.alloc(32);
    return this.signDigest(id, digest, caller, { scheme: 'ecdsa-tweaked' }, (p, handle) => p.tweakedSign!(handle, digest, mul, add), false, contract);
  }

  /** A secret derived from the key and a label (a channel's per-commitment seed), audited as a use of the key. */
  async derivedSecret(id: string, label: string, caller: string): Promise<Buffer> {
    const refusal = this.channelRefusal();
    if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
    const digest = createHash('sha256').update(label).digest();
    return this.signDigest(id, digest, caller, { scheme: 'derived-secret' }, (p, handle) => p.derivedSecret!(handle, Buffer.from(label)));
  }

  /**
   * ECDSA adaptor signatures (a DLC's CETs) of many digests, each under its encryption point, with a key of the
   * keystore: one pass of sign()'s key-state and policy gates and one audit entry, which names their count and a
   * SHA-256 over every (digest, point) pair in order; a DLC with a thousand CETs costs one synced write, not a
   * thousand, and the signatures are returned once the entry is durable.
   */
  async adaptorSignAll(id: string, items: Array<{ point: Buffer; digest: Buffer }>, caller: string, contract?: ContractSigning): Promise<Buffer[]> {
    const refusal = this.adaptorRefusal();
    if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
    // The entry's digest is a SHA-256 over every (digest, point) pair in order: one 32-byte name for all of them.
    const h = createHash('sha256');
    for (const x of items) h.update(x.digest).update(x.point);
    const out: Buffer[] = [];
    // (With a context, its spends_sat is counted once for the call: the adaptor signatures are alternatives, of
    // which one CET at most is ever completed.)
    await this.signDigest(
      id,
      h.digest(),
      caller,
      { scheme: 'ecdsa-adaptor', count: items.length },
      async (p, handle) => {
        // Off the event loop where the provider can (the keystore's worker threads): a contract's thousands of CETs
        // at ~15 ms each would otherwise hold every RPC of every room for the whole call (issue 26 item 6).
        if (p.adaptorSignAll) for (const sig of await p.adaptorSignAll(handle, items)) out.push(Buffer.from(sig));
        else for (const x of items) out.push(Buffer.from(await p.adaptorSign!(handle, x.point, x.digest)));
        return out[0] ?? new Uint8Array();
      },
      false,
      contract,
    );
    return out;
  }

  /**
   * One signature of a digest under the key's lock: an active key, due policies applied, raw signing allowed by
   * them, then the provider's signature, returned once its audit entry is durable; a refusal is audited too.
   */
  private async signDigest(
    id: string,
    digest: Buffer,
    caller: string,
    detail: Record<string, unknown>,
    make: (p: KeyProvider, handle: string) => Promise<Uint8Array>,
    /** `make` is the provider's sign(), which may run off this thread (KeyProvider.signsOffThread). */
    providerSign = false,
    /** The contract this signature is for (contract.ts): its rule instead of the raw-signing rule. */
    contract?: ContractSigning,
  ): Promise<Buffer> {
    const bad = contract && contractProblem(contract);
    if (bad) throw rpcError('InvalidParams', bad);
    // The subjects follow from the key's group, which never changes; its state does (hsm.rotatekey, disablekey),
    // so it is read again inside the critical section those take too (issue 26 item 10).
    const subjects = this.subjectsOf(await this.key(id));
    return this.locks.run(subjects, async () => {
      const k = await this.key(id);
      if (k.state !== 'active') {
        await this.record('deny', id, { rule: `key_${k.state}`, caller });
        throw rpcError('PolicyDenied', `key ${id} is ${k.state}${k.successor ? `; its successor is ${k.successor}` : ''}: it verifies but no longer signs`, {
          rule: `key_${k.state}`,
        });
      }
      for (const s of subjects) await this.applyDue(s);
      const ctx = contract ? contractDetail(contract) : {};
      let denial: { rule: string; message: string; subject?: string } | undefined;
      if (!contract) {
        // (A derived secret of a contract key, a channel's per-commitment seed, signs nothing: no raw-signing rule.)
        if (!(k.contract_kind && detail.scheme === 'derived-secret')) denial = await this.policy.rawSignDenial(subjects);
      } else if (!k.contract_kind)
        denial = {
          rule: 'contract_key',
          subject: `key:${id}`,
          message: `key ${id} was not made for a contract (HsmApi.generateKey), so it signs no contract's digests`,
        };
      else if (k.contract_kind !== contract.kind)
        denial = { rule: 'contract_kind', subject: `key:${id}`, message: `key ${id} is a ${k.contract_kind} key; the signature is for a ${contract.kind}` };
      else denial = await this.policy.contractDenial(subjects, contract.spends_sat);
      if (denial) {
        await this.record('deny', id, { rule: denial.rule, subject: denial.subject, digest: digest.toString('hex'), caller, ...ctx });
        throw rpcError('PolicyDenied', `policy denied the signature: ${denial.message}`, { rule: denial.rule, subject: denial.subject ?? null });
      }
      const provider = this.need();
      return this.signAudited(
        id,
        caller,
        { ...detail, digest: digest.toString('hex'), caller, ...ctx },
        () => make(provider, k.handle),
        providerSign && provider.signsOffThread === true,
        // The velocity counters in the entry's own batch, inside this critical section.
        contract ? this.policy.recordOps({ subjects, amount_sat: contract.spends_sat }) : [],
      );
    });
  }

  /**
   * The signature and its audit entry side by side, returned only once the entry is durable. Where the provider
   * signs on the thread pool (a token's C_Sign), the signature is started first and the entry prepared and written
   * while it runs; where it signs on this thread (the keystore's ECDSA), the entry's commit is issued first, so its
   * synced writes run on the thread pool meanwhile. A signature that then fails leaves its entry followed by a
   * sign_failed entry, so the log never shows a signature that was not made without saying so.
   */
  private async signAudited(
    id: string,
    caller: string,
    detail: Record<string, unknown>,
    sign: () => Promise<Uint8Array>,
    offThread: boolean,
    extra: BatchOp[] = [],
  ): Promise<Buffer> {
    let signing: Promise<Uint8Array> | undefined;
    if (offThread) {
      signing = (async () => sign())();
      signing.catch(() => undefined); // settled below, after the entry's commit
    }
    let issued!: () => void;
    const onTheirWay = new Promise<void>((r) => (issued = r));
    const audited = this.record('sign', id, detail, extra, issued);
    if (!signing) {
      // (A commit that fails before its writes settles `audited` without calling `issued`.)
      await Promise.race([onTheirWay, audited.catch(() => undefined)]);
      signing = (async () => sign())();
    }
    const [signed, entry] = await Promise.allSettled([signing, audited]);
    if (entry.status === 'rejected') throw signed.status === 'rejected' ? providerError(signed.reason) : entry.reason;
    if (signed.status === 'rejected') {
      const err = providerError(signed.reason);
      await this.record('sign_failed', id, { caller, reason: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
      throw err;
    }
    return Buffer.from(signed.value);
  }

  /** A token's data key for secrets at rest, once unwrapped (wiped at close). */
  private dataKey: Buffer | undefined;

  /**
   * The key secrets at rest are sealed with (seal.ts): the keystore's (Locked while it is locked); on a token the
   * data key, unwrapped from the hsm sublevel, or made, wrapped and written (audited) before its first use.
   */
  private async sealingKey(create: boolean): Promise<Uint8Array | undefined> {
    const p = this.need();
    if (p.sealingKey) return p.sealingKey();
    if (!p.wrapDataKey || !p.unwrapDataKey) throw new ProviderUnsupportedError(`the ${p.kind} provider cannot seal secrets`);
    if (this.dataKey) return this.dataKey;
    return this.locks.run('secrets', async () => {
      if (this.dataKey) return this.dataKey;
      const stored = (await this.db.get('sk:data')) as { wrapped: string } | undefined;
      if (stored) return (this.dataKey = await p.unwrapDataKey!(Buffer.from(stored.wrapped, 'base64')));
      if (!create) return undefined;
      const fresh = randomBytes(32);
      const wrapped = await p.wrapDataKey!(fresh);
      // Durable before the first value sealed under it can be handed out.
      await this.record('secret', null, { made: 'data key for secrets at rest', provider: p.kind }, [
        { type: 'put', sublevel: this.db, key: 'sk:data', value: { wrapped: wrapped.toString('base64'), created: new Date().toISOString() } },
      ]);
      return (this.dataKey = fresh);
    });
  }

  /** HsmApi.sealSecret: the plaintext sealed for the purpose (seal.ts). */
  async sealSecret(purpose: string, plaintext: Buffer): Promise<string> {
    const problem = purposeProblem(purpose);
    if (problem) throw rpcError('InvalidParams', problem);
    try {
      return seal((await this.sealingKey(true))!, purpose, plaintext);
    } catch (err) {
      throw providerError(err);
    }
  }

  /** HsmApi.openSecret: the plaintext, or InvalidParams when the value was not sealed here for this purpose, or was changed. */
  async openSecret(purpose: string, sealed: string): Promise<Buffer> {
    const problem = purposeProblem(purpose);
    if (problem) throw rpcError('InvalidParams', problem);
    let key: Uint8Array | undefined;
    try {
      key = await this.sealingKey(false);
    } catch (err) {
      throw providerError(err);
    }
    const plain = key && openSealed(key, purpose, sealed);
    if (!plain)
      throw rpcError(
        'InvalidParams',
        `cannot open the sealed value for purpose '${purpose}': it was sealed for another purpose or under another keystore or token, or it was changed`,
      );
    return plain;
  }

  async verify(id: string, digest: Buffer, signature: Buffer, scheme: Scheme): Promise<boolean> {
    const k = await this.key(id);
    return verifySignature(k.curve, scheme, k.public_key, digest, signature);
  }

  private signingKeys(keys: KeyRecord[]): SigningKey[] {
    const p = this.need();
    const schnorr = p.status().schnorr;
    return keys
      .filter((k) => (k.state === 'active' || k.state === 'retired') && k.curve === 'secp256k1' && k.provider === p.kind)
      .map((k) => ({
        id: k.id,
        publicKey: Buffer.from(k.public_key, 'hex'),
        schnorr,
        sign: (digest, scheme, tapTweak) =>
          p instanceof SoftwareProvider ? p.sign(k.handle, digest, scheme, tapTweak ? { tapTweak } : {}) : p.sign(k.handle, digest, scheme),
      }));
  }

  /** The successors of a retired key, newest last (a sweep may pay any of them). */
  private successors(k: KeyRecord, byId: Map<string, KeyRecord>): KeyRecord[] {
    const out: KeyRecord[] = [];
    for (let s = k.successor ? byId.get(k.successor) : undefined; s && out.length < 100; s = s.successor ? byId.get(s.successor) : undefined) out.push(s);
    return out;
  }

  /**
   * Change, by rule: the keys of the signing key's own group (the key itself when it has none), of the configured
   * change group, and a retired key's successors. An output is change only when it is change for every signing key.
   */
  private changeScripts(signer: KeyRecord, all: KeyRecord[], byId: Map<string, KeyRecord>): Buffer[] {
    const schnorr = this.need().status().schnorr;
    // A retired key's only change is its successor: what it holds is swept, nowhere else.
    const mates =
      signer.state === 'retired'
        ? []
        : all.filter(
            (k) =>
              k.curve === 'secp256k1' &&
              k.state !== 'disabled' &&
              (k.id === signer.id ||
                (signer.group !== null && k.group === signer.group) ||
                (this.settings.changeGroup !== undefined && k.group === this.settings.changeGroup)),
          );
    return [...mates, ...this.successors(signer, byId)].flatMap((k) =>
      ownScripts(Buffer.from(k.public_key, 'hex'), this.network, schnorr && k.provider === this.need().kind),
    );
  }

  /** Signs what it can of a PSBT after the policy (and any veto) allowed the spend. */
  async signPsbt(
    base64: string,
    caller: string,
    /** A contract's funding (contract.ts): its spends_sat is the amount the policy counts, named in the audit entry. */
    contract?: ContractSigning,
  ): Promise<{ psbt: string; txid: string | null; signed: number[]; keys: string[]; amount_sat: number; fee_sat: number; feerate_sat_vb: number }> {
    const bad = contract && contractProblem(contract);
    if (bad) throw rpcError('InvalidParams', bad);
    const all = await this.keys();
    let plan;
    try {
      plan = planPsbt(base64, this.network, this.signingKeys(all));
    } catch (err) {
      if (err instanceof PsbtError) throw rpcError('InvalidParams', err.message);
      throw err;
    }
    const txid = txidOf(plan.psbt);
    if (plan.inputs.length === 0) return { psbt: base64, txid, signed: [], keys: [], amount_sat: 0, fee_sat: Number(plan.fee_sat), feerate_sat_vb: 0 };
    // The subjects follow from the signing keys' groups, which never change; the keys' states (and so what counts
    // as change: a retired key's is its successor only) are read inside the critical section (issue 26 item 10).
    const subjects = [...new Set(plan.keys.flatMap((id) => this.subjectsOf(all.find((k) => k.id === id)!)))];
    return this.locks.run(subjects, async () => {
      const now = await this.keys();
      const byId = new Map(now.map((k) => [k.id, k]));
      const signers = plan.keys.map((id) => byId.get(id)!);
      const change = signers.map((k) => this.changeScripts(k, now, byId));
      const outputs = plan.outputs.map((o) => ({
        address: o.address,
        own: change.every((set) => set.some((s) => s.equals(o.script))),
        value_sat: o.value_sat,
      }));
      const facts: SpendFacts = {
        psbt: base64,
        subjects,
        // A contract's funding pays into an output both sides hold, beside the counterparty's inputs and change: what
        // this side moves away is what its room says (spends_sat), not every output that is not its own.
        amount_sat: contract ? contract.spends_sat : outputs.filter((o) => !o.own).reduce((a, o) => a + o.value_sat, 0),
        fee_sat: Number(plan.fee_sat),
        feerate_sat_vb: Math.round((Number(plan.fee_sat) / plan.vsize) * 100) / 100,
        fee_verified: plan.fee_verified,
        sighash_types: plan.sighash_types,
        outputs,
      };
      const summary = {
        txid,
        outputs: outputs.map((o) => ({ address: o.address, value_sat: o.value_sat, change: o.own })),
        amount_sat: facts.amount_sat,
        fee_sat: facts.fee_sat,
        caller,
        ...(contract ? contractDetail(contract) : {}),
      };
      for (const s of subjects) await this.applyDue(s);
      let denial: { rule: string; message: string; subject?: string } | undefined;
      const disabled = signers.find((k) => k.state === 'disabled');
      if (disabled) denial = { rule: 'key_disabled', subject: `key:${disabled.id}`, message: `key ${disabled.id} is disabled` };
      const retired = signers.find((k) => k.state === 'retired');
      if (!denial && retired && outputs.some((o) => !o.own))
        denial = {
          rule: 'retired_sweep',
          subject: `key:${retired.id}`,
          message: `key ${retired.id} is retired: it signs only a sweep to its successor ${retired.successor ?? '(none)'}`,
        };
      denial ??= await this.policy.evaluate(facts);
      if (denial) {
        await this.record('deny', plan.keys[0] ?? null, { rule: denial.rule, subject: denial.subject, ...summary });
        throw rpcError('PolicyDenied', `policy denied the signature: ${denial.message}`, { rule: denial.rule, subject: denial.subject ?? null });
      }
      let signed: number[];
      try {
        signed = await signPlanned(plan, this.network);
      } catch (err) {
        throw providerError(err);
      }
      // The signature leaves anyad only once the counters and the audit entry that account for it are durable.
      const finalTxid = txidOf(plan.psbt);
      await this.record('sign', plan.keys[0] ?? null, { psbt_inputs: signed, keys: plan.keys, ...summary, txid: finalTxid }, this.policy.recordOps(facts));
      return {
        psbt: plan.psbt.toBase64(),
        txid: finalTxid,
        signed,
        keys: plan.keys,
        amount_sat: facts.amount_sat,
        fee_sat: facts.fee_sat,
        feerate_sat_vb: facts.feerate_sat_vb,
      };
    });
  }

  /** Makes a successor key, retires the old one (it still verifies; it signs only a sweep to its successor) and carries its policy over. */
  /**
   * In the old key's critical section (the one its signatures take): its state checked there, so of concurrent
   * rotations one makes a successor and the others are refused, and no signature of the old key is made once it is
   * retired. The successor is written with its policy in one batch, so it never signs without it.
   */
  async rotate(id: string): Promise<KeyRecord> {
    const subjects = this.subjectsOf(await this.key(id));
    return this.locks.run(subjects, async () => {
      const old = await this.key(id);
      if (old.state !== 'active') throw rpcError('Conflict', `key ${id} is ${old.state}; only an active key is rotated`);
      const policy = await this.policy.get(`key:${id}`);
      const next = await this.generateKey(old.label, old.curve, old.group, {
        predecessor: id,
        withKey: (rec) => (policy ? this.policy.setOps(`key:${rec.id}`, policy) : []),
        contractKind: old.contract_kind,
      });
      await this.record('rotate', id, { successor: next.id }, [this.putKey({ ...old, state: 'retired', successor: next.id })]);
      return next;
    });
  }

  async disable(id: string): Promise<KeyRecord> {
    return this.locks.run(this.subjectsOf(await this.key(id)), async () => {
      const k = await this.key(id);
      try {
        if (k.provider === this.need().kind) await this.need().disableKey(k.handle);
      } catch (err) {
        throw providerError(err);
      }
      const rec: KeyRecord = { ...(await this.key(id)), state: 'disabled' };
      await this.record('disable', id, {}, [this.putKey(rec)]);
      return rec;
    });
  }

  private announce(
    state: 'applied' | 'pending' | 'effective' | 'cancelled',
    subject: string,
    policy: Policy | null,
    extra: Record<string, unknown> = {},
  ): void {
    this.bus.publish(HSM_POLICY, { subject, state, policy, ...extra });
  }

  /**
   * Sets (or, with null, removes) a policy. What tightens applies at once; what loosens waits hsm.policydelay,
   * meanwhile the meet of old and new applies. A later request replaces a pending one.
   */
  async setPolicy(subject: string, next: Policy | null, caller: string): Promise<{ policy: Policy | null; pending: PendingPolicy | null }> {
    return this.locks.run(subject, async () => {
      await this.applyDue(subject);
      const current = await this.policy.get(subject);
      const loosens = loosening(current, next);
      const keyOf = subject.startsWith('key:') ? subject.slice(4) : null;
      const hadPending = await this.policy.pending(subject);
      if (loosens.length === 0 || this.settings.policyDelaySec === 0) {
        await this.record('policy', keyOf, { subject, policy: next, caller, ...(loosens.length ? { loosens } : {}) }, [
          ...this.policy.setOps(subject, next),
          ...(hadPending ? this.policy.pendingOps(subject, null) : []),
        ]);
        this.announce('applied', subject, next);
        return { policy: next, pending: null };
      }
      const now = Date.now();
      const pending: PendingPolicy = {
        subject,
        policy: next,
        requested: new Date(now).toISOString(),
        effective_at: new Date(now + this.settings.policyDelaySec * 1000).toISOString(),
        caller,
        loosens,
      };
      const interim = meet(current, next);
      await this.record('policy_pending', keyOf, { ...pending, interim }, [
        ...this.policy.setOps(subject, interim),
        ...this.policy.pendingOps(subject, pending),
      ]);
      this.announce('pending', subject, next, { effective_at: pending.effective_at, loosens, interim });
      return { policy: interim, pending };
    });
  }

  async cancelPolicy(subject: string, caller: string): Promise<PendingPolicy> {
    return this.locks.run(subject, async () => {
      await this.applyDue(subject);
      const pending = await this.policy.pending(subject);
      if (!pending) throw rpcError('NotFound', `no pending policy change for ${subject}`);
      await this.record(
        'policy_cancelled',
        subject.startsWith('key:') ? subject.slice(4) : null,
        { subject, caller, requested: pending.requested },
        this.policy.pendingOps(subject, null),
      );
      this.announce('cancelled', subject, pending.policy);
      return pending;
    });
  }

  /** Inside the subject's lock: a pending loosening whose time has come takes effect. */
  private async applyDue(subject: string, now = Date.now()): Promise<void> {
    const pending = await this.policy.pending(subject);
    if (!pending || Date.parse(pending.effective_at) > now) return;
    await this.record(
      'policy_effective',
      subject.startsWith('key:') ? subject.slice(4) : null,
      { subject, policy: pending.policy, requested: pending.requested, caller: pending.caller },
      [...this.policy.setOps(subject, pending.policy), ...this.policy.pendingOps(subject, null)],
    );
    this.announce('effective', subject, pending.policy);
  }

  private async applyDuePolicies(): Promise<void> {
    for (const p of await this.policy.allPending()) await this.locks.run(p.subject, () => this.applyDue(p.subject));
  }

  private software(): SoftwareProvider {
    const p = this.need();
    if (!(p instanceof SoftwareProvider) || p.kind !== 'software') throw rpcError('Unsupported', `the ${p.kind} provider has no keystore to lock or unlock`);
    return p;
  }

  async unlock(passphrase: string, timeoutSec: number, caller: string): Promise<void> {
    try {
      await this.software().unlock(passphrase, timeoutSec);
    } catch (err) {
      if (err instanceof RpcError) throw err;
      await this.record('deny', null, { rule: 'unlock_failed', caller });
      // Whatever the cause (wrong passphrase, damaged file), the keystore stays locked.
      throw err instanceof ProviderError ? rpcError('Locked', err.message) : err;
    }
    await this.record('unlock', null, { timeout_s: timeoutSec, caller });
    await this.adoptOrphans();
  }

  async lock(caller: string): Promise<void> {
    this.software().lock();
    await this.record('lock', null, { caller });
  }

  /** Creates the keystore; answers its recovery words, this once. */
  async createKeystore(passphrase: string, caller: string): Promise<string> {
    const problem = passphraseProblem(passphrase);
    if (problem) throw rpcError('InvalidParams', problem);
    let mnemonic: string;
    try {
      mnemonic = await this.software().create(passphrase);
    } catch (err) {
      throw err instanceof ProviderError ? rpcError('Conflict', err.message) : err;
    }
    await this.record('create', null, { caller });
    return mnemonic;
  }
}
