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

export const Confidence = Type.Union([Type.Literal(50), Type.Literal(80), Type.Literal(95)], {
  description: 'Percent: how sure the estimate should be to confirm within the target (default 80; Core economical is about 85, 95 is conservative).',
});

export const EstimatorFigures = Type.Object({
  answered: Type.Integer({ description: 'Block intervals (cohorts) it answered for.' }),
  unanswered: Type.Integer({ description: 'Cohorts it had no answer for (not enough data).' }),
  transactions: Type.Integer({ description: 'Transactions in the answered cohorts.' }),
  hit_rate: Type.Union([Type.Number(), Type.Null()], { description: 'Share of them for which the estimate would have confirmed within the target.' }),
  mean_overpay_sat_vb: Type.Union([Type.Number(), Type.Null()], { description: 'Mean of estimate minus the cheapest fee rate that made it, over the hits.' }),
  mean_sat_vb: Type.Union([Type.Number(), Type.Null()]),
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
      confidence: Type.Optional(Confidence),
      estimator: Type.Optional(
        Type.Union([Type.Literal('auto'), Type.Literal('tracking'), Type.Literal('projected'), Type.Literal('model')], {
          description: 'auto (default): tracking when it has enough data, else projected blocks, else the floor; or one by name.',
        }),
      ),
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
    estimator: Type.Union([Type.Literal('tracking'), Type.Literal('projected'), Type.Literal('floor'), Type.Literal('model')], {
      description: 'Which estimator answered sat_per_vb (model, version and cached describe the fee model, which answers beside it).',
    }),
    reason: Type.String({ description: 'Why that estimator, and what it read.' }),
    confidence: Type.Integer(),
    candidates: Type.Object(
      {
        tracking: Type.Union([Type.Number(), Type.Null()]),
        projected: Type.Union([Type.Number(), Type.Null()]),
        model: Type.Number(),
      },
      { description: 'What each estimator answers now (null: no answer; projected is null without observations or on an empty mempool).' },
    ),
    backtest: Type.Union([EstimatorFigures, Type.Null()], {
      description: "The answering estimator's figures in the last ml.evaluate for this target and confidence.",
    }),
  }),
  role: 'readonly',
  errors: ['BackendUnavailable', 'NotFound'],
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

export const Comparison = Type.Object({
  seq: Type.Integer(),
  time: Type.String(),
  model: Type.String(),
  candidate: Type.Integer({ description: 'The retrained version.' }),
  current: Type.Integer({ description: 'The version answering when it was judged.' }),
  trigger: Type.String({ description: 'ml.retrain, interval or evaluate.' }),
  decision: Type.Union([Type.Literal('promoted'), Type.Literal('refused'), Type.Literal('dropped')], {
    description: 'promoted: it beat the current version on both figures and now answers; refused: it stays in shadow; dropped: a newer retrain replaced it.',
  }),
  reason: Type.String(),
  judged_from_height: Type.Union([Type.Integer(), Type.Null()]),
  judged_to_height: Type.Union([Type.Integer(), Type.Null()]),
  targets: Type.Array(Type.Integer()),
  figures: Type.Union([Type.Object({ candidate: EstimatorFigures, current: EstimatorFigures }), Type.Null()]),
});

