// The bitcoind service: probes the node (network check, Core's warm-up), then keeps one loop that follows the
// chain and mempool, reconnecting with backoff when bitcoind goes away and catching up when it returns.

import type { Logger } from 'pino';
import type { Network } from '../../core/options.js';
import { HealthCell, type Service } from '../../core/service.js';
import type { EventBus } from '../../rpc/events.js';
import type { RoomDb, Store } from '../../store/store.js';
import { ChainBackend } from './backend.js';
import { BitcoindClient, BitcoindError, BitcoindUnreachable } from './client.js';
import { ChainWatcher } from './watcher.js';
import { WatchList } from './watchlist.js';

/** Bitcoin Core's chain names, as getblockchaininfo reports them. */
const CORE_CHAIN: Record<Network, string> = { main: 'main', test: 'test', signet: 'signet', regtest: 'regtest' };

export type ConnectionState = 'connecting' | 'connected' | 'warming' | 'unreachable' | 'wrong-network' | 'stopped';

export class BitcoinService implements Service {
  readonly name = 'bitcoind';
  readonly optional = true;
  readonly health = (): ReturnType<HealthCell['get']> => this.cell.get();
  private readonly cell = new HealthCell('starting', 'connecting to bitcoind');
  state: ConnectionState = 'connecting';
  backend: ChainBackend | undefined;
  chainInfo: { chain: string; blocks: number; headers: number; verificationprogress: number } | undefined;
  readonly watcher: ChainWatcher;
  readonly watches: WatchList;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    readonly client: BitcoindClient,
    private readonly opts: { network: Network; pollMs: number; endpoint: string; deepAt: number },
    db: RoomDb,
    store: Store,
    bus: EventBus,
    private readonly log: Logger,
  ) {
    this.watches = new WatchList(db, store, opts.network);
    this.watcher = new ChainWatcher(client, db, store, bus, this.watches, log, opts.deepAt);
  }

  async open(): Promise<void> {
    await this.watches.load();
    await this.watcher.load();
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
    await this.running;
    this.state = 'stopped';
    this.cell.set('stopped', 'closed');
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => this.schedule());
    }, this.opts.pollMs);
  }

  /** One round: (re)connect if needed, then follow the chain. Never throws. */
  private async round(): Promise<void> {
    try {
      if (this.state !== 'connected') {
        if (this.client.breakerOpen()) return;
        await this.probe();
        if ((this.state as ConnectionState) !== 'connected') return;
      }
      await this.watcher.poll(this.backend!);
      const t = this.watcher.tip;
      this.cell.set('ok', `connected to ${this.backend!.subversion} at ${this.opts.endpoint}, height ${t?.height ?? '?'}`);
    } catch (err) {
      this.fail(err);
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
    const reason = err instanceof BitcoindUnreachable || err instanceof BitcoindError ? err.message : `chain watcher: ${(err as Error).message}`;
    if (this.state === 'connected') this.log.warn({ reason }, 'lost bitcoind');
    if (!(err instanceof BitcoindUnreachable || err instanceof BitcoindError)) this.log.error({ reason }, 'chain watcher error');
    this.state = 'unreachable';
    this.cell.set('unavailable', reason);
  }
}
