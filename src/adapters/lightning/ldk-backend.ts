// The embedded LDK node as a backend of the lightning room (ldk.enable). It starts in the background once the
// keystore and the bitcoin room can give what it needs (its seed, the chain's tip); calls answer -28 naming the stage
// meanwhile. Built so far: the node itself (keys, channel manager, chain monitor, peers, graph, persistence, chain
// feed), getinfo, connect, listpeers, listchannels, balance, channels, invoices and payments; health names each
// channel that cannot carry a payment and why. What is not built yet refuses with Unsupported, saying so: nothing
// here pretends.

import type { Logger } from 'pino';
import { rpcError, RpcError, ErrorCode } from '../../core/errors.js';
import type { Network } from '../../core/options.js';
import { HealthCell, type Health } from '../../core/service.js';
import type { RoomDb, Store } from '../../core/store.js';
import type { BitcoinApi } from '../bitcoin/api.js';
import type { HsmApi } from '../../hsm/api.js';
import type {
  LightningBackend,
  LnBalance,
  LnChannel,
  LnDecoded,
  LnInfo,
  LnPeer,
  InvoiceRecord,
  NewInvoice,
  PaymentState,
  PayRequest,
  KeysendRequest,
  PayResult,
} from './backend.js';
import type { WalletApi } from '../../wallet/api.js';
import { LdkChannels } from './ldk/channels.js';
import { LdkPayments } from './ldk/payments.js';
import { LdkRedial } from './ldk/redial.js';
import { LdkSweeper } from './ldk/sweep.js';
import type { LnRecords } from './records.js';
import type { LdkNode } from './ldk/node.js';
import { balanceOf, channelName, channelOf, peerOf, unusableReason } from './ldk-views.js';
import { hashHex, hex } from './ldk/wasm.js';
import { checkNodeId } from './node-id.js';

export interface LdkBackendSettings {
  db: RoomDb;
  store: Store;
  chain: BitcoinApi;
  hsm: HsmApi;
  /** Funds channels (the wallet room); without it ln.openchannel refuses. */
  wallet: WalletApi | undefined;
  /** The room's records of this backend: invoices made here are settled in them. */
  records: LnRecords;
  network: Network;
  log: Logger;
  host: string;
  port: number;
  fallbackFeeSatKw: number;
  connectTimeoutMs: number;
}

const RETRY_MS = 1000;

/** What is not built yet on this backend: a clear refusal naming the step of issue 29 that brings it. */
const notYet = (what: string): never => {
  throw rpcError('Unsupported', `${what} is not built yet on the ldk backend (issue 29); use the cln or lnd backend for it`);
};

export class LdkBackend implements LightningBackend {
  readonly name = 'ldk';
  readonly backend = 'ldk' as const;
  readonly optional = true;
  beforeReady: (() => Promise<void>) | undefined;
  private readonly cell = new HealthCell('starting', 'not started');
  private node: LdkNode | undefined;
  private stage: string | undefined = 'not started';
  private running = false;
  private starting: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly channels: LdkChannels;
  private readonly payments: LdkPayments;
  private readonly sweeper: LdkSweeper;
  private readonly redial: LdkRedial;
  /** Dials under way, by node id: a second connect to the same node waits for the first instead of racing it. */
  private readonly dialing = new Map<string, Promise<void>>();

  constructor(private readonly s: LdkBackendSettings) {
    this.channels = new LdkChannels({ wallet: s.wallet, hsm: s.hsm, network: s.network, log: s.log, changed: () => undefined, openTimeoutMs: 60_000 });
    this.payments = new LdkPayments({ db: s.db, store: s.store, records: s.records, log: s.log });
    this.sweeper = new LdkSweeper({ db: s.db, store: s.store, chain: s.chain, wallet: s.wallet, network: s.network, log: s.log });
    this.redial = new LdkRedial({ db: s.db, store: s.store, log: s.log, dial: (id, host, port) => this.connect(id, host, port) });
    // Blocks reach the node from the bitcoin room's watcher; until the node runs they are caught up at its start.
    s.chain.listen({
      connected: (b) => {
        // Each block may make a kept output spendable (a delay ended), or confirm a sweep's inputs.
        void this.node?.follow({ height: b.height, hash: b.hash }).then(() => this.sweeper.sweepAll());
        return undefined;
      },
      rewound: (tip) => {
        void this.node?.follow(tip);
        return undefined;
      },
      // Full blocks are read by the node itself (raw), so the watcher need not fetch them for this listener.
      active: () => false,
    });
  }

