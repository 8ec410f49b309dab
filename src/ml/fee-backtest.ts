// The backtest behind ml.evaluate: the recorded observations are replayed in height order, and at each block
// interval (a cohort: the transactions that arrived while height h was the tip) every estimator is asked for the
// target as it could have answered then — the tracker with only what had confirmed by h, the projected blocks on the
// mempool as it stood at the cohort's median arrival, Core's estimatesmartfee as recorded at h (on Core). What the
// cohort's own transactions became is the truth: the cheapest fee rate that made it is the lowest rate of the run of
// the cohort's transactions, from the highest rate down, that all confirmed within the target (replaced and
// evicted ones are left out: their fate says nothing about the rate). An estimate is a hit when it is at or above
// that rate (a transaction paying it would have been in that run); its overpayment is how far above. Figures are
// weighted by the cohort's size, so they read as shares of transactions.

import { projectedEstimate, type MempoolTx } from './fee-projected.js';
import { replayTracker, type Observation } from './fee-observations.js';
import type { Confidence } from './fee-tracking.js';
import { feeFeatures } from './features.js';
import type { Moment } from './fee-training.js';

export interface EstimatorFigures {
  /** Cohorts the estimator gave an answer for, and the ones it had none for (not enough data). */
  answered: number;
  unanswered: number;
  /** Transactions in the answered cohorts. */
  transactions: number;
  /** Share of those transactions for which the estimate was high enough to confirm within the target. */
  hit_rate: number | null;
  /** Mean of (estimate - cheapest rate that made it) over the hits, sat/vB. */
  mean_overpay_sat_vb: number | null;
  mean_sat_vb: number | null;
}

export interface BacktestResult {
  target: number;
  confidence: number;
  first_height: number | null;
  last_height: number | null;
  cohorts: number;
  transactions: number;
  /** Cohorts whose highest fee rate did not confirm within the target (nothing observed made it). */
  none_made_it: number;
  estimators: {
    tracking: EstimatorFigures;
    projected: EstimatorFigures;
    core: (EstimatorFigures & { available: true }) | { available: false; reason: string };
  };
}

export class Tally {
  private cohorts = 0;
  private none = 0;
  private tx = 0;
  private hitTx = 0;
  private over = 0;
  private sum = 0;
  add(est: number | null, threshold: number, n: number): void {
    if (est === null) {
      this.none++;
      return;
    }
    this.cohorts++;
    this.tx += n;
    this.sum += est * n;
    if (est + 1e-9 >= threshold) {
      this.hitTx += n;
      this.over += (est - threshold) * n;
    }
  }
  figures(): EstimatorFigures {
    const r = (x: number): number => Math.round(x * 1000) / 1000;
    return {
      answered: this.cohorts,
      unanswered: this.none,
      transactions: this.tx,
      hit_rate: this.tx ? r(this.hitTx / this.tx) : null,
      mean_overpay_sat_vb: this.hitTx ? r(this.over / this.hitTx) : null,
      mean_sat_vb: this.tx ? r(this.sum / this.tx) : null,
    };
  }
}

export function backtest(
  records: readonly Observation[],
  s: {
    target: number;
    confidence: Confidence;
    blockVsize: number;
    tip: number;
    /** Only cohorts from this height on are judged (the replay still starts at the first record). */
    from: number;
    /** Core's estimatesmartfee per height for this target (sat/vB or null), or why there is none. */
    core: Map<number, number | null> | string;
  },
): BacktestResult {
  const byArrival = new Map<number, Observation[]>();
  const byEnd = new Map<number, Observation[]>();
  const push = (m: Map<number, Observation[]>, h: number, o: Observation): void => {
    const l = m.get(h);
    if (l) l.push(o);
    else m.set(h, [o]);
  };
  for (const o of records) {
    push(byArrival, o.h, o);
    const end = o.c ?? o.g;
    if (end !== undefined) push(byEnd, end, o);
  }
  const tracking = new Tally();
  const projected = new Tally();
  const core = new Tally();
  const waiting = new Map<string, Observation>();
  let cohorts = 0;
  let transactions = 0;
  let none = 0;
  let first: number | null = null;
  let last: number | null = null;
  const lastJudged = s.tip - s.target;
  replayTracker(records, lastJudged, (h, tracker) => {
    // The mempool at the start of interval h: what arrived before and had not confirmed or left by h.
    for (const o of byArrival.get(h - 1) ?? []) waiting.set(o.t, o);
    for (const o of byEnd.get(h) ?? []) waiting.delete(o.t);
    for (const o of byEnd.get(h - 1) ?? []) waiting.delete(o.t);
    const cohort = byArrival.get(h) ?? [];
    if (h < s.from || cohort.length === 0) return;
    const judged = cohort.filter((o) => o.x === undefined).sort((a, b) => b.r - a.r);
    if (judged.length === 0) return;
    let threshold = Infinity;
    for (const o of judged) {
      if (o.c === undefined || o.c > h + s.target) break;
      threshold = o.r;
    }
    if (threshold === Infinity) none++;
    cohorts++;
    transactions += judged.length;
    first ??= h;
    last = h;
    const t = tracker.estimate(s.target, s.confidence);
    tracking.add('none' in t ? null : t.sat_per_vb, threshold, judged.length);
    const byTime = [...cohort].sort((a, b) => a.a - b.a);
    const view: MempoolTx[] = [...waiting.values(), ...byTime.slice(0, Math.floor(byTime.length / 2))].map((o) => ({
      txid: o.t,
      rate: o.r,
      vsize: o.v,
      parents: o.p,
    }));
    projected.add(projectedEstimate(view, s.target, s.confidence, s.blockVsize).sat_per_vb, threshold, judged.length);
    if (typeof s.core !== 'string') core.add(s.core.get(h) ?? null, threshold, judged.length);
  });
  return {
    target: s.target,
    confidence: s.confidence,
    first_height: first,
    last_height: last,
    cohorts,
    transactions,
    none_made_it: none,
    estimators: {
      tracking: tracking.figures(),
      projected: projected.figures(),
      core: typeof s.core === 'string' ? { available: false, reason: s.core } : { available: true, ...core.figures() },
    },
  };
}

/**
 * A fee model version replayed on the moments of fee-training.ts (the mempool as it stood at each cohort, rebuilt
 * from the observations): for each moment from `from` on and each of `targets` resolved there, the model is asked as
 * ml.estimatefee asks it (the lowest answer of every target up to this one, at least 1 sat/vB, to 0.01) and judged
 * against the cohort's cheapest rate that made it, as the other estimators are. Pooled over the targets.
 */
export async function modelFigures(
  ms: readonly Moment[],
  targets: readonly number[],
  from: number,
  predict: (rows: Float32Array[]) => Promise<number[]>,
): Promise<EstimatorFigures> {
  const judged = ms.filter((m) => m.h >= from && targets.some((t) => !Number.isNaN(m.thresholds.get(t) ?? NaN)));
  const top = Math.max(...targets);
  const rows: Float32Array[] = [];
  for (const m of judged) for (let t = 1; t <= top; t++) rows.push(feeFeatures({ ...m.snapshot, target: t }));
  const out = rows.length ? await predict(rows) : [];
  const tally = new Tally();
  judged.forEach((m, k) => {
    let low = Infinity;
    for (let t = 1; t <= top; t++) {
      low = Math.min(low, out[k * top + t - 1]!);
      const threshold = m.thresholds.get(t);
      if (threshold === undefined || Number.isNaN(threshold)) continue;
      tally.add(Math.max(1, Math.round(low * 100) / 100), threshold, m.judged);
    }
  });
  return tally.figures();
}
