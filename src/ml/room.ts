// The ML room: ONNX models served over RPC, and (when ml.riskveto is set) a veto on HSM signatures.

import { ML_METHODS } from './declarations.js';
import { join } from 'node:path';
import { Gauge } from 'prom-client';
import { BITCOIN } from '../adapters/bitcoin/api.js';
import { bitcoinNetwork } from '../core/bitcoin-network.js';
import type { Room } from '../core/room.js';
import { HSM } from '../hsm/api.js';
import { ML_OPTIONS } from './options.js';

export const mlRoom: Room = {
  name: 'ml',
  requires: [HSM, BITCOIN],
  methods: ML_METHODS,
  options: ML_OPTIONS,
  create: async ({ config, store, log, use, packageDir, bus, metrics }) => {
    if (!config.bool('ml.enable')) return {};
    // The implementation (onnxruntime-node among it) is loaded only when the room is on.
    const [{ FeatureError, parseTx, riskFeatures }, { mlMethods }, { OutcomeTracker }, { Router }, { MlService }] = await Promise.all([
      import('./features.js'),
      import('./methods.js'),
      import('./outcomes.js'),
      import('./routing.js'),
      import('./service.js'),
    ]);
    const db = await store.room('ml');
    const service = new MlService(
      {
        dirs: [join(packageDir, 'models'), config.path('ml.modeldir')!],
        required: config.list('ml.required'),
        cacheSize: config.int('ml.cachesize'),
        cacheTtlMs: config.int('ml.cachettl') * 1000,
        concurrency: config.int('ml.concurrency'),
        limits: { windowMs: config.int('ml.batchwindow'), maxBatch: config.int('ml.maxbatch'), maxQueue: config.int('ml.maxqueue') },
      },
      new Router(db, store),
      log,
    );
    // Per model version figures in the daemon's metrics (and so on -metricsport), read when collected.
    const gauge = new Gauge({
      name: 'anyad_ml_model',
      help: 'Per model version: requests, errors, cache_hits, latency_p50_ms, latency_p99_ms, batches, mean_batch_size',
      labelNames: ['model', 'version', 'figure'],
      registers: [metrics],
      collect() {
        this.reset();
        for (const e of service.all())
          for (const [figure, v] of Object.entries(e.stats.snapshot())) this.set({ model: e.model.id, version: String(e.model.version), figure }, v);
      },
    });
    void gauge;
    const network = bitcoinNetwork(config.network);
    const threshold = Number(config.str('ml.riskveto'));
    const hsm = use(HSM);
    if (threshold > 0 && hsm) {
      hsm.addVeto('tx-risk', async (facts) => {
        if (!facts.psbt) return undefined;
        let row;
        try {
          row = riskFeatures(parseTx({ psbt: facts.psbt }, network));
        } catch (err) {
          if (err instanceof FeatureError) return { rule: 'unscorable', message: `the transaction cannot be scored: ${err.message}` };
          throw err;
        }
        const p = await service.predict('tx-risk', row, undefined);
        return p.output >= threshold
          ? { rule: 'risk', message: `tx-risk v${p.version} scored ${p.output.toFixed(3)}, at or above ml.riskveto ${threshold}` }
          : undefined;
      });
      log.info({ threshold }, 'tx-risk veto on HSM signatures is on');
    }
    const bitcoin = use(BITCOIN);
    if (bitcoin && config.int('ml.datasetmax') > 0)
      service.outcomes = { tracker: new OutcomeTracker({ db, store, chain: bitcoin, max: config.int('ml.datasetmax'), log }), bus };
    let feeEst;
    let retrainer;
    if (bitcoin && config.bool('ml.feeobserve')) {
      const [{ FeeObservations }, { FeeEstimator }, { FeeRetrainer }] = await Promise.all([
        import('./fee-observations.js'),
        import('./fee-estimate.js'),
        import('./fee-retrain.js'),
      ]);
      const observations = new FeeObservations({
        db,
        chain: bitcoin,
        max: config.int('ml.feeobservationsmax'),
        maxAgeDays: config.int('ml.feeobservationsdays'),
        log: log.child({ part: 'fee-observations' }),
      });
      // Loaded and registered now, before the services open: the bitcoin service's first round (which runs before
      // this room's service opens) already hands it blocks and mempool transactions.
      await observations.open();
      bitcoin.listen(observations);
      feeEst = new FeeEstimator(
        observations,
        db,
        config.int('ml.feeblockvsize'),
        () => bitcoin.tip()?.height,
        () => bitcoin.nodeKind(),
      );
      retrainer = new FeeRetrainer({
        svc: service,
        observations,
        db,
        store,
        dir: config.path('ml.modeldir')!,
        network: config.network,
        chain: bitcoin,
        min: config.int('ml.retrainmin'),
        intervalMs: config.int('ml.retraininterval') * 1000,
        log: log.child({ part: 'fee-retrain' }),
      });
      service.retrainer = retrainer;
    }
    return { service, methods: mlMethods(service, network, bitcoin, feeEst, retrainer) };
  },
};