export const mlEvaluate = declareMethod({
  name: 'ml.evaluate',
  summary:
    "Each fee model version's live error against what fee rates confirmed on this node, next to bitcoind's estimatesmartfee; and a backtest of the tracking and projected-blocks estimators (and Core's, on Core) replaying this node's fee observations.",
  params: Type.Object(
    {
      model: Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$', default: 'fee-estimator', description: 'A fee model id.' }),
      target: Type.Integer({ minimum: 1, maximum: 144, default: 2, description: 'Blocks: the backtest target.' }),
      confidence: Type.Optional(Confidence),
      blocks: Type.Integer({ minimum: 1, maximum: 4032, default: 1008, description: 'The backtest judges the block intervals of the last this many blocks.' }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    rows: Type.Integer(),
    resolved: Type.Integer(),
    with_outcome: Type.Integer(),
    versions: Type.Record(Type.String(), Type.Object({ n: Type.Integer(), mae_sat_vb: Type.Number(), median_relative_error: Type.Number() })),
    core: Type.Union([Type.Object({ n: Type.Integer(), mae_sat_vb: Type.Number(), median_relative_error: Type.Number() }), Type.Null()]),
    backtest: Type.Union(
      [
        Type.Object({
          target: Type.Integer(),
          confidence: Type.Integer(),
          first_height: Type.Union([Type.Integer(), Type.Null()]),
          last_height: Type.Union([Type.Integer(), Type.Null()]),
          cohorts: Type.Integer({ description: 'Block intervals judged: the transactions that arrived while one height was the tip.' }),
          transactions: Type.Integer(),
          none_made_it: Type.Integer({ description: 'Cohorts whose highest fee rate did not confirm within the target.' }),
          promotion: Type.Union([Comparison, Type.Null()], {
            description:
              'The last comparison of a retrained version with the current one (as in ml.listpromotions; judged at each ml.retraininterval and on ml.retrain, never by this readonly call), or null.',
          }),
          estimators: Type.Object({
            tracking: EstimatorFigures,
            projected: EstimatorFigures,
            core: Type.Union([
              Type.Intersect([EstimatorFigures, Type.Object({ available: Type.Literal(true) })]),
              Type.Object({ available: Type.Literal(false), reason: Type.String() }),
            ]),
            model: Type.Union([
              Type.Object({
                available: Type.Literal(true),
                versions: Type.Record(Type.String(), EstimatorFigures, {
                  description:
                    "version -> its figures, asked at each judged interval as ml.estimatefee asks it, on the mempool rebuilt from the observations (a retrained version's own training intervals are among them: ml.listpromotions judges it on held-out history only)",
                }),
              }),
              Type.Object({ available: Type.Literal(false), reason: Type.String() }),
            ]),
          }),
        }),
        Type.Null(),
      ],
      { description: "The replay of this node's fee observations (null when ml.feeobserve is off or without bitcoind)." },
    ),
  }),
  role: 'readonly',
  errors: ['BackendUnavailable'],
});

export const mlRetrain = declareMethod({
  name: 'ml.retrain',
  summary:
    "Retrain the fee model on this node's own fee observations (in a worker thread), write it as the next fee-estimator version with its card, shadow it, and promote it only if it beats the current version on both hit rate and overpayment on held-out history.",
  params: NoParams,
  result: Type.Object({
    version: Type.Integer(),
    path: Type.String(),
    card: ModelCardSchema,
    comparison: Comparison,
  }),
  role: 'admin',
  errors: ['BackendUnavailable', 'Conflict'],
});

export const mlListpromotions = declareMethod({
  name: 'ml.listpromotions',
  summary: 'The comparisons of retrained fee model versions against the current one (newest first): figures, decision and reason.',
  params: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }) }, { additionalProperties: false }),
  result: Type.Array(Comparison),
  role: 'readonly',
  errors: ['BackendUnavailable'],
});

export const mlFeestats = declareMethod({
  name: 'ml.feestats',
  summary: 'The fee observations kept (stored, waiting in the mempool, bytes, the bound) and what the confirmation tracker has seen.',
  params: NoParams,
  result: Type.Object({
    stored: Type.Integer(),
    waiting: Type.Integer(),
    bytes: Type.Integer({ description: 'The records as stored (JSON), about.' }),
    max: Type.Integer(),
    tracked_blocks: Type.Integer(),
    tracked_confirmations: Type.Integer(),
  }),
  role: 'readonly',
  errors: ['BackendUnavailable'],
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
  mlFeestats,
  mlExportdataset,
  mlSetrouting,
  mlPromote,
  mlRollback,
  mlReload,
  mlRetrain,
  mlListpromotions,
];
