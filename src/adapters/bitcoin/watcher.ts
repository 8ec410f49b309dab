// Follows bitcoind's chain by polling (getbestblockhash) and keeps the processed tip in LevelDB, so a restart
// resumes where it stopped and catches up the missed blocks. On a reorg it walks back to the fork point, emits
// chain.disconnected for each removed block (newest first), then chain.block for the new ones; watched
// transactions in removed blocks go back to unconfirmed. It also matches transactions against the watch list, in
// blocks and in the mempool.
//
// The main chain is decided by block hashes, never by a number the backend reports: a processed block is still in
// the chain when getblockhash(its height) answers its hash (what Bitcoin Core's own wallet does, walking back until
// the hashes agree). Nodes disagree on `confirmations` for stale blocks (Core: -1; bcoin 1.0.2 does not go
// negative), so it is not read. A failed call is a pause (the round throws, health says why, the next round
// retries), never a reorg. A reorg deeper than the kept window resyncs from the oldest block still known, with a
// chain.resync event, instead of stopping.

import type { Logger } from 'pino';
import type { EventBus } from '../../core/events.js';
import type { BatchOp, RoomDb, Store } from '../../core/store.js';
import type { ChainBackend, LightBlock, VerboseBlock, VerboseTx } from './backend.js';
import { BitcoindError, type BitcoindClient } from './client.js';
import type { WatchList } from './watchlist.js';
import { CHAIN_BLOCK, CHAIN_DISCONNECTED, CHAIN_REORG, CHAIN_RESYNC, CHAIN_TX, type ChainListener, type ListenerWrite } from './api.js';

export interface Tip {
  height: number;
  hash: string;
}

export interface WatchedTx {
  txid: string;
  watches: string[];
  spends: string[];
  status: 'mempool' | 'confirmed';
  height?: number;
  block_hash?: string;
  deep?: boolean;
}

const MEMPOOL_LOOKUPS_PER_POLL = 500;
/** Blocks requested ahead of the one being connected during catch-up: full blocks (memory), txid-only ones. */
const PREFETCH_FULL = 6;
const PREFETCH_LIGHT = 16;
/** The newest blocks are always read in full: the fee snapshot takes the median fee rate of the last six. */
const RECENT_FULL = 6;
const isLight = (b: VerboseBlock | LightBlock): b is LightBlock => b.tx.length > 0 && typeof b.tx[0] === 'string';
const heightKey = (h: number): string => `h:${String(h).padStart(10, '0')}`;

export class ChainWatcher {
  tip: Tip | undefined;
  best: Tip | undefined;
  /** Hashes of the blocks the last poll connected (the service checks ZMQ announced them). */
  lastConnected: string[] = [];
  /** Called with each block once it is connected (the fee snapshot reads its fee rates). */
  onBlock: ((block: VerboseBlock) => void) | undefined;
  private knownMempool = new Set<string>();
  /** When the processed tip last moved, and when it was last found equal to the node's best (for stall health). */
  lastProgress = Date.now();
  lastInSync = Date.now();
  private readonly pendingDeep = new Map<string, WatchedTx>();
  /** Rooms following every block and mempool transaction (a wallet): their writes go in the watcher's batches. */
  private readonly listeners: ChainListener[] = [];

  listen(listener: ChainListener): void {
    this.listeners.push(listener);
  }

  /** Whether blocks must be read in full and the mempool looked at: something is watched, or a room listens. */
  private following(): boolean {
    return this.watches.size() > 0 || this.listeners.some((l) => l.active?.() ?? true);
  }

  /** Each listener's writes for one step, gathered in order; `after` runs once the batch holding them is durable. */
  private async gather(step: (l: ChainListener) => ListenerWrite | undefined | Promise<ListenerWrite | undefined>, ops: BatchOp[]): Promise<() => void> {
    const afters: Array<() => void> = [];
    for (const l of this.listeners) {
      const w = await step(l);
      if (!w) continue;
      ops.push(...w.ops);
      if (w.after) afters.push(w.after);
    }
    return () => afters.forEach((a) => a());
  }

