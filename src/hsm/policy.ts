// Signing policy, the thing no bitcoind wallet has: per key or key group, a cap per transaction, a rolling 24-hour
// velocity limit (its counters persisted, so a restart does not reset them), a destination allowlist, caps on fee
// rate and absolute fee, whether raw digests may be signed at all, and which sighash types are allowed. A denial
// names the rule. Other rooms may add vetoes (the ML room scores transaction risk).
//
// A policy is a boundary against the apps that call anyad, so it cannot be loosened by the same call that would
// profit from it: a change that loosens anything waits hsm.policydelay (announced when asked for and when it takes
// effect, cancellable meanwhile); whatever the change tightens applies at once (the meet of old and new).

import { randomBytes } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import type { BatchOp, RoomDb } from '../core/store.js';
import { PolicySchema } from './declarations.js';
export type Policy = Static<typeof PolicySchema>;

export type { Denial, SpendFacts, Veto } from './api.js';
import type { Denial, SpendFacts, Veto } from './api.js';

/** A loosening waiting for its delay. */
export interface PendingPolicy {
  subject: string;
  /** The policy that takes effect (null: the policy is removed). */
  policy: Policy | null;
  requested: string;
  effective_at: string;
  caller: string;
  /** What it loosens, in words. */
  loosens: string[];
}

const DAY_MS = 24 * 3600 * 1000;
const LIMITS = ['max_amount_sat', 'velocity_24h_sat', 'max_feerate_sat_vb', 'max_fee_sat'] as const;

/** No policy at all: no limits and raw signing allowed (a key nobody constrained). */
const NONE: Policy = { allow_raw_sign: true };

/** What the change from old to new loosens (empty: it only tightens or keeps). */
export function loosening(old: Policy | undefined, next: Policy | null): string[] {
  const a = old ?? NONE;
  const b = next ?? NONE;
  const out: string[] = [];
  for (const k of LIMITS) {
    if (a[k] !== undefined && (b[k] === undefined || b[k]! > a[k]!)) out.push(`${k} ${a[k]} -> ${b[k] ?? 'none'}`);
  }
  if (a.allowlist && (!b.allowlist || b.allowlist.some((x) => !a.allowlist!.includes(x))))
    out.push(b.allowlist ? 'allowlist gains addresses' : 'allowlist removed');
  if (a.change_to_own_keys && !b.change_to_own_keys) out.push('change_to_own_keys off');
  if (!a.allow_raw_sign && b.allow_raw_sign) out.push('allow_raw_sign on');
  const sa = a.sighash_types ?? [];
  if ((b.sighash_types ?? []).some((t) => !sa.includes(t))) out.push('sighash_types gains types');
  return out;
}

/** The strictest of two policies: what applies at once while a loosening waits. */
export function meet(old: Policy | undefined, next: Policy | null): Policy {
  const a = old ?? NONE;
  const b = next ?? NONE;
  const out: Policy = {};
  for (const k of LIMITS) {
    const v = a[k] === undefined ? b[k] : b[k] === undefined ? a[k] : Math.min(a[k]!, b[k]!);
    if (v !== undefined) out[k] = v;
  }
  if (a.allowlist || b.allowlist)
    out.allowlist = a.allowlist && b.allowlist ? a.allowlist.filter((x) => b.allowlist!.includes(x)) : (a.allowlist ?? b.allowlist)!;
  if (a.change_to_own_keys || b.change_to_own_keys) out.change_to_own_keys = true;
  if (a.allow_raw_sign && b.allow_raw_sign) out.allow_raw_sign = true;
  const types = (a.sighash_types ?? []).filter((t) => (b.sighash_types ?? []).includes(t));
  if (types.length > 0) out.sighash_types = types;
  return out;
}

export class PolicyEngine {
  private readonly vetoes: Array<{ name: string; veto: Veto }> = [];

  constructor(private readonly db: RoomDb) {}

  /**
   * Policies and pending changes are few and read on every signature: kept in memory (null: known to be absent),
   * filled on first read and updated by written() once the batch holding a change is durable.
   */
  private readonly cache = new Map<string, unknown>();

  private async cached<T>(key: string): Promise<T | undefined> {
    if (!this.cache.has(key)) this.cache.set(key, ((await this.db.get(key)) as T | undefined) ?? null);
    return (this.cache.get(key) as T | null) ?? undefined;
  }

  /** Called with every batch of the hsm sublevel once it is written. */
  written(ops: BatchOp[]): void {
    for (const op of ops) {
      if (op.sublevel !== this.db || !(op.key.startsWith('p:') || op.key.startsWith('pp:'))) continue;
      this.cache.set(op.key, op.type === 'put' ? op.value : null);
    }
  }

  async get(subject: string): Promise<Policy | undefined> {
    return this.cached<Policy>(`p:${subject}`);
  }

  setOps(subject: string, policy: Policy | null): BatchOp[] {
    return [policy ? { type: 'put', sublevel: this.db, key: `p:${subject}`, value: policy } : { type: 'del', sublevel: this.db, key: `p:${subject}` }];
  }

  async pending(subject: string): Promise<PendingPolicy | undefined> {
    return this.cached<PendingPolicy>(`pp:${subject}`);
  }

  pendingOps(subject: string, pending: PendingPolicy | null): BatchOp[] {
    return [pending ? { type: 'put', sublevel: this.db, key: `pp:${subject}`, value: pending } : { type: 'del', sublevel: this.db, key: `pp:${subject}` }];
  }

