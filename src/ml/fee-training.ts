// What the learned fee model is trained on, and what its backtest replays: the node's own fee observations turned
// into moments, one per block interval (a cohort: the transactions that arrived while height h was the tip), each
// with the mempool as it stood then and, per target, the fee rate that turned out to be enough.
//
// Features (the `fee` extractor's, features.ts, so the retrained model is served exactly as the bundled one): the
// snapshot at the cohort's median arrival, as the backtest's projected blocks read the mempool —
//   - mempool_vsize and fee_histogram: the transactions observed waiting at the start of interval h (arrived before
//     h, not confirmed or gone by block h), plus the first half of the cohort by arrival time;
//   - recent_block_feerates: per block up to h, newest first, the median fee rate of the observed transactions it
//     confirmed (blocks with none observed left out, as the live snapshot leaves out blocks of unknown fees);
//   - seconds_since_last_block: from the cohort's first arrival to its median one (the block's own time is not
//     recorded: the first arrival after it is the closest the observations know, so this is a lower bound);
//   - target.
// Label (what the model learns), per cohort h and target T: the cheapest fee rate that confirmed within T blocks —
// the lowest rate of the run of the cohort's transactions, from the highest rate down, that all confirmed by block
// h + T (replaced and evicted transactions left out, as in fee-backtest.ts). It is learned as log1p(rate) with the
// pinball loss at RETRAIN_QUANTILE, so the model answers the rate that was enough in that share of such moments.
// A cohort none of whose transactions made it within T has no label and gives no training row (the backtest still
// counts it, as a miss for every estimator); a cohort whose h + T is past the tip is not resolved yet.

import { feeFeatures, type FeeSnapshot } from './features.js';
import type { Observation } from './fee-observations.js';

/** The targets a retrained model is trained and judged at (blocks). */
export const RETRAIN_TARGETS = [1, 2, 3, 6, 12] as const;
/** The retrained model answers the fee rate that was enough in 80% of the moments like this one. */
export const RETRAIN_QUANTILE = 0.8;

/** Observations as columns: transferable to the training worker without a structured clone of every record. */
export interface Packed {
  n: number;
  /** fee rate sat/vB, vsize, arrival ms, arrival tip height */
  r: Float64Array;
  v: Float64Array;
  a: Float64Array;
  h: Float64Array;
  /** confirming height, or -1 */
  c: Float64Array;
  /** height it left the mempool without a block, or -1 */
  g: Float64Array;
  /** 0: neither; 1: evicted; 2: replaced */
  x: Uint8Array;
}

export function pack(records: readonly Observation[]): Packed {
  const n = records.length;
  const p: Packed = {
    n,
    r: new Float64Array(n),
    v: new Float64Array(n),
    a: new Float64Array(n),
    h: new Float64Array(n),
    c: new Float64Array(n),
    g: new Float64Array(n),
    x: new Uint8Array(n),
  };
  records.forEach((o, i) => {
    p.r[i] = o.r;
    p.v[i] = o.v;
    p.a[i] = o.a;
    p.h[i] = o.h;
    p.c[i] = o.c ?? -1;
    p.g[i] = o.g ?? -1;
    p.x[i] = o.x === 'evicted' ? 1 : o.x === 'replaced' ? 2 : 0;
  });
  return p;
}

export interface Moment {
  h: number;
  snapshot: Omit<FeeSnapshot, 'target'>;
  /** Transactions of the cohort that are judged (not replaced or evicted). */
  judged: number;
  /** Per target asked for: the label (Infinity: none made it; NaN: h + target is past the tip). */
  thresholds: Map<number, number>;
}

// The fee extractor reads only the vsize at or above 2, 5, 10, 20 and 50 sat/vB: six bins give it exactly.
const EDGES = [1, 2, 5, 10, 20, 50];
const binOf = (r: number): number => (r >= 50 ? 5 : r >= 20 ? 4 : r >= 10 ? 3 : r >= 5 ? 2 : r >= 2 ? 1 : 0);

