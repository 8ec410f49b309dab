// A small, deterministic MLP trainer (Adam; mean squared error, logistic or quantile loss) in plain TypeScript, so
// the bundled models are reproducible offline with nothing but Node (tools/make-models.ts) and anyad can retrain the
// fee model on its own observations (retrain.ts, in a worker thread). Fine for the few thousand rows and tens of
// weights these models have; not a general training library. The bundled models are rebuilt byte for byte from
// their seeds (test/ml/ml-served.test.ts): the order of the arithmetic below must not change for mse and logistic.

import type { Layer } from './onnx-mlp.js';
import { mlpForward } from './onnx-mlp.js';

/** mulberry32: a seeded PRNG, so every run produces the same data and the same weights. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

export interface TrainOptions {
  hidden: number[];
  epochs: number;
  lr: number;
  /**
   * mse: the mean; logistic: a probability; quantile: the `quantile` quantile of y given x (pinball loss), e.g. 0.8
   * for a fee rate that is enough four times out of five.
   */
  loss: 'mse' | 'logistic' | 'quantile';
  quantile?: number;
  seed: number;
  batch: number;
}

export function train(x: number[][], y: number[], o: TrainOptions): Layer[] {
  const r = rng(o.seed);
  const sizes = [x[0]!.length, ...o.hidden, 1];
  const layers: Layer[] = sizes.slice(1).map((out, i) => ({
    weights: Array.from({ length: sizes[i]! }, () => Array.from({ length: out }, () => gaussian(r) * Math.sqrt(2 / sizes[i]!))),
    bias: Array.from({ length: out }, () => 0),
  }));
  const m = layers.map((l) => ({ w: l.weights.map((row) => row.map(() => 0)), b: l.bias.map(() => 0) }));
  const v = layers.map((l) => ({ w: l.weights.map((row) => row.map(() => 0)), b: l.bias.map(() => 0) }));
  let step = 0;
  const idx = x.map((_, i) => i);
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    for (let start = 0; start < idx.length; start += o.batch) {
      const grads = layers.map((l) => ({ w: l.weights.map((row) => row.map(() => 0)), b: l.bias.map(() => 0) }));
      const rows = idx.slice(start, start + o.batch);
      for (const i of rows) {
        // forward, keeping activations
        const acts: number[][] = [x[i]!];
        const pre: number[][] = [];
        layers.forEach((l, li) => {
          const a = acts[acts.length - 1]!;
          const z = l.bias.map((b, j) => a.reduce((s, val, k) => s + val * l.weights[k]![j]!, b));
          pre.push(z);
          acts.push(li < layers.length - 1 ? z.map((t) => Math.max(0, t)) : z);
        });
        const out = acts[acts.length - 1]![0]!;
        const pred = o.loss === 'logistic' ? 1 / (1 + Math.exp(-out)) : out;
        // d loss / d output pre-activation: pred - y for mse and logistic; for the pinball loss at q, 1 - q above the
        // label and -q below it (so at the optimum a share q of the labels lie at or under the prediction).
        let delta = [o.loss === 'quantile' ? (pred >= y[i]! ? 1 - o.quantile! : -o.quantile!) : pred - y[i]!];
        for (let li = layers.length - 1; li >= 0; li--) {
          const a = acts[li]!;
          const l = layers[li]!;
          for (let k = 0; k < a.length; k++) for (let j = 0; j < delta.length; j++) grads[li]!.w[k]![j]! += a[k]! * delta[j]!;
          for (let j = 0; j < delta.length; j++) grads[li]!.b[j]! += delta[j]!;
          if (li > 0) {
            delta = a.map((_, k) => (pre[li - 1]![k]! > 0 ? l.weights[k]!.reduce((s, w, j) => s + w * delta[j]!, 0) : 0));
          }
        }
      }
      step++;
      const b1 = 0.9;
      const b2 = 0.999;
      layers.forEach((l, li) => {
        const upd = (g: number, mm: number, vv: number): [number, number, number] => {
          g /= rows.length;
          const m2 = b1 * mm + (1 - b1) * g;
          const v2 = b2 * vv + (1 - b2) * g * g;
          const mh = m2 / (1 - b1 ** step);
          const vh = v2 / (1 - b2 ** step);
          return [(o.lr * mh) / (Math.sqrt(vh) + 1e-8), m2, v2];
        };
        l.weights.forEach((row, k) =>
          row.forEach((_, j) => {
            const [d, m2, v2] = upd(grads[li]!.w[k]![j]!, m[li]!.w[k]![j]!, v[li]!.w[k]![j]!);
            row[j]! -= d;
            m[li]!.w[k]![j] = m2;
            v[li]!.w[k]![j] = v2;
          }),
        );
        l.bias.forEach((_, j) => {
          const [d, m2, v2] = upd(grads[li]!.b[j]!, m[li]!.b[j]!, v[li]!.b[j]!);
          l.bias[j]! -= d;
          m[li]!.b[j] = m2;
          v[li]!.b[j] = v2;
        });
      });
    }
  }
  return layers;
}

/** The training loss of `layers` on (x, y): mean squared error, log loss, or the mean pinball loss. */
export function lossOf(layers: Layer[], x: number[][], y: number[], o: Pick<TrainOptions, 'loss' | 'quantile'>): number {
  let sum = 0;
  x.forEach((row, i) => {
    const p = mlpForward(layers, row, o.loss === 'logistic');
    const t = y[i]!;
    if (o.loss === 'mse') sum += (p - t) ** 2;
    else if (o.loss === 'logistic') sum -= t ? Math.log(Math.max(p, 1e-7)) : Math.log(Math.max(1 - p, 1e-7));
    else sum += t >= p ? o.quantile! * (t - p) : (1 - o.quantile!) * (p - t);
  });
  return x.length ? sum / x.length : 0;
}

export function predictAll(layers: Layer[], x: number[][], sigmoid: boolean): number[] {
  return x.map((row) => mlpForward(layers, row, sigmoid));
}
