// The HSM service: one key provider, the key registry (labels, groups, lifecycle: active, retired, disabled) in the
// hsm sublevel, the signing policy, and the audit log. Every key event is written together with its audit entry.

import { createHash } from 'node:crypto';
import type * as bitcoin from 'bitcoinjs-lib';
import type { Logger } from 'pino';
import type { Config } from '../daemon/config.js';
import { HealthCell, type Service } from '../core/service.js';
import { rpcError, RpcError } from '../rpc/errors.js';
import type { BatchOp, RoomDb, Store } from '../store/store.js';
import { AuditLog } from './audit.js';
import { verifySignature } from './ecdsa.js';
import { startProvider } from './factory.js';
import { PolicyEngine, type Policy, type Veto } from './policy.js';
import { ProviderError, ProviderLockedError, type Curve, type KeyProvider, type Scheme } from './provider.js';
import { planPsbt, PsbtError, signPlanned, type SigningKey } from './psbt.js';
import { SoftwareProvider } from './software.js';

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
}

/** Maps provider failures to the caller's error codes. */
export function providerError(err: unknown): unknown {
  if (err instanceof RpcError) return err;
  if (err instanceof ProviderLockedError) return rpcError('Locked', err.message);
  if (err instanceof ProviderError) return rpcError(/^no (private )?key/.test(err.message) ? 'NotFound' : 'BackendUnavailable', err.message, { service: 'hsm' });
  return err;
}

export class HsmService implements Service {
  readonly name = 'hsm';
  private readonly cell = new HealthCell('starting', 'opening the key provider');
  provider: KeyProvider | undefined;
  readonly audit: AuditLog;
  readonly policy: PolicyEngine;

  constructor(
    private readonly kinds: string[],
    private readonly config: Config,
    private readonly db: RoomDb,
    private readonly store: Store,
    private readonly network: bitcoin.Network,
    private readonly log: Logger,
  ) {
    this.audit = new AuditLog(db);
    this.policy = new PolicyEngine(db);
  }

  health(): ReturnType<HealthCell['get']> {
    const s = this.provider?.status();
    if (s) this.cell.set(s.ready ? 'ok' : 'degraded', s.detail);
    return this.cell.get();
  }

  /** Opens the provider and runs the readiness self-test: every usable active key signs and verifies a fresh digest. */
  async open(): Promise<void> {
    await this.audit.load();
    this.provider = await startProvider(this.kinds, this.config, this.log, () => void this.record('lock', null, { reason: 'unlock timeout' }));
    const st = this.provider.status();
    if (st.ready) {
      const keys = (await this.keys()).filter((k) => k.state === 'active' && k.provider === st.kind);
      for (const k of keys) {
        try {
          await this.provider.healthCheck(k.handle);
        } catch (err) {
          throw new Error(`HSM self-test failed for key ${k.id} (${k.label}): ${(err as Error).message}`);
        }
      }
      this.log.info({ provider: st.kind, keys: keys.length }, 'HSM ready; self-test passed');
    } else this.log.info({ provider: st.kind, detail: st.detail }, 'HSM open but locked');
  }

  async close(): Promise<void> {
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

  private async record(event: Parameters<AuditLog['append']>[0], key: string | null, detail: Record<string, unknown>, extra: BatchOp[] = []): Promise<void> {
    if (!this.config.bool('hsm.audit')) await this.store.batch(extra);
    else await this.audit.append(event, key, detail, (ops) => this.store.batch(ops), extra);
    for (const op of extra) if (op.type === 'put' && op.sublevel === this.db && op.key.startsWith('k:')) this.cache.set(op.key.slice(2), op.value as KeyRecord);
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
      this.cache.set(id, k);
    }
    return k;
  }

  /** The write of a key record; the cache is updated once the batch holding it is written (see record()). */
  private putKey(k: KeyRecord): BatchOp {
    return { type: 'put', sublevel: this.db, key: `k:${k.id}`, value: k };
  }

  async generateKey(label: string, curve: Curve, group: string | null, predecessor?: string): Promise<KeyRecord> {
    const p = this.need();
    try {
      const pk = await p.generateKey(label, curve);
      const rec: KeyRecord = {
        id: createHash('sha256').update(pk.publicKey).digest('hex').slice(0, 16),
        label,
        group,
        provider: p.kind,
        handle: pk.handle,
        curve,
        public_key: pk.publicKey,
        state: 'active',
        created: new Date().toISOString(),
        ...(predecessor ? { predecessor } : {}),
      };
      await this.record('generate', rec.id, { label, curve, group, provider: p.kind }, [this.putKey(rec)]);
      return rec;
    } catch (err) {
      throw providerError(err);
    }
  }

  /** Signs a 32-byte digest with an active key. */
  async sign(id: string, digest: Buffer, scheme: Scheme, caller: string): Promise<Buffer> {
    const k = await this.key(id);
    if (k.state !== 'active') {
      await this.record('deny', id, { rule: `key_${k.state}`, caller });
      throw rpcError('PolicyDenied', `key ${id} is ${k.state}${k.successor ? `; its successor is ${k.successor}` : ''}: it verifies but no longer signs`, { rule: `key_${k.state}` });
    }
    try {
      const sig = Buffer.from(await this.need().sign(k.handle, digest, scheme));
      await this.record('sign', id, { scheme, digest: digest.toString('hex'), caller });
      return sig;
    } catch (err) {
      throw providerError(err);
    }
  }