  private readonly client: BitcoindClient;
  private readonly db: RoomDb;
  private readonly store: Store;
  private readonly bus: EventBus;
  private readonly watches: WatchList;
  private readonly log: Logger;
  private readonly deepAt: number;
  /** How many recent block hashes are kept to find a fork point (bitcoind.reorgwindow). */
  private readonly window: number;

  constructor(s: { client: BitcoindClient; db: RoomDb; store: Store; bus: EventBus; watches: WatchList; log: Logger; deepAt: number; window?: number }) {
    this.client = s.client;
    this.db = s.db;
    this.store = s.store;
    this.bus = s.bus;
    this.watches = s.watches;
    this.log = s.log;
    this.deepAt = s.deepAt;
    this.window = s.window ?? 1000;
  }

  async load(): Promise<void> {
    this.tip = (await this.db.get('tip')) as Tip | undefined;
    for await (const [, v] of this.db.iterator({ gte: 't:', lt: 't;' })) {
      const t = v as WatchedTx;
      if (t.status === 'confirmed' && !t.deep) this.pendingDeep.set(t.txid, t);
    }
  }

  /** One round: follow the chain to bitcoind's best block, then look at the mempool. */
  async poll(backend: ChainBackend): Promise<void> {
    this.lastConnected = [];
    const bestHash = await this.client.call<string>('getbestblockhash');
    if (!this.tip) {
      // First start: begin at the current tip; history before anyad was installed is not scanned.
      const header = await this.client.call<{ height: number }>('getblockheader', bestHash);
      this.tip = { height: header.height, hash: bestHash };
      await this.store.batch([this.put('tip', this.tip), this.put(heightKey(header.height), bestHash)]);
      this.log.info({ height: header.height, hash: bestHash }, 'chain watcher starts at the current tip');
    }
    if (bestHash !== this.tip.hash) await this.follow(backend, bestHash);
    if (this.tip.hash === bestHash) this.lastInSync = Date.now();
    if (this.following()) await this.pollMempool();
  }

  /** Whether the node is ahead of the watcher and the watcher has not moved for `ms` (a stall nobody would see). */
  stalledFor(ms: number, now = Date.now()): number | undefined {
    const since = Math.max(this.lastProgress, this.lastInSync);
    return this.best && this.tip && this.best.hash !== this.tip.hash && now - since >= ms ? now - since : undefined;
  }

  private async follow(backend: ChainBackend, bestHash: string): Promise<void> {
    const bestHeader = await this.client.call<{ height: number }>('getblockheader', bestHash);
    this.best = { height: bestHeader.height, hash: bestHash };
    await this.rewindToMainChain();
    const start = this.tip!.height;
    const best = this.best.height;
    const total = best - start;
    // Blocks are fetched a few ahead (within bitcoind.maxconcurrency) and connected strictly in order. While nothing
    // is watched, and the block is not one of the last few (whose fee rates the fee snapshot reads), its txids are
    // enough: verbosity 1 is several times less JSON to parse than every transaction decoded.
    const ahead = new Map<number, Promise<VerboseBlock | LightBlock>>();
    const fetchBlock = (h: number): void => {
      if (h > best || ahead.has(h)) return;
      const light = !this.following() && h <= best - RECENT_FULL;
      const p = this.client
        .call<string>('getblockhash', h)
        .then((hash): Promise<VerboseBlock | LightBlock> => (light ? backend.getBlockLight(hash) : backend.getBlockFull(hash)));
      p.catch(() => undefined); // awaited below; a fetch abandoned after a reorg must not surface as unhandled
      ahead.set(h, p);
    };
    for (let h = start + 1; h <= best; h++) {
      const depth = this.following() ? PREFETCH_FULL : PREFETCH_LIGHT;
      for (let k = h; k < h + depth; k++) fetchBlock(k);
      let block: VerboseBlock | LightBlock;
      try {
        block = await ahead.get(h)!;
      } catch (err) {
        // The chain got shorter under us ("Block height out of range" after invalidateblock or a reorg to a shorter
        // chain): not a failure, the next poll walks back and goes on from there.
        if (err instanceof BitcoindError && (await this.client.call<string>('getbestblockhash')) !== bestHash) return;
        throw err;
      }
      ahead.delete(h);
      // The chain moved under us (a reorg during catch-up): the next poll walks back and goes on from there.
      if (block.previousblockhash !== this.tip!.hash) return;
      // Something was watched meanwhile: this block is read in full after all.
      if (isLight(block) && this.following()) block = await backend.getBlockFull(block.hash);
      await this.connect(block);
      if (total >= 100 && (h - start) % 100 === 0) this.log.info({ height: h, best }, 'catching up');
    }
  }

