// The bitcoind service: probes the node (network check, Core's warm-up), then keeps one loop that follows the
// chain and mempool, reconnecting with backoff when bitcoind goes away and catching up when it returns.

import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { FeeSnapshot } from './api.js';
import type { Network } from '../../core/options.js';
import { HealthCell, type Service } from '../../core/service.js';
import { rpcError } from '../../core/errors.js';
import type { EventBus } from '../../core/events.js';
import type { RoomDb, Store } from '../../core/store.js';
import { ChainBackend, decodeRawTx, type VerboseBlock } from './backend.js';
import { ZmqListener, type ZmqEndpoints } from './zmq.js';
import { BitcoindClient, BitcoindError, BitcoindUnreachable, toRpcError } from './client.js';
import { ChainWatcher } from './watcher.js';
import { WatchList } from './watchlist.js';
import { ChainNotifier } from './notifier.js';

/** Bitcoin Core's chain names, as getblockchaininfo reports them. */
const CORE_CHAIN: Record<Network, string> = { main: 'main', test: 'test', signet: 'signet', regtest: 'regtest' };

export type ConnectionState = 'connecting' | 'connected' | 'warming' | 'unreachable' | 'wrong-network' | 'stopped';

export class BitcoinService implements Service {
  readonly name = 'bitcoind';
  readonly optional = true;
  readonly health = (): ReturnType<HealthCell['get']> => this.cell.get();

  /** One call to bitcoind (its errors as they are), or BackendUnavailable at once when it is not connected. */
  nodeCall<T>(method: string, ...params: unknown[]): Promise<T> {
    if (this.state !== 'connected')
      return Promise.reject(
        rpcError('BackendUnavailable', `bitcoind is not connected: ${this.health().detail}`, {
          service: 'bitcoind',
          reason: this.health().detail,
          state: this.state,
        }),
      );
    return this.client.call<T>(method, ...params);
  }
  private readonly cell = new HealthCell('starting', 'connecting to bitcoind');
  state: ConnectionState = 'connecting';
  backend: ChainBackend | undefined;
  chainInfo: { chain: string; blocks: number; headers: number; verificationprogress: number } | undefined;
  readonly watcher: ChainWatcher;
  readonly watches: WatchList;
  readonly notifier: ChainNotifier;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  readonly zmq: ZmqListener;
  /** Block hashes ZMQ announced recently, to notice when it goes silent. */
  private readonly announced = new Set<string>();
  private unannounced: string[] = [];
  zmqSilent = false;

  readonly client: BitcoindClient;
  private readonly opts: { network: Network; pollMs: number; endpoint: string; deepAt: number; zmq: ZmqEndpoints; reorgWindow?: number; stallMs?: number };
  private readonly log: Logger;

  constructor(settings: {
    client: BitcoindClient;
    db: RoomDb;
    store: Store;
    bus: EventBus;
    log: Logger;
    network: Network;
    pollMs: number;
    endpoint: string;
    deepAt: number;
    zmq: ZmqEndpoints;
    reorgWindow?: number;
    stallMs?: number;
  }) {
    const { client, db, store, bus, log, ...opts } = settings;
    this.client = client;
    this.opts = opts;
    this.log = log;
    this.watches = new WatchList(db, store, opts.network);
    this.watcher = new ChainWatcher({ client, db, store, bus, watches: this.watches, log, deepAt: opts.deepAt, window: opts.reorgWindow });
    this.notifier = new ChainNotifier(
      db,
      store,
      log,
      () => this.watcher.tip,
      (hash) => this.rawBlock(hash),
    );
    this.watcher.listen(this.notifier);
    // The watcher already fetched each block in full: its fee rates are read from that, not fetched again.
    this.watcher.onBlock = (block) => void this.noteBlock(block);
    this.zmq = new ZmqListener(
      opts.zmq,
      {
        onBlock: (hash) => {
          this.announced.add(hash);
          if (this.announced.size > 100) this.announced.delete(this.announced.values().next().value!);
          if (this.zmqSilent) {
            this.zmqSilent = false;
            this.log.info('zmq notifications are arriving again');
          }
          this.wake();
        },
        onRawTx: (raw) => {
          let tx;
          try {
            tx = decodeRawTx(raw);
          } catch {
            return;
          }
          if (this.state === 'connected')
            void this.watcher.considerMempoolTx(tx).catch((err: Error) => this.log.warn({ reason: err.message }, 'zmq rawtx not processed'));
        },
        onSequence: () => this.wake(),
        onGap: (topic, expected, got) => {
          this.log.warn({ topic, expected, got }, 'zmq sequence gap: notifications were lost; re-reading the chain');
          this.wake();
        },
      },
      log,
    );
  }