/** The moments of the recorded history up to `tip`, in height order, with labels for each of `targets`. */
export function moments(p: Packed, tip: number, targets: readonly number[]): Moment[] {
  const byArrival = new Map<number, number[]>();
  const byEnd = new Map<number, number[]>();
  const byConf = new Map<number, number[]>();
  const push = (m: Map<number, number[]>, k: number, i: number): void => {
    const l = m.get(k);
    if (l) l.push(i);
    else m.set(k, [i]);
  };
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < p.n; i++) {
    push(byArrival, p.h[i]!, i);
    lo = Math.min(lo, p.h[i]!);
    hi = Math.max(hi, p.h[i]!);
    const end = p.c[i]! >= 0 ? p.c[i]! : p.g[i]!;
    if (end >= 0) push(byEnd, end, i);
    if (p.c[i]! >= 0) push(byConf, p.c[i]!, i);
  }
  const inPool = new Uint8Array(p.n);
  const bins = new Float64Array(EDGES.length);
  let total = 0;
  const add = (i: number): void => {
    if (inPool[i]) return;
    inPool[i] = 1;
    bins[binOf(p.r[i]!)] += p.v[i]!;
    total += p.v[i]!;
  };
  const remove = (i: number): void => {
    if (!inPool[i]) return;
    inPool[i] = 0;
    bins[binOf(p.r[i]!)] -= p.v[i]!;
    total -= p.v[i]!;
  };
  const recent: number[] = [];
  const out: Moment[] = [];
  for (let h = lo; h <= Math.min(hi, tip); h++) {
    // The mempool at the start of interval h (the same steps as fee-backtest.ts's replay).
    for (const i of byArrival.get(h - 1) ?? []) add(i);
    for (const i of byEnd.get(h) ?? []) remove(i);
    for (const i of byEnd.get(h - 1) ?? []) remove(i);
    const conf = byConf.get(h);
    if (conf && h > lo) {
      const rates = conf.map((i) => p.r[i]!).sort((a, b) => a - b);
      recent.unshift(rates[Math.floor(rates.length / 2)]!);
      if (recent.length > 6) recent.pop();
    }
    const cohort = byArrival.get(h) ?? [];
    const judged = cohort.filter((i) => p.x[i] === 0).sort((a, b) => p.r[b]! - p.r[a]!);
    if (judged.length === 0) continue;
    const byTime = [...cohort].sort((a, b) => p.a[a]! - p.a[b]!);
    const half = byTime.slice(0, Math.floor(byTime.length / 2));
    const snapBins = Float64Array.from(bins);
    let snapTotal = total;
    for (const i of half) {
      if (inPool[i]) continue;
      snapBins[binOf(p.r[i]!)] += p.v[i]!;
      snapTotal += p.v[i]!;
    }
    const median = byTime[Math.floor(byTime.length / 2)]!;
    const thresholds = new Map<number, number>();
    for (const t of targets) {
      if (h + t > tip) {
        thresholds.set(t, NaN);
        continue;
      }
      let threshold = Infinity;
      for (const i of judged) {
        if (p.c[i]! < 0 || p.c[i]! > h + t) break;
        threshold = p.r[i]!;
      }
      thresholds.set(t, threshold);
    }
    out.push({
      h,
      snapshot: {
        mempool_vsize: Math.max(0, snapTotal),
        fee_histogram: EDGES.map((e, b) => [e, Math.max(0, snapBins[b]!)] as [number, number]),
        recent_block_feerates: [...recent],
        seconds_since_last_block: Math.max(0, (p.a[median]! - p.a[byTime[0]!]!) / 1000),
      },
      judged: judged.length,
      thresholds,
    });
  }
  return out;
}

/** Training rows from the moments in [from, to): features, and log1p of the label, for each target with one. */
export function trainingRows(ms: readonly Moment[], from: number, to: number): { x: number[][]; y: number[] } {
  const x: number[][] = [];
  const y: number[] = [];
  for (const m of ms) {
    if (m.h < from || m.h >= to) continue;
    for (const [t, threshold] of m.thresholds) {
      if (!Number.isFinite(threshold)) continue;
      x.push(Array.from(feeFeatures({ ...m.snapshot, target: t })));
      y.push(Math.log1p(threshold));
    }
  }
  return { x, y };
}

/** The height from which the newest share of the resolved moments (those with a label at the first target) lie. */
export function holdoutFrom(ms: readonly Moment[], share: number): number | null {
  const resolved = ms.filter((m) => !Number.isNaN(m.thresholds.values().next().value ?? NaN));
  if (resolved.length === 0) return null;
  return resolved[Math.max(0, Math.floor(resolved.length * (1 - share)))]!.h;
}
