// The embedded LDK node: keys from the HSM's Lightning seed, ChannelManager + ChainMonitor + PeerManager +
// NetworkGraph and router, state in the lightning room's LevelDB (persist.ts), the chain from the bitcoin room
// (chain.ts). A restart reads the monitors and the manager back and brings each to the chain's tip on its own before
// the monitors are handed to the ChainMonitor: each was written at its own height.

import type { Logger } from 'pino';
import * as ldk from 'lightningdevkit';
import type { Network } from '../../../core/options.js';
import type { BatchOp, RoomDb, Store } from '../../../core/store.js';
import type { BitcoinApi } from '../../bitcoin/api.js';
import { broadcaster, FeeCache, listenFollower, monitorFollower, syncTo, type Follower } from './chain.js';
import { HeaderLog } from './headers.js';
import { LdkNet } from './net.js';
import { GRAPH_KEY, LdkPersister, MANAGER_KEY, SCORER_KEY } from './persist.js';
import { hashBytes, initLdk } from './wasm.js';

const NETWORK: Record<Network, ldk.Network> = {
  main: ldk.Network.LDKNetwork_Bitcoin,
  test: ldk.Network.LDKNetwork_Testnet,
  signet: ldk.Network.LDKNetwork_Signet,
  regtest: ldk.Network.LDKNetwork_Regtest,
};

export interface LdkSettings {
  seed: Buffer;
  db: RoomDb;
  store: Store;
  chain: BitcoinApi;
  network: Network;
  log: Logger;
  host: string;
  port: number;
  /** Fee rate (sat per 1000 weight) while the node has no estimate (bcoin has none). */
  fallbackFeeSatKw: number;
  /** What the node does with each event (channel funding, payments, ...); events not handled here are logged. */
  onEvent?: (e: ldk.Event) => void;
  /** Writes the events started that must be durable before the manager that raised them is written. */
  beforePersist?: () => Promise<unknown>;
}

/** Timers of the background work, in ms: LDK asks for its timer about once a minute, events as soon as possible. */
const EVENTS_MS = 50;
const MANAGER_TICK_MS = 60_000;
const PEER_TICK_MS = 10_000;
const REBROADCAST_MS = 30_000;
/** Graph pruning and the write of the graph and the scorer: hourly, as LDK's background processor prunes. */
const GOSSIP_KEEP_MS = 3_600_000;

export class LdkNode {
  port = 0;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private timers: NodeJS.Timeout[] = [];
  private chainQueue: Promise<void> = Promise.resolve();
  private follower!: Follower;
  /** A PendingHTLCsForwardable came in the last round: process_pending_htlc_forwards in this one. */
  private forwardNext = false;
  /** A kick came during a round: another round follows it at once. */
  private again = false;
  /** Writes to make with the manager, by the number of the manager write asked for (writeManager). */
  private readonly withManager = new Map<number, BatchOp[]>();
  /** Manager writes asked for (persist.ts, before a monitor write) and the highest one a round has done. */
  private managerWanted = 0;
  private managerDone = 0;

  private constructor(
    readonly s: LdkSettings,
    readonly keys: ldk.KeysManager,
    readonly logger: ldk.Logger,
    readonly fees: FeeCache,
    readonly broadcaster: ldk.BroadcasterInterface,
    readonly persister: LdkPersister,
    readonly chainMonitor: ldk.ChainMonitor,
    readonly graph: ldk.NetworkGraph,
    readonly scorer: ldk.ProbabilisticScorer,
    readonly cm: ldk.ChannelManager,
    readonly pm: ldk.PeerManager,
    readonly net: LdkNet,
    readonly headers: HeaderLog,
  ) {}

