// ml.* methods.

import { Type } from '@sinclair/typebox';
import type * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../rpc/errors.js';
import { defineMethod, type MethodSpec } from '../rpc/registry.js';
import { FeatureError, feeFeatures, parseTx, riskFeatures, type FeeSnapshot } from './features.js';
import { ModelCardSchema } from './card.js';
import { RoutingSchema } from './routing.js';
import type { MlService } from './service.js';

const ModelId = Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$', description: 'Model id.' });
const NoParams = Type.Object({}, { additionalProperties: false });
const Key = Type.Optional(Type.String({ maxLength: 200, description: 'Caller key for sticky split routing (e.g. an app or user id).' }));
const Prediction = Type.Object({
  id: Type.String(),
  version: Type.Integer(),
  output: Type.Number(),
  cached: Type.Boolean(),
  shadow: Type.Optional(Type.Object({ version: Type.Integer(), output: Type.Number() })),
});
const Snapshot = Type.Object(
  {
    mempool_vsize: Type.Number({ minimum: 0 }),
    fee_histogram: Type.Array(Type.Tuple([Type.Number({ minimum: 0 }), Type.Number({ minimum: 0 })]), { maxItems: 10000 }),
    recent_block_feerates: Type.Array(Type.Number({ minimum: 0 }), { maxItems: 100 }),
    seconds_since_last_block: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false, description: 'A mempool snapshot, when anyad has no bitcoind to take one from.' },
);

