// Produces the bundled models in models/, reproducibly and offline: node dist/tools/make-models.js
// Both are trained on SYNTHETIC data from simulators written here, not on real mempool or transaction data; their
// model cards say so and give the held-out metrics on more synthetic data. They are starting points: anyad records
// the user's own outcomes so better versions can be trained and dropped into <datadir>/models.

import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ecc from '@bitcoinerlab/secp256k1';
import * as bitcoin from 'bitcoinjs-lib';
import { FEE_FEATURES, feeFeatures, RISK_FEATURES, riskFeatures, type FeeSnapshot } from '../src/ml/features.js';
import type { ModelCard } from '../src/ml/card.js';
import { mlpModel } from './onnx-mlp.js';
import { gaussian, predictAll, rng, train } from './train.js';

bitcoin.initEccLib(ecc);

const RATES = [1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 80, 120, 200];
const TARGETS = [1, 2, 3, 6, 12, 24, 48, 144, 504, 1008];

/** A synthetic mempool and the fee rate that "would have confirmed" within the target under the simulator's rules. */
export function simulateFee(r: () => number): { snapshot: FeeSnapshot; feerate: number } {
  const total = Math.exp(Math.log(0.05e6) + r() * Math.log(300 / 0.05)); // 50 kvB .. 300 MvB, log-uniform
  const steep = 0.05 + r() * 0.4;
  const weights = RATES.map((rate) => Math.exp(-steep * rate) + 0.02 * r());
  const sum = weights.reduce((a, b) => a + b, 0);
  const fee_histogram: Array<[number, number]> = RATES.map((rate, i) => [rate, (total * weights[i]!) / sum]);
  const seconds = -Math.log(r() + 1e-9) * 600;
  const target = TARGETS[Math.floor(r() * TARGETS.length)]!;
  // Block space available before the target: the target's blocks, less the part of the current one already waited.
  const capacity = Math.max(0.25, target - Math.min(seconds / 600, 0.9)) * 1e6;
  let rate = 1;
  for (const candidate of [...RATES].reverse()) {
    const above = fee_histogram.filter(([rr]) => rr >= candidate).reduce((a, [, v]) => a + v, 0);
    if (above >= capacity) {
      rate = candidate;
      break;
    }
  }
  const feerate = Math.max(1, rate * Math.exp(0.15 * gaussian(r)));
  const depthRate = fee_histogram.find(([rr]) => fee_histogram.filter(([x]) => x >= rr).reduce((a, [, v]) => a + v, 0) <= 1e6)?.[0] ?? 1;
  const recent_block_feerates = Array.from({ length: 6 }, () => Math.max(1, depthRate * Math.exp(0.3 * gaussian(r))));
  return { snapshot: { mempool_vsize: total, fee_histogram, recent_block_feerates, seconds_since_last_block: seconds, target }, feerate };
}

const NET = bitcoin.networks.regtest;

/** A synthetic transaction (as a PSBT with UTXO data) and a label drawn from a hidden rule of risky habits. */
export function simulateRisk(r: () => number): { psbt: string; risky: number } {
  const p = new bitcoin.Psbt({ network: NET });
  const nIn = 1 + Math.floor(r() ** 2 * 15);
  const nOut = 1 + Math.floor(r() ** 3 * 40);
  const scripts = [
    () => Buffer.concat([Buffer.from([0x00, 0x14]), Buffer.from(Array.from({ length: 20 }, () => Math.floor(r() * 256)))]),
    () => Buffer.concat([Buffer.from([0x51, 0x20]), Buffer.from(Array.from({ length: 32 }, () => Math.floor(r() * 256)))]),
    () => Buffer.concat([Buffer.from([0xa9, 0x14]), Buffer.from(Array.from({ length: 20 }, () => Math.floor(r() * 256))), Buffer.from([0x87])]),
    () => Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), Buffer.from(Array.from({ length: 20 }, () => Math.floor(r() * 256))), Buffer.from([0x88, 0xac])]),
    () => Buffer.from([0x6a, 0x04, 1, 2, 3, 4]),
  ];
  const inScripts: Buffer[] = [];
  let inTotal = 0n;
  const rbf = r() < 0.5;
  for (let i = 0; i < nIn; i++) {
    const script = scripts[0]!();
    inScripts.push(script);
    const value = BigInt(Math.floor(10_000 + r() * 5_000_000));
    inTotal += value;
    p.addInput({
      hash: Buffer.from(Array.from({ length: 32 }, () => Math.floor(r() * 256))),
      index: Math.floor(r() * 4),
      sequence: rbf ? 0xfffffffd : 0xffffffff,
      witnessUtxo: { script, value },
    });
  }
  const reuse = r() < 0.15;
  const feeShare = r() < 0.1 ? 0.05 + r() * 0.3 : r() * 0.01;
  let left = inTotal - BigInt(Math.floor(Number(inTotal) * feeShare));
  let dust = 0;
  let other = 0;
  for (let i = 0; i < nOut; i++) {
    const kindRoll = r();
    const kind = kindRoll < 0.55 ? 0 : kindRoll < 0.75 ? 1 : kindRoll < 0.88 ? 2 : kindRoll < 0.97 ? 3 : 4;
    const script = reuse && i === 0 ? inScripts[0]! : scripts[kind]!();
    if (kind === 4) other++;
    let value = i === nOut - 1 ? left : BigInt(Math.floor(Number(left) * r() * 0.5));
    if (r() < 0.08) value = BigInt(Math.floor(r() * 500));
    if (r() < 0.3 && value > 100_000n) value -= value % 100_000n;
    if (value > left) value = left;
    left -= value;
    if (value < 546n) dust++;
    p.addOutput({ script, value });
  }
  if (r() < 0.2) p.setLocktime(Math.floor(r() * 800_000));
  const feeRateHigh = feeShare > 0.05 ? 1 : 0;
  const z = -2.5 + 1.2 * dust + 2.2 * (reuse ? 1 : 0) + 1.5 * (nOut > 20 ? 1 : 0) + 1.0 * other + 1.8 * feeRateHigh - 0.4 * (rbf ? 1 : 0);
  const risky = r() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  return { psbt: p.toBase64(), risky };
}

