// Configuration keys of the ML room.

import type { OptionGroup } from '../core/options.js';

export const ML_OPTIONS: OptionGroup = {
  title: 'Machine learning (ONNX models)',
  options: [
    { key: 'ml.enable', type: 'bool', default: true, description: 'Load the models and serve ml.* methods.' },
    {
      key: 'ml.modeldir',
      type: 'path',
      default: 'models',
      description:
        "The user's models (<id>/<version>/model.onnx + card.json), relative to the network directory; used beside the bundled models/ and preferred on the same id and version.",
    },
    {
      key: 'ml.required',
      type: 'list',
      description: 'A model id that must load, or anyad does not start.',
      check: (v) => (/^[a-z][a-z0-9-]{0,63}$/.test(v) ? undefined : 'expected a model id'),
    },
    { key: 'ml.cachesize', type: 'int', default: 10000, min: 1, max: 10_000_000, description: 'Results kept in the LRU cache.' },
    { key: 'ml.cachettl', type: 'int', default: 60, min: 1, max: 86400, unit: 'seconds', description: 'How long a cached result is used.' },
    { key: 'ml.batchwindow', type: 'int', default: 2, min: 0, max: 1000, unit: 'ms', description: 'Requests arriving within this window run as one batch.' },
    { key: 'ml.maxbatch', type: 'int', default: 64, min: 1, max: 4096, description: 'Largest batch.' },
    { key: 'ml.maxqueue', type: 'int', default: 1024, min: 1, max: 1_000_000, description: 'Requests that may wait per model version before Busy.' },
    { key: 'ml.concurrency', type: 'int', default: 2, min: 1, max: 64, description: 'Batches running at once across all models.' },
    {
      key: 'ml.datasetmax',
      type: 'int',
      default: 100000,
      min: 0,
      max: 10_000_000,
      description: 'Most live fee estimates kept with their outcomes (ml.evaluate, ml.exportdataset); the oldest go first. 0 keeps none.',
    },
    {
      key: 'ml.feeobserve',
      type: 'bool',
      default: true,
      description:
        "Record every mempool transaction bitcoind's watcher sees (fee rate, size, arrival) and what became of it, for ml.estimatefee's confirmation tracking and projected blocks and ml.evaluate's backtest.",
    },
    {
      key: 'ml.feeobservationsmax',
      type: 'int',
      default: 500000,
      min: 10,
      max: 10_000_000,
      description: 'Most fee observations kept (about 200 bytes each); the oldest go first, at each block.',
    },
    {
      key: 'ml.feeobservationsdays',
      type: 'int',
      default: 30,
      min: 1,
      max: 365,
      unit: 'days',
      description: 'Fee observations older than this go, at each block.',
    },
    {
      key: 'ml.feeblockvsize',
      type: 'int',
      default: 1000000,
      min: 1000,
      max: 1000000,
      unit: 'vB',
      description:
        "The block size projected blocks are cut to: 1,000,000 (4M weight units) on every network; lower only to match a test node's smaller blocks.",
    },
    {
      key: 'ml.retrainmin',
      type: 'int',
      default: 10000,
      min: 10,
      max: 10_000_000,
      description:
        'Fee observations kept before the fee model is retrained on them automatically (every ml.retraininterval); ml.retrain retrains at any count.',
    },
    {
      key: 'ml.retraininterval',
      type: 'int',
      default: 86400,
      min: 0,
      max: 31_536_000,
      unit: 'seconds',
      description:
        'How often the fee model is retrained on the observations (once ml.retrainmin are kept), and a shadowed retrained version judged again on new history; 0: only on ml.retrain.',
    },
    {
      key: 'ml.riskveto',
      type: 'string',
      default: '0',
      description: 'A tx-risk score from 0 to 1 at or above which the HSM refuses to sign a PSBT; 0 turns the veto off.',
      check: (v) => (/^(0(\.\d+)?|1(\.0+)?)$/.test(v) ? undefined : 'expected a number from 0 to 1'),
    },
  ],
};