  /** Whether a processed block is in the node's main chain now: its height there answers its hash. */
  private async onMainChain(t: Tip): Promise<boolean> {
    if (t.height > this.best!.height) return false;
    // An error here propagates: the round pauses and is retried; it is never read as "not on the chain".
    return (await this.client.call<string>('getblockhash', t.height)) === t.hash;
  }

  /** Disconnects processed blocks that are no longer in bitcoind's main chain, newest first. */
  private async rewindToMainChain(): Promise<void> {
    const removed: Tip[] = [];
    let cursor: Tip = this.tip!;
    while (!(await this.onMainChain(cursor))) {
      removed.push(cursor);
      const prevHash = (await this.db.get(heightKey(cursor.height - 1))) as string | undefined;
      if (!prevHash || removed.length >= this.window) return this.resync(cursor, removed.length);
      cursor = { height: cursor.height - 1, hash: prevHash };
    }
    if (removed.length === 0) return;
    this.tip = cursor;
    this.bus.publish(CHAIN_REORG, { fork_height: this.tip.height, fork_hash: this.tip.hash, disconnected: removed });
    this.log.warn({ fork_height: this.tip.height, depth: removed.length }, 'reorg');
    for (const b of removed) {
      const ops: BatchOp[] = [this.del(heightKey(b.height))];
      const reorged = await this.unconfirm((t) => t.block_hash === b.hash, ops);
      const back = { height: b.height - 1, hash: (await this.db.get(heightKey(b.height - 1))) as string };
      ops.push(this.put('tip', back));
      const after = await this.gather((l) => l.rewound(back), ops);
      await this.store.batch(ops);
      after();
      this.bus.publish(CHAIN_DISCONNECTED, b);
      for (const t of reorged)
        this.bus.publish(CHAIN_TX, { txid: t.txid, watches: t.watches, spends: t.spends, status: 'reorged', confirmations: 0, disconnected_block: t.block });
    }
    this.lastProgress = Date.now();
  }

  /** Watched transactions matching `gone` go back to the mempool state (their batch ops are added to `ops`). */
  private async unconfirm(gone: (t: WatchedTx) => boolean, ops: BatchOp[]): Promise<Array<WatchedTx & { block: string }>> {
    const out: Array<WatchedTx & { block: string }> = [];
    for await (const [, v] of this.db.iterator({ gte: 't:', lt: 't;' })) {
      const t = v as WatchedTx;
      if (t.status !== 'confirmed' || !gone(t)) continue;
      const back: WatchedTx = { txid: t.txid, watches: t.watches, spends: t.spends, status: 'mempool' };
      ops.push(this.put(`t:${t.txid}`, back));
      this.pendingDeep.delete(t.txid);
      out.push({ ...back, block: t.block_hash! });
    }
    return out;
  }

