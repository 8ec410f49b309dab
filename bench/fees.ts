// Fee estimator benchmarks, in process with a real LevelDB store:
//  - storage under 100,000 transactions a day for 30 days (4,320 blocks of ~694 arrivals, each confirmed within a
//    few blocks) through FeeObservations' listener hooks with the default bound (ml.feeobservationsmax 500,000):
//    records kept, bytes on disk, prune time per block, and the time open() takes to load and replay them;
//  - an estimate's p50/p99 for each estimator: tracking (after that history), projected blocks on a mempool of
//    50,000 transactions (mainnet-sized) and of 5,000 when the mempool is cut again, and between cuts.
//  - retraining the fee model on 100,000 observations (a simulated market, test/ml/fee-sim.ts): the whole retrain
//    as anyad runs it in its worker thread (rows from the observations, training, the ONNX bytes), against a
//    baseline in the same run: the same number of forward passes of the same network in plain JS (training rows x
//    epochs), as a ratio; and the comparison that follows (the candidate replayed on the held-out history through
//    onnxruntime).
// The arrivals of a block are written in one batch here (the watcher writes each in its own): the storage figures
// are the same, the write time is not what is measured.

import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { FeeObservations } from '../src/ml/fee-observations.js';
import { fromBlocks, projectBlocks, projectedEstimate, type MempoolTx } from '../src/ml/fee-projected.js';
import { Store } from '../src/store/store.js';
import type { VerboseTx } from '../src/adapters/bitcoin/api.js';
import { createRequire } from 'node:module';
import { modelFigures } from '../src/ml/fee-backtest.js';
import { RetrainWorker } from '../src/ml/fee-retrain-worker.js';
import { RETRAIN_SEED } from '../src/ml/fee-retrain.js';
import { moments, pack, RETRAIN_TARGETS, trainingRows } from '../src/ml/fee-training.js';
import { gaussian, rng } from '../src/ml/mlp.js';
import { mlpForward, type Layer } from '../src/ml/onnx-mlp.js';
import { simulate } from '../test/ml/fee-sim.js';
import { r3 } from './measure.js';

const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');

/** Retraining on 100,000 observations, against the same number of forward passes (see the header). */
async function benchRetrain(): Promise<Record<string, unknown>> {
  const records = simulate(1000, 7, 20_000, Date.parse('2026-12-01T00:00:00Z')).slice(0, 100_000);
  const tip = records[records.length - 1]!.h;
  const worker = new RetrainWorker();
  try {
    const t0 = performance.now();
    const { bytes, result } = await worker.train({ packed: pack(records), tip, version: 2, seed: RETRAIN_SEED });
    const retrainMs = performance.now() - t0;
    // The baseline: training_rows x epochs forward passes through a network of the same shape, on the same rows.
    const ms = moments(pack(records), tip, RETRAIN_TARGETS);
    const { x } = trainingRows(ms, -Infinity, result.holdout_from_height);
    const r = rng(1);
    const layers: Layer[] = [
      { weights: Array.from({ length: 9 }, () => Array.from({ length: 16 }, () => gaussian(r))), bias: Array(16).fill(0) as number[] },
      { weights: Array.from({ length: 16 }, () => [gaussian(r)]), bias: [0] },
    ];
    let sink = 0;
    const t1 = performance.now();
    for (let e = 0; e < result.epochs; e++) for (const row of x) sink += mlpForward(layers, row);
    const forwardMs = performance.now() - t1;
    // The comparison that follows a retrain: the candidate replayed on the held-out history.
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
    const t2 = performance.now();
    await modelFigures(ms, RETRAIN_TARGETS, result.holdout_from_height, async (rows) => {
      const data = new Float32Array(rows.length * 9);
      rows.forEach((row, i) => data.set(row, i * 9));
      const out = await session.run({ features: new ort.Tensor('float32', data, [rows.length, 9]) });
      return Array.from(out.output!.data as Float32Array, (v) => Math.expm1(v));
    });
    const judgeMs = performance.now() - t2;
    await session.release();
    return {
      observations: records.length,
      training_rows: result.training_rows,
      holdout_rows: result.holdout_rows,
      epochs: result.epochs,
      forward_passes: result.training_rows * result.epochs,
      retrain_ms: Math.round(retrainMs),
      baseline_forward_passes_ms: Math.round(forwardMs),
      ratio: r3(retrainMs / forwardMs),
      comparison_ms: Math.round(judgeMs),
      training_loss: result.training_loss,
      sink: Number.isFinite(sink) ? 1 : 0,
    };
  } finally {
    await worker.close();
  }
}

const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function du(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) n += e.isDirectory() ? await du(join(dir, e.name)) : (await stat(join(dir, e.name))).size;
  return n;
}

