// Learning from the user's own node. Each live fee estimate (made on bitcoind's mempool) is recorded with its
// features, every loaded version's answer, bitcoind's estimatesmartfee for the same moment, and a sample of the
// mempool's transactions with their fee rates. As blocks come (chain.block), the sampled transactions that confirm
// are noted; once the target's blocks have passed, the outcome is the lowest fee rate among sampled transactions
// that confirmed within the target — what a fee rate actually bought. ml.evaluate compares each version (and
// bitcoind) against these outcomes; ml.exportdataset writes the rows as CSV for retraining. Collection is bounded.

import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { publishNoClobber } from '../core/files.js';
import type { Logger } from 'pino';
import type { EventBus } from '../core/events.js';
import { CHAIN_BLOCK } from '../adapters/bitcoin/api.js';
import type { RoomDb, Store } from '../core/store.js';

export interface OutcomeRow {
  key: string;
  time: string;
  height: number;
  target: number;
  model: string;
  features: number[];
  predictions: Record<string, number>;
  core_sat_per_vb: number | null;
  sample: Array<{ txid: string; feerate: number }>;
  confirmed: Record<string, number>;
  resolved: boolean;
  /** Lowest fee rate (sat/vB) among sampled transactions that confirmed within the target; null when none did. */
  outcome: number | null;
}

export interface ChainSource {
  blockTxids(hash: string): Promise<string[]>;
}

export class OutcomeTracker {
  private readonly pending = new Map<string, OutcomeRow>();
  private count = 0;
  private stop: (() => void) | undefined;
  private work: Promise<void> = Promise.resolve();

  private readonly db: RoomDb;
  private readonly store: Store;
  private readonly chain: ChainSource;
  /** ml.datasetmax: the most rows kept. */
  private readonly max: number;
  private readonly log: Logger;

  constructor(s: { db: RoomDb; store: Store; chain: ChainSource; max: number; log: Logger }) {
    this.db = s.db;
    this.store = s.store;
    this.chain = s.chain;
    this.max = s.max;
    this.log = s.log;
  }

  async open(bus: EventBus): Promise<void> {
    for await (const [, v] of this.db.iterator({ gte: 'o:', lt: 'o;' })) {
      const row = v as OutcomeRow;
      this.count++;
      if (!row.resolved) this.pending.set(row.key, row);
    }
    this.stop = bus.on(CHAIN_BLOCK, (b) => {
      // Blocks are handled one after another, in order.
      this.work = this.work.then(() => this.onBlock(b)).catch((err: Error) => this.log.warn({ reason: err.message }, 'outcome tracking skipped a block'));
    });
  }

  close(): Promise<void> {
    this.stop?.();
    return this.work;
  }

  /** Resolves when the blocks seen so far have been processed (tests and evaluate use it). */
  settled(): Promise<void> {
    return this.work;
  }

  async record(row: Omit<OutcomeRow, 'key' | 'confirmed' | 'resolved' | 'outcome'>): Promise<void> {
    const key = `o:${String(Date.now()).padStart(15, '0')}:${randomBytes(4).toString('hex')}`;
    const full: OutcomeRow = { ...row, key, confirmed: {}, resolved: false, outcome: null };
    const ops: Parameters<Store['batch']>[0] = [{ type: 'put', sublevel: this.db, key, value: full }];
    this.count++;
    if (this.count > this.max) {
      // Bounded: the oldest rows go first.
      for await (const k of this.db.keys({ gte: 'o:', lt: 'o;', limit: this.count - this.max })) {
        ops.push({ type: 'del', sublevel: this.db, key: k });
        this.pending.delete(k);
      }
      this.count = this.max;
    }
    await this.store.batch(ops, { sync: false });
    this.pending.set(key, full);
  }

