// The fee model retrained on this node's own observations (fee-training.ts says what it learns, from what), then
// shadowed, backtested and promoted only when better:
//   1. a retrain (ml.retrain, or every ml.retraininterval once ml.retrainmin observations are kept) trains in a
//      worker thread and writes the result as the next version of fee-estimator in the user's model folder
//      (<netdir>/models/fee-estimator/<n>/{model.onnx, card.json}: a reload and a restart find it there), its card
//      saying exactly what it was trained on; it is loaded with onnxruntime and checked against its card as every
//      model is (repository.ts), or removed;
//   2. it runs in shadow: the current version keeps answering, the new one answers alongside and its answers are
//      recorded (service.ts: ml.modelinfo's shadow; the outcome tracker's rows, one prediction per version);
//   3. it is compared with the current version on the held-out newest quarter of the history it was trained from
//      and on everything recorded since (never on its own training cohorts): the hit rate within the target and the
//      mean overpayment against the cheapest fee that made it, pooled over RETRAIN_TARGETS, as fee-backtest.ts
//      judges every estimator. It is promoted only when it beats the current version on BOTH; otherwise it stays
//      in shadow and is judged again on the next interval as more history resolves, until a newer retrain drops it.
// Each comparison is kept in the ml room's sublevel (p:<seq>, the newest 1000: each new one deletes the one 1000
// back), written in the same batch as the routing it changes; ml.listpromotions and ml.evaluate show them
// (ml.evaluate is readonly: it never judges).

import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { BitcoinApi } from '../adapters/bitcoin/api.js';
import { rpcError } from '../core/errors.js';
import type { BatchOp, RoomDb, Store } from '../core/store.js';
import type { ModelCard } from './card.js';
import { FEE_FEATURES } from './features.js';
import { modelFigures, type EstimatorFigures } from './fee-backtest.js';
import type { FeeObservations, Observation } from './fee-observations.js';
import { HOLDOUT_SHARE, NotEnoughData, RetrainWorker, type TrainResult } from './fee-retrain-worker.js';
import { moments, pack, RETRAIN_QUANTILE, RETRAIN_TARGETS } from './fee-training.js';
import { loadOne } from './repository.js';
import type { MlService } from './service.js';

export const FEE_MODEL = 'fee-estimator';
const KEPT = 1000;
/** One seed for every retrain: the same observations make the same weights (a retrain on unchanged history ties). */
export const RETRAIN_SEED = 20261207;
const pKey = (n: number): string => `p:${String(n).padStart(12, '0')}`;

export interface Comparison {
  seq: number;
  time: string;
  model: string;
  candidate: number;
  current: number;
  trigger: string;
  decision: 'promoted' | 'refused' | 'dropped';
  reason: string;
  /** Heights of the judged block intervals (null for a dropped candidate). */
  judged_from_height: number | null;
  judged_to_height: number | null;
  targets: number[];
  figures: { candidate: EstimatorFigures; current: EstimatorFigures } | null;
}

export interface RetrainOutcome {
  version: number;
  path: string;
  card: ModelCard;
  comparison: Comparison;
}

