// What the HSM room's modules share: the provider once open, the key registry (records in the hsm sublevel, kept in
// memory), the policy engine, the audit log, the locks, and record(), which writes an event with its audit entry.
// The modules (keys, signing, psbt-signing, policy-changes, lifecycle, sealing) are functions over this context;
// the HsmService wires them.

import { join } from 'node:path';
import type * as bitcoin from 'bitcoinjs-lib';
import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import { rpcError, RpcError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import { KeyedLock } from '../core/keyed-lock.js';
import type { BatchOp, RoomDb, Store } from '../core/store.js';
import { AuditLog, type AuditEntry } from './audit.js';
import type { ContractKind } from './contract.js';
import { PolicyEngine } from './policy.js';
import { ProviderError, ProviderLockedError, ProviderMismatchError, ProviderUnsupportedError, type Curve, type KeyProvider } from './provider.js';

/**
 * What the service writes through: the store's synced, atomic batch (a test may pass a wrapper that fails it), and
 * the notes the state keeps of itself (an accepted state's, recorded in the audit log).
 */
export type HsmStore = Pick<Store, 'batch' | 'notes'>;

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

/** Everything the HSM service is made of (named, for its one constructor argument). */
export interface HsmServiceOptions {
  /** The provider kinds to try, in order (hsm.provider). */
  kinds: string[];
  config: Config;
  db: RoomDb;
  store: HsmStore;
  network: bitcoin.Network;
  log: Logger;
  bus: EventBus;
  settings: HsmSettings;
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

/** The policy subjects a key's signatures count against: the key, and its group when it has one. */
export const subjectsOf = (k: KeyRecord): string[] => [`key:${k.id}`, ...(k.group ? [`group:${k.group}`] : [])];

export class HsmContext {
  readonly kinds: string[];
  readonly config: Config;
  readonly db: RoomDb;
  readonly store: HsmStore;
  readonly network: bitcoin.Network;
  readonly log: Logger;
  readonly bus: EventBus;
  readonly settings: HsmSettings;
  readonly audit: AuditLog;
  readonly policy: PolicyEngine;
  /**
   * Concurrency: every evaluate -> sign -> count runs in one critical section per policy subject (key:<id>,
   * group:<name>), and policy changes take the same lock, so concurrent callers over the socket see what one caller
   * after another would see. Key generation ('keygen') and the data key ('secrets') are one writer at a time.
   */
  readonly locks = new KeyedLock();
  /** The provider, once open. */
  provider: KeyProvider | undefined;
  /** A token's data key for secrets at rest, once unwrapped (sealing.ts; wiped at close). */
  dataKey: Buffer | undefined;
  /** Key records are few and read on every signature: kept in memory, written through to LevelDB. */
  private readonly cache = new Map<string, KeyRecord>();

  constructor(o: HsmServiceOptions) {
    ({
      kinds: this.kinds,
      config: this.config,
      db: this.db,
      store: this.store,
      network: this.network,
      log: this.log,
      bus: this.bus,
      settings: this.settings,
    } = o);
    this.audit = new AuditLog({
      db: o.db,
      headFile: join(o.config.netdir, 'hsm-audit.head'),
      mac: (data) => this.provider?.auditMac(data) ?? Promise.resolve(undefined),
      write: (ops) => this.store.batch(ops),
      onHeadError: (err) => this.log.warn({ err }, 'HSM audit head file not brought up to date (it lags; retried with the next entry)'),
    });
    this.policy = new PolicyEngine(o.db);
  }

  need(): KeyProvider {
    if (!this.provider) throw rpcError('BackendUnavailable', 'the HSM is not open', { service: 'hsm' });
    return this.provider;
  }

  /** Writes an event's operations with its audit entry; `issued` is called once the writes are on their way. */
  async record(event: AuditEntry['event'], key: string | null, detail: Record<string, unknown>, extra: BatchOp[] = [], issued?: () => void): Promise<void> {
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
  putKey(k: KeyRecord): BatchOp {
    return { type: 'put', sublevel: this.db, key: `k:${k.id}`, value: k };
  }
}
