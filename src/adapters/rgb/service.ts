// The connection to RGB Lightning Node and the follower that turns its transfers into rgb.* events.
//
// Connecting: the token file is read, /networkinfo must name anyad's network, /nodeinfo gives the node's public key
// (the key anyad's records of it are kept under). An unreachable node is retried with the core Backoff while anyad
// runs on (health says why); a locked node is reachable but can do nothing until rgb.unlock (health: degraded); a
// node on another network is refused for good (health: failed) until rgb.url changes.
//
// Following: every rgb.watchinterval (and at once after a call through anyad that changes something) the node's
// assets and each asset's transfers are listed and compared with the last picture (records.ts). RGB Lightning Node
// has no event stream, so this diff is the only exact source: it reports every status change once, including the
// ones that happened while anyad or the node was down, at the cost of up to one interval of delay.

import type { Logger } from 'pino';
import { Backoff } from '../../core/backoff.js';
import { KeyedLock } from '../../core/keyed-lock.js';
import type { Network } from '../../core/options.js';
import { CoalescedJob } from '../../core/coalesced-job.js';
import { HealthCell, type Health, type Service } from '../../core/service.js';
import { rpcError, type RpcError } from '../../core/errors.js';
import { RgbApiError, RgbUnreachable, type RgbClient } from './client.js';
import { nodeNetworkMatches } from './formats.js';
import type { NodeAssets, NodeInfo, NodeNetworkInfo, NodeTransfer } from './node-types.js';
import { assetView, transferView, type AssetSchemaName, type AssetView, type RgbRecords, type TransferView } from './records.js';

type Phase = 'unreachable' | 'locked' | 'wrong-network' | 'ready';

/** The node's own refusals, by APIError variant (src/error.rs), as anyad's error codes. */
const NOT_FOUND = new Set(['UnknownContractId', 'BatchTransferNotFound', 'PaymentNotFound', 'UnknownLNInvoice']);
const LOCKED = new Set(['LockedNode', 'NotInitialized']);
const TRY_LATER = new Set(['ChangingState', 'Network', 'NoValidTransportEndpoint', 'FailedBitcoindConnection', 'FailedBdkSync', 'SyncNeeded']);

export class RgbService implements Service {
  readonly name = 'rgb';
  readonly optional = true;
  private readonly cell = new HealthCell('starting', 'not started');
  private phase: Phase = 'unreachable';
  private reason = 'not connected yet';
  private node: string | undefined;
  private readonly backoff = new Backoff(500, 30_000);
  private closed = false;
  private attaching: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly looks = new CoalescedJob(() => this.look());
  /** Held by a look and by every call that changes the node (so a look never reports a change before its record). */
  readonly follow = new KeyedLock();

  readonly client: RgbClient;
  readonly records: RgbRecords;
  readonly network: Network;
  private readonly intervalMs: number;
  private readonly log: Logger;

  constructor(s: { client: RgbClient; records: RgbRecords; network: Network; intervalMs: number; log: Logger }) {
    this.client = s.client;
    this.records = s.records;
    this.network = s.network;
    this.intervalMs = s.intervalMs;
    this.log = s.log;
  }

  /** Starts attaching in the background: the daemon is ready without waiting for the node. */
  async open(): Promise<void> {
    this.closed = false;
    this.attach();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.backoff.interrupt();
    await this.attaching;
    await this.looks.settled();
    this.cell.set('stopped', 'closed');
  }

  health(): Health {
    return this.cell.get();
  }

  get ready(): boolean {
    return this.phase === 'ready';
  }

  /** The node's public key while connected. */
  get pubkey(): string | undefined {
    return this.phase === 'ready' ? this.node : undefined;
  }

  /** The node anyad followed last (now or before), for answers from the records while it is away. */
  async lastNode(): Promise<string | undefined> {
    return this.node ?? (await this.records.lastNode());
  }

  /** Refuses at once unless the node is connected, unlocked and on anyad's network. */
  requireReady(): void {
    if (this.phase === 'ready') return;
    if (this.phase === 'locked') throw rpcError('Locked', `the RGB node is locked: ${this.reason} (rgb.unlock unlocks it)`, { service: this.name });
    if (this.phase === 'wrong-network') throw rpcError('Unsupported', this.reason, { service: this.name });
    throw rpcError('BackendUnavailable', `the RGB node is not reachable: ${this.reason}`, { service: this.name, reason: this.reason });
  }

  /** Runs one call to the node, with its failures as anyad's errors (and an unreachable node marked so at once). */
  async call<T>(fn: (c: RgbClient) => Promise<T>): Promise<T> {
    try {
      return await fn(this.client);
    } catch (err) {
      throw this.asRpcError(err);
    }
  }

