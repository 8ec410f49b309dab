// Confirmation tracking, as Bitcoin Core's estimatesmartfee does it (policy/fees.cpp), written from its description:
// every transaction seen entering the mempool is counted in an exponentially spaced fee-rate bucket at the height it
// arrived; when it confirms, the number of blocks it waited is recorded; when it leaves without confirming (evicted,
// replaced) after waiting, it counts as a failure. Counts decay exponentially per block, over three horizons (short:
// 12 blocks, decay 0.962; medium: 48 blocks in periods of 2, 0.9952; long: 1008 blocks in periods of 24, 0.99931).
// An estimate scans the buckets from the highest fee rate down, grouping buckets until a group holds enough
// transactions, and keeps the lowest group in which the share confirmed within the target (counting the ones still
// waiting longer than the target, and the failures, as not confirmed) reaches the threshold; the answer is the
// average fee rate of the group's median bucket. Core's smart estimate takes the highest of three such checks: 60%
// at half the target, 85% at the target, 95% at twice the target. Here the confidence (50, 80 or 95) sets the
// thresholds: c at the target, c - 25 points at half of it, and min(95, c + 10) at twice it — Core's economical mode
// is confidence 85 on this scale. Conservative (confidence 95) also asks twice the target on the long horizon.

export const CONFIDENCES = [50, 80, 95] as const;
export type Confidence = (typeof CONFIDENCES)[number];

const MIN_RATE = 1; // sat/vB: the relay floor
const MAX_RATE = 10_000;
const SPACING = 1.05;

/** Bucket upper bounds in sat/vB: 1, 1.05, 1.1025 … up to 10,000 (about 190 buckets), then infinity. */
export const BUCKETS: readonly number[] = (() => {
  const b: number[] = [];
  for (let r = MIN_RATE; r <= MAX_RATE; r *= SPACING) b.push(r);
  b.push(Infinity);
  return b;
})();