  /**
   * The fork is older than every block hash anyad keeps. The node still knows the stale branch's headers (Core
   * keeps every header it validated), so walk them back until a block is in the main chain again: that is the fork.
   * Start again from there, say so (chain.resync), and put back to unconfirmed every watched transaction whose
   * block is no longer in the main chain. The catch-up that follows reports the blocks from the fork on again.
   * A node that has forgotten the stale headers (bcoin 1.0.2 answers "Block not found") leaves a guess: below the
   * oldest height known and below every watched transaction that lost its block.
   */
  private async resync(oldest: Tip, depth: number): Promise<void> {
    const from = this.tip!;
    let fork: Tip | undefined;
    let cursor = oldest;
    try {
      for (let i = 0; i < 1_000_000 && cursor.height > 0; i++) {
        const header = await this.client.call<{ previousblockhash?: string }>('getblockheader', cursor.hash);
        if (!header.previousblockhash) break;
        cursor = { height: cursor.height - 1, hash: header.previousblockhash };
        if (await this.onMainChain(cursor)) {
          fork = cursor;
          break;
        }
      }
    } catch (err) {
      if (!(err instanceof BitcoindError)) throw err;
      this.log.warn({ reason: err.message, at: cursor }, "the node does not know the stale branch's older headers; resyncing from the oldest block anyad kept");
    }
    const ops: BatchOp[] = [];
    for await (const [k] of this.db.iterator({ gte: 'h:', lt: 'h;' })) ops.push(this.del(k));
    const confirmed: WatchedTx[] = [];
    for await (const [, v] of this.db.iterator({ gte: 't:', lt: 't;' })) if ((v as WatchedTx).status === 'confirmed') confirmed.push(v as WatchedTx);
    const stale = new Set<string>();
    let lowestStale = Infinity;
    for (const t of confirmed) {
      if (t.height! > this.best!.height || (await this.client.call<string>('getblockhash', t.height!)) !== t.block_hash) {
        stale.add(t.txid);
        lowestStale = Math.min(lowestStale, t.height!);
      }
    }
    // Without the fork, start below every watched transaction that lost its block, so each is looked for again.
    const height = fork?.height ?? Math.max(0, Math.min(oldest.height - 1, lowestStale - 1, this.best!.height));
    const hash = fork?.hash ?? (await this.client.call<string>('getblockhash', height));
    const reorged = await this.unconfirm((t) => stale.has(t.txid), ops);
    this.tip = { height, hash };
    ops.push(this.put('tip', this.tip), this.put(heightKey(height), hash));
    const after = await this.gather((l) => l.rewound(this.tip!), ops);
    await this.store.batch(ops);
    after();
    this.log.warn({ from, to: this.tip, depth }, `reorg deeper than the ${this.window} blocks anyad keeps: resyncing`);
    this.bus.publish(CHAIN_RESYNC, {
      reason: `reorg deeper than the ${this.window} blocks anyad keeps`,
      from,
      to: this.tip,
      reorged: reorged.map((t) => t.txid),
    });
    for (const t of reorged)
      this.bus.publish(CHAIN_TX, { txid: t.txid, watches: t.watches, spends: t.spends, status: 'reorged', confirmations: 0, disconnected_block: t.block });
    this.lastProgress = Date.now();
  }