  asRpcError(err: unknown): RpcError | Error {
    if (err instanceof RgbUnreachable) {
      this.lost(err.message);
      return rpcError('BackendUnavailable', err.message, { service: this.name, reason: err.message });
    }
    if (!(err instanceof RgbApiError)) return err as Error;
    const data = { service: this.name, node_error: err.kind };
    if (LOCKED.has(err.kind)) {
      this.setPhase('locked', err.message);
      return rpcError('Locked', `the RGB node: ${err.message}`, data);
    }
    if (NOT_FOUND.has(err.kind)) return rpcError('NotFound', `the RGB node: ${err.message}`, data);
    if (TRY_LATER.has(err.kind) || err.status === 503) return rpcError('BackendUnavailable', `the RGB node: ${err.message}`, { ...data, reason: err.message });
    if (err.status === 401 && err.kind !== 'WrongPassword')
      return rpcError('BackendRejected', `the RGB node refused anyad's token (rgb.tokenfile): ${err.message}`, data);
    if (err.status === 400 || err.status === 422) return rpcError('InvalidParams', `the RGB node: ${err.message}`, data);
    return rpcError('BackendRejected', `the RGB node: ${err.message}`, { ...data, reason: err.message });
  }

  /** One look at the node's assets and transfers; if one is under way, one more after it. Looks never overlap. */
  tick(): Promise<void> {
    return this.looks.run();
  }

  /** The node's assets now (every schema). */
  async snapshotAssets(): Promise<{ assets: AssetView[] }> {
    const listed = await this.call((c) => c.post<NodeAssets>('/listassets', { filter_asset_schemas: [] }));
    const assets: AssetView[] = [];
    for (const schema of ['nia', 'cfa', 'uda'] as AssetSchemaName[]) for (const a of listed[schema] ?? []) assets.push(assetView(a, schema));
    return { assets };
  }

  /** One asset's transfers now. */
  async transfersOf(assetId: string): Promise<TransferView[]> {
    const { transfers } = await this.call((c) => c.post<{ transfers: NodeTransfer[] }>('/listtransfers', { asset_id: assetId }));
    return transfers.map((t) => transferView(assetId, t));
  }

  /** What the node has now: every asset and every asset's transfers. */
  async snapshot(): Promise<{ assets: AssetView[]; transfers: TransferView[] }> {
    const { assets } = await this.snapshotAssets();
    const transfers: TransferView[] = [];
    for (const a of assets) transfers.push(...(await this.transfersOf(a.asset_id)));
    return { assets, transfers };
  }

  private async look(): Promise<void> {
    if (this.closed) return;
    if (this.phase === 'locked') {
      // Someone may have unlocked it by other means: look again whether it is.
      await this.connect();
      if (!this.ready) return;
    }
    if (this.phase !== 'ready' || !this.node) return;
    const node = this.node;
    try {
      await this.follow.run('follow', async () => {
        const { assets, transfers } = await this.snapshot();
        await this.records.follow(node, assets, transfers);
      });
    } catch (err) {
      const e = err instanceof RgbApiError || err instanceof RgbUnreachable ? this.asRpcError(err) : (err as Error);
      this.log.debug({ reason: e.message }, 'RGB look failed; the next interval tries again');
    }
  }

  /** The node stopped answering: health says so, and attaching starts again in the background. */
  private lost(reason: string): void {
    if (this.phase === 'wrong-network') return;
    this.setPhase('unreachable', reason);
    this.attach();
  }

  private setPhase(phase: Phase, reason: string): void {
    if (this.phase !== phase) this.log.info({ phase, reason }, phase === 'ready' ? 'RGB node attached' : 'RGB node not usable');
    this.phase = phase;
    this.reason = reason;
    if (phase === 'ready') this.cell.set('ok', reason);
    else if (phase === 'locked') this.cell.set('degraded', `node locked (${reason}); rgb.unlock unlocks it`);
    else if (phase === 'wrong-network') this.cell.set('failed', reason);
    else this.cell.set('unavailable', reason);
  }

  private attach(): void {
    if (this.attaching || this.closed) return;
    this.attaching = (async () => {
      while (!this.closed) {
        await this.connect();
        if (this.phase !== 'unreachable') break;
        await this.backoff.wait();
      }
    })().finally(() => {
      this.attaching = undefined;
    });
  }

  /** One attempt: token, network, identity. Sets the phase; never throws. */
  async connect(): Promise<void> {
    try {
      await this.client.loadToken();
      const net = await this.client.get<NodeNetworkInfo>('/networkinfo');
      if (!nodeNetworkMatches(this.network, net.network)) {
        this.setPhase('wrong-network', `the RGB node at rgb.url runs on ${net.network}, anyad on ${this.network}`);
        return;
      }
      const info = await this.client.get<NodeInfo>('/nodeinfo');
      this.node = info.pubkey;
      this.backoff.reset();
      this.setPhase('ready', `node ${info.pubkey.slice(0, 16)}… on ${net.network}, height ${net.height}`);
      void this.tick();
    } catch (err) {
      if (err instanceof RgbApiError && LOCKED.has(err.kind)) {
        this.backoff.reset();
        this.setPhase('locked', err.message);
      } else if (err instanceof RgbApiError && err.status === 401) {
        this.setPhase('unreachable', `the node refused anyad's token (rgb.tokenfile): ${err.message}`);
      } else this.setPhase('unreachable', (err as Error).message);
    }
  }
}