  async allPending(): Promise<PendingPolicy[]> {
    const out: PendingPolicy[] = [];
    for await (const [, v] of this.db.iterator({ gte: 'pp:', lt: 'pp;' })) out.push(v as PendingPolicy);
    return out;
  }

  addVeto(name: string, veto: Veto): void {
    this.vetoes.push({ name, veto });
  }

  /** Whether every policy among the subjects lets raw digests be signed (no policy: yes). */
  async rawSignDenial(subjects: string[]): Promise<Denial | undefined> {
    for (const subject of subjects) {
      const p = await this.get(subject);
      if (p && !p.allow_raw_sign)
        return {
          rule: 'raw_sign',
          subject,
          message: `${subject} has a spending policy, so it signs transactions only through hsm.signpsbt (a raw digest could be any transaction); its policy may set allow_raw_sign`,
        };
    }
    return undefined;
  }

  /** Checks every rule of every subject; the first denial wins. */
  async evaluate(f: SpendFacts, now = Date.now()): Promise<Denial | undefined> {
    for (const subject of f.subjects) {
      const p = await this.get(subject);
      const deny = (rule: string, message: string): Denial => ({ rule, message: `${subject}: ${message}`, subject });
      const bad = f.sighash_types.find((t) => !(p?.sighash_types ?? []).includes(t));
      if (bad !== undefined)
        return deny('sighash_type', `an input asks for sighash type ${bad}; only ALL (and Taproot DEFAULT) unless the policy's sighash_types allows it`);
      if (!p) continue;
      if (p.max_amount_sat !== undefined && f.amount_sat > p.max_amount_sat)
        return deny('max_amount_sat', `sends ${f.amount_sat} sat, more than max_amount_sat ${p.max_amount_sat}`);
      if ((p.max_fee_sat !== undefined || p.max_feerate_sat_vb !== undefined) && !f.fee_verified)
        return deny('unverified_amount', "the fee rules need every input's amount verified (a non_witness_utxo for each input that is not Taproot)");
      if (p.max_fee_sat !== undefined && f.fee_sat > p.max_fee_sat) return deny('max_fee_sat', `fee ${f.fee_sat} sat is above max_fee_sat ${p.max_fee_sat}`);
      if (p.max_feerate_sat_vb !== undefined && f.feerate_sat_vb > p.max_feerate_sat_vb)
        return deny('max_feerate_sat_vb', `fee rate ${f.feerate_sat_vb} sat/vB is above max_feerate_sat_vb ${p.max_feerate_sat_vb}`);
      if (p.allowlist || p.change_to_own_keys) {
        const allowed = new Set(p.allowlist ?? []);
        const out = f.outputs.find((o) => !o.own && !(o.address && allowed.has(o.address)));
        if (out)
          return deny(
            p.allowlist ? 'allowlist' : 'change_to_own_keys',
            `output to ${out.address ?? 'a non-standard script'} is neither allowlisted nor change to the signing key's group`,
          );
      }
      if (p.velocity_24h_sat !== undefined) {
        const spent = await this.spentSince(subject, now - DAY_MS);
        if (spent + f.amount_sat > p.velocity_24h_sat)
          return deny('velocity_24h_sat', `${spent} sat sent in the last 24 h plus ${f.amount_sat} would pass velocity_24h_sat ${p.velocity_24h_sat}`);
      }
    }
    for (const v of this.vetoes) {
      const d = await v.veto(f);
      if (d) return { ...d, rule: `veto:${v.name}:${d.rule}` };
    }
    return undefined;
  }

  /**
   * A contract signature's rule (contract.ts): its spends_sat against each subject's max_amount_sat and
   * velocity_24h_sat, counted like a spend's amount. Called inside the subjects' critical section.
   */
  async contractDenial(subjects: string[], spends_sat: number, now = Date.now()): Promise<Denial | undefined> {
    for (const subject of subjects) {
      const p = await this.get(subject);
      if (!p) continue;
      const deny = (rule: string, message: string): Denial => ({ rule, message: `${subject}: ${message}`, subject });
      if (p.max_amount_sat !== undefined && spends_sat > p.max_amount_sat)
        return deny('max_amount_sat', `the contract signature moves ${spends_sat} sat, more than max_amount_sat ${p.max_amount_sat}`);
      if (p.velocity_24h_sat !== undefined) {
        const spent = await this.spentSince(subject, now - DAY_MS);
        if (spent + spends_sat > p.velocity_24h_sat)
          return deny('velocity_24h_sat', `${spent} sat sent in the last 24 h plus ${spends_sat} would pass velocity_24h_sat ${p.velocity_24h_sat}`);
      }
    }
    return undefined;
  }

  /** Velocity counter entries for an approved spend (written in the same batch as the audit entry). */
  recordOps(f: Pick<SpendFacts, 'subjects' | 'amount_sat'>, now = Date.now()): BatchOp[] {
    if (f.amount_sat === 0) return [];
    return f.subjects.map((s) => ({
      type: 'put' as const,
      sublevel: this.db,
      key: `v:${s}:${String(now).padStart(15, '0')}:${randomBytes(4).toString('hex')}`,
      value: f.amount_sat,
    }));
  }

  async spentSince(subject: string, since: number): Promise<number> {
    let sum = 0;
    for await (const [, v] of this.db.iterator({ gte: `v:${subject}:${String(since).padStart(15, '0')}`, lt: `v:${subject}:~` })) sum += v as number;
    return sum;
  }
}