const feature = <T>(f: () => T): T => {
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

export function mlMethods(svc: MlService, network: bitcoin.Network, fees: FeeSource | undefined): MethodSpec[] {
  const extractorOf = (id: string): string => svc.engine(id, svc.versions(id)[0]!).model.card.extractor;
  return [
    defineMethod({
      name: 'ml.status',
      summary: 'Runtime (onnxruntime version, execution provider, arch), loaded models, and per-version figures.',
      params: NoParams,
      result: Type.Object({
        runtime: Type.Record(Type.String(), Type.String()),
        models: Type.Array(Type.Object({ id: Type.String(), version: Type.Integer(), stats: Type.Record(Type.String(), Type.Number()) })),
        not_loaded: Type.Integer(),
      }),
      role: 'readonly',
      handler: () => ({
        runtime: svc.runtime(),
        models: svc.all().map((e) => ({ id: e.model.id, version: e.model.version, stats: e.stats.snapshot() })),
        not_loaded: svc.broken.length,
      }),
    }),
    defineMethod({
      name: 'ml.listmodels',
      summary: 'Every model version found: loaded ones with their routing, and the ones not loaded with the reason.',
      params: NoParams,
      result: Type.Object({
        loaded: Type.Array(Type.Object({ id: Type.String(), version: Type.Integer(), task: Type.String(), extractor: Type.String(), path: Type.String() })),
        not_loaded: Type.Array(
          Type.Object({ id: Type.String(), version: Type.Union([Type.Integer(), Type.Null()]), path: Type.String(), reason: Type.String() }),
        ),
        routing: Type.Record(Type.String(), RoutingSchema, { description: 'model id -> its routing' }),
      }),
      role: 'readonly',
      handler: () => {
        const loaded = svc
          .all()
          .map((e) => ({ id: e.model.id, version: e.model.version, task: e.model.card.task, extractor: e.model.card.extractor, path: e.model.path }));
        const ids = [...new Set(loaded.map((m) => m.id))];
        return { loaded, not_loaded: svc.broken, routing: Object.fromEntries(ids.map((id) => [id, svc.router.get(id, svc.versions(id))])) };
      },
    }),
    defineMethod({
      name: 'ml.modelinfo',
      summary: "A model's card (inputs, outputs, training data, metrics), routing and shadow comparison.",
      params: Type.Object(
        { id: ModelId, version: Type.Optional(Type.Integer({ minimum: 1, description: 'Default: the active version.' })) },
        { additionalProperties: false },
      ),
      result: Type.Object({
        card: ModelCardSchema,
        routing: RoutingSchema,
        versions: Type.Array(Type.Integer()),
        stats: Type.Record(Type.String(), Type.Number()),
        shadow: Type.Union([
          Type.Object({
            count: Type.Integer(),
            mean_abs_diff: Type.Number(),
            recent: Type.Array(
              Type.Object({
                time: Type.String(),
                active: Type.Object({ version: Type.Integer(), output: Type.Number() }),
                candidate: Type.Object({ version: Type.Integer(), output: Type.Number() }),
              }),
            ),
          }),
          Type.Null(),
        ]),
      }),
      role: 'readonly',
      handler: ({ id, version }) => {
        const versions = svc.versions(id);
        const routing = svc.router.get(id, versions);
        const v = version ?? (routing.mode === 'split' ? Math.max(...versions) : routing.active);
        const e = svc.engine(id, v);
        return { card: e.model.card, routing, versions, stats: e.stats.snapshot(), shadow: svc.shadowSummary(id) };
      },
    }),
    defineMethod({
      name: 'ml.predict',
      summary: 'Run a model on a feature vector (in the order its card lists), or on raw input its extractor reads.',
      params: Type.Object(
        { id: ModelId, features: Type.Optional(Type.Array(Type.Number(), { maxItems: 4096, description: 'The feature vector.' })), key: Key },
        { additionalProperties: false },
      ),
      result: Prediction,
      role: 'user',
      handler: ({ id, features, key }) => {
        if (!features) throw rpcError('InvalidParams', 'give features (or use ml.estimatefee / ml.scoretx for raw inputs)');
        return svc.predict(id, Float32Array.from(features), key);
      },
    }),
    defineMethod({
      name: 'ml.estimatefee',
      summary:
        'Fee rate in sat/vB for a confirmation target, from the fee model, on a snapshot from bitcoind (when connected) or the one given; at least 1, never more than for a shorter target.',
      description:
        "Features outside the model's training ranges are clamped to them (the model card lists the ranges). The live snapshot carries the median fee rates of the last 6 blocks anyad has seen, as the model was trained with.",
      params: Type.Object(
        {
          target: Type.Integer({ minimum: 1, maximum: 1008, default: 6, description: 'Blocks.' }),
          snapshot: Type.Optional(Snapshot),
          model: Type.Optional(ModelId),
          key: Key,
        },
        { additionalProperties: false },
      ),
      result: Type.Object({
        sat_per_vb: Type.Number(),
        target: Type.Integer(),
        model: Type.String(),
        version: Type.Integer(),
        source: Type.String(),
        cached: Type.Boolean(),
        recent_block_feerates: Type.Array(Type.Number(), { description: 'The block fee rates the estimate used (newest first).' }),
      }),
      role: 'readonly',
      handler: async ({ target, snapshot, model, key }) => {
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
        return {
          sat_per_vb: Math.max(1, Math.round(p.output * 100) / 100),
          target,
          model: id,
          version: p.version,
          source,
          cached: p.cached,
          recent_block_feerates: snap.recent_block_feerates.slice(0, 6),
        };
      },
    }),
    defineMethod({
      name: 'ml.scoretx',
      summary: 'A 0..1 risk score for a raw transaction (hex) or a PSBT (base64; with UTXO data the fee rate and reuse count too).',
      params: Type.Object(
        {
          hex: Type.Optional(Type.String({ maxLength: 8_000_000, pattern: '^([0-9a-fA-F]{2})+$' })),
          psbt: Type.Optional(Type.String({ maxLength: 4_000_000 })),
          model: Type.Optional(ModelId),
          key: Key,
        },
        { additionalProperties: false },
      ),
      result: Type.Object({ score: Type.Number(), model: Type.String(), version: Type.Integer(), cached: Type.Boolean() }),
      role: 'readonly',
      handler: async ({ hex, psbt, model, key }) => {
        if ((hex === undefined) === (psbt === undefined)) throw rpcError('InvalidParams', 'give exactly one of hex or psbt');
        const id = model ?? 'tx-risk';
        if (extractorOf(id) !== 'risk') throw rpcError('InvalidParams', `${id} is not a risk model`);
        const row = feature(() => riskFeatures(parseTx(hex !== undefined ? { hex } : { psbt: psbt! }, network)));
        const p = await svc.predict(id, row, key);
        return { score: Math.min(1, Math.max(0, p.output)), model: id, version: p.version, cached: p.cached };
      },
    }),
    defineMethod({
      name: 'ml.evaluate',
      summary: "Each version's live error against what fee rates actually confirmed on this node, next to bitcoind's estimatesmartfee.",
      params: Type.Object(
        { model: Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$', default: 'fee-estimator', description: 'A fee model id.' }) },
        { additionalProperties: false },
      ),
      result: Type.Object({
        rows: Type.Integer(),
        resolved: Type.Integer(),
        with_outcome: Type.Integer(),
        versions: Type.Record(Type.String(), Type.Object({ n: Type.Integer(), mae_sat_vb: Type.Number(), median_relative_error: Type.Number() })),
        core: Type.Union([Type.Object({ n: Type.Integer(), mae_sat_vb: Type.Number(), median_relative_error: Type.Number() }), Type.Null()]),
      }),
      role: 'readonly',
      handler: ({ model }) => {
        if (!svc.outcomes) throw rpcError('BackendUnavailable', 'outcomes are collected only with bitcoind (and ml.datasetmax > 0)', { service: 'bitcoind' });
        return svc.outcomes.tracker.evaluate(model);
      },
    }),
    defineMethod({
      name: 'ml.exportdataset',
      summary: 'Write the collected live estimates with their outcomes as CSV to a new file (0600), for retraining with tools/.',
      params: Type.Object(
        {
          destination: Type.String({ minLength: 2, maxLength: 4096, description: 'Absolute path of a file to create.' }),
          model: Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$', default: 'fee-estimator', description: 'A fee model id.' }),
        },
        { additionalProperties: false },
      ),
      result: Type.Object({ path: Type.String(), rows: Type.Integer() }),
      role: 'admin',
      handler: async ({ destination, model }) => {
        if (!destination.startsWith('/')) throw rpcError('InvalidParams', 'destination must be an absolute path');
        if (!svc.outcomes) throw rpcError('BackendUnavailable', 'outcomes are collected only with bitcoind (and ml.datasetmax > 0)', { service: 'bitcoind' });
        const names = svc.engine(model, svc.versions(model)[0]!).model.card.inputs[0]!.features ?? [];
        try {
          return await svc.outcomes.tracker.export(destination, model, names);
        } catch (err) {
          throw rpcError(/already exists/.test((err as Error).message) ? 'Conflict' : 'InvalidParams', (err as Error).message);
        }
      },
    }),
    defineMethod({
      name: 'ml.setrouting',
      summary: 'Route a model: one active version, a weighted split (sticky per caller key), or shadow (candidate runs alongside).',
      params: Type.Object({ id: ModelId, routing: RoutingSchema }, { additionalProperties: false }),
      result: Type.Boolean(),
      role: 'admin',
      handler: async ({ id, routing }) => (await svc.router.set(id, routing, svc.versions(id)), true),
    }),
    defineMethod({
      name: 'ml.promote',
      summary: 'Make one version the only active one.',
      params: Type.Object({ id: ModelId, version: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
      result: Type.Boolean(),
      role: 'admin',
      handler: async ({ id, version }) => (await svc.router.set(id, { mode: 'single', active: version }, svc.versions(id)), true),
    }),
    defineMethod({
      name: 'ml.rollback',
      summary: 'Go back to the routing before the last change.',
      params: Type.Object({ id: ModelId }, { additionalProperties: false }),
      result: RoutingSchema,
      role: 'admin',
      handler: ({ id }) => svc.router.rollback(id),
    }),
    defineMethod({
      name: 'ml.reload',
      summary: 'Load the model folders again (also on SIGHUP); requests in flight finish on the versions they started on.',
      params: NoParams,
      result: Type.Object({ loaded: Type.Integer(), not_loaded: Type.Integer() }),
      role: 'admin',
      handler: async () => {
        await svc.reload();
        return { loaded: svc.all().length, not_loaded: svc.broken.length };
      },
    }),
  ];
}