function auc(scores: number[], labels: number[]): number {
  const pairs = scores.map((s, i) => [s, labels[i]!] as const).sort((a, b) => a[0] - b[0]);
  let rank = 0;
  let sumPos = 0;
  let pos = 0;
  for (const [, l] of pairs) {
    rank++;
    if (l === 1) {
      sumPos += rank;
      pos++;
    }
  }
  const neg = pairs.length - pos;
  return (sumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

const round = (x: number, d = 4): number => Math.round(x * 10 ** d) / 10 ** d;

/** Each column's [min, max] over the training rows, rounded outward (the card's ranges: anyad clamps to them). */
function columnRanges(x: number[][]): Array<[number, number]> {
  return x[0]!.map((_, j) => {
    const col = x.map((row) => row[j]!);
    return [Math.floor(Math.min(...col) * 1e4) / 1e4, Math.ceil(Math.max(...col) * 1e4) / 1e4];
  });
}

async function writeModel(root: string, card: Omit<ModelCard, 'sha256'>, bytes: Uint8Array): Promise<void> {
  const dir = join(root, card.id, String(card.version));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), bytes);
  const full: ModelCard = { ...card, sha256: createHash('sha256').update(bytes).digest('hex') };
  await writeFile(join(dir, 'card.json'), `${JSON.stringify(full, null, 2)}\n`);
}

export async function makeFeeModel(root: string, seed = 20261121): Promise<void> {
  const r = rng(seed);
  const rows = Array.from({ length: 4000 }, () => simulateFee(r));
  const x = rows.map((row) => Array.from(feeFeatures(row.snapshot)));
  const y = rows.map((row) => Math.log1p(row.feerate));
  const split = 3200;
  const layers = train(x.slice(0, split), y.slice(0, split), { hidden: [16], epochs: 60, lr: 0.01, loss: 'mse', seed, batch: 32 });
  const pred = predictAll(layers, x.slice(split), false).map((v) => Math.expm1(v));
  const truth = rows.slice(split).map((row) => row.feerate);
  const truthAll = rows.slice(0, split).map((row) => row.feerate);
  const mae = pred.reduce((s, p, i) => s + Math.abs(p - truth[i]!), 0) / pred.length;
  const rel = pred.map((p, i) => Math.abs(p - truth[i]!) / truth[i]!).sort((a, b) => a - b);
  await writeModel(
    root,
    {
      id: 'fee-estimator',
      version: 1,
      task: 'regression',
      description: 'Fee rate (sat/vB) likely to confirm within the target, from a mempool snapshot.',
      extractor: 'fee',
      inputs: [
        {
          name: 'features',
          dtype: 'float32',
          shape: ['N', FEE_FEATURES.length],
          features: [...FEE_FEATURES],
          ranges: columnRanges(x.slice(0, split)),
          out_of_range: 'clamp',
        },
      ],
      outputs: [
        {
          name: 'output',
          dtype: 'float32',
          shape: ['N', 1],
          meaning: "log1p of the fee rate; anyad answers expm1 of it, within the training labels' range",
          units: 'log1p(sat/vB)',
          ranges: [[Math.max(1, Math.floor(Math.min(...truthAll))), Math.ceil(Math.max(...truthAll))]],
          out_of_range: 'clamp',
        },
      ],
      postprocess: 'expm1',
      training_data: {
        source: 'synthetic',
        inputs_outside_training:
          'clamped to inputs[0].ranges (per feature, the training minimum and maximum); the answer is clamped to outputs[0].ranges (at least 1 sat/vB)',
        statement:
          'Trained on 3200 synthetic mempool snapshots from the simulator in tools/make-models.ts (simulateFee): log-uniform mempool sizes, exponential fee-rate histograms, and a label rule that takes the highest fee rate whose backlog fills the block space before the target, with 15% log-normal noise. It has never seen a real mempool. Treat it as a baseline next to estimatesmartfee, not as a better estimator.',
        rows: 3200,
        seed,
      } as ModelCard['training_data'],
      metrics: {
        holdout_rows: 800,
        holdout_mae_sat_vb: round(mae, 3),
        holdout_median_relative_error: round(rel[Math.floor(rel.length / 2)]!, 4),
        holdout_p90_relative_error: round(rel[Math.floor(rel.length * 0.9)]!, 4),
      },
      created: '2026-11-21',
    },
    mlpModel(layers, { name: 'fee-estimator-v1' }),
  );
  console.log(`fee-estimator v1: held-out MAE ${round(mae, 3)} sat/vB, median relative error ${round(rel[Math.floor(rel.length / 2)]!, 4)}`);
}

