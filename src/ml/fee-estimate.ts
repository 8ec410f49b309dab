// Which estimator answers ml.estimatefee, and why. In order: the confirmation tracker (Core's method) when it has
// enough data for the target at the confidence; else the projected blocks of the mempool this node has seen
// (mempool.space's method); on an empty mempool, the floor. The last backtest (ml.evaluate) for the same target and
// confidence can overrule the order: the tracker is passed over when its hit rate fell more than 10 points short of
// its confidence and the projected blocks did better. The ONNX model answers when asked for (estimator "model"),
// for a snapshot, or when no observations are kept.

import type { RoomDb } from '../core/store.js';
import { backtest, modelFigures, type BacktestResult, type EstimatorFigures } from './fee-backtest.js';
import { CORE_TARGETS, type FeeObservations, type Observation } from './fee-observations.js';
import { FLOOR, fromBlocks, projectBlocks, type ProjectedBlock } from './fee-projected.js';
import type { Confidence } from './fee-tracking.js';
import { moments, pack } from './fee-training.js';

export type EstimatorName = 'tracking' | 'projected' | 'floor' | 'model';

export interface Choice {
  estimator: EstimatorName;
  sat_per_vb: number | null;
  reason: string;
  candidates: { tracking: number | null; projected: number | null };
  backtest: EstimatorFigures | null;
}

export class FeeEstimator {
  private readonly backtests = new Map<string, BacktestResult>();

  constructor(
    readonly observations: FeeObservations,
    private readonly db: RoomDb,
    private readonly blockVsize: number,
    private readonly tip: () => number | undefined,
    private readonly nodeKind: () => 'core' | 'bcoin' | undefined,
  ) {}

  choose(target: number, confidence: Confidence, wanted: 'auto' | 'tracking' | 'projected'): Choice {
    const t = this.observations.tracker.estimate(target, confidence);
    const blocks = this.projected();
    const p = fromBlocks(blocks, target, confidence, this.blockVsize);
    const empty = blocks.length === 0;
    const candidates = { tracking: 'none' in t ? null : round(t.sat_per_vb), projected: empty ? null : p.sat_per_vb };
    const bt = this.backtests.get(`${target}/${confidence}`);
    const figures = (e: 'tracking' | 'projected'): EstimatorFigures | null => bt?.estimators[e] ?? null;
    const trackingWhy = 'none' in t ? t.none : `${t.check} on the ${t.horizon} horizon`;
    if (wanted === 'tracking')
      return { estimator: 'tracking', sat_per_vb: candidates.tracking, reason: `asked for: ${trackingWhy}`, candidates, backtest: figures('tracking') };
    if (wanted === 'projected')
      return { estimator: 'projected', sat_per_vb: p.sat_per_vb, reason: `asked for: ${p.reason}`, candidates, backtest: figures('projected') };
    const tb = figures('tracking');
    const pb = figures('projected');
    const short = (f: EstimatorFigures | null): boolean => f?.hit_rate !== null && f !== null && f.hit_rate < confidence / 100 - 0.1;
    if (candidates.tracking !== null && !(short(tb) && pb?.hit_rate != null && pb.hit_rate > (tb?.hit_rate ?? 0) && !empty))
      return {
        estimator: 'tracking',
        sat_per_vb: candidates.tracking,
        reason: `${trackingWhy} (${this.observations.tracker.tracked} confirmations tracked over ${this.observations.tracker.blocks} blocks)`,
        candidates,
        backtest: tb,
      };
    if (!empty) {
      const why =
        candidates.tracking === null
          ? `tracking has no answer (${trackingWhy})`
          : `tracking's backtest hit rate ${tb!.hit_rate} is more than 10 points under ${confidence}%, projected blocks did better (${pb!.hit_rate})`;
      return { estimator: 'projected', sat_per_vb: p.sat_per_vb, reason: `${why}; ${p.reason}`, candidates, backtest: pb };
    }
    return {
      estimator: 'floor',
      sat_per_vb: FLOOR,
      reason: `the mempool is empty and tracking has no answer (${trackingWhy}): the floor`,
      candidates,
      backtest: null,
    };
  }

  private cut: { version: number; at: number; blocks: ProjectedBlock[] } | undefined;

  /**
   * The projected blocks, cut again when the mempool changed and the last cut is older than 2 s (mempool.space
   * updates its projection every few seconds too): cutting a 50,000-transaction mempool takes about 90 ms.
   */
  private projected(): ProjectedBlock[] {
    const version = this.observations.version;
    const now = Date.now();
    if (!this.cut || (this.cut.version !== version && now - this.cut.at >= 2000))
      this.cut = { version, at: now, blocks: projectBlocks(this.observations.view(), this.blockVsize, 1009) };
    return this.cut.blocks;
  }

  /**
   * ml.evaluate's replay; the result is kept for choose() and ml.estimatefee's answer. `models`: fee model versions
   * to replay too (version -> run these rows), on the mempool rebuilt from the same observations (fee-training.ts).
   */
  async evaluate(
    target: number,
    confidence: Confidence,
    blocks: number,
    models: Record<string, (rows: Float32Array[]) => Promise<number[]>> = {},
  ): Promise<BacktestResult & { models: Record<string, EstimatorFigures> }> {
    const records: Observation[] = [];
    for await (const o of this.observations.records()) records.push(o);
    const tip = this.tip() ?? Math.max(0, ...records.map((o) => o.c ?? o.g ?? o.h));
    let core: Map<number, number | null> | string;
    const kind = this.nodeKind();
    if (kind !== 'core') core = kind === 'bcoin' ? "the node is bcoin: Bitcoin Core's estimatesmartfee is absent" : 'the node is not connected';
    else {
      // Core's estimate for the largest recorded target at or under this one (never a longer wait than asked).
      const k = [...CORE_TARGETS].reverse().find((x) => x <= target)!;
      core = new Map();
      for await (const [key, v] of this.db.iterator({ gte: 'e:', lt: 'e;' })) core.set(Number(key.slice(2)), (v as Record<string, number | null>)[k] ?? null);
    }
    const r = backtest(records, { target, confidence, blockVsize: this.blockVsize, tip, from: tip - target - blocks + 1, core });
    this.backtests.set(`${target}/${confidence}`, r);
    const figures: Record<string, EstimatorFigures> = {};
    if (Object.keys(models).length) {
      const ms = moments(pack(records), tip, [target]);
      for (const [v, run] of Object.entries(models)) figures[v] = await modelFigures(ms, [target], tip - target - blocks + 1, run);
    }
    return { ...r, models: figures };
  }
}

const round = (x: number): number => Math.max(FLOOR, Math.round(x * 1000) / 1000);