  get connected(): boolean {
    return this.node !== undefined && this.running;
  }

  /**
   * The node's state, and each channel that cannot carry a payment with the reason (funding not confirmed, peer
   * disconnected, closing). A peer away is degraded: the channel is there but cannot be used until it returns.
   */
  health(): Health {
    const failed = this.node?.persister.failed;
    if (failed) return { ...this.cell.get(), state: 'degraded', detail: failed };
    const h = this.cell.get();
    if (!this.node || h.state !== 'ok') return h;
    const unusable = this.node.cm
      .list_channels()
      .map((c) => [channelName(c), unusableReason(c), hex(c.get_counterparty().get_node_id())] as const)
      .filter(([, why]) => why !== undefined);
    if (unusable.length === 0) return h;
    const redialing = (why: string | undefined, peer: string): string => {
      const r = why === 'peer disconnected' ? this.redial.state(peer) : undefined;
      return r ? `; ${r}` : '';
    };
    const detail = `${h.detail}; not usable: ${unusable.map(([name, why, peer]) => `channel ${name} (${why}${redialing(why, peer)})`).join(', ')}`;
    return { ...h, state: unusable.some(([, why]) => why === 'peer disconnected') ? 'degraded' : 'ok', detail };
  }

  startingStage(): string | undefined {
    return this.stage;
  }

  async open(): Promise<void> {
    this.running = true;
    this.starting = this.attempt();
  }

  /** One start attempt; a refusal that may pass (keystore locked, chain not reached yet) is tried again. */
  private async attempt(): Promise<void> {
    try {
      const refusal = this.s.hsm.lightningSeedRefusal();
      if (refusal) {
        this.stage = undefined;
        this.cell.set('failed', refusal);
        this.s.log.error({ reason: refusal }, 'the ldk backend cannot start');
        return;
      }
      this.stage = 'waiting for the keystore (the node seed)';
      const seed = await this.s.hsm.lightningSeed();
      this.stage = "waiting for the bitcoin room's tip";
      const tip = this.s.chain.tip();
      if (!tip || !this.s.chain.connected()) throw new Error('the bitcoin room has no tip yet');
      this.stage = 'reading its state and following the chain';
      const { LdkNode } = await import('./ldk/node.js');
      const node = await LdkNode.start(
        {
          ...this.s,
          seed,
          onEvent: (e) => this.payments.onEvent(e) || this.sweeper.onEvent(e) || this.channels.onEvent(e),
          beforePersist: () => Promise.all([this.payments.pendingWrites(), this.sweeper.pendingWrites()]),
        },
        tip,
      );
      this.channels.node = node;
      this.payments.node = node;
      this.sweeper.node = node;
      void this.sweeper.sweepAll();
      seed.fill(0);
      if (!this.running) return void (await node.close());
      this.node = node;
      // Blocks the watcher passed while the node was being built.
      const now = this.s.chain.tip();
      if (now) await node.follow(now);
      await this.beforeReady?.().catch((err: Error) => this.s.log.warn({ reason: err.message }, 'channel and peer baseline failed'));
      this.stage = undefined;
      // The peers of its channels are all away after a start: dialed again at their last addresses.
      this.redial.start(node);
      this.cell.set('ok', `LDK node ${node.nodeId} listening on ${this.s.host}:${node.port}`);
      this.s.log.info({ id: node.nodeId, host: this.s.host, port: node.port, height: node.height }, 'LDK node started');
    } catch (err) {
      const reason = (err as Error).message;
      // A store that cannot be read back is not retried: starting anew beside it would lose channels.
      if (/refusing to start/.test(reason)) {
        this.stage = undefined;
        this.cell.set('failed', reason);
        this.s.log.error({ reason }, 'the ldk backend cannot start');
        return;
      }
      this.cell.set('starting', `${this.stage}: ${reason}`);
      this.s.log.debug({ stage: this.stage, reason }, 'LDK node not started yet; retrying');
      if (this.running)
        this.retry = setTimeout(() => {
          this.starting = this.attempt();
        }, RETRY_MS);
    }
  }

  async close(): Promise<void> {
    this.running = false;
    clearTimeout(this.retry);
    await this.starting;
    this.redial.stop();
    const node = this.node;
    this.node = undefined;
    await node?.close();
    this.cell.set('stopped', 'closed');
  }

  private need(): LdkNode {
    if (!this.node || !this.running)
      throw new RpcError(ErrorCode.BackendUnavailable, `the LDK node is not running: ${this.health().detail}`, { service: 'ldk' });
    return this.node;
  }

