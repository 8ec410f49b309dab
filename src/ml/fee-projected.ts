// Projected blocks, as mempool.space builds them (backend/src/api/mempool-blocks.ts, fee-api.ts), written from their
// description: the mempool is ordered as a miner would take it and cut into blocks of the block size; the fee rate
// for a target of N blocks is read from the N-th projected block. Ordering is ancestor-aware: a transaction goes in
// with the ones it spends from the mempool, at the fee rate of that package (a child paying for its parent lifts
// both, CPFP), packages taken best first. A block that is not full (the mempool clears before it) is priced down
// as mempool.space does: under half full it answers the floor, between half and 95% full its fee rate is scaled by
// how full it is. Confidence picks the point of block N read: its median (50) or the 80th / 95th percentile by
// weight from the bottom, so a higher confidence pays a rate more of the block sits under.

export interface MempoolTx {
  txid: string;
  /** sat/vB */
  rate: number;
  vsize: number;
  /** Parents still in the mempool. */
  parents?: string[];
}

export interface ProjectedBlock {
  vsize: number;
  txs: number;
  /** [rate, vsize] in the order taken: effective (package) fee rates, best first. */
  rates: Array<[number, number]>;
}

export const FLOOR = 1;

/** Cuts the mempool into projected blocks of `blockVsize`; the last holds the rest (it may be larger, as mempool.space's). */
export function projectBlocks(txs: readonly MempoolTx[], blockVsize: number, maxBlocks = 8): ProjectedBlock[] {
  const byId = new Map(txs.map((t) => [t.txid, t]));
  const fee = (t: MempoolTx): number => t.rate * t.vsize;
  // The transaction's package: itself and its in-mempool ancestors (a cycle cannot happen in a valid mempool;
  // `seen` guards anyway).
  const ancestors = (t: MempoolTx, seen = new Set<string>()): MempoolTx[] => {
    const out: MempoolTx[] = [];
    for (const p of t.parents ?? []) {
      const pt = byId.get(p);
      if (!pt || seen.has(p)) continue;
      seen.add(p);
      out.push(...ancestors(pt, seen), pt);
    }
    return out;
  };
  const packages = txs.map((t) => {
    const anc = ancestors(t);
    const all = [...anc, t];
    const v = all.reduce((s, x) => s + x.vsize, 0);
    return { t, all, score: all.reduce((s, x) => s + fee(x), 0) / v };
  });
  packages.sort((a, b) => b.score - a.score);
  const order: Array<[number, number]> = [];
  const taken = new Set<string>();
  for (const p of packages) {
    if (taken.has(p.t.txid)) continue;
    const rest = p.all.filter((x) => !taken.has(x.txid));
    const v = rest.reduce((s, x) => s + x.vsize, 0);
    // The package's rate over what is left of it (ancestors already taken were paid by their own package).
    const rate = Math.max(p.score, rest.reduce((s, x) => s + fee(x), 0) / v);
    for (const x of rest) {
      taken.add(x.txid);
      order.push([rate, x.vsize]);
    }
  }
  // Packages are taken in score order, but a package's leftover rate can be higher than the one before: keep the
  // order non-increasing so percentiles read a sorted block.
  for (let i = 1; i < order.length; i++) if (order[i]![0] > order[i - 1]![0]) order[i] = [order[i - 1]![0], order[i]![1]];
  const blocks: ProjectedBlock[] = [];
  let cur: ProjectedBlock = { vsize: 0, txs: 0, rates: [] };
  for (const [rate, vsize] of order) {
    if (cur.vsize + vsize > blockVsize && cur.txs > 0 && blocks.length < maxBlocks - 1) {
      blocks.push(cur);
      cur = { vsize: 0, txs: 0, rates: [] };
    }
    cur.vsize += vsize;
    cur.txs++;
    cur.rates.push([rate, vsize]);
  }
  if (cur.txs > 0) blocks.push(cur);
  return blocks;
}

/** The fee rate at `pct` percent of the block's weight counted from its lowest rates (a block's rates never rise). */
function percentile(block: ProjectedBlock, pct: number): number {
  let acc = 0;
  for (let i = block.rates.length - 1; i >= 0; i--) {
    acc += block.rates[i]![1];
    if (acc >= (block.vsize * pct) / 100) return block.rates[i]![0];
  }
  return block.rates[0]![0];
}

export type ProjectedAnswer = { sat_per_vb: number; block: number; blocks: number; reason: string };

/** The fee rate for a target from the projected blocks, with the reason. */
export function projectedEstimate(txs: readonly MempoolTx[], target: number, confidence: number, blockVsize: number): ProjectedAnswer {
  return fromBlocks(projectBlocks(txs, blockVsize, Math.max(8, target + 1)), target, confidence, blockVsize);
}

/** The same from blocks already projected (cut with more blocks than the target, so block N is a real block). */
export function fromBlocks(blocks: readonly ProjectedBlock[], target: number, confidence: number, blockVsize: number): ProjectedAnswer {
  if (blocks.length === 0) return { sat_per_vb: FLOOR, block: 0, blocks: 0, reason: 'the mempool is empty: the floor' };
  const round = (r: number): number => Math.max(FLOOR, Math.round(r * 1000) / 1000);
  if (target > blocks.length)
    return {
      sat_per_vb: FLOOR,
      block: target,
      blocks: blocks.length,
      reason: `the mempool fills ${blocks.length} block${blocks.length === 1 ? '' : 's'}, fewer than the target: the floor`,
    };
  const b = blocks[target - 1]!;
  const rate = percentile(b, confidence);
  const fill = b.vsize / blockVsize;
  if (fill >= 0.95)
    return { sat_per_vb: round(rate), block: target, blocks: blocks.length, reason: `projected block ${target} is full: its ${confidence}th percentile` };
  if (fill < 0.5)
    return { sat_per_vb: FLOOR, block: target, blocks: blocks.length, reason: `projected block ${target} is ${Math.round(fill * 100)}% full: the floor` };
  return {
    sat_per_vb: round(FLOOR + (rate - FLOOR) * ((fill - 0.5) / 0.5)),
    block: target,
    blocks: blocks.length,
    reason: `projected block ${target} is ${Math.round(fill * 100)}% full: its ${confidence}th percentile scaled down by its fill`,
  };
}