  /** Builds the node (reading its state back when there is one), brings it to `tip`, and starts listening. */
  static async start(s: LdkSettings, tip: { height: number; hash: string }): Promise<LdkNode> {
    await initLdk();
    const log = s.log;
    const logger = ldk.Logger.new_impl({
      log: (r: ldk.Record) => {
        const level = r.get_level();
        if (level >= ldk.Level.LDKLevel_Warn) log.warn({ module: r.get_module_path() }, r.get_args());
        else if (level >= ldk.Level.LDKLevel_Info) log.debug({ module: r.get_module_path() }, r.get_args());
      },
    });
    // The start time makes the keys of channels opened in this run differ from those of earlier runs (LDK's rule).
    const now = Date.now();
    const keys = ldk.KeysManager.constructor_new(s.seed, BigInt(Math.floor(now / 1000)), (now % 1000) * 1e6);
    const fees = new FeeCache(s.chain, s.fallbackFeeSatKw, log);
    await fees.start();
    const bc = broadcaster(s.chain, log);
    const persister = new LdkPersister(s.db, s.store, log);
    const headers = new HeaderLog({ db: s.db, store: s.store, log });
    const chainMonitor = ldk.ChainMonitor.constructor_new(ldk.Option_FilterZ.constructor_none(), bc, logger, fees.estimator, persister.impl);
    persister.chainMonitor = chainMonitor;
    const network = NETWORK[s.network];
    const savedGraph = await persister.read(GRAPH_KEY);
    const readGraph = savedGraph && ldk.NetworkGraph.constructor_read(savedGraph, logger);
    const graph = readGraph instanceof ldk.Result_NetworkGraphDecodeErrorZ_OK ? readGraph.res : ldk.NetworkGraph.constructor_new(network, logger);
    // What the scorer learned of the network's channels (which failed, which carried what) is kept across restarts, as
    // ldk-node keeps it; one that cannot be read back starts afresh.
    const decay = ldk.ProbabilisticScoringDecayParameters.constructor_default();
    const savedScorer = await persister.read(SCORER_KEY);
    const readScorer = savedScorer && ldk.ProbabilisticScorer.constructor_read(savedScorer, decay, graph, logger);
    const scorer =
      readScorer instanceof ldk.Result_ProbabilisticScorerDecodeErrorZ_OK ? readScorer.res : ldk.ProbabilisticScorer.constructor_new(decay, graph, logger);
    if (savedScorer) log.info({ bytes: savedScorer.length, read: readScorer instanceof ldk.Result_ProbabilisticScorerDecodeErrorZ_OK }, 'LDK scorer read back');
    const score = ldk.MultiThreadedLockableScore.constructor_new(scorer.as_Score());
    const entropy = keys.as_EntropySource();
    const router = ldk.DefaultRouter.constructor_new(
      graph,
      logger,
      entropy,
      score.as_LockableScore(),
      ldk.ProbabilisticScoringFeeParameters.constructor_default(),
    );
    const msgRouter = ldk.DefaultMessageRouter.constructor_new(graph, entropy);
    const config = ldk.UserConfig.constructor_default();

    const monitors: ldk.ChannelMonitor[] = [];
    for (const { key, bytes } of await persister.monitors()) {
      const r = ldk.UtilMethods.constructor_C2Tuple_ThirtyTwoBytesChannelMonitorZ_read(bytes, entropy, keys.as_SignerProvider());
      if (!(r instanceof ldk.Result_C2Tuple_ThirtyTwoBytesChannelMonitorZDecodeErrorZ_OK))
        throw new Error(`the LDK channel monitor of ${key} cannot be read back (another seed, or a damaged store): refusing to start without it`);
      monitors.push(r.res.get_b());
    }
    const saved = await persister.read(MANAGER_KEY);
    let cm: ldk.ChannelManager;
    if (saved) {
      const r = ldk.UtilMethods.constructor_C2Tuple_ThirtyTwoBytesChannelManagerZ_read(
        saved,
        entropy,
        keys.as_NodeSigner(),
        keys.as_SignerProvider(),
        fees.estimator,
        chainMonitor.as_Watch(),
        bc,
        router.as_Router(),
        msgRouter.as_MessageRouter(),
        logger,
        config,
        monitors,
      );
      if (!(r instanceof ldk.Result_C2Tuple_ThirtyTwoBytesChannelManagerZDecodeErrorZ_OK))
        throw new Error('the LDK channel manager cannot be read back (another seed, or a damaged store): refusing to start');
      cm = r.res.get_b();
    } else {
      if (monitors.length > 0)
        throw new Error(`${monitors.length} LDK channel monitors but no channel manager in the store: refusing to start (restore the store)`);
      const best = ldk.BestBlock.constructor_new(hashBytes(tip.hash), tip.height);
      cm = ldk.ChannelManager.constructor_new(
        fees.estimator,
        chainMonitor.as_Watch(),
        bc,
        router.as_Router(),
        msgRouter.as_MessageRouter(),
        logger,
        entropy,
        keys.as_NodeSigner(),
        keys.as_SignerProvider(),
        config,
        ldk.ChainParameters.constructor_new(network, best),
        Math.floor(now / 1000),
      );
      // Written at once: a later start reads the node back instead of making another at another height.
      await persister.write(MANAGER_KEY, cm.write(), { sync: true });
    }
    // Each object to the tip on its own, then the monitors to the ChainMonitor (which follows blocks from there).
    const env = { broadcaster: bc, fees: fees.estimator, logger };
    for (const m of monitors) await syncTo(monitorFollower(m, env), tip, s.chain, headers);
    const follower = listenFollower([cm.as_Listen()], cm.current_best_block());
    await syncTo(follower, tip, s.chain, headers);
    for (const m of monitors) {
      const r = chainMonitor.as_Watch().watch_channel(m.get_funding_txo().get_a(), m);
      if (!r.is_ok()) throw new Error('LDK refused a channel monitor read back (watched twice?)');
    }
    const gossip = ldk.P2PGossipSync.constructor_new(graph, ldk.Option_UtxoLookupZ.constructor_none(), logger);
    const ignoring = ldk.IgnoringMessageHandler.constructor_new();
    const pm = ldk.PeerManager.constructor_new(
      cm.as_ChannelMessageHandler(),
      gossip.as_RoutingMessageHandler(),
      ignoring.as_OnionMessageHandler(),
      ignoring.as_CustomMessageHandler(),
      Math.floor(now / 1000),
      entropy.get_secure_random_bytes(),
      logger,
      keys.as_NodeSigner(),
    );
    const node = new LdkNode(s, keys, logger, fees, bc, persister, chainMonitor, graph, scorer, cm, pm, new LdkNet(pm), headers);
    node.follower = listenFollower([cm.as_Listen(), chainMonitor.as_Listen()], cm.current_best_block());
    persister.writeManager = (ops) => node.writeManager(ops);
    // A monitor durable, or a message in: LDK has messages to send and events to raise now, not at the next tick.
    // Not once closing: close() runs the last round itself.
    const kick = (): void => {
      if (!node.stopping) void node.kick();
    };
    persister.completed = kick;
    node.net.received = kick;
    node.port = await node.net.listen(s.host, s.port);
    node.startBackground();
    return node;
  }

