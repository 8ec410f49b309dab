// Signing policy, the thing no bitcoind wallet has: per key or key group, a cap per transaction, a rolling 24-hour
// velocity limit (its counters persisted, so a restart does not reset them), a destination allowlist (change to the
// HSM's own keys is always allowed), and caps on fee rate and absolute fee. A denial names the rule. Other rooms may
// add vetoes (the ML room will score transaction risk).

import { randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { BatchOp, RoomDb } from '../store/store.js';

export const PolicySchema = Type.Object(
  {
    max_amount_sat: Type.Optional(Type.Integer({ minimum: 0, description: 'Most sent to others in one transaction.' })),
    velocity_24h_sat: Type.Optional(Type.Integer({ minimum: 0, description: 'Most sent to others in any 24 hours.' })),
    allowlist: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 1000, description: 'Addresses others may be paid at; outputs to the HSM\'s own keys are always allowed.' })),
    max_feerate_sat_vb: Type.Optional(Type.Number({ minimum: 0, description: 'Highest fee rate.' })),
    max_fee_sat: Type.Optional(Type.Integer({ minimum: 0, description: 'Highest absolute fee.' })),
    change_to_own_keys: Type.Optional(Type.Boolean({ description: 'Every output not on the allowlist must pay one of the HSM\'s own keys.' })),
  },
  { additionalProperties: false },
);
export type Policy = Static<typeof PolicySchema>;

export interface SpendFacts {
  /** Subjects the signing keys belong to: key:<id> and group:<name>. */
  subjects: string[];
  amount_sat: number;
  fee_sat: number;
  feerate_sat_vb: number;
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

const DAY_MS = 24 * 3600 * 1000;

export class PolicyEngine {
  private readonly vetoes: Array<{ name: string; veto: Veto }> = [];

  constructor(private readonly db: RoomDb) {}

  async get(subject: string): Promise<Policy | undefined> {
    return (await this.db.get(`p:${subject}`)) as Policy | undefined;
  }

  setOps(subject: string, policy: Policy): BatchOp[] {
    return [{ type: 'put', sublevel: this.db, key: `p:${subject}`, value: policy }];
  }

  addVeto(name: string, veto: Veto): void {
    this.vetoes.push({ name, veto });
  }

  /** Checks every rule of every subject; the first denial wins. */
  async evaluate(f: SpendFacts, now = Date.now()): Promise<Denial | undefined> {
    for (const subject of f.subjects) {
      const p = await this.get(subject);
      if (!p) continue;
      const deny = (rule: string, message: string): Denial => ({ rule, message: `${subject}: ${message}`, subject });
      if (p.max_amount_sat !== undefined && f.amount_sat > p.max_amount_sat) return deny('max_amount_sat', `sends ${f.amount_sat} sat, more than max_amount_sat ${p.max_amount_sat}`);
      if (p.max_fee_sat !== undefined && f.fee_sat > p.max_fee_sat) return deny('max_fee_sat', `fee ${f.fee_sat} sat is above max_fee_sat ${p.max_fee_sat}`);
      if (p.max_feerate_sat_vb !== undefined && f.feerate_sat_vb > p.max_feerate_sat_vb) return deny('max_feerate_sat_vb', `fee rate ${f.feerate_sat_vb} sat/vB is above max_feerate_sat_vb ${p.max_feerate_sat_vb}`);
      if (p.allowlist || p.change_to_own_keys) {
        const allowed = new Set(p.allowlist ?? []);
        const bad = f.outputs.find((o) => !o.own && !(o.address && allowed.has(o.address)));
        if (bad) return deny(p.allowlist ? 'allowlist' : 'change_to_own_keys', `output to ${bad.address ?? 'a non-standard script'} is neither allowlisted nor one of the HSM's own keys`);
      }
      if (p.velocity_24h_sat !== undefined) {
        const spent = await this.spentSince(subject, now - DAY_MS);
        if (spent + f.amount_sat > p.velocity_24h_sat) return deny('velocity_24h_sat', `${spent} sat sent in the last 24 h plus ${f.amount_sat} would pass velocity_24h_sat ${p.velocity_24h_sat}`);
      }
    }
    for (const v of this.vetoes) {
      const d = await v.veto(f);
      if (d) return { ...d, rule: `veto:${v.name}:${d.rule}` };
    }
    return undefined;
  }

  /** Velocity counter entries for an approved spend (written in the same batch as the audit entry). */
  recordOps(f: SpendFacts, now = Date.now()): BatchOp[] {
    if (f.amount_sat === 0) return [];
    return f.subjects.map((s) => ({ type: 'put' as const, sublevel: this.db, key: `v:${s}:${String(now).padStart(15, '0')}:${randomBytes(4).toString('hex')}`, value: f.amount_sat }));
  }

  async spentSince(subject: string, since: number): Promise<number> {
    let sum = 0;
    for await (const [, v] of this.db.iterator({ gte: `v:${subject}:${String(since).padStart(15, '0')}`, lt: `v:${subject}:~` })) sum += v as number;
    return sum;
  }
}