export class FeeRetrainer {
  private seq = 0;
  private running: { since: string; done: Promise<unknown> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastRetrain = 0;
  private lastJudgedTip = -1;
  private readonly worker = new RetrainWorker();

  constructor(
    private readonly s: {
      svc: MlService;
      observations: FeeObservations;
      db: RoomDb;
      store: Store;
      /** The user's model folder (ml.modeldir). */
      dir: string;
      network: string;
      chain: Pick<BitcoinApi, 'tip' | 'nodeKind'>;
      /** ml.retrainmin: observations kept before an automatic retrain. */
      min: number;
      /** ml.retraininterval in ms; 0: only on ml.retrain. */
      intervalMs: number;
      log: Logger;
    },
  ) {}

  async open(): Promise<void> {
    for await (const k of this.s.db.keys({ gte: 'p:', lt: 'p;', reverse: true, limit: 1 })) this.seq = Number(k.slice(2));
    if (this.s.intervalMs > 0) {
      this.timer = setInterval(() => void this.tick(), this.s.intervalMs);
      this.timer.unref();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.done.catch(() => undefined);
    await this.worker.close();
  }

  /** One at a time: a second asks while the first runs is refused (retraining is minutes of a CPU at most). */
  private exclusive<T>(what: string, f: () => Promise<T>): Promise<T> {
    if (this.running)
      return Promise.reject(rpcError('Conflict', `a fee model retrain or comparison is running (since ${this.running.since}); ${what} refused`));
    const done = f().finally(() => (this.running = undefined));
    this.running = { since: new Date().toISOString(), done };
    return done;
  }

  /** The interval: retrain when enough observations are kept, else judge a shadowed candidate on new history. */
  private async tick(): Promise<void> {
    if (this.running) return;
    try {
      const tip = this.s.chain.tip()?.height ?? -1;
      // Only on history no version was trained on yet (a chain that did not move would give the same model again).
      if (this.s.observations.count >= this.s.min && Date.now() - this.lastRetrain >= this.s.intervalMs && tip > this.trainedTip())
        await this.retrain('interval');
      else if (tip > this.lastJudgedTip && this.shadowed()) await this.judge('interval');
    } catch (err) {
      this.s.log.warn({ err: (err as Error).message }, 'fee model retrain not done');
    }
  }

  /** The highest tip a loaded version was retrained at (its card says), or -1. */
  private trainedTip(): number {
    const tips = this.s.svc.versions(FEE_MODEL).map((v) => (this.s.svc.engine(FEE_MODEL, v).model.card.training_data as { tip_height?: unknown }).tip_height);
    return Math.max(-1, ...tips.filter((t): t is number => typeof t === 'number'));
  }

  private shadowed(): { active: number; candidate: number } | undefined {
    const r = this.s.svc.router.get(FEE_MODEL, this.s.svc.versions(FEE_MODEL));
    return r.mode === 'shadow' ? r : undefined;
  }

  private async records(): Promise<Observation[]> {
    const all: Observation[] = [];
    for await (const o of this.s.observations.records()) all.push(o);
    return all;
  }

  retrain(trigger: string): Promise<RetrainOutcome> {
    return this.exclusive('retrain', async () => {
      this.lastRetrain = Date.now();
      const { svc } = this.s;
      const tip = this.s.chain.tip();
      if (!tip) throw rpcError('BackendUnavailable', 'bitcoind has no tip yet: nothing to train against', { service: 'bitcoind' });
      const records = await this.records();
      if (records.length === 0) throw rpcError('Conflict', 'no fee observations are kept yet: nothing to train on');
      let first = Infinity;
      let last = -Infinity;
      for (const o of records) {
        first = Math.min(first, o.a);
        last = Math.max(last, o.a);
      }
      const version = await this.nextVersion();
      const started = performance.now();
      let trained: { bytes: Uint8Array; result: TrainResult };
      try {
        trained = await this.worker.train({ packed: pack(records), tip: tip.height, version, seed: RETRAIN_SEED });
      } catch (err) {
        if (err instanceof NotEnoughData) throw rpcError('Conflict', `not enough history to retrain ${FEE_MODEL}: ${err.message}`);
        throw err;
      }
      const seconds = Math.round((performance.now() - started) / 10) / 100;
      const card = sealCard(this.card(version, trained.result, { observations: records.length, first, last, tip, seconds, trigger }), trained.bytes);
      const path = await this.write(version, card, trained.bytes);
      let model;
      try {
        model = await loadOne(path, FEE_MODEL, version);
      } catch (err) {
        await rm(path, { recursive: true, force: true });
        throw rpcError('InternalError', `the retrained ${FEE_MODEL} v${version} did not load, removed: ${(err as Error).message}`);
      }
      // Pinned before the new version joins: without a routing the highest version answers, and it must not.
      const before = svc.versions(FEE_MODEL);
      const routing = svc.router.get(FEE_MODEL, before);
      const current = routing.mode === 'split' ? Number(Object.entries(routing.weights).sort((a, b) => b[1] - a[1])[0]![0]) : routing.active;
      if (!svc.router.has(FEE_MODEL)) await svc.router.set(FEE_MODEL, { mode: 'single', active: current }, before);
      svc.adopt(model);
      const dropped: BatchOp[] = [];
      if (routing.mode === 'shadow')
        dropped.push(
          ...this.recordOps({
            model: FEE_MODEL,
            candidate: routing.candidate,
            current,
            trigger,
            decision: 'dropped',
            reason: `superseded by v${version} (retrained) before it beat v${current}`,
            judged_from_height: null,
            judged_to_height: null,
            targets: [...RETRAIN_TARGETS],
            figures: null,
          }),
        );
      await svc.router.set(FEE_MODEL, { mode: 'shadow', active: current, candidate: version }, svc.versions(FEE_MODEL), dropped);
      this.s.log.info({ version, rows: trained.result.rows, observations: records.length, seconds }, 'fee model retrained, in shadow');
      const comparison = await this.compare(trigger, records);
      return { version, path, card, comparison: comparison! };
    });
  }

  /** The interval's comparison of a shadowed candidate; null when none is in shadow. */
  judge(trigger: string): Promise<Comparison | null> {
    return this.exclusive('comparison', async () => (this.shadowed() ? this.compare(trigger, await this.records()) : null));
  }

  private async compare(trigger: string, records: Observation[]): Promise<Comparison | null> {
    const { svc } = this.s;
    const sh = this.shadowed();
    const tip = this.s.chain.tip()?.height;
    if (!sh || tip === undefined) return null;
    this.lastJudgedTip = tip;
    const cand = svc.engine(FEE_MODEL, sh.candidate);
    const cur = svc.engine(FEE_MODEL, sh.active);
    // A retrained candidate is judged from its held-out start on; another one (routed to shadow by hand) on all.
    const held = (cand.model.card.training_data as { holdout_from_height?: unknown }).holdout_from_height;
    const from = typeof held === 'number' ? held : -Infinity;
    const ms = moments(pack(records), tip, RETRAIN_TARGETS);
    const c = await modelFigures(ms, RETRAIN_TARGETS, from, (rows) => cand.runMany(rows));
    const k = await modelFigures(ms, RETRAIN_TARGETS, from, (rows) => cur.runMany(rows));
    const judged = ms.filter((m) => m.h >= from);
    const f = (x: number | null): string => (x === null ? 'none' : String(x));
    // A version that never hit has no overpayment to beat: it counts as the worst there.
    const hitBetter = c.hit_rate !== null && c.hit_rate > (k.hit_rate ?? -1);
    const overBetter = c.mean_overpay_sat_vb !== null && c.mean_overpay_sat_vb < (k.mean_overpay_sat_vb ?? Infinity);
    const promoted = c.transactions > 0 && hitBetter && overBetter;
    const where = `over ${c.transactions} transactions in ${c.answered} block-interval judgements from height ${judged[0]?.h ?? tip} to ${tip} (targets ${RETRAIN_TARGETS.join(', ')})`;
    const reason =
      c.transactions === 0
        ? `no held-out block interval of v${sh.candidate} is resolved yet: it stays in shadow`
        : promoted
          ? `v${sh.candidate} beats v${sh.active} on both: hit rate ${f(c.hit_rate)} > ${f(k.hit_rate)} and mean overpayment ${f(c.mean_overpay_sat_vb)} < ${f(k.mean_overpay_sat_vb)} sat/vB ${where}: promoted`
          : `v${sh.candidate} does not beat v${sh.active} on both: hit rate ${f(c.hit_rate)} vs ${f(k.hit_rate)} (${hitBetter ? 'better' : 'not better'}), mean overpayment ${f(c.mean_overpay_sat_vb)} vs ${f(k.mean_overpay_sat_vb)} sat/vB (${overBetter ? 'better' : 'not better'}) ${where}: it stays in shadow`;
    const record: Omit<Comparison, 'seq' | 'time'> = {
      model: FEE_MODEL,
      candidate: sh.candidate,
      current: sh.active,
      trigger,
      decision: promoted ? 'promoted' : 'refused',
      reason,
      judged_from_height: judged[0]?.h ?? null,
      judged_to_height: tip,
      targets: [...RETRAIN_TARGETS],
      figures: { candidate: c, current: k },
    };
    const ops = this.recordOps(record);
    if (promoted) await svc.router.set(FEE_MODEL, { mode: 'single', active: sh.candidate }, svc.versions(FEE_MODEL), ops);
    else await this.s.store.batch(ops);
    this.s.log.info({ candidate: sh.candidate, current: sh.active, decision: record.decision }, reason);
    return ops[0].value;
  }

  /** The put of a new comparison record, and the delete of the oldest beyond KEPT (in the caller's batch). */
  private recordOps(r: Omit<Comparison, 'seq' | 'time'>): [BatchOp & { value: Comparison }, ...BatchOp[]] {
    const seq = ++this.seq;
    const put = { type: 'put' as const, sublevel: this.s.db, key: pKey(seq), value: { seq, time: new Date().toISOString(), ...r } };
    // Numbered without gaps: deleting the one KEPT back with each new one keeps exactly the newest KEPT.
    return seq > KEPT ? [put, { type: 'del', sublevel: this.s.db, key: pKey(seq - KEPT) }] : [put];
  }

  async list(limit: number): Promise<Comparison[]> {
    const out: Comparison[] = [];
    for await (const v of this.s.db.values({ gte: 'p:', lt: 'p;', reverse: true, limit })) out.push(v as Comparison);
    return out;
  }

  private async nextVersion(): Promise<number> {
    const onDisk = (await readdir(join(this.s.dir, FEE_MODEL)).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).map(Number);
    return Math.max(0, ...this.s.svc.versions(FEE_MODEL), ...onDisk) + 1;
  }

  /** Written beside, then renamed into place: a version folder is complete or absent. */
  private async write(version: number, card: ModelCard, bytes: Uint8Array): Promise<string> {
    const final = join(this.s.dir, FEE_MODEL, String(version));
    const tmp = join(this.s.dir, FEE_MODEL, `.${version}.tmp-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, 'model.onnx'), bytes, { flush: true });
    await writeFile(join(tmp, 'card.json'), `${JSON.stringify(card, null, 2)}\n`, { flush: true });
    await rename(tmp, final).catch(async (err: NodeJS.ErrnoException) => {
      await rm(tmp, { recursive: true, force: true });
      throw rpcError('Conflict', `${final} exists already (${err.code}): ${FEE_MODEL} v${version} was not written`);
    });
    return final;
  }

  private card(
    version: number,
    r: TrainResult,
    d: { observations: number; first: number; last: number; tip: { height: number; hash: string }; seconds: number; trigger: string },
  ): ModelCard {
    const firstIso = new Date(d.first).toISOString();
    const lastIso = new Date(d.last).toISOString();
    const node = this.s.chain.nodeKind() ?? 'unknown';
    const statement =
      `Retrained by anyad on this node's own fee observations: ${d.observations} mempool transactions observed by the ${node} node on ${this.s.network} ` +
      `(chain tip ${d.tip.height} ${d.tip.hash}), arriving from ${firstIso} to ${lastIso}. Rows: ${r.rows} (${r.training_rows} for training from the ` +
      `block intervals at heights ${r.first_height} to ${r.last_height}, ${r.holdout_rows} held out from height ${r.holdout_from_height}), one per block ` +
      `interval and target (${RETRAIN_TARGETS.join(', ')} blocks). Features: the mempool as observed at the interval's median arrival (fee extractor). ` +
      `Label: the cheapest fee rate among the interval's transactions that all confirmed within the target (replaced and evicted ones left out; ` +
      `intervals where none made it give no row), learned as log1p with the pinball loss at ${RETRAIN_QUANTILE}: the model answers the rate that ` +
      `was enough in ${RETRAIN_QUANTILE * 100}% of such moments on this node. It knows only what this node saw; it is promoted over the current ` +
      `version only when it beats it on both hit rate and overpayment on the held-out history (ml.listpromotions).`;
    return {
      id: FEE_MODEL,
      version,
      task: 'regression',
      description: `Fee rate (sat/vB) that was enough, ${RETRAIN_QUANTILE * 100}% of the time, to confirm within the target on this node: retrained on its own mempool observations.`,
      extractor: 'fee',
      inputs: [
        { name: 'features', dtype: 'float32', shape: ['N', FEE_FEATURES.length], features: [...FEE_FEATURES], ranges: r.input_ranges, out_of_range: 'clamp' },
      ],
      outputs: [
        {
          name: 'output',
          dtype: 'float32',
          shape: ['N', 1],
          meaning: `log1p of the fee rate enough at the ${RETRAIN_QUANTILE} quantile; anyad answers expm1 of it, within the training labels' range`,
          units: 'log1p(sat/vB)',
          ranges: [r.output_range],
          out_of_range: 'clamp',
        },
      ],
      postprocess: 'expm1',
      training_data: {
        source: 'node-observations',
        statement,
        inputs_outside_training: 'clamped to inputs[0].ranges; the answer is clamped to outputs[0].ranges (at least 1 sat/vB)',
        observations: d.observations,
        rows: r.rows,
        training_rows: r.training_rows,
        holdout_rows: r.holdout_rows,
        holdout_share: HOLDOUT_SHARE,
        first_observation: firstIso,
        last_observation: lastIso,
        network: this.s.network,
        node,
        tip_height: d.tip.height,
        tip_hash: d.tip.hash,
        first_height: r.first_height,
        last_height: r.last_height,
        holdout_from_height: r.holdout_from_height,
        targets: [...RETRAIN_TARGETS],
        quantile: RETRAIN_QUANTILE,
        trigger: d.trigger,
      } as ModelCard['training_data'],
      metrics: {
        training_loss: r.training_loss,
        ...(Number.isFinite(r.holdout_loss) ? { holdout_loss: r.holdout_loss } : {}),
        training_rows: r.training_rows,
        holdout_rows: r.holdout_rows,
        epochs: r.epochs,
        training_seconds: d.seconds,
      },
      created: new Date().toISOString(),
      sha256: '',
    };
  }
}

/** The card with the sha256 of the bytes it describes. */
export function sealCard(card: ModelCard, bytes: Uint8Array): ModelCard {
  return { ...card, sha256: createHash('sha256').update(bytes).digest('hex') };
}
