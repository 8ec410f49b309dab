// Feature extractors: pure functions from what the node sees to the numbers a model takes. The bundled models'
// cards name the extractor and the order of its features; the tools/ script that trains them uses these very
// functions, so training and serving cannot drift apart.

import * as bitcoin from 'bitcoinjs-lib';

export class FeatureError extends Error {
  override name = 'FeatureError';
}

/** What the fee extractor reads: a mempool/chain snapshot (from the bitcoin room, or supplied by the caller). */
export interface FeeSnapshot {
  /** Total virtual size of the mempool, vB. */
  mempool_vsize: number;
  /** Mempool fee-rate histogram: [fee rate sat/vB, vsize vB at that rate] pairs. */
  fee_histogram: Array<[number, number]>;
  /** Median fee rates (sat/vB) of the most recent blocks, newest first. */
  recent_block_feerates: number[];
  /** Seconds since the last block was found. */
  seconds_since_last_block: number;
  /** Confirmation target, blocks. */
  target: number;
}

export const FEE_FEATURES = [
  'log1p_mempool_mvb',
  'log1p_mvb_above_50',
  'log1p_mvb_above_20',
  'log1p_mvb_above_10',
  'log1p_mvb_above_5',
  'log1p_mvb_above_2',
  'log1p_recent_median_feerate',
  'minutes_since_block_over_10',
  'log_target',
] as const;

function finite(name: string, v: number): number {
  if (!Number.isFinite(v)) throw new FeatureError(`${name} must be a finite number, got ${v}`);
  if (v < 0) throw new FeatureError(`${name} must not be negative, got ${v}`);
  return v;
}

export function feeFeatures(s: FeeSnapshot): Float32Array {
  finite('mempool_vsize', s.mempool_vsize);
  finite('seconds_since_last_block', s.seconds_since_last_block);
  if (!Number.isInteger(s.target) || s.target < 1 || s.target > 1008) throw new FeatureError(`target must be an integer from 1 to 1008, got ${s.target}`);
  if (!Array.isArray(s.fee_histogram) || s.fee_histogram.length > 10_000)
    throw new FeatureError('fee_histogram must be a list of at most 10000 [feerate, vsize] pairs');
  const above = (rate: number): number =>
    s.fee_histogram.reduce((sum, [r, v]) => (finite('fee_histogram rate', r) >= rate ? sum + finite('fee_histogram vsize', v) : sum), 0);
  const recent = s.recent_block_feerates.slice(0, 6).map((r) => finite('recent_block_feerates', r));
  const median = recent.length ? [...recent].sort((a, b) => a - b)[Math.floor(recent.length / 2)]! : 0;
  return Float32Array.from([
    Math.log1p(s.mempool_vsize / 1e6),
    Math.log1p(above(50) / 1e6),
    Math.log1p(above(20) / 1e6),
    Math.log1p(above(10) / 1e6),
    Math.log1p(above(5) / 1e6),
    Math.log1p(above(2) / 1e6),
    Math.log1p(median),
    Math.min(s.seconds_since_last_block, 7200) / 600,
    Math.log(s.target),
  ]);
}

export const RISK_FEATURES = [
  'n_inputs_log1p',
  'n_outputs_log1p',
  'frac_outputs_p2wpkh',
  'frac_outputs_p2tr',
  'frac_outputs_p2sh',
  'frac_outputs_p2pkh',
  'frac_outputs_other',
  'dust_outputs',
  'frac_round_amounts',
  'rbf',
  'locktime_set',
  'log1p_feerate',
  'address_reuse',
  'max_output_share',
] as const;

/** What the risk extractor reads; fee rate and input scripts are known only from a PSBT with UTXO data. */
export interface TxView {
  tx: bitcoin.Transaction;
  input_scripts: Uint8Array[] | null;
  input_values: bigint[] | null;
}

/** A raw transaction (hex) or a PSBT (base64) to the view the risk extractor reads. */
export function parseTx(input: { hex?: string; psbt?: string }, network: bitcoin.Network): TxView {
  if (input.hex !== undefined) {
    try {
      return { tx: bitcoin.Transaction.fromHex(input.hex), input_scripts: null, input_values: null };
    } catch (err) {
      throw new FeatureError(`not a valid transaction: ${(err as Error).message}`);
    }
  }
  if (input.psbt !== undefined) {
    let p: bitcoin.Psbt;
    try {
      p = bitcoin.Psbt.fromBase64(input.psbt, { network });
    } catch (err) {
      throw new FeatureError(`not a valid PSBT: ${(err as Error).message}`);
    }
    const utxos = p.data.inputs.map((i) => i.witnessUtxo);
    const complete = utxos.every((u) => u !== undefined);
    const tx = (p.data.globalMap.unsignedTx as unknown as { tx: bitcoin.Transaction }).tx;
    return { tx, input_scripts: complete ? utxos.map((u) => u!.script) : null, input_values: complete ? utxos.map((u) => BigInt(u!.value)) : null };
  }
  throw new FeatureError('give hex or psbt');
}

const DUST_SAT = 546n;

function scriptKind(s: Uint8Array): 'p2wpkh' | 'p2tr' | 'p2sh' | 'p2pkh' | 'other' {
  if (s.length === 22 && s[0] === 0x00 && s[1] === 0x14) return 'p2wpkh';
  if (s.length === 34 && s[0] === 0x51 && s[1] === 0x20) return 'p2tr';
  if (s.length === 23 && s[0] === 0xa9 && s[1] === 0x14 && s[22] === 0x87) return 'p2sh';
  if (s.length === 25 && s[0] === 0x76 && s[1] === 0xa9) return 'p2pkh';
  return 'other';
}

export function riskFeatures(v: TxView): Float32Array {
  const { tx } = v;
  if (tx.ins.length === 0 || tx.outs.length === 0) throw new FeatureError('transaction has no inputs or no outputs');
  const kinds = tx.outs.map((o) => scriptKind(o.script));
  const frac = (k: string): number => kinds.filter((x) => x === k).length / kinds.length;
  const values = tx.outs.map((o) => BigInt(o.value));
  const total = values.reduce((a, b) => a + b, 0n);
  const round = values.filter((x) => x > 0n && x % 100_000n === 0n).length / values.length;
  let feerate = 0;
  if (v.input_values) {
    const fee = v.input_values.reduce((a, b) => a + b, 0n) - total;
    feerate = fee > 0n ? Number(fee) / tx.virtualSize() : 0;
  }
  let reuse = 0;
  if (v.input_scripts) {
    const ins = new Set(v.input_scripts.map((s) => Buffer.from(s).toString('hex')));
    reuse = tx.outs.some((o) => ins.has(Buffer.from(o.script).toString('hex'))) ? 1 : 0;
  }
  const maxShare = total > 0n ? Number((values.reduce((a, b) => (b > a ? b : a), 0n) * 10_000n) / total) / 10_000 : 0;
  return Float32Array.from([
    Math.log1p(tx.ins.length),
    Math.log1p(tx.outs.length),
    frac('p2wpkh'),
    frac('p2tr'),
    frac('p2sh'),
    frac('p2pkh'),
    frac('other'),
    values.filter((x) => x < DUST_SAT).length,
    round,
    tx.ins.some((i) => i.sequence < 0xfffffffe) ? 1 : 0,
    tx.locktime > 0 ? 1 : 0,
    Math.log1p(feerate),
    reuse,
    maxShare,
  ]);
}
