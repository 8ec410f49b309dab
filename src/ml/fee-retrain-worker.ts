// The fee model's training, in a worker thread (core/worker-pool.ts, running this module's own file) so the daemon
// keeps answering while it trains: the observations go in as columns (transferred, not copied), the ONNX bytes and
// what the card must say come back. What is learned, from what, is written in fee-training.ts.

import { serveInWorker, WorkerPool } from '../core/worker-pool.js';
import { FEE_FEATURES } from './features.js';
import { holdoutFrom, moments, RETRAIN_QUANTILE, RETRAIN_TARGETS, trainingRows, type Packed } from './fee-training.js';
import { lossOf, train } from './mlp.js';
import { mlpModel } from './onnx-mlp.js';

const ROLE = 'anya-ml-retrain-worker';
/** The newest quarter of the resolved moments is held out: the promotion is judged on history the model never saw. */
export const HOLDOUT_SHARE = 0.25;
/** Fewer training rows than this is no model worth shadowing. */
export const MIN_TRAINING_ROWS = 40;

export interface TrainRequest {
  packed: Packed;
  tip: number;
  version: number;
  seed: number;
}

export interface TrainResult {
  rows: number;
  training_rows: number;
  holdout_rows: number;
  /** Moments (block intervals) the rows come from, and their heights. */
  moments: number;
  first_height: number;
  last_height: number;
  holdout_from_height: number;
  training_loss: number;
  holdout_loss: number;
  epochs: number;
  input_ranges: Array<[number, number]>;
  output_range: [number, number];
}

type Reply = { id: number; ok: true; bytes: ArrayBuffer; result: TrainResult } | { id: number; ok: false; refused: boolean; message: string };

const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Runs in the worker (and directly in the bench and tests): the rows, the training, the ONNX bytes. */
export function trainFeeModel(req: TrainRequest): { bytes: Uint8Array; result: TrainResult } | { refused: string } {
  const ms = moments(req.packed, req.tip, RETRAIN_TARGETS);
  const from = holdoutFrom(ms, HOLDOUT_SHARE);
  if (from === null) return { refused: `no block interval of the ${req.packed.n} observations is resolved yet (their targets lie past the tip)` };
  const { x, y } = trainingRows(ms, -Infinity, from);
  const hold = trainingRows(ms, from, Infinity);
  if (x.length < MIN_TRAINING_ROWS)
    return {
      refused: `only ${x.length} training rows from ${req.packed.n} observations over ${ms.length} block intervals (at least ${MIN_TRAINING_ROWS} needed; a row is a block interval and target with a fee rate that made it)`,
    };
  // Trained around the labels' own quantile (added back into the output bias after), so the first epochs are not
  // spent walking the output from 0 to the labels' level.
  const sorted = [...y].sort((a, b) => a - b);
  const offset = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * RETRAIN_QUANTILE))]!;
  // About 300,000 row steps at most, whatever the history: training time stays bounded.
  const epochs = Math.max(5, Math.min(60, Math.round(300_000 / x.length)));
  const opts = { hidden: [16], epochs, lr: 0.01, loss: 'quantile' as const, quantile: RETRAIN_QUANTILE, seed: req.seed, batch: 32 };
  const layers = train(
    x,
    y.map((v) => v - offset),
    opts,
  );
  layers[layers.length - 1]!.bias[0]! += offset;
  const input_ranges = FEE_FEATURES.map((_, j) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const row of x) {
      lo = Math.min(lo, row[j]!);
      hi = Math.max(hi, row[j]!);
    }
    return [Math.floor(lo * 1e4) / 1e4, Math.ceil(hi * 1e4) / 1e4] as [number, number];
  });
  const rates = y.map((v) => Math.expm1(v));
  const bytes = mlpModel(layers, { name: `fee-estimator-v${req.version}`, producer: 'anyad ml retrain (src/ml/fee-retrain-worker.ts)' });
  const used = ms.filter((m) => m.h < from);
  return {
    bytes,
    result: {
      rows: x.length + hold.x.length,
      training_rows: x.length,
      holdout_rows: hold.x.length,
      moments: used.length,
      first_height: used[0]!.h,
      last_height: used[used.length - 1]!.h,
      holdout_from_height: from,
      training_loss: r4(lossOf(layers, x, y, opts)),
      holdout_loss: r4(hold.x.length ? lossOf(layers, hold.x, hold.y, opts) : NaN),
      epochs,
      input_ranges,
      output_range: [Math.max(1, Math.floor(Math.min(...rates))), Math.ceil(Math.max(...rates))],
    },
  };
}

serveInWorker<TrainRequest & { id: number }, Reply>(ROLE, (req) => {
  try {
    const r = trainFeeModel(req);
    if ('refused' in r) return { reply: { id: req.id, ok: false, refused: true, message: r.refused } };
    const buf = r.bytes.buffer.slice(r.bytes.byteOffset, r.bytes.byteOffset + r.bytes.byteLength) as ArrayBuffer;
    return { reply: { id: req.id, ok: true, bytes: buf, result: r.result }, transfer: [buf] };
  } catch (err) {
    return { reply: { id: req.id, ok: false, refused: false, message: `training failed: ${(err as Error)?.message ?? String(err)}` } };
  }
});

/** The refusal a retrain is answered with when the observations cannot make a model (the reason says why). */
export class NotEnoughData extends Error {
  override name = 'NotEnoughData';
}

/** One worker, started on first use; a retrain is one call. */
export class RetrainWorker {
  private readonly pool = new WorkerPool({ module: new URL(import.meta.url), role: ROLE, size: 1, name: 'fee model training' });

  async train(req: TrainRequest): Promise<{ bytes: Uint8Array; result: TrainResult }> {
    const p = req.packed;
    const columns = [p.r, p.v, p.a, p.h, p.c, p.g, p.x].map((c) => c.buffer as ArrayBuffer);
    const reply = await this.pool.call<Reply>((id) => ({ message: { ...req, id }, transfer: columns }));
    if (!reply.ok) throw reply.refused ? new NotEnoughData(reply.message) : new Error(reply.message);
    return { bytes: new Uint8Array(reply.bytes), result: reply.result };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