  /** 'zmq' while notifications drive the watcher, 'polling' when ZMQ is not configured or has gone silent. */
  mode(): 'zmq' | 'polling' {
    return this.zmq.configured && this.opts.zmq.hashblock && !this.zmqSilent ? 'zmq' : 'polling';
  }

  async open(): Promise<void> {
    await this.watches.load();
    await this.watcher.load();
    await this.notifier.load();
    if (this.zmq.configured) this.zmq.start();
    try {
      await this.round();
    } finally {
      this.schedule();
    }
    if (this.state !== 'connected') throw new Error(this.cell.get().detail);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.zmq.close();
    await this.running;
    this.state = 'stopped';
    this.cell.set('stopped', 'closed');
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => this.run(true), this.opts.pollMs);
  }

  /** Runs a round now (a ZMQ notification); a round already running is followed by one more. */
  private wake(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.run(false);
  }

  private run(byTimer: boolean): void {
    this.running = this.round(byTimer).finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        this.run(false);
      } else this.schedule();
    });
  }

  /** One round: (re)connect if needed, then follow the chain. Never throws. */
  private async round(byTimer = false): Promise<void> {
    this.checkZmqSilence();
    try {
      if (this.state !== 'connected') {
        if (this.client.breakerOpen()) return;
        await this.probe();
        if ((this.state as ConnectionState) !== 'connected') return;
      }
      await this.watcher.poll(this.backend!);
      // Blocks found by the timer are checked at the next round: ZMQ must have announced them by then.
      if (byTimer && this.opts.zmq.hashblock) this.unannounced.push(...this.watcher.lastConnected.filter((h) => !this.announced.has(h)));
      const t = this.watcher.tip;
      const stalled = this.watcher.stalledFor(this.opts.stallMs ?? 60_000);
      if (stalled !== undefined) {
        const detail = `chain watcher stalled: at height ${t?.height ?? '?'} while the node is at ${this.watcher.best?.height ?? '?'}, no progress for ${Math.round(stalled / 1000)} s`;
        if (this.cell.get().detail !== detail && this.cell.get().state === 'ok') this.log.error({ tip: t, best: this.watcher.best }, 'chain watcher stalled');
        this.cell.set('degraded', detail);
      } else this.cell.set('ok', `connected to ${this.backend!.subversion} at ${this.opts.endpoint}, height ${t?.height ?? '?'}`);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Fee rates (sat/vB) of transactions seen in the mempool, to price the blocks that confirm them. */
  private readonly seenRates = new LRUCache<string, number>({ max: 100_000 });
  /** Each recent block's median fee rate by hash (-1: none of its transactions had a known fee). */
  private readonly blockRates = new LRUCache<string, number>({ max: 64 });
  private lastSnapshot: { key: string; at: number; value: Awaited<ReturnType<BitcoinService['feeSnapshot']>> } | undefined;

  /**
   * The median fee rate of a block: from each transaction's fee where the node gives it (Core's getblock
   * verbosity 2), else from the rates anyad saw while the transactions were in the mempool.
   */
  private async blockMedianRate(hash: string): Promise<number | null> {
    const known = this.blockRates.get(hash);
    if (known !== undefined) return known < 0 ? null : known;
    // Only blocks the watcher has not connected in this process (the ones before the start) are fetched here.
    return this.noteBlock(await this.backend!.getBlockFull(hash));
  }

  /** Computes and keeps a block's median fee rate (the watcher hands over every block it connects). */
  private noteBlock(block: VerboseBlock): number | null {
    const rates: number[] = [];
    for (const tx of block.tx) {
      if (tx.vin[0]?.coinbase !== undefined) continue;
      const rate = tx.fee !== undefined && tx.vsize ? (tx.fee * 1e8) / tx.vsize : this.seenRates.get(tx.txid);
      if (rate !== undefined && Number.isFinite(rate)) rates.push(rate);
    }
    rates.sort((a, b) => a - b);
    const median = rates.length > 0 ? Math.round(rates[Math.floor(rates.length / 2)]! * 1000) / 1000 : null;
    this.blockRates.set(block.hash, median ?? -1);
    return median;
  }

  /**
   * A mempool/chain snapshot for fee models: mempool size, a fee-rate histogram from getrawmempool (at most 50k
   * entries are read), the time since the last block, and the median fee rates of the last 6 blocks (newest first;
   * blocks whose fees are unknown are left out). Cached per best block for 10 s: readonly callers cannot make
   * anyad read the whole mempool on every call.
   */
  async feeSnapshot(target: number): Promise<FeeSnapshot> {
    if (this.state !== 'connected') throw new BitcoindUnreachable(this.cell.get().detail);
    const bestNow = await this.client.call<string>('getbestblockhash');
    if (this.lastSnapshot && this.lastSnapshot.key === bestNow && Date.now() - this.lastSnapshot.at < 10_000) return { ...this.lastSnapshot.value, target };
    const pool = await this.client.call<Record<string, { vsize?: number; size?: number; fees?: { base: number }; fee?: number }>>('getrawmempool', true);
    const buckets = new Map<number, number>();
    const sample: Array<{ txid: string; feerate: number }> = [];
    let total = 0;
    let n = 0;
    for (const [txid, e] of Object.entries(pool)) {
      if (n++ >= 50_000) break;
      const vsize = e.vsize ?? e.size ?? 0;
      const feeBtc = e.fees?.base ?? e.fee ?? 0;
      if (vsize <= 0) continue;
      total += vsize;
      const rate = (feeBtc * 1e8) / vsize;
      this.seenRates.set(txid, rate);
      // A bounded sample of mempool transactions and their fee rates: when they confirm tells what a rate bought.
      if (sample.length < 500) sample.push({ txid, feerate: Math.round(rate * 1000) / 1000 });
      const bucket = [1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 80, 120, 200].reduce((b, r) => (rate >= r ? r : b), 1);
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + vsize);
    }
    const header = await this.client.call<{ time: number; height: number }>('getblockheader', bestNow);
    const recent: number[] = [];
    for (let h = header.height; h > Math.max(0, header.height - 6); h--) {
      const rate = await this.blockMedianRate(h === header.height ? bestNow : await this.client.call<string>('getblockhash', h));
      if (rate !== null) recent.push(rate);
    }
    const value = {
      mempool_vsize: total,
      fee_histogram: [...buckets.entries()].sort((a, b) => a[0] - b[0]) as Array<[number, number]>,
      recent_block_feerates: recent,
      seconds_since_last_block: Math.max(0, Date.now() / 1000 - header.time),
      target,
      height: header.height,
      sample,
    };
    this.lastSnapshot = { key: bestNow, at: Date.now(), value };
    return value;
  }

  /** The txids of a block (for the ML room's outcome tracking). */
  async blockTxids(hash: string): Promise<string[]> {
    if (!this.backend) throw new BitcoindUnreachable(this.cell.get().detail);
    const b = (await this.backend.getBlock(hash, 1)) as { tx: Array<string | { txid: string }> };
    return b.tx.map((t) => (typeof t === 'string' ? t : t.txid));
  }

  /**
   * sendrawtransaction for chain.broadcast and for the rooms that send their own transactions (DLC, channels): a
   * refusal by bitcoind is about the transaction, not about how it was asked — BackendRejected, with its words.
   */
  async broadcast(txHex: string, what = 'the'): Promise<string> {
    try {
      return await this.nodeCall<string>('sendrawtransaction', txHex);
    } catch (err) {
      if (err instanceof BitcoindError && err.code !== -28)
        throw rpcError('BackendRejected', `bitcoind rejected ${what} transaction: ${err.message}`, { reason: err.message, bitcoind_code: err.code });
      throw toRpcError(err);
    }
  }

  /** gettxout, mempool included: the coin while it is unspent, else null. */
  async utxo(txid: string, vout: number): Promise<{ value_sat: number; script: string; confirmations: number } | null> {
    const out = await this.nodeCall<{ value: number; confirmations?: number; scriptPubKey?: { hex?: string } } | null>('gettxout', txid, vout, true);
    if (!out) return null;
    return { value_sat: Math.round(out.value * 1e8), script: out.scriptPubKey?.hex ?? '', confirmations: out.confirmations ?? 0 };
  }

  /** getrawtransaction: the node's mempool, or its chain where it keeps a transaction index; undefined when it does not know it. */
  async transaction(txid: string): Promise<{ hex: string; confirmations: number } | undefined> {
    try {
      const t = await this.nodeCall<{ hex: string; confirmations?: number }>('getrawtransaction', txid, true);
      return { hex: t.hex, confirmations: t.confirmations ?? 0 };
    } catch (err) {
      if (err instanceof BitcoindError) return undefined; // "No such mempool or blockchain transaction" and the like
      throw err;
    }
  }

  async header(hash: string): Promise<{ height: number; time: number; mediantime: number }> {
    const h = await this.nodeCall<{ height: number; time: number; mediantime?: number }>('getblockheader', hash);
    return { height: h.height, time: h.time, mediantime: h.mediantime ?? h.time };
  }

  blockHash(height: number): Promise<string> {
    return this.nodeCall<string>('getblockhash', height);
  }

  async rawBlock(hash: string): Promise<string> {
    if (!this.backend) throw new BitcoindUnreachable(this.cell.get().detail);
    return (await this.backend.getBlock(hash, 0)) as string;
  }

  private checkZmqSilence(): void {
    const missed = this.unannounced.filter((h) => !this.announced.has(h));
    this.unannounced = [];
    if (missed.length > 0 && !this.zmqSilent) {
      this.zmqSilent = true;
      this.log.warn(
        { missed: missed.length, endpoint: this.opts.zmq.hashblock },
        'zmq is silent (blocks found by polling were never announced); polling carries on',
      );
    }
  }

  private async probe(): Promise<void> {
    const wasDown = this.state === 'unreachable';
    this.backend = await ChainBackend.detect(this.client);
    const info = await this.client.call<{ chain: string; blocks: number; headers: number; verificationprogress: number }>('getblockchaininfo');
    this.chainInfo = info;
    if (info.chain !== CORE_CHAIN[this.opts.network]) {
      this.state = 'wrong-network';
      this.cell.set('failed', `bitcoind at ${this.opts.endpoint} is on ${info.chain}, but anyad runs on ${CORE_CHAIN[this.opts.network]}; refusing to use it`);
      this.log.error({ bitcoind_chain: info.chain, network: this.opts.network }, 'bitcoind is on another network');
      return;
    }
    this.state = 'connected';
    this.cell.set('ok', `connected to ${this.backend.subversion} at ${this.opts.endpoint}`);
    this.log.info({ version: this.backend.version, subversion: this.backend.subversion, blocks: info.blocks, reconnected: wasDown }, 'connected to bitcoind');
  }

  private fail(err: unknown): void {
    if (err instanceof BitcoindError && err.code === -28) {
      this.state = 'warming';
      this.cell.set('degraded', `bitcoind is warming up: ${err.message}`);
      return;
    }
    if (err instanceof BitcoindError && err.code < 0 && this.state === 'connected') {
      // bitcoind answered with a JSON-RPC error (negative codes; a positive one is an HTTP status from something in
      // front of it): it is reachable, and calls to it still go through. An answer like "Block height out of range"
      // comes from the chain moving under a round (a reorg, invalidateblock); the next round walks back and goes on.
      // Only the watcher is behind meanwhile: health says degraded, and once no block has been processed for
      // bitcoind.stalltimeout while the node is ahead (a pruned or damaged block store), it says so loudly.
      const stalled = this.watcher.stalledFor(this.opts.stallMs ?? 60_000);
      const detail =
        stalled === undefined
          ? `chain watcher: bitcoind answered "${err.message}" (code ${err.code}); the next round tries again`
          : `chain watcher stalled for ${Math.round(stalled / 1000)} s: bitcoind answers "${err.message}" (code ${err.code}) at every round`;
      if (stalled !== undefined && this.cell.get().detail.startsWith('chain watcher stalled') === false)
        this.log.error({ reason: err.message, code: err.code, tip: this.watcher.tip, best: this.watcher.best }, 'chain watcher stalled');
      else if (stalled === undefined && this.cell.get().detail !== detail) this.log.warn({ reason: err.message, code: err.code }, 'chain watcher round failed');
      this.cell.set('degraded', detail);
      return;
    }
    const reason = err instanceof BitcoindUnreachable || err instanceof BitcoindError ? err.message : `chain watcher: ${(err as Error).message}`;
    if (this.state === 'connected') this.log.warn({ reason }, 'lost bitcoind');
    if (!(err instanceof BitcoindUnreachable || err instanceof BitcoindError)) this.log.error({ reason }, 'chain watcher error');
    this.state = 'unreachable';
    this.cell.set('unavailable', reason);
  }
}
