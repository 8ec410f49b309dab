// What this node's own mempool and blocks say about fees. Every transaction the bitcoin room's watcher sees entering
// the mempool is recorded (fee rate, vsize, arrival time and height, its in-mempool parents), and later what became
// of it: the height of the block that confirmed it, or that it left without one. How leaving is told apart:
//   - replaced: a later transaction spends one of its inputs (RBF; seen when the replacement arrives);
//   - evicted: the watcher reports it gone from the mempool (ChainListener.mempoolLeft) and no block has it —
//     eviction, expiry or a conflict from a block alike. A block that confirms it later still wins: the watcher may
//     see it leave just before it connects the block that holds it.
// Storage is bounded, as Core keeps its estimates bounded by decay: at most `max` records (the oldest go first at
// each block) and none older than `maxAgeDays`. Confirmations are written in the watcher's own batch, so they move
// with its tip across restarts and reorgs; a reorg puts the transactions of the removed blocks back to waiting.
// The confirmation tracker (fee-tracking.ts) is rebuilt from the records at start and fed live afterwards.

import type { Logger } from 'pino';
import type { BitcoinApi, ChainListener, ListenerWrite, VerboseBlock, VerboseTx } from '../adapters/bitcoin/api.js';
import type { BatchOp, RoomDb } from '../core/store.js';
import { ConfirmationTracker } from './fee-tracking.js';
import type { MempoolTx } from './fee-projected.js';

/** One observed transaction, as stored (short names: there may be hundreds of thousands). */
export interface Observation {
  /** txid */
  t: string;
  /** fee rate, sat/vB */
  r: number;
  /** vsize */
  v: number;
  /** arrival, ms since the epoch */
  a: number;
  /** the watcher's tip height at arrival */
  h: number;
  /** in-mempool parents at arrival */
  p?: string[];
  /** outpoints spent (kept while waiting, to see a replacement) */
  i?: string[];
  /** height of the block that confirmed it */
  c?: number;
  /** height at which it left the mempool without a block, and how */
  g?: number;
  x?: 'evicted' | 'replaced';
}

export const OBS_PREFIX = 'f:';
/** The targets Core's estimatesmartfee is recorded for at each block (on Core), and for how many blocks. */
export const CORE_TARGETS = [1, 2, 3, 4, 6, 12, 24, 48, 144] as const;
const CORE_KEPT = 4032;
export const coreKey = (h: number): string => `e:${String(h).padStart(10, '0')}`;
const seqKey = (n: number): string => `${OBS_PREFIX}${String(n).padStart(12, '0')}`;

export class FeeObservations implements ChainListener {
  /** Waiting transactions (the mempool as seen), by txid. */
  private readonly waiting = new Map<string, { key: string; o: Observation }>();
  /** Outpoint -> txid of the waiting transaction spending it. */
  private readonly spends = new Map<string, string>();
  /** Recently left, by txid: a block that confirms one of them later overrides the departure. */
  private readonly left = new Map<string, { key: string; o: Observation }>();
  private seq = 0;
  /**
   * Waiting when anyad stopped: what left the mempool meanwhile is never reported as leaving (the watcher starts
   * with an empty view), so each is asked about once (getmempoolentry), a bounded number per block.
   */
  private unchecked: string[] = [];
  count = 0;
  bytes = 0;
  /** The arrival time of the oldest record kept (records are keyed in arrival order), once known. */
  private oldestArrival: number | undefined;
  tracker = new ConfirmationTracker();

  private readonly db: RoomDb;
  private readonly chain: Pick<BitcoinApi, 'mempoolEntry' | 'tip' | 'nodeKind' | 'coreEstimate'>;
  private readonly max: number;
  private readonly maxAgeMs: number;
  private readonly log: Logger;

  constructor(s: { db: RoomDb; chain: Pick<BitcoinApi, 'mempoolEntry' | 'tip' | 'nodeKind' | 'coreEstimate'>; max: number; maxAgeDays: number; log: Logger }) {
    this.db = s.db;
    this.chain = s.chain;
    this.max = s.max;
    this.maxAgeMs = s.maxAgeDays * 86_400_000;
    this.log = s.log;
  }

  /** Loads the records: the waiting ones back in memory, the tracker replayed from all of them. */
  async open(): Promise<void> {
    const all: Observation[] = [];
    for await (const [k, v] of this.db.iterator({ gte: OBS_PREFIX, lt: 'f;' })) {
      const o = v as Observation;
      all.push(o);
      this.count++;
      this.bytes += JSON.stringify(o).length + k.length;
      this.seq = Number(k.slice(OBS_PREFIX.length));
      if (o.c === undefined && o.g === undefined) {
        this.track(k, o);
        this.unchecked.push(o.t);
      }
    }
    this.tracker = replayTracker(all, this.chain.tip()?.height ?? Infinity);
  }

  /** Changes whenever the waiting set does (the projected blocks are cut again only then). */
  version = 0;