export async function benchFees(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-fees-'));
  const days = Number(process.env.BENCH_FEE_DAYS ?? 30);
  try {
    const store = await Store.open(join(dir, 'state'));
    const db = await store.room('ml');
    let tip = { height: 0, hash: '' };
    const entries = new Map<string, { vsize: number; fee_sat: number }>();
    const chain = {
      tip: () => tip,
      mempoolEntry: (txid: string) => Promise.resolve(entries.get(txid) ?? null),
      nodeKind: () => 'bcoin' as const,
      coreEstimate: () => Promise.resolve(null),
    };
    const obs = new FeeObservations({ db, chain, max: 500_000, maxAgeDays: 30, log: pino({ level: 'silent' }) });
    await obs.open();
    const perBlock = Math.round(100_000 / 144);
    let id = 0;
    const pending: string[][] = [];
    const pruneMs: number[] = [];
    let maxStored = 0;
    const t0 = performance.now();
    for (let h = 1; h <= days * 144; h++) {
      const ops = [];
      const arrived: string[] = [];
      for (let k = 0; k < perBlock; k++) {
        const txid = (id++).toString(16).padStart(64, '0');
        const vsize = 140 + (id % 200);
        entries.set(txid, { vsize, fee_sat: Math.round(vsize * Math.exp(1 + ((id * 7919) % 1000) / 250)) });
        const tx: VerboseTx = { txid, vin: [{ txid: (id + 1e9).toString(16).padStart(64, '0'), vout: 0 }], vout: [] };
        const w = await obs.mempool(tx);
        if (w) {
          ops.push(...w.ops);
          w.after?.();
        }
        arrived.push(txid);
      }
      await store.batch(ops, { sync: false });
      maxStored = Math.max(maxStored, obs.count);
      pending.push(arrived);
      // the block: what arrived 1 to 3 blocks ago
      tip = { height: h, hash: String(h) };
      const confirm = pending.length > 3 ? pending.shift()! : [];
      const tp = performance.now();
      const w = await obs.connected({ hash: String(h), height: h, time: 0, tx: confirm.map((txid) => ({ txid, vin: [], vout: [] })) });
      pruneMs.push(performance.now() - tp);
      await store.batch(w!.ops, { sync: false });
      w!.after?.();
      for (const t of confirm) entries.delete(t);
    }
    const fillS = (performance.now() - t0) / 1000;
    const stats = obs.stats();
    await store.close();
    const bytesOnDisk = await du(join(dir, 'state'));
    // open() again: load and replay
    const store2 = await Store.open(join(dir, 'state'));
    const reopened = new FeeObservations({ db: await store2.room('ml'), chain, max: 500_000, maxAgeDays: 30, log: pino({ level: 'silent' }) });
    const to = performance.now();
    await reopened.open();
    const openMs = performance.now() - to;
    const trackMs: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = performance.now();
      reopened.tracker.estimate(1 + (i % 12), ([50, 80, 95] as const)[i % 3]);
      trackMs.push(performance.now() - t);
    }
    const pool = (n: number): MempoolTx[] =>
      Array.from({ length: n }, (_, i) => ({
        txid: `t${i}`,
        rate: 1 + ((i * 7919) % 5000) / 50,
        vsize: 140 + (i % 300),
        parents: i % 10 === 0 && i > 0 ? [`t${i - 1}`] : undefined,
      }));
    const projMs = (n: number): number[] => {
      const txs = pool(n);
      const out: number[] = [];
      for (let i = 0; i < 50; i++) {
        const t = performance.now();
        projectedEstimate(txs, 1 + (i % 6), 80, 1_000_000);
        out.push(performance.now() - t);
      }
      return out;
    };
    const p50k = projMs(50_000);
    // between cuts (ml.estimatefee cuts the mempool again at most every 2 s): reading block N of the last cut
    const cut = projectBlocks(pool(50_000), 1_000_000, 1009);
    const readMs: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = performance.now();
      fromBlocks(cut, 1 + (i % 6), ([50, 80, 95] as const)[i % 3], 1_000_000);
      readMs.push(performance.now() - t);
    }
    const p5k = projMs(5_000);
    await store2.close();
    const figures = {
      days,
      arrivals: id,
      kept: stats.stored,
      max_kept_between_blocks: maxStored,
      bound: 500_000,
      bytes_on_disk: bytesOnDisk,
      bytes_per_record_on_disk: Math.round(bytesOnDisk / stats.stored),
      fill_seconds: r3(fillS),
      connected_prune_ms: { p50: r3(q(pruneMs, 0.5)), p99: r3(q(pruneMs, 0.99)) },
      open_replay_ms: Math.round(openMs),
      estimate_ms: {
        tracking: { p50: r3(q(trackMs, 0.5)), p99: r3(q(trackMs, 0.99)) },
        projected_50k_cut: { p50: r3(q(p50k, 0.5)), p99: r3(q(p50k, 0.99)) },
        projected_50k_between_cuts: { p50: r3(q(readMs, 0.5)), p99: r3(q(readMs, 0.99)) },
        projected_5k: { p50: r3(q(p5k, 0.5)), p99: r3(q(p5k, 0.99)) },
      },
    };
    const retrain = await benchRetrain();
    console.log(
      `fee model retrain: ${retrain.observations} observations (${retrain.training_rows} rows x ${retrain.epochs} epochs) in ${retrain.retrain_ms} ms vs ${retrain.baseline_forward_passes_ms} ms for the same forward passes (${retrain.ratio}x); comparison ${retrain.comparison_ms} ms`,
    );
    console.log('fees', JSON.stringify(figures));
    results.fees = { ...figures, retrain };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