  async getInfo(): Promise<LnInfo> {
    const n = this.need();
    // The ChannelManager's own best block: what LDK itself took from the chain feed, reorgs included.
    const best = n.cm.current_best_block();
    return {
      id: n.nodeId,
      alias: 'anyad-ldk',
      network: this.s.network,
      block_height: best.get_height(),
      block_hash: hashHex(best.get_block_hash()),
      num_peers: n.pm.list_peers().length,
      num_active_channels: n.cm.list_usable_channels().length,
      version: 'ldk 0.1 (lightningdevkit 0.1.0)',
    };
  }

  async listPeers(): Promise<LnPeer[]> {
    return this.need().pm.list_peers().map(peerOf);
  }

  async connect(id: string, host?: string, port?: number): Promise<void> {
    const n = this.need();
    if (!host) throw rpcError('InvalidParams', 'the ldk backend needs host (and port, default 9735) to connect to a peer');
    if (id === n.nodeId) throw rpcError('InvalidParams', 'that is this node');
    checkNodeId(id, 'id');
    const under = this.dialing.get(id);
    if (under) await under.catch(() => undefined);
    if (n.pm.list_peers().some((p) => peerOf(p).id === id)) return;
    const dial = this.dial(n, id, host, port ?? 9735);
    this.dialing.set(id, dial);
    try {
      await dial;
    } finally {
      if (this.dialing.get(id) === dial) this.dialing.delete(id);
    }
    // Where a restart dials it again (redial.ts); the connection stands whether or not this is written.
    await this.redial
      .remember(id, { host, port: port ?? 9735 })
      .catch((err: Error) => this.s.log.warn({ peer: id, reason: err.message }, 'the address of an LDK peer could not be kept'));
  }

  /** One dial, until both inits are exchanged; rejects saying why not. */
  private async dial(n: LdkNode, id: string, host: string, port: number): Promise<void> {
    let dialed: { closed: () => boolean };
    try {
      dialed = await n.net.connect(Buffer.from(id, 'hex'), host, port, this.s.connectTimeoutMs);
    } catch (err) {
      throw rpcError('BackendRejected', `cannot reach ${id}@${host}:${port}: ${(err as Error).message}`, { kind: 'peer_unreachable' });
    }
    // Connected once both inits are exchanged (LDK lists a peer only then); a wrong node id fails the handshake.
    const deadline = Date.now() + this.s.connectTimeoutMs;
    while (!n.pm.list_peers().some((p) => peerOf(p).id === id)) {
      if (dialed.closed() || Date.now() > deadline)
        throw rpcError('BackendRejected', `no handshake with ${id} at ${host}:${port} (another node there, or it refused us)`, {
          kind: 'peer_unreachable',
        });
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async listChannels(): Promise<LnChannel[]> {
    return this.need().cm.list_channels().map(channelOf);
  }

  /** The wallet room offers no balance to other rooms (WalletApi), so on chain is what LDK's monitors hold. */
  async balance(): Promise<LnBalance> {
    const n = this.need();
    const channels = n.cm.list_channels();
    const open = channels.filter((c) => channelOf(c).state !== 'closing');
    return balanceOf(channels, n.chainMonitor.get_claimable_balances(open));
  }
  openChannel(peer: string, amountSat: number): Promise<{ txid: string; channel_id: string }> {
    return this.channels.open(this.need(), peer, amountSat);
  }
  async closeChannel(channel: string, force = false): Promise<{ type: string; txid: string | null }> {
    return this.channels.close(this.need(), channel, force);
  }
  async createInvoice(req: NewInvoice): Promise<{ payment_hash: string; bolt11: string; expires_at: number }> {
    return this.payments.createInvoice(this.need(), req.amount_msat, req.description, req.expiry);
  }
  /** LDK keeps no invoices (they are stateless): anyad's record is the invoice. */
  async lookupInvoice(paymentHash: string): Promise<InvoiceRecord | undefined> {
    this.need();
    return this.s.records.invoice(paymentHash);
  }
  async decode(invoice: string): Promise<LnDecoded> {
    return this.payments.decode(invoice);
  }
  pay(req: PayRequest): Promise<PayResult> {
    return this.payments.pay(this.need(), req);
  }
  keysend(req: KeysendRequest): Promise<PayResult> {
    return this.payments.keysend(this.need(), req);
  }
  estimateFee(): Promise<{ fee_msat: number }> {
    return notYet('fee estimates of payments');
  }
  paymentState(paymentHash: string): Promise<PaymentState | undefined> {
    return this.payments.paymentState(this.need(), paymentHash);
  }
}