  async verify(id: string, digest: Buffer, signature: Buffer, scheme: Scheme): Promise<boolean> {
    const k = await this.key(id);
    return verifySignature(k.curve, scheme, k.public_key, digest, signature);
  }

  private signingKeys(keys: KeyRecord[]): SigningKey[] {
    const p = this.need();
    const schnorr = p.status().schnorr;
    return keys
      .filter((k) => k.state === 'active' && k.curve === 'secp256k1' && k.provider === p.kind)
      .map((k) => ({
        id: k.id,
        publicKey: Buffer.from(k.public_key, 'hex'),
        schnorr,
        sign: (digest, scheme, tapTweak) => (p instanceof SoftwareProvider ? p.sign(k.handle, digest, scheme, tapTweak ? { tapTweak } : {}) : p.sign(k.handle, digest, scheme)),
      }));
  }

  /** Signs what it can of a PSBT after the policy (and any veto) allowed the spend. */
  async signPsbt(base64: string, caller: string): Promise<{ psbt: string; signed: number[]; keys: string[]; amount_sat: number; fee_sat: number; feerate_sat_vb: number }> {
    const all = await this.keys();
    let plan;
    try {
      plan = planPsbt(base64, this.network, this.signingKeys(all));
    } catch (err) {
      if (err instanceof PsbtError) throw rpcError('InvalidParams', err.message);
      throw err;
    }
    if (plan.inputs.length === 0) return { psbt: base64, signed: [], keys: [], amount_sat: Number(plan.amount_sat), fee_sat: Number(plan.fee_sat), feerate_sat_vb: 0 };
    const byId = new Map(all.map((k) => [k.id, k]));
    const subjects = [...new Set(plan.keys.flatMap((id) => [`key:${id}`, ...(byId.get(id)!.group ? [`group:${byId.get(id)!.group}`] : [])]))];
    const facts = { psbt: base64, subjects, amount_sat: Number(plan.amount_sat), fee_sat: Number(plan.fee_sat), feerate_sat_vb: Math.round((Number(plan.fee_sat) / plan.vsize) * 100) / 100, outputs: plan.outputs };
    const denial = await this.policy.evaluate(facts);
    if (denial) {
      await this.record('deny', plan.keys[0] ?? null, { rule: denial.rule, subject: denial.subject, amount_sat: facts.amount_sat, fee_sat: facts.fee_sat, caller });
      throw rpcError('PolicyDenied', `policy denied the signature: ${denial.message}`, { rule: denial.rule, subject: denial.subject ?? null });
    }
    let signed: number[];
    try {
      signed = await signPlanned(plan, this.network);
    } catch (err) {
      throw providerError(err);
    }
    await this.record('sign', plan.keys[0] ?? null, { psbt_inputs: signed, keys: plan.keys, amount_sat: facts.amount_sat, fee_sat: facts.fee_sat, caller }, this.policy.recordOps(facts));
    return { psbt: plan.psbt.toBase64(), signed, keys: plan.keys, amount_sat: facts.amount_sat, fee_sat: facts.fee_sat, feerate_sat_vb: facts.feerate_sat_vb };
  }

  /** Makes a successor key, retires the old one (it still verifies, no longer signs) and carries its policy over. */
  async rotate(id: string): Promise<KeyRecord> {
    const old = await this.key(id);
    if (old.state !== 'active') throw rpcError('Conflict', `key ${id} is ${old.state}; only an active key is rotated`);
    const next = await this.generateKey(old.label, old.curve, old.group, id);
    const policy = await this.policy.get(`key:${id}`);
    await this.record('rotate', id, { successor: next.id }, [this.putKey({ ...old, state: 'retired', successor: next.id }), ...(policy ? this.policy.setOps(`key:${next.id}`, policy) : [])]);
    return next;
  }

  async disable(id: string): Promise<KeyRecord> {
    const k = await this.key(id);
    try {
      if (k.provider === this.need().kind) await this.need().disableKey(k.handle);
    } catch (err) {
      throw providerError(err);
    }
    const rec: KeyRecord = { ...k, state: 'disabled' };
    await this.record('disable', id, {}, [this.putKey(rec)]);
    return rec;
  }

  async setPolicy(subject: string, policy: Policy, caller: string): Promise<void> {
    await this.record('policy', subject.startsWith('key:') ? subject.slice(4) : null, { subject, policy, caller }, this.policy.setOps(subject, policy));
  }

  private software(): SoftwareProvider {
    const p = this.need();
    if (!(p instanceof SoftwareProvider) || p.kind !== 'software') throw rpcError('InvalidParams', `the ${p.kind} provider has no keystore to lock or unlock`);
    return p;
  }

  async unlock(passphrase: string, timeoutSec: number, caller: string): Promise<void> {
    try {
      await this.software().unlock(passphrase, timeoutSec);
    } catch (err) {
      await this.record('deny', null, { rule: 'unlock_failed', caller });
      // Whatever the cause (wrong passphrase, damaged file), the keystore stays locked.
      throw err instanceof ProviderError ? rpcError('Locked', err.message) : err;
    }
    await this.record('unlock', null, { timeout_s: timeoutSec, caller });
  }

  async lock(caller: string): Promise<void> {
    this.software().lock();
    await this.record('lock', null, { caller });
  }

  async createKeystore(passphrase: string, caller: string): Promise<void> {
    try {
      await this.software().create(passphrase);
    } catch (err) {
      throw err instanceof ProviderError ? rpcError('Conflict', err.message) : err;
    }
    await this.record('create', null, { caller });
  }
}