  private track(key: string, o: Observation): void {
    this.version++;
    this.waiting.set(o.t, { key, o });
    for (const op of o.i ?? []) this.spends.set(op, o.t);
  }

  private untrack(o: Observation): void {
    this.version++;
    this.waiting.delete(o.t);
    for (const op of o.i ?? []) if (this.spends.get(op) === o.t) this.spends.delete(op);
    delete o.i;
  }

  private put(key: string, o: Observation): BatchOp {
    return { type: 'put', sublevel: this.db, key, value: o };
  }

  /** The mempool as this node's watcher has seen it: what projected blocks are cut from. */
  view(): MempoolTx[] {
    return [...this.waiting.values()].map(({ o }) => ({ txid: o.t, rate: o.r, vsize: o.v, parents: o.p }));
  }

  mempool(tx: VerboseTx): Promise<ListenerWrite | undefined> {
    return this.arrived(tx);
  }

  private async arrived(tx: VerboseTx): Promise<ListenerWrite | undefined> {
    const tip = this.chain.tip();
    if (!tip || this.waiting.has(tx.txid) || tx.vin[0]?.coinbase !== undefined) return undefined;
    // The fee is not in the transaction: the node's mempool entry has it (Core's fees.base and vsize, bcoin's fee
    // and size; the bitcoin room reads either). Gone already (mined, replaced) means there is nothing to learn.
    const e = await this.chain.mempoolEntry(tx.txid).catch(() => null);
    if (!e || e.vsize <= 0 || this.waiting.has(tx.txid)) return undefined;
    const ins = tx.vin.filter((i) => i.txid !== undefined).map((i) => `${i.txid}:${i.vout}`);
    const o: Observation = { t: tx.txid, r: Math.round((e.fee_sat / e.vsize) * 1000) / 1000, v: e.vsize, a: Date.now(), h: tip.height, i: ins };
    const parents = [...new Set(tx.vin.map((i) => i.txid!).filter((t) => t && this.waiting.has(t)))];
    if (parents.length) o.p = parents;
    const key = seqKey(++this.seq);
    const ops: BatchOp[] = [this.put(key, o)];
    // A waiting transaction spending the same coin was replaced by this one.
    const replaced = new Set<string>();
    for (const op of ins) {
      const other = this.spends.get(op);
      if (other && other !== tx.txid) replaced.add(other);
    }
    const gone: Observation[] = [];
    for (const txid of replaced) {
      const w = this.waiting.get(txid)!;
      this.untrack(w.o);
      Object.assign(w.o, { g: tip.height, x: 'replaced' as const });
      this.left.set(txid, w);
      ops.push(this.put(w.key, w.o));
      gone.push(w.o);
    }
    this.track(key, o);
    this.count++;
    this.bytes += JSON.stringify(o).length + key.length;
    return {
      ops,
      after: () => {
        for (const g of gone) this.tracker.left(g.h, g.r);
        this.tracker.arrival(o.h, o.r);
      },
    };
  }

  mempoolLeft(txids: string[]): ListenerWrite | undefined {
    const tip = this.chain.tip();
    const ops: BatchOp[] = [];
    const gone: Observation[] = [];
    for (const txid of txids) {
      const w = this.waiting.get(txid);
      if (!w) continue;
      this.untrack(w.o);
      Object.assign(w.o, { g: tip?.height ?? w.o.h, x: 'evicted' as const });
      this.left.set(txid, w);
      ops.push(this.put(w.key, w.o));
      gone.push(w.o);
    }
    return ops.length ? { ops, after: () => gone.forEach((g) => this.tracker.left(g.h, g.r)) } : undefined;
  }

  async connected(block: VerboseBlock): Promise<ListenerWrite | undefined> {
    const ops: BatchOp[] = [];
    const confirmed: Array<{ entry: number; rate: number }> = [];
    for (const tx of block.tx) {
      const w = this.waiting.get(tx.txid) ?? this.left.get(tx.txid);
      if (!w) continue;
      this.untrack(w.o);
      this.left.delete(tx.txid);
      delete w.o.g;
      delete w.o.x;
      w.o.c = block.height;
      ops.push(this.put(w.key, w.o));
      confirmed.push({ entry: w.o.h, rate: w.o.r });
    }
    const gone: Observation[] = [];
    for (const txid of this.unchecked.splice(0, 500)) {
      const w = this.waiting.get(txid);
      if (!w || (await this.chain.mempoolEntry(txid).catch(() => true)) !== null) continue;
      this.untrack(w.o);
      Object.assign(w.o, { g: block.height - 1, x: 'evicted' as const });
      this.left.set(txid, w);
      ops.push(this.put(w.key, w.o));
      gone.push(w.o);
    }
    // What left the mempool more than a few blocks ago is not coming back in a block of ours.
    for (const [txid, w] of this.left) if (block.height - (w.o.g ?? 0) > 6) this.left.delete(txid);
    await this.prune(ops, block.height);
    if (this.chain.nodeKind() === 'core' && Date.now() / 1000 - block.time < 7200) {
      // Core's own estimates at this height, for the backtest to compare with (bcoin has none of Core's); only for a
      // recent block: during a catch-up Core's answer is about now, not about that block.
      const est: Record<string, number | null> = {};
      for (const t of CORE_TARGETS) est[t] = await this.chain.coreEstimate(t).catch(() => null);
      ops.push({ type: 'put', sublevel: this.db, key: coreKey(block.height), value: est });
      if (block.height > CORE_KEPT) ops.push({ type: 'del', sublevel: this.db, key: coreKey(block.height - CORE_KEPT) });
    }
    return {
      ops,
      after: () => {
        this.tracker.block(block.height, confirmed);
        for (const g of gone) this.tracker.left(g.h, g.r);
      },
    };
  }

