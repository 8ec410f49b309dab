// Follows bitcoind's chain by polling (getbestblockhash) and keeps the processed tip in LevelDB, so a restart
// resumes where it stopped and catches up the missed blocks. On a reorg it walks back to the fork point, emits
// chain.disconnected for each removed block (newest first), then chain.block for the new ones; watched
// transactions in removed blocks go back to unconfirmed. It also matches transactions against the watch list, in
// blocks and in the mempool.

import type { Logger } from 'pino';
import type { EventBus } from '../../rpc/events.js';
import type { BatchOp, RoomDb, Store } from '../../store/store.js';
import type { ChainBackend, VerboseBlock, VerboseTx } from './backend.js';
import type { BitcoindClient } from './client.js';
import type { WatchList } from './watchlist.js';

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

/** How many recent block hashes are kept to find a fork point; deeper reorgs stop the watcher with an error. */
const HISTORY = 1000;
const MEMPOOL_LOOKUPS_PER_POLL = 500;
/** Blocks requested ahead of the one being connected during catch-up. */
const PREFETCH = 4;
const heightKey = (h: number): string => `h:${String(h).padStart(10, '0')}`;

export class ChainWatcher {
  tip: Tip | undefined;
  best: Tip | undefined;
  /** Hashes of the blocks the last poll connected (the service checks ZMQ announced them). */
  lastConnected: string[] = [];
  private knownMempool = new Set<string>();
  private readonly pendingDeep = new Map<string, WatchedTx>();

  constructor(
    private readonly client: BitcoindClient,
    private readonly db: RoomDb,
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly watches: WatchList,
    private readonly log: Logger,
    private readonly deepAt: number,
  ) {}

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
    if (this.watches.size() > 0) await this.pollMempool();
  }

  private async follow(backend: ChainBackend, bestHash: string): Promise<void> {
    const bestHeader = await this.client.call<{ height: number }>('getblockheader', bestHash);
    this.best = { height: bestHeader.height, hash: bestHash };
    await this.rewindToMainChain();
    const start = this.tip!.height;
    const best = this.best.height;
    const total = best - start;
    // Blocks are fetched a few ahead (within bitcoind.maxconcurrency) and connected strictly in order.
    const ahead = new Map<number, Promise<VerboseBlock>>();
    const fetchBlock = (h: number): void => {
      if (h > best || ahead.has(h)) return;
      const p = this.client.call<string>('getblockhash', h).then((hash) => backend.getBlockFull(hash));
      p.catch(() => undefined); // awaited below; a fetch abandoned after a reorg must not surface as unhandled
      ahead.set(h, p);
    };
    for (let h = start + 1; h <= best; h++) {
      for (let k = h; k < h + PREFETCH; k++) fetchBlock(k);
      const block = await ahead.get(h)!;
      ahead.delete(h);
      // The chain moved under us (a reorg during catch-up): the next poll walks back and goes on from there.
      if (block.previousblockhash !== this.tip!.hash) return;
      await this.connect(block);
      if (total >= 100 && (h - start) % 100 === 0) this.log.info({ height: h, best }, 'catching up');
    }
  }

  /** Disconnects processed blocks that are no longer in bitcoind's main chain, newest first. */
  private async rewindToMainChain(): Promise<void> {
    const removed: Tip[] = [];
    for (;;) {
      const header = await this.client.call<{ confirmations: number }>('getblockheader', this.tip!.hash).catch(() => ({ confirmations: -1 }));
      if (header.confirmations >= 0) break;
      removed.push(this.tip!);
      const prevHash = (await this.db.get(heightKey(this.tip!.height - 1))) as string | undefined;
      if (!prevHash || removed.length > HISTORY) throw new Error(`reorg deeper than the ${HISTORY} blocks anyad remembers (at height ${this.tip!.height}); anyad cannot find the fork point`);
      this.tip = { height: this.tip!.height - 1, hash: prevHash };
    }
    if (removed.length === 0) return;
    this.bus.publish('chain.reorg', { fork_height: this.tip!.height, fork_hash: this.tip!.hash, disconnected: removed });
    this.log.warn({ fork_height: this.tip!.height, depth: removed.length }, 'reorg');
    for (const b of removed) {
      const ops: BatchOp[] = [this.del(heightKey(b.height))];
      const reorged: WatchedTx[] = [];
      for await (const [, v] of this.db.iterator({ gte: 't:', lt: 't;' })) {
        const t = v as WatchedTx;
        if (t.block_hash !== b.hash) continue;
        const back: WatchedTx = { txid: t.txid, watches: t.watches, spends: t.spends, status: 'mempool' };
        ops.push(this.put(`t:${t.txid}`, back));
        this.pendingDeep.delete(t.txid);
        reorged.push(back);
      }
      ops.push(this.put('tip', { height: b.height - 1, hash: (await this.db.get(heightKey(b.height - 1))) as string }));
      await this.store.batch(ops);
      this.bus.publish('chain.disconnected', b);
      for (const t of reorged) this.bus.publish('chain.tx', { txid: t.txid, watches: t.watches, spends: t.spends, status: 'reorged', confirmations: 0, disconnected_block: b.hash });
    }
  }

  private async connect(block: VerboseBlock): Promise<void> {
    const ops: BatchOp[] = [this.put('tip', { height: block.height, hash: block.hash }), this.put(heightKey(block.height), block.hash)];
    if (block.height - HISTORY > 0) ops.push(this.del(heightKey(block.height - HISTORY)));
    const confirmed: WatchedTx[] = [];
    if (this.watches.size() > 0) {
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
    this.tip = { height: block.height, hash: block.hash };
    this.lastConnected.push(block.hash);
    this.bus.publish('chain.block', { height: block.height, hash: block.hash, previous: block.previousblockhash ?? null, time: block.time, tx_count: block.tx.length });
    for (const t of confirmed) {
      this.knownMempool.delete(t.txid);
      if (!t.deep) this.pendingDeep.set(t.txid, t);
      this.bus.publish('chain.tx', { txid: t.txid, watches: t.watches, spends: t.spends, status: 'confirmed', confirmations: 1, height: t.height, block_hash: t.block_hash });
    }
    for (const t of deepened) {
      this.pendingDeep.delete(t.txid);
      this.bus.publish('chain.tx', { txid: t.txid, watches: t.watches, spends: t.spends, status: 'deep', confirmations: block.height - t.height! + 1, height: t.height, block_hash: t.block_hash });
    }
  }

  private async pollMempool(): Promise<void> {
    const txids = await this.client.call<string[]>('getrawmempool');
    const now = new Set(txids);
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
      if (tx) await this.considerMempoolTx(tx);
    }
    this.knownMempool = now;
  }

  /** A transaction that entered the mempool (from getrawmempool or ZMQ rawtx): record and report it if watched. */
  async considerMempoolTx(tx: VerboseTx): Promise<void> {
    const m = this.watches.match(tx);
    if (!m || (await this.db.get(`t:${tx.txid}`)) !== undefined) return;
    const rec: WatchedTx = { txid: tx.txid, watches: m.watches, spends: m.spends, status: 'mempool' };
    await this.store.batch([this.put(`t:${tx.txid}`, rec)]);
    this.knownMempool.add(tx.txid);
    this.bus.publish('chain.tx', { txid: tx.txid, watches: m.watches, spends: m.spends, status: 'mempool', confirmations: 0 });
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
