// ml.* methods.

import * as D from './declarations.js';
import type * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../core/errors.js';
import { implement, type MethodSpec } from '../core/methods.js';
import { FeatureError, feeFeatures, parseTx, riskFeatures, type FeeSnapshot } from './features.js';
import type { MlService } from './service.js';
import type { FeeEstimator } from './fee-estimate.js';
import type { FeeRetrainer } from './fee-retrain.js';

export const feature = <T>(f: () => T): T => {
  try {
    return f();
  } catch (err) {
    if (err instanceof FeatureError) throw rpcError('InvalidParams', err.message);
    throw err;
  }
};

export interface FeeSource {
  connected(): boolean;
  feeSnapshot(target: number): Promise<FeeSnapshot & { height: number; sample: Array<{ txid: string; feerate: number }> }>;
  coreEstimate(target: number): Promise<number | null>;
}

const NO_OBSERVATIONS = 'fee observations are kept only with bitcoind and ml.feeobserve=1';

export function mlMethods(
  svc: MlService,
  network: bitcoin.Network,
  fees: FeeSource | undefined,
  feeEst?: FeeEstimator,
  retrainer?: FeeRetrainer,
): MethodSpec[] {
  const noRetrain = (): never => {
    throw rpcError('BackendUnavailable', `the fee model is retrained only on fee observations: ${NO_OBSERVATIONS}`, { service: 'bitcoind' });
  };
  const extractorOf = (id: string): string => svc.engine(id, svc.versions(id)[0]!).model.card.extractor;
  return [
    implement(D.mlStatus, () => ({
      runtime: svc.runtime(),
      models: svc.all().map((e) => ({ id: e.model.id, version: e.model.version, stats: e.stats.snapshot() })),
      not_loaded: svc.broken.length,
    })),
    implement(D.mlListmodels, () => {
      const loaded = svc
        .all()
        .map((e) => ({ id: e.model.id, version: e.model.version, task: e.model.card.task, extractor: e.model.card.extractor, path: e.model.path }));
      const ids = [...new Set(loaded.map((m) => m.id))];
      return { loaded, not_loaded: svc.broken, routing: Object.fromEntries(ids.map((id) => [id, svc.router.get(id, svc.versions(id))])) };
    }),
    implement(D.mlModelinfo, ({ id, version }) => {
      const versions = svc.versions(id);
      const routing = svc.router.get(id, versions);
      const v = version ?? (routing.mode === 'split' ? Math.max(...versions) : routing.active);
      const e = svc.engine(id, v);
      return { card: e.model.card, routing, versions, stats: e.stats.snapshot(), shadow: svc.shadowSummary(id) };
    }),
    implement(D.mlPredict, ({ id, features, key }) => {
      if (!features) throw rpcError('InvalidParams', 'give features (or use ml.estimatefee / ml.scoretx for raw inputs)');
      return svc.predict(id, Float32Array.from(features), key);
    }),
    implement(D.mlEstimatefee, async ({ target, snapshot, model, key, confidence = 80, estimator = 'auto' }) => {
      const id = model ?? 'fee-estimator';
      if (extractorOf(id) !== 'fee') throw rpcError('InvalidParams', `${id} is not a fee model`);
      let snap: FeeSnapshot;
      let live: Awaited<ReturnType<FeeSource['feeSnapshot']>> | undefined;
      let source: string;
      if (snapshot) {
        snap = { ...snapshot, target };
        source = 'snapshot given';
      } else if (fees?.connected()) {
        live = await fees.feeSnapshot(target);
        snap = live;
        source = 'bitcoind mempool';
      } else throw rpcError('BackendUnavailable', 'bitcoind is not connected: give a snapshot', { service: 'bitcoind' });
      const row = feature(() => feeFeatures(snap));
      // A longer target never costs more: the answer is the lowest estimate of every target up to this one
      // (one batch through the engine), so estimates are non-increasing in the target whatever the model does.
      const rows = Array.from({ length: target }, (_, i) => (i + 1 === target ? row : feature(() => feeFeatures({ ...snap, target: i + 1 }))));
      const all = await Promise.all(rows.map((r) => svc.predict(id, r, key)));
      const p = { ...all[target - 1]!, output: Math.min(...all.map((x) => x.output)) };
      if (live && svc.outcomes) {
        // Every loaded version answers the same moment, so ml.evaluate can compare them on equal terms.
        const predictions: Record<string, number> = {};
        for (const v of svc.versions(id)) predictions[v] = await svc.engine(id, v).infer(row);
        await svc.outcomes.tracker.record({
          time: new Date().toISOString(),
          height: live.height,
          target,
          model: id,
          features: Array.from(row),
          predictions,
          core_sat_per_vb: await fees!.coreEstimate(target).catch(() => null),
          sample: live.sample,
        });
      }
      const modelRate = Math.max(1, Math.round(p.output * 100) / 100);
      const base = {
        target,
        model: id,
        version: p.version,
        source,
        cached: p.cached,
        recent_block_feerates: snap.recent_block_feerates.slice(0, 6),
        confidence,
      };
      const modelAnswer = (reason: string) => ({
        ...base,
        sat_per_vb: modelRate,
        estimator: 'model' as const,
        reason,
        candidates: { tracking: null, projected: null, model: modelRate },
        backtest: null,
      });
      if (estimator === 'model') return modelAnswer('asked for: the fee model');
      if (snapshot) return modelAnswer('a snapshot was given: only the fee model reads snapshots');
      if (model) return modelAnswer(`a fee model was named (${model})`);
      if (!feeEst) {
        if (estimator !== 'auto') throw rpcError('BackendUnavailable', `${estimator} needs fee observations: ${NO_OBSERVATIONS}`, { service: 'bitcoind' });
        return modelAnswer(`no fee observations (${NO_OBSERVATIONS}): the fee model`);
      }
      const c = feeEst.choose(target, confidence, estimator);
      if (c.sat_per_vb === null) throw rpcError('NotFound', `the ${c.estimator} estimator has no answer: ${c.reason}`);
      return {
        ...base,
        sat_per_vb: c.sat_per_vb,
        estimator: c.estimator,
        reason: c.reason,
        candidates: { ...c.candidates, model: modelRate },
        backtest: c.backtest,
      };
    }),
    implement(D.mlScoretx, async ({ hex, psbt, model, key }) => {
      if ((hex === undefined) === (psbt === undefined)) throw rpcError('InvalidParams', 'give exactly one of hex or psbt');
      const id = model ?? 'tx-risk';
      if (extractorOf(id) !== 'risk') throw rpcError('InvalidParams', `${id} is not a risk model`);
      const row = feature(() => riskFeatures(parseTx(hex !== undefined ? { hex } : { psbt: psbt! }, network)));
      const p = await svc.predict(id, row, key);
      return { score: Math.min(1, Math.max(0, p.output)), model: id, version: p.version, cached: p.cached };
    }),
    implement(D.mlEvaluate, async ({ model, target, confidence = 80, blocks }) => {
      if (!svc.outcomes && !feeEst)
        throw rpcError('BackendUnavailable', 'outcomes are collected only with bitcoind (and ml.datasetmax > 0 or ml.feeobserve=1)', { service: 'bitcoind' });
      const live = svc.outcomes ? await svc.outcomes.tracker.evaluate(model) : { rows: 0, resolved: 0, with_outcome: 0, versions: {}, core: null };
      let isFee = false;
      try {
        isFee = extractorOf(model) === 'fee';
      } catch {
        // not loaded: no version to replay
      }
      const runs = isFee ? Object.fromEntries(svc.versions(model).map((v) => [String(v), (rows: Float32Array[]) => svc.engine(model, v).runMany(rows)])) : {};
      const bt = feeEst ? await feeEst.evaluate(target, confidence, blocks, runs) : null;
      if (!bt) return { ...live, backtest: null };
      // The last comparison of a retrained version (fee-retrain.ts judges a shadowed one at each interval and on
      // ml.retrain; ml.evaluate is readonly and changes no routing).
      const promotion = retrainer && model === 'fee-estimator' ? ((await retrainer.list(1))[0] ?? null) : null;
      const { models, ...rest } = bt;
      const modelEntry = isFee ? { available: true as const, versions: models } : { available: false as const, reason: `${model} is not a loaded fee model` };
      return { ...live, backtest: { ...rest, promotion, estimators: { ...rest.estimators, model: modelEntry } } };
    }),
    implement(D.mlFeestats, () => {
      if (!feeEst) throw rpcError('BackendUnavailable', NO_OBSERVATIONS, { service: 'bitcoind' });
      return feeEst.observations.stats();
    }),
    implement(D.mlExportdataset, async ({ destination, model }) => {
      if (!destination.startsWith('/')) throw rpcError('InvalidParams', 'destination must be an absolute path');
      if (!svc.outcomes) throw rpcError('BackendUnavailable', 'outcomes are collected only with bitcoind (and ml.datasetmax > 0)', { service: 'bitcoind' });
      const names = svc.engine(model, svc.versions(model)[0]!).model.card.inputs[0]!.features ?? [];
      try {
        return await svc.outcomes.tracker.export(destination, model, names);
      } catch (err) {
        throw rpcError(/already exists/.test((err as Error).message) ? 'Conflict' : 'InvalidParams', (err as Error).message);
      }
    }),
    implement(D.mlSetrouting, async ({ id, routing }) => (await svc.router.set(id, routing, svc.versions(id)), true)),
    implement(D.mlPromote, async ({ id, version }) => (await svc.router.set(id, { mode: 'single', active: version }, svc.versions(id)), true)),
    implement(D.mlRollback, ({ id }) => svc.router.rollback(id)),
    implement(D.mlRetrain, () => (retrainer ?? noRetrain()).retrain('ml.retrain')),
    implement(D.mlListpromotions, ({ limit }) => (retrainer ?? noRetrain()).list(limit)),
    implement(D.mlReload, async () => {
      await svc.reload();
      return { loaded: svc.all().length, not_loaded: svc.broken.length };
    }),
  ];
}
