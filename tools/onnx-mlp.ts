// The ONNX writer lives in src/ml/onnx-mlp.ts (anyad writes retrained models with it); re-exported here for the
// tools and tests that import it from tools/.
export * from '../src/ml/onnx-mlp.js';
