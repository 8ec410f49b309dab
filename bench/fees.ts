// Fee estimator benchmarks, in process with a real LevelDB store:
//  - storage under 100,000 transactions a day for 30 days (4,320 blocks of ~694 arrivals, each confirmed within a
//    few blocks) through FeeObservations' listener hooks with the default bound (ml.feeobservationsmax 500,000):
//    records kept, bytes on disk, prune time per block, and the time open() takes to load and replay them;
//  - an estimate's p50/p99 for each estimator: tracking (after that history), projected blocks on a mempool of
//    50,000 transactions (mainnet-sized) and of 5,000 when the mempool is cut again, and between cuts.
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

const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

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
    console.log('fees', JSON.stringify(figures));
    results.fees = figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