  private async onBlock(b: { height: number; hash: string }): Promise<void> {
    const open = [...this.pending.values()].filter((r) => b.height > r.height);
    if (open.length === 0) return;
    const txids = new Set(await this.chain.blockTxids(b.hash));
    const ops: Parameters<Store['batch']>[0] = [];
    for (const r of open) {
      for (const s of r.sample) if (txids.has(s.txid) && r.confirmed[s.txid] === undefined) r.confirmed[s.txid] = b.height;
      if (b.height >= r.height + r.target) {
        const within = r.sample.filter((s) => r.confirmed[s.txid] !== undefined && r.confirmed[s.txid]! <= r.height + r.target).map((s) => s.feerate);
        r.outcome = within.length ? Math.min(...within) : null;
        r.resolved = true;
        this.pending.delete(r.key);
      }
      ops.push({ type: 'put', sublevel: this.db, key: r.key, value: r });
    }
    await this.store.batch(ops, { sync: false });
  }

  async *rows(): AsyncGenerator<OutcomeRow> {
    for await (const [, v] of this.db.iterator({ gte: 'o:', lt: 'o;' })) yield v as OutcomeRow;
  }

  /** Each version's error against the outcomes, next to bitcoind's estimatesmartfee for the same moments. */
  async evaluate(model: string): Promise<{
    rows: number;
    resolved: number;
    with_outcome: number;
    versions: Record<string, { n: number; mae_sat_vb: number; median_relative_error: number }>;
    core: { n: number; mae_sat_vb: number; median_relative_error: number } | null;
  }> {
    await this.settled();
    let rows = 0;
    let resolved = 0;
    const errs = new Map<string, { abs: number[]; rel: number[] }>();
    const add = (name: string, pred: number, truth: number): void => {
      const e = errs.get(name) ?? { abs: [], rel: [] };
      e.abs.push(Math.abs(pred - truth));
      e.rel.push(Math.abs(pred - truth) / truth);
      errs.set(name, e);
    };
    let withOutcome = 0;
    for await (const r of this.rows()) {
      if (r.model !== model) continue;
      rows++;
      if (!r.resolved) continue;
      resolved++;
      if (r.outcome === null) continue;
      withOutcome++;
      for (const [v, p] of Object.entries(r.predictions)) add(`v${v}`, p, r.outcome);
      if (r.core_sat_per_vb !== null) add('core', r.core_sat_per_vb, r.outcome);
    }
    const summary = (e: { abs: number[]; rel: number[] }): { n: number; mae_sat_vb: number; median_relative_error: number } => ({
      n: e.abs.length,
      mae_sat_vb: Math.round((e.abs.reduce((a, b) => a + b, 0) / e.abs.length) * 1000) / 1000,
      median_relative_error: Math.round([...e.rel].sort((a, b) => a - b)[Math.floor(e.rel.length / 2)]! * 1000) / 1000,
    });
    const versions: Record<string, { n: number; mae_sat_vb: number; median_relative_error: number }> = {};
    for (const [k, e] of errs) if (k !== 'core') versions[k.slice(1)] = summary(e);
    const core = errs.get('core');
    return { rows, resolved, with_outcome: withOutcome, versions, core: core ? summary(core) : null };
  }

  /** Writes the resolved rows with an outcome as CSV to a new file (0600): features, target, outcome. */
  async export(path: string, model: string, featureNames: string[]): Promise<{ path: string; rows: number }> {
    await this.settled();
    const tmp = `${path}.tmp-${process.pid}`;
    const fh = await open(tmp, 'wx', 0o600);
    let n = 0;
    try {
      await fh.write(`${['time', 'height', 'target', ...featureNames, 'core_sat_per_vb', 'outcome_sat_per_vb'].join(',')}\n`);
      for await (const r of this.rows()) {
        if (r.model !== model || !r.resolved || r.outcome === null) continue;
        await fh.write(`${[r.time, r.height, r.target, ...r.features, r.core_sat_per_vb ?? '', r.outcome].join(',')}\n`);
        n++;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await publishNoClobber(tmp, path);
    return { path, rows: n };
  }
}