  private async connect(block: VerboseBlock | LightBlock): Promise<void> {
    const ops: BatchOp[] = [this.put('tip', { height: block.height, hash: block.hash }), this.put(heightKey(block.height), block.hash)];
    if (block.height - this.window > 0) ops.push(this.del(heightKey(block.height - this.window)));
    const confirmed: WatchedTx[] = [];
    const listened = isLight(block) ? () => undefined : await this.gather((l) => l.connected(block), ops);
    if (this.watches.size() > 0 && !isLight(block)) {
      for (const tx of block.tx) {
        const m = this.watches.match(tx);
        if (!m) continue;
        const rec: WatchedTx = { txid: tx.txid, watches: m.watches, spends: m.spends, status: 'confirmed', height: block.height, block_hash: block.hash };
        ops.push(this.put(`t:${tx.txid}`, rec));
        confirmed.push(rec);
      }
    }
    const deepened: WatchedTx[] = [];
    for (const t of [...this.pendingDeep.values(), ...confirmed]) {
      if (block.height - t.height! + 1 >= this.deepAt) {
        t.deep = true;
        ops.push(this.put(`t:${t.txid}`, t));
        deepened.push(t);
      }
    }
    await this.store.batch(ops);
    listened();
    this.tip = { height: block.height, hash: block.hash };
    this.lastProgress = Date.now();
    this.lastConnected.push(block.hash);
    if (!isLight(block)) this.onBlock?.(block);
    this.bus.publish(CHAIN_BLOCK, {
      height: block.height,
      hash: block.hash,
      previous: block.previousblockhash ?? null,
      time: block.time,
      tx_count: block.tx.length,
    });
    for (const t of confirmed) {
      this.knownMempool.delete(t.txid);
      if (!t.deep) this.pendingDeep.set(t.txid, t);
      this.bus.publish(CHAIN_TX, {
        txid: t.txid,
        watches: t.watches,
        spends: t.spends,
        status: 'confirmed',
        confirmations: 1,
        height: t.height,
        block_hash: t.block_hash,
      });
    }
    for (const t of deepened) {
      this.pendingDeep.delete(t.txid);
      this.bus.publish(CHAIN_TX, {
        txid: t.txid,
        watches: t.watches,
        spends: t.spends,
        status: 'deep',
        confirmations: block.height - t.height! + 1,
        height: t.height,
        block_hash: t.block_hash,
      });
    }
  }

  private async pollMempool(): Promise<void> {
    const txids = await this.client.call<string[]>('getrawmempool');
    const now = new Set(txids);
    const left = [...this.knownMempool].filter((t) => !now.has(t));
    let looked = 0;
    for (const txid of txids) {
      if (this.knownMempool.has(txid)) continue;
      if (looked++ >= MEMPOOL_LOOKUPS_PER_POLL) {
        // The rest are looked at next round; they are not marked known.
        now.delete(txid);
        continue;
      }
      if ((await this.db.get(`t:${txid}`)) !== undefined) continue;
      const tx = await this.client.call<VerboseTx>('getrawtransaction', txid, true).catch(() => undefined);
      // A lookup that failed (or a transaction already gone) is looked at again next round, never marked known.
      if (tx) await this.considerMempoolTx(tx);
      else now.delete(txid);
    }
    this.knownMempool = now;
    if (left.length > 0 && this.listeners.some((l) => l.mempoolLeft && (l.active?.() ?? true))) {
      const ops: BatchOp[] = [];
      const after = await this.gather((l) => l.mempoolLeft?.(left), ops);
      if (ops.length > 0) await this.store.batch(ops);
      after();
    }
  }

  /** A transaction that entered the mempool (from getrawmempool or ZMQ rawtx): record and report it if watched. */
  async considerMempoolTx(tx: VerboseTx): Promise<void> {
    if (this.listeners.some((l) => l.active?.() ?? true)) {
      const ops: BatchOp[] = [];
      const after = await this.gather((l) => l.mempool?.(tx), ops);
      if (ops.length > 0) await this.store.batch(ops);
      after();
    }
    const m = this.watches.match(tx);
    if (!m || (await this.db.get(`t:${tx.txid}`)) !== undefined) return;
    const rec: WatchedTx = { txid: tx.txid, watches: m.watches, spends: m.spends, status: 'mempool' };
    await this.store.batch([this.put(`t:${tx.txid}`, rec)]);
    this.knownMempool.add(tx.txid);
    this.bus.publish(CHAIN_TX, { txid: tx.txid, watches: m.watches, spends: m.spends, status: 'mempool', confirmations: 0 });
  }

  async watchedTx(txid: string): Promise<WatchedTx | undefined> {
    return (await this.db.get(`t:${txid}`)) as WatchedTx | undefined;
  }

  private put(key: string, value: unknown): BatchOp {
    return { type: 'put', sublevel: this.db, key, value };
  }
  private del(key: string): BatchOp {
    return { type: 'del', sublevel: this.db, key };
  }
}