export function bucketOf(rate: number): number {
  // binary search: the first bucket whose bound is at or above the rate
  let lo = 0;
  let hi = BUCKETS.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (BUCKETS[mid]! >= rate) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

interface HorizonSpec {
  name: 'short' | 'medium' | 'long';
  periods: number;
  scale: number;
  decay: number;
  /** Transactions per block a bucket group must average to be judged (Core: 0.5 short, 0.1 the others). */
  sufficient: number;
}

export const HORIZONS: readonly HorizonSpec[] = [
  { name: 'short', periods: 12, scale: 1, decay: 0.962, sufficient: 0.5 },
  { name: 'medium', periods: 24, scale: 2, decay: 0.9952, sufficient: 0.1 },
  { name: 'long', periods: 42, scale: 24, decay: 0.99931, sufficient: 0.1 },
];

class Horizon {
  readonly txCt: Float64Array;
  readonly rateSum: Float64Array;
  readonly conf: Float64Array[];
  readonly fail: Float64Array[];
  /** Unconfirmed counts by arrival height (a ring over maxConfirms heights) and the older ones together. */
  readonly unconf: Int32Array[];
  readonly oldUnconf: Int32Array;

  constructor(readonly spec: HorizonSpec) {
    const n = BUCKETS.length;
    this.txCt = new Float64Array(n);
    this.rateSum = new Float64Array(n);
    this.conf = Array.from({ length: spec.periods }, () => new Float64Array(n));
    this.fail = Array.from({ length: spec.periods }, () => new Float64Array(n));
    this.unconf = Array.from({ length: spec.periods * spec.scale }, () => new Int32Array(n));
    this.oldUnconf = new Int32Array(n);
  }

  get maxConfirms(): number {
    return this.spec.periods * this.spec.scale;
  }

  add(height: number, bucket: number): void {
    this.unconf[height % this.unconf.length]![bucket]!++;
  }

  /** A new block: the arrivals of maxConfirms blocks ago join the old ones; every average decays. */
  newBlock(height: number): void {
    const slot = this.unconf[height % this.unconf.length]!;
    for (let b = 0; b < slot.length; b++) {
      this.oldUnconf[b]! += slot[b]!;
      slot[b] = 0;
    }
    const d = this.spec.decay;
    for (let b = 0; b < this.txCt.length; b++) {
      this.txCt[b]! *= d;
      this.rateSum[b]! *= d;
    }
    for (const row of [...this.conf, ...this.fail]) for (let b = 0; b < row.length; b++) row[b]! *= d;
  }

  remove(entryHeight: number, best: number, bucket: number, inBlock: boolean): void {
    const ago = Math.max(0, best - entryHeight);
    if (ago >= this.unconf.length) {
      if (this.oldUnconf[bucket]! > 0) this.oldUnconf[bucket]!--;
    } else {
      const slot = this.unconf[entryHeight % this.unconf.length]!;
      if (slot[bucket]! > 0) slot[bucket]!--;
    }
    // Leaving without a block counts as a failure only once it has waited a whole period.
    if (!inBlock && ago >= this.spec.scale) {
      const periods = Math.floor(ago / this.spec.scale);
      for (let p = 0; p < periods && p < this.fail.length; p++) this.fail[p]![bucket]!++;
    }
  }

  record(blocksToConfirm: number, bucket: number, rate: number): void {
    if (blocksToConfirm < 1) return;
    const first = Math.ceil(blocksToConfirm / this.spec.scale) - 1;
    for (let p = first; p < this.conf.length; p++) this.conf[p]![bucket]!++;
    this.txCt[bucket]!++;
    this.rateSum[bucket]! += rate;
  }

  /** The median-bucket average fee rate of the lowest passing bucket group, or null (not enough data / none pass). */
  estimate(target: number, threshold: number, best: number): number | null {
    const period = Math.ceil(target / this.spec.scale) - 1;
    if (period >= this.conf.length) return null;
    const need = this.spec.sufficient / (1 - this.spec.decay);
    let nConf = 0;
    let total = 0;
    let failed = 0;
    let waiting = 0;
    let groupHigh = BUCKETS.length - 1;
    let best_: [number, number] | undefined;
    for (let b = BUCKETS.length - 1; b >= 0; b--) {
      nConf += this.conf[period]![b]!;
      total += this.txCt[b]!;
      failed += this.fail[period]![b]!;
      // Still unconfirmed after at least the target: they did not make it in time.
      for (let ago = target; ago < this.unconf.length; ago++) {
        const h = best - ago;
        if (h < 0) break;
        waiting += this.unconf[h % this.unconf.length]![b]!;
      }
      waiting += this.oldUnconf[b]!;
      if (total < need) continue;
      // A failing group keeps growing downwards (more low fee rates only lower its share), so the answer is the
      // lowest group of the passing run from the top, as in Core.
      if (nConf / (total + failed + waiting) < threshold) continue;
      best_ = [b, groupHigh];
      nConf = total = failed = waiting = 0;
      groupHigh = b - 1;
    }
    if (!best_) return null;
    const [lo, hi] = best_;
    let sum = 0;
    for (let b = lo; b <= hi; b++) sum += this.txCt[b]!;
    if (sum === 0) return null;
    let half = sum / 2;
    for (let b = lo; b <= hi; b++) {
      if (this.txCt[b]! < half) half -= this.txCt[b]!;
      else return this.rateSum[b]! / this.txCt[b]!;
    }
    return null;
  }
}

export interface TrackingAnswer {
  sat_per_vb: number;
  horizon: 'short' | 'medium' | 'long';
  /** Which check set the answer (the highest of them), as Core's FeeReason names it. */
  check: string;
}

/** The tracker: fed arrivals, blocks and departures in height order (live, or replayed from the observations). */
export class ConfirmationTracker {
  private readonly horizons = HORIZONS.map((s) => new Horizon(s));
  best = -1;
  /** Blocks processed since the tracker started: below `warmup` no answer is given. */
  blocks = 0;
  tracked = 0;

  arrival(height: number, rate: number): void {
    const b = bucketOf(rate);
    for (const h of this.horizons) h.add(height, b);
  }

  /** A block at `height` confirming transactions that arrived at the given heights and rates. */
  block(height: number, confirmed: Array<{ entry: number; rate: number }>): void {
    if (height <= this.best) return;
    this.best = height;
    this.blocks++;
    for (const h of this.horizons) h.newBlock(height);
    for (const t of confirmed) {
      const b = bucketOf(t.rate);
      for (const h of this.horizons) {
        h.remove(t.entry, height - 1, b, true);
        h.record(height - t.entry, b, t.rate);
      }
      this.tracked++;
    }
  }

  /** A transaction left the mempool without a block (evicted, replaced, expired). */
  left(entry: number, rate: number): void {
    const b = bucketOf(rate);
    for (const h of this.horizons) h.remove(entry, this.best, b, false);
  }

  private combined(target: number, threshold: number): { rate: number; horizon: HorizonSpec['name'] } | null {
    // The shortest horizon that can answer the target: it follows the market most closely.
    for (const h of this.horizons) {
      if (target > h.maxConfirms) continue;
      const r = h.estimate(target, threshold, this.best);
      return r === null ? null : { rate: r, horizon: h.spec.name };
    }
    return null;
  }

  /** The estimate at a confidence, or null with why not. */
  estimate(target: number, confidence: Confidence): TrackingAnswer | { none: string } {
    if (this.blocks < 2) return { none: `only ${this.blocks} block${this.blocks === 1 ? '' : 's'} tracked` };
    const c = confidence / 100;
    const checks: Array<[string, number, number]> = [
      [`half target ${Math.round((c - 0.25) * 100)}% threshold`, Math.max(1, Math.floor(target / 2)), c - 0.25],
      [`target ${confidence}% threshold`, target, c],
      [`double target ${Math.round(Math.min(0.95, c + 0.1) * 100)}% threshold`, Math.min(2 * target, 1008), Math.min(0.95, c + 0.1)],
    ];
    let best: TrackingAnswer | undefined;
    for (const [check, t, thr] of checks) {
      const r = this.combined(t, thr);
      if (r === null) {
        if (t === target)
          return { none: `no fee-rate bucket has enough confirmed transactions at ${confidence}% within ${target} block${target === 1 ? '' : 's'}` };
        continue;
      }
      if (!best || r.rate > best.sat_per_vb) best = { sat_per_vb: r.rate, horizon: r.horizon, check };
    }
    if (confidence === 95) {
      // Conservative: twice the target at 95% on the long horizon too (it remembers more of the past).
      const long = this.horizons[2]!;
      const r = 2 * target <= long.maxConfirms ? long.estimate(2 * target, 0.95, this.best) : null;
      if (r !== null && best && r > best.sat_per_vb) best = { sat_per_vb: r, horizon: 'long', check: 'conservative double target on the long horizon' };
    }
    return best ?? { none: 'no check passed' };
  }
}