  /** The bound: the oldest records beyond `max`, and every record older than the age limit, go at each block. */
  private async prune(ops: BatchOp[], height: number): Promise<void> {
    const excess = this.count - this.max;
    const cutoff = Date.now() - this.maxAgeMs;
    // Nothing over the bound and the oldest kept record young enough: no iterator opened (this runs every block).
    if (excess <= 0 && this.oldestArrival !== undefined && this.oldestArrival >= cutoff) return;
    let removed = 0;
    this.oldestArrival = undefined;
    for await (const [k, v] of this.db.iterator({ gte: OBS_PREFIX, lt: 'f;' })) {
      const o = v as Observation;
      if (removed >= excess && o.a >= cutoff) {
        this.oldestArrival = o.a;
        break;
      }
      ops.push({ type: 'del', sublevel: this.db, key: k });
      this.bytes -= JSON.stringify(o).length + k.length;
      removed++;
      const w = this.waiting.get(o.t);
      if (w?.key === k) this.untrack(o);
      this.left.delete(o.t);
    }
    if (removed > 0) {
      this.count -= removed;
      this.log.debug({ removed, height, kept: this.count }, 'fee observations pruned');
    }
  }

  /** A reorg: transactions confirmed above the fork wait again; the tracker is rebuilt from the records. */
  async rewound(tip: { height: number; hash: string }): Promise<ListenerWrite | undefined> {
    const ops: BatchOp[] = [];
    const all: Observation[] = [];
    for await (const [k, v] of this.db.iterator({ gte: OBS_PREFIX, lt: 'f;' })) {
      const o = v as Observation;
      if (o.c !== undefined && o.c > tip.height) {
        delete o.c;
        ops.push(this.put(k, o));
        this.track(k, o);
      }
      all.push(o);
    }
    return { ops, after: () => (this.tracker = replayTracker(all, tip.height)) };
  }

  active(): boolean {
    return true;
  }

  async *records(): AsyncGenerator<Observation> {
    for await (const [, v] of this.db.iterator({ gte: OBS_PREFIX, lt: 'f;' })) yield v as Observation;
  }

  stats(): { stored: number; waiting: number; bytes: number; max: number; tracked_blocks: number; tracked_confirmations: number } {
    return {
      stored: this.count,
      waiting: this.waiting.size,
      bytes: this.bytes,
      max: this.max,
      tracked_blocks: this.tracker.blocks,
      tracked_confirmations: this.tracker.tracked,
    };
  }
}

/**
 * Feeds a fresh tracker the records in height order: at each height, its block (the confirmations at it), then what
 * left the mempool and what arrived while it was the tip. `each(h, tracker)` runs after block h, before its arrivals.
 */
export function replayTracker(records: readonly Observation[], upTo: number, each?: (h: number, t: ConfirmationTracker) => void): ConfirmationTracker {
  const t = new ConfirmationTracker();
  if (records.length === 0) return t;
  const at = new Map<number, { arr: Observation[]; conf: Observation[]; gone: Observation[] }>();
  const slot = (h: number): { arr: Observation[]; conf: Observation[]; gone: Observation[] } => {
    let s = at.get(h);
    if (!s) at.set(h, (s = { arr: [], conf: [], gone: [] }));
    return s;
  };
  let lo = Infinity;
  let hi = -Infinity;
  for (const o of records) {
    slot(o.h).arr.push(o);
    lo = Math.min(lo, o.h);
    hi = Math.max(hi, o.h);
    if (o.c !== undefined) slot(o.c).conf.push(o);
    else if (o.g !== undefined) slot(o.g).gone.push(o);
    hi = Math.max(hi, o.c ?? o.g ?? o.h);
  }
  for (let h = lo; h <= Math.min(hi, upTo); h++) {
    const s = at.get(h);
    if (h > lo)
      t.block(
        h,
        (s?.conf ?? []).map((o) => ({ entry: o.h, rate: o.r })),
      );
    each?.(h, t);
    for (const o of s?.gone ?? []) t.left(o.h, o.r);
    for (const o of s?.arr ?? []) t.arrival(o.h, o.r);
  }
  return t;
}
