// The declarations of methods (name, summary, params and result schemas, role, errors): data that the docs and
// the daemon read without the room's code; the handlers are bound in the room's methods module.

import { declareMethod, NoParams, type MethodDeclaration } from '../core/methods.js';
import { Type } from '@sinclair/typebox';

export const TensorSpec = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  dtype: Type.Literal('float32'),
  shape: Type.Array(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ maxLength: 20 })]), { minItems: 1, maxItems: 4 }),
  features: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 4096 })),
  meaning: Type.Optional(Type.String({ maxLength: 500 })),
  units: Type.Optional(Type.String({ maxLength: 100 })),
  /** Per feature (inputs) or for the value (outputs): the [min, max] seen in training. */
  ranges: Type.Optional(Type.Array(Type.Tuple([Type.Number(), Type.Number()]), { maxItems: 4096 })),
  /** What anyad does with a value outside `ranges`: clamp it to the nearest bound (the model never extrapolates). */
  out_of_range: Type.Optional(Type.Literal('clamp')),
});

export const RoutingSchema = Type.Union([
  Type.Object({ mode: Type.Literal('single'), active: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
  Type.Object(
    {
      mode: Type.Literal('split'),
      weights: Type.Record(Type.String({ pattern: '^[0-9]+$' }), Type.Number({ minimum: 0 }), { description: 'version -> weight' }),
    },
    { additionalProperties: false },
  ),
  Type.Object({ mode: Type.Literal('shadow'), active: Type.Integer({ minimum: 1 }), candidate: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
]);

export const ModelCardSchema = Type.Object({
  id: Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' }),
  version: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  task: Type.Union([Type.Literal('regression'), Type.Literal('classification')]),
  description: Type.String({ maxLength: 1000 }),
  extractor: Type.Union([Type.Literal('fee'), Type.Literal('risk'), Type.Literal('none')]),
  inputs: Type.Array(TensorSpec, { minItems: 1, maxItems: 1 }),
  outputs: Type.Array(TensorSpec, { minItems: 1, maxItems: 1 }),
  postprocess: Type.Union([Type.Literal('none'), Type.Literal('expm1')]),
  training_data: Type.Object({ source: Type.String({ maxLength: 100 }), statement: Type.String({ maxLength: 4000 }) }, { additionalProperties: true }),
  metrics: Type.Record(Type.String(), Type.Number()),
  created: Type.String({ maxLength: 40 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
});

export const ModelId = Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$', description: 'Model id.' });

export const Key = Type.Optional(Type.String({ maxLength: 200, description: 'Caller key for sticky split routing (e.g. an app or user id).' }));

export const Prediction = Type.Object({
  id: Type.String(),
  version: Type.Integer(),
  output: Type.Number(),
  cached: Type.Boolean(),
  shadow: Type.Optional(Type.Object({ version: Type.Integer(), output: Type.Number() })),
});

export const Snapshot = Type.Object(
  {
    mempool_vsize: Type.Number({ minimum: 0 }),
    fee_histogram: Type.Array(Type.Tuple([Type.Number({ minimum: 0 }), Type.Number({ minimum: 0 })]), { maxItems: 10000 }),
    recent_block_feerates: Type.Array(Type.Number({ minimum: 0 }), { maxItems: 100 }),
    seconds_since_last_block: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false, description: 'A mempool snapshot, when anyad has no bitcoind to take one from.' },
);

export const mlStatus = declareMethod({
  name: 'ml.status',
  summary: 'Runtime (onnxruntime version, execution provider, arch), loaded models, and per-version figures.',
  params: NoParams,
  result: Type.Object({
    runtime: Type.Record(Type.String(), Type.String()),
    models: Type.Array(Type.Object({ id: Type.String(), version: Type.Integer(), stats: Type.Record(Type.String(), Type.Number()) })),
    not_loaded: Type.Integer(),
  }),
  role: 'readonly',
});

export const mlListmodels = declareMethod({
  name: 'ml.listmodels',
  summary: 'Every model version found: loaded ones with their routing, and the ones not loaded with the reason.',
  params: NoParams,
  result: Type.Object({
    loaded: Type.Array(Type.Object({ id: Type.String(), version: Type.Integer(), task: Type.String(), extractor: Type.String(), path: Type.String() })),
    not_loaded: Type.Array(Type.Object({ id: Type.String(), version: Type.Union([Type.Integer(), Type.Null()]), path: Type.String(), reason: Type.String() })),
    routing: Type.Record(Type.String(), RoutingSchema, { description: 'model id -> its routing' }),
  }),
  role: 'readonly',
});

export const mlModelinfo = declareMethod({
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
});

export const mlPredict = declareMethod({
  name: 'ml.predict',
  summary: 'Run a model on a feature vector (in the order its card lists), or on raw input its extractor reads.',
  params: Type.Object(
    { id: ModelId, features: Type.Optional(Type.Array(Type.Number(), { maxItems: 4096, description: 'The feature vector.' })), key: Key },
    { additionalProperties: false },
  ),
  result: Prediction,
  role: 'user',
});

export const mlEstimatefee = declareMethod({
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
});

export const mlScoretx = declareMethod({
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
});

export const mlEvaluate = declareMethod({
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
});

export const mlExportdataset = declareMethod({
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
});

export const mlSetrouting = declareMethod({
  name: 'ml.setrouting',
  summary: 'Route a model: one active version, a weighted split (sticky per caller key), or shadow (candidate runs alongside).',
  params: Type.Object({ id: ModelId, routing: RoutingSchema }, { additionalProperties: false }),
  result: Type.Boolean(),
  role: 'admin',
});

export const mlPromote = declareMethod({
  name: 'ml.promote',
  summary: 'Make one version the only active one.',
  params: Type.Object({ id: ModelId, version: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
  result: Type.Boolean(),
  role: 'admin',
});

export const mlRollback = declareMethod({
  name: 'ml.rollback',
  summary: 'Go back to the routing before the last change.',
  params: Type.Object({ id: ModelId }, { additionalProperties: false }),
  result: RoutingSchema,
  role: 'admin',
});

export const mlReload = declareMethod({
  name: 'ml.reload',
  summary: 'Load the model folders again (also on SIGHUP); requests in flight finish on the versions they started on.',
  params: NoParams,
  result: Type.Object({ loaded: Type.Integer(), not_loaded: Type.Integer() }),
  role: 'admin',
});

export const ML_METHODS: readonly MethodDeclaration[] = [
  mlStatus,
  mlListmodels,
  mlModelinfo,
  mlPredict,
  mlEstimatefee,
  mlScoretx,
  mlEvaluate,
  mlExportdataset,
  mlSetrouting,
  mlPromote,
  mlRollback,
  mlReload,
];