  get nodeId(): string {
    return Buffer.from(this.cm.get_our_node_id()).toString('hex');
  }

  get height(): number {
    return this.follower.height;
  }

  /** Follows the chain to this block of the main chain (the bitcoin room's listener calls it for every block). */
  follow(tip: { height: number; hash: string }): Promise<void> {
    const run = this.chainQueue.then(async () => {
      if (this.stopping) return;
      await syncTo(this.follower, tip, this.s.chain, this.headers);
      // A block can make channel updates, events and broadcasts: handle them now, not at the next tick.
      void this.kick();
    });
    this.chainQueue = run.catch((err: Error) => this.s.log.warn({ reason: err.message }, 'LDK could not follow the chain; the next block tries again'));
    return this.chainQueue;
  }

  private startBackground(): void {
    const every = (ms: number, f: () => void): void => {
      const t = setInterval(() => {
        if (!this.stopping) f();
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(EVENTS_MS, () => void this.kick());
    every(MANAGER_TICK_MS, () => this.cm.timer_tick_occurred());
    every(PEER_TICK_MS, () => this.pm.timer_tick_occurred());
    every(REBROADCAST_MS, () => this.chainMonitor.rebroadcast_pending_claims());
    every(GOSSIP_KEEP_MS, () => {
      // Channels not updated for two weeks go (BOLT 7's suggestion, LDK's rule); then graph and scorer are kept, so a
      // crash loses at most an hour of what was learned.
      this.graph.remove_stale_channels_and_tracking_with_time(BigInt(Math.floor(Date.now() / 1000)));
      void this.keepGossip().catch((err: Error) => this.s.log.warn({ reason: err.message }, 'LDK graph and scorer not written; the next hour tries again'));
    });
  }

  /** The network graph and the scorer, written (unsynced: losing them costs only relearning). */
  private async keepGossip(): Promise<void> {
    await this.persister.write(GRAPH_KEY, this.graph.write(), { sync: false });
    await this.persister.write(SCORER_KEY, this.scorer.write(), { sync: false });
  }

  /**
   * One round of LDK's background work, never two at once: messages out, events handled, the manager written. A kick
   * during a round asks for another right after it (what it was kicked for may have come after that round's step).
   */
  kick(): Promise<void> {
    if (this.loop) {
      this.again = true;
      return this.loop;
    }
    this.loop = this.round()
      .catch((err: Error) => this.s.log.error({ reason: err.message }, 'LDK background round failed'))
      .finally(() => {
        this.loop = undefined;
        if (this.again && !this.stopping) {
          this.again = false;
          void this.kick();
        }
      });
    return this.loop;
  }

  /**
   * Writes the manager in a round that starts after this call (so it holds every change made before it), through
   * the rounds, so the events it consumed are recorded first (beforePersist). `ops` (a monitor: persist.ts) go in
   * the same synced batch, after it: one write to disk where two in turn would make each channel step wait twice.
   */
  async writeManager(ops: BatchOp[] = []): Promise<void> {
    const want = ++this.managerWanted;
    if (ops.length > 0) this.withManager.set(want, ops);
    try {
      // A round that fails (logged) writes nothing: after a few, the caller's monitor write fails and says so.
      for (let tries = 0; this.managerDone < want; tries++) {
        if (tries === 3) throw new Error('the LDK channel manager could not be written before the monitor');
        await this.loop;
        await this.kick();
      }
    } finally {
      this.withManager.delete(want);
    }
  }

  private async round(): Promise<void> {
    const wanted = this.managerWanted;
    let forward = false;
    const handler = ldk.EventHandler.new_impl({
      handle_event: (e: ldk.Event) => {
        // HTLCs received or to forward wait for this call (LDK leaves the delay, a privacy measure, to the caller:
        // here it is the next round, which follows this one at once).
        if (e instanceof ldk.Event_PendingHTLCsForwardable) forward = true;
        else if (this.s.onEvent) this.s.onEvent(e);
        else this.s.log.info({ event: e.constructor.name }, 'LDK event');
        return ldk.Result_NoneReplayEventZ.constructor_ok();
      },
    });
    this.chainMonitor.as_EventsProvider().process_pending_events(handler);
    this.cm.as_EventsProvider().process_pending_events(handler);
    // The forwards made raise their events (PaymentClaimable) for the round after: that round follows at once too.
    if (this.forwardNext) this.cm.process_pending_htlc_forwards();
    if (forward || this.forwardNext) this.again = true;
    this.forwardNext = forward;
    this.pm.process_events();
    // After its events are handled and their records written, so a restart does not see them again as new.
    await this.s.beforePersist?.();
    // Synced only with a monitor in the batch (persist.ts): then both are durable at once, the manager never behind
    // the monitor. Alone it goes into LevelDB's log unsynced, durable with the next synced write; lost in a crash
    // before that, it was only ahead of the monitors: LDK reads the earlier manager and raises its events again
    // (each recorded once), never a manager behind a monitor.
    if (this.cm.get_and_clear_needs_persistence() || wanted > this.managerDone) {
      // In the order asked (a later monitor of a channel after an earlier one): LevelDB keeps the last put of a key.
      const ops = [...this.withManager].filter(([w]) => w <= wanted).flatMap(([, o]) => o);
      await this.persister.write(MANAGER_KEY, this.cm.write(), { sync: ops.length > 0, also: ops });
    }
    this.managerDone = Math.max(this.managerDone, wanted);
  }

  /** Stops in order: no new work, peers disconnected, the last round and chain step done, everything written. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.fees.stop();
    await this.chainQueue;
    await this.net.close();
    await this.loop;
    await this.round();
    await this.persister.drained();
    await this.persister.write(MANAGER_KEY, this.cm.write(), { sync: true });
    await this.persister.write(GRAPH_KEY, this.graph.write(), { sync: true });
    await this.persister.write(SCORER_KEY, this.scorer.write(), { sync: true });
  }
}
