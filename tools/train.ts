// The MLP trainer lives in src/ml/mlp.ts (anyad retrains the fee model with it); re-exported here for the tools
// and tests that import it from tools/.
export * from '../src/ml/mlp.js';
