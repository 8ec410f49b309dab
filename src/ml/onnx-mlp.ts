// Writes a small multilayer perceptron as an ONNX model with the onnx-proto package, no Python: input "features"
// float32 [N, k] (N dynamic, so requests can be batched), hidden layers Gemm+Relu, output "output" [N, 1], with an
// optional Sigmoid. Used by tools/make-models.ts, by anyad's retraining (retrain.ts) and by tests that need models of
// their own.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { onnx } = require('onnx-proto') as {
  onnx: Record<string, { create(o: unknown): unknown; encode(m: unknown): { finish(): Uint8Array } } & Record<string, unknown>>;
};

export interface Layer {
  /** Row-major [in][out]. */
  weights: number[][];
  bias: number[];
}

const FLOAT = 1;

function tensor(name: string, dims: number[], data: number[]): unknown {
  return onnx.TensorProto!.create({ name, dims, dataType: FLOAT, floatData: data });
}

function valueInfo(name: string, dims: Array<number | string>): unknown {
  return onnx.ValueInfoProto!.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}

export function mlpModel(layers: Layer[], opts: { sigmoid?: boolean; name?: string; docString?: string; producer?: string } = {}): Uint8Array {
  const nodes: unknown[] = [];
  const inits: unknown[] = [];
  let prev = 'features';
  layers.forEach((l, i) => {
    const W = `W${i}`;
    const B = `B${i}`;
    inits.push(tensor(W, [l.weights.length, l.bias.length], l.weights.flat()), tensor(B, [l.bias.length], l.bias));
    const out = `h${i}`;
    nodes.push(onnx.NodeProto!.create({ opType: 'Gemm', input: [prev, W, B], output: [out], name: `gemm${i}` }));
    prev = out;
    if (i < layers.length - 1) {
      nodes.push(onnx.NodeProto!.create({ opType: 'Relu', input: [prev], output: [`${prev}_relu`], name: `relu${i}` }));
      prev = `${prev}_relu`;
    }
  });
  if (opts.sigmoid) {
    nodes.push(onnx.NodeProto!.create({ opType: 'Sigmoid', input: [prev], output: ['output'], name: 'sigmoid' }));
  } else {
    nodes.push(onnx.NodeProto!.create({ opType: 'Identity', input: [prev], output: ['output'], name: 'identity' }));
  }
  const k = layers[0]!.weights.length;
  const model = onnx.ModelProto!.create({
    irVersion: 8,
    // (The bundled models' bytes, and so their cards' sha256, include this name: it stays.)
    producerName: opts.producer ?? 'anya-core tools/onnx-mlp',
    docString: opts.docString ?? '',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: opts.name ?? 'mlp', node: nodes, initializer: inits, input: [valueInfo('features', ['N', k])], output: [valueInfo('output', ['N', 1])] },
  });
  return onnx.ModelProto!.encode(model).finish();
}

/** The same network in plain JS: the reference the tests compare onnxruntime's output with. */
export function mlpForward(layers: Layer[], x: ArrayLike<number>, sigmoid = false): number {
  let a = Array.from(x);
  layers.forEach((l, i) => {
    const out = l.bias.map((b, j) => a.reduce((s, v, r) => s + v * l.weights[r]![j]!, b));
    a = i < layers.length - 1 ? out.map((v) => Math.max(0, v)) : out;
  });
  return sigmoid ? 1 / (1 + Math.exp(-a[0]!)) : a[0]!;
}