export async function makeRiskModel(root: string, seed = 20261122): Promise<void> {
  const r = rng(seed);
  const rows = Array.from({ length: 3000 }, () => simulateRisk(r));
  const x = rows.map((row) => Array.from(riskFeatures(parsePsbt(row.psbt))));
  const y = rows.map((row) => row.risky);
  const split = 2400;
  const layers = train(x.slice(0, split), y.slice(0, split), { hidden: [16], epochs: 40, lr: 0.01, loss: 'logistic', seed, batch: 32 });
  const pred = predictAll(layers, x.slice(split), true);
  const labels = y.slice(split);
  const logloss = -pred.reduce((s, p, i) => s + (labels[i] ? Math.log(Math.max(p, 1e-7)) : Math.log(Math.max(1 - p, 1e-7))), 0) / pred.length;
  const a = auc(pred, labels);
  await writeModel(
    root,
    {
      id: 'tx-risk',
      version: 1,
      task: 'classification',
      description: 'A 0..1 score of risky transaction habits (dust outputs, address reuse, fan-out, unusual scripts, fee overpayment).',
      extractor: 'risk',
      inputs: [
        {
          name: 'features',
          dtype: 'float32',
          shape: ['N', RISK_FEATURES.length],
          features: [...RISK_FEATURES],
          ranges: columnRanges(x.slice(0, split)),
          out_of_range: 'clamp',
        },
      ],
      outputs: [
        { name: 'output', dtype: 'float32', shape: ['N', 1], meaning: 'probability-like risk score', units: '0..1', ranges: [[0, 1]], out_of_range: 'clamp' },
      ],
      postprocess: 'none',
      training_data: {
        source: 'synthetic',
        inputs_outside_training: 'clamped to inputs[0].ranges (per feature, the training minimum and maximum)',
        statement:
          'Trained on 2400 synthetic transactions from the simulator in tools/make-models.ts (simulateRisk), labelled by a hidden logistic rule over dust outputs, address reuse, more than 20 outputs, OP_RETURN/unknown scripts and a fee above 5% of the inputs. It learns that rule, nothing about real fraud or real wallets. Do not treat a score as evidence.',
        rows: 2400,
        seed,
      } as ModelCard['training_data'],
      metrics: {
        holdout_rows: 600,
        holdout_auc: round(a, 4),
        holdout_log_loss: round(logloss, 4),
        holdout_positive_rate: round(labels.reduce((s, l) => s + l, 0) / labels.length, 4),
      },
      created: '2026-11-21',
    },
    mlpModel(layers, { sigmoid: true, name: 'tx-risk-v1' }),
  );
  console.log(`tx-risk v1: held-out AUC ${round(a, 4)}, log loss ${round(logloss, 4)}`);
}

function parsePsbt(b64: string): import('../src/ml/features.js').TxView {
  const p = bitcoin.Psbt.fromBase64(b64, { network: NET });
  const tx = (p.data.globalMap.unsignedTx as unknown as { tx: bitcoin.Transaction }).tx;
  return { tx, input_scripts: p.data.inputs.map((i) => i.witnessUtxo!.script), input_values: p.data.inputs.map((i) => BigInt(i.witnessUtxo!.value)) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(fileURLToPath(new URL('../../', import.meta.url)), 'models');
  await makeFeeModel(root);
  await makeRiskModel(root);
}
