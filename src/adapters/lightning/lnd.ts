// The LND backend: a Layer2 adapter over LND's gRPC through ln-service. It checks the network and the wallet state
// on connect (a locked wallet, a refused macaroon and a certificate that does not match are each named in health),
// reconnects with backoff when LND restarts, and reports every invoice created and settled exactly once.
//
// Events come from LND's own record, not from stream order. LND's SubscribeInvoices backlog
// (invoices/invoiceregistry.go, deliverBacklogEvents) sends the invoices added since add_index first, each in its
// current state, then those settled since settle_index; an index of 0 replays nothing (channeldb's
// InvoicesAddedSince / InvoicesSettledSince keep that for backwards compatibility); live events are filtered per
// client by the indexes it was last sent (dispatchToClients), and a live event during the backlog can come twice.
// So a stream can show a newer settlement before an older one, or none at all for a first settlement. anyad
// therefore keeps cursors meaning "everything up to here was reported" (add_index, settle_index) and:
// - on every (re)connect, before the stream, reconciles from ListInvoices (paged by add_index, from the oldest
//   invoice that was still open last time): every invoice added after the add cursor is reported created, in
//   add_index order, then every invoice settled after the settle cursor is reported settled, in settle_index order;
// - on the stream, takes an event only when its index is the cursor + 1; a duplicate is dropped; a gap (an index
//   further on) reconciles from ListInvoices again before going on.
// Health is ok only once the reconciliation is done and the stream is attached. The start does not wait for it (it
// costs about a second: loading ln-service and its gRPC stack, connecting, reconciling): anyad is ready meanwhile,
// and every LND call answers -28 (WarmingUp) naming the stage until the stream is attached, so nothing is created
// through anyad before its event can be seen. On the first start the cursors are
// set to LND's newest add and settle indexes (history before anyad is not reported). The macaroon is a secret: it
// is read from lnd.macaroonpath into memory and never logged or put in an error.

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type * as Ln from 'ln-service';
import type { Logger } from 'pino';
import { Backoff } from '../../core/backoff.js';
import { HealthCell, type Health, type HealthState } from '../../core/service.js';
import type { Network } from '../../core/options.js';
import { rpcError, RpcError } from '../../core/errors.js';
import {
  PaymentInFlight,
  type PaymentState,
  type RefusalKind,
  type InvoiceRecord,
  type LightningBackend,
  type LnBalance,
  type LnChannel,
  type LnDecoded,
  type LnInfo,
  type LnPeer,
  type NewInvoice,
  type PayRequest,
  type PayResult,
} from './backend.js';
import type { LnRecords } from './records.js';

/** Genesis block hashes as block explorers show them; LND reports its chain as the byte-reversed form (BOLT 2). */
const GENESIS: Record<Network, string> = {
  main: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f',
  test: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943',
  signet: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6',
  regtest: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
};
const CHAIN_HASH = Object.fromEntries(Object.entries(GENESIS).map(([n, h]) => [n, Buffer.from(h, 'hex').reverse().toString('hex')])) as Record<Network, string>;

export interface LndSettings {
  socket: string;
  tlscertpath: string | undefined;
  macaroonpath: string;
  timeoutMs: number;
}

/** A failed connect check; health already says why. */
class ProbeFailed extends Error {
  override name = 'ProbeFailed';
}

/** Why LND cannot be used, sorted so health can tell an operator what to fix. */
type Trouble = { state: HealthState; reason: string };

/** ln-service rejects with [status, message, {err}], err being gRPC's ServiceError. */
function errorParts(err: unknown): { status: number | undefined; message: string; details: string; grpcCode: number | undefined } {
  if (Array.isArray(err)) {
    const inner = (err[2] as { err?: { details?: string; code?: number; message?: string } } | undefined)?.err;
    return { status: Number(err[0]), message: String(err[1]), details: inner?.details ?? inner?.message ?? '', grpcCode: inner?.code };
  }
  const e = err as { details?: string; code?: number; message?: string };
  return { status: undefined, message: e?.message ?? String(err), details: e?.details ?? '', grpcCode: typeof e?.code === 'number' ? e.code : undefined };
}

const UNREACHABLE = /No connection established|failed to connect to all addresses|Connect Failed|TRANSIENT_FAILURE|ECONNREFUSED|FailedToConnectToDaemon/i;
const TLS = /certificate|self.signed|SSL|TLS|handshake/i;

/** Sorts an ln-service failure into unreachable / locked / refused credentials / anything else. */
export function classify(err: unknown, s: LndSettings): Trouble | undefined {
  const p = errorParts(err);
  const text = `${p.message} ${p.details}`;
  if (p.message === 'LndLocked' || p.details === 'unknown service lnrpc.Lightning')
    return { state: 'unavailable', reason: `LND's wallet is locked (unlock it with lncli unlock); retrying` };
  if (/verification failed|macaroon/i.test(p.details)) return { state: 'failed', reason: `LND refused the macaroon at ${s.macaroonpath}: ${p.details}` };
  if (TLS.test(text))
    return {
      state: 'failed',
      reason: `TLS with LND at ${s.socket} failed; is ${s.tlscertpath ?? 'the certificate'} LND's current tls.cert? (${p.details || p.message})`,
    };
  if (p.grpcCode === 14 || p.grpcCode === 4 || UNREACHABLE.test(text))
    return { state: 'unavailable', reason: `LND is not reachable at ${s.socket}: ${p.details || p.message}` };
  return undefined;
}

/** ln-service's names for LND's refusals, as node-independent kinds (LND reports a fee cap it cannot meet as no route). */
const LND_KIND: Record<string, RefusalKind> = {
  PaymentPathfindingFailedToFindPossibleRoute: 'no_route',
  FailedToFindPayableRouteToDestination: 'no_route',
  PaymentRejectedByDestination: 'rejected_by_destination',
  InsufficientBalanceToAttemptPayment: 'insufficient_funds',
  InsufficientFundsToCreateChannel: 'insufficient_funds',
  UnexpectedErrorAddingPeer: 'peer_unreachable',
  FailedToSuccessfullyConnectToRemotePeer: 'peer_unreachable',
  PaymentAttemptsTimedOut: 'timeout',
};

/** ln-service and its gRPC stack, loaded on the first connect (in the background of the start), once. */
let ln: typeof Ln;
async function loadLnService(): Promise<void> {
  ln ??= await import('ln-service');
}

/** Closes the gRPC clients of an authenticated LND object (one per LND service). */
function closeGrpc(lnd: Ln.AuthenticatedLnd | undefined): void {
  for (const client of Object.values((lnd ?? {}) as Record<string, { close?: () => void }>)) client.close?.();
}

const num = (s: string | undefined): number => (s ? Number(s) : 0);

/** LND's Invoice message as ListInvoices answers it (proto-loader: longs as strings, bytes as Buffers). */
interface RawInvoice {
  r_hash: Buffer;
  value_msat: string;
  amt_paid_msat: string;
  settle_date: string;
  add_index: string;
  settle_index: string;
  state: 'OPEN' | 'SETTLED' | 'CANCELED' | 'ACCEPTED';
}
const INVOICE_PAGE = 1000;
const hashOf = (i: RawInvoice): string => Buffer.from(i.r_hash).toString('hex');

/**
 * Lightning.ListInvoices forward from an add index. ln-service's getInvoices pages newest first only, so this uses
 * the gRPC client ln-service exposes as lnd.default (the same channel and macaroon).
 */
function listInvoicesRaw(
  lnd: Ln.AuthenticatedLnd,
  req: { index_offset: string; num_max_invoices: string; reversed: boolean },
): Promise<{ invoices: RawInvoice[]; last_index_offset: string }> {
  const client = (
    lnd as unknown as { default: { listInvoices(r: object, cb: (err: unknown, res: { invoices: RawInvoice[]; last_index_offset: string }) => void): void } }
  ).default;
  return new Promise((resolve, reject) => client.listInvoices(req, (err, res) => (err ? reject(err) : resolve(res))));
}
const epoch = (iso: string | undefined): number => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);

export class LndBackend implements LightningBackend {
  readonly name = 'lnd';
  readonly optional = true;
  readonly backend = 'lnd';
  private readonly cell = new HealthCell('starting', 'connecting to LND');
  private lnd: Ln.AuthenticatedLnd | undefined;
  private credentialsKey = '';
  private warnedMode = false;
  private readonly backoff = new Backoff(250, 15_000);
  private running = false;
  private loop: Promise<void> | undefined;
  private stopStream: (() => void) | undefined;
  connected = false;

  constructor(
    private readonly settings: LndSettings,
    private readonly records: LnRecords,
    private readonly network: Network,
    private readonly log: Logger,
  ) {}

  health(): Health {
    return this.cell.get();
  }

  /** Starts following LND in the background; calls answer -28 with the stage until the first stream is attached. */
  async open(): Promise<void> {
    this.running = true;
    this.loop = this.followInvoices();
  }

  /** What the first attach is doing, while it runs; undefined once attached or once the first attempt failed. */
  private stage: string | undefined = 'loading ln-service';
  beforeReady: (() => Promise<void>) | undefined;

  startingStage(): string | undefined {
    return this.stage;
  }

  async close(): Promise<void> {
    this.running = false;
    this.stopStream?.();
    this.backoff.interrupt();
    await this.loop;
    closeGrpc(this.lnd);
    this.lnd = undefined;
    this.connected = false;
    this.cell.set('stopped', 'closed');
  }

  /** Reads the credentials (again: they may have been replaced), connects, and checks network and wallet state. */
  private async probe(): Promise<void> {
    this.connected = false;
    let cert: string | undefined;
    let macaroon: string;
    try {
      cert = this.settings.tlscertpath ? (await readFile(this.settings.tlscertpath)).toString('base64') : undefined;
    } catch (err) {
      return this.fail({
        state: 'failed',
        reason: `cannot read lnd.tlscertpath ${this.settings.tlscertpath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      });
    }
    try {
      macaroon = (await readFile(this.settings.macaroonpath)).toString('hex');
      const mode = (await stat(this.settings.macaroonpath)).mode & 0o777;
      if (mode & 0o007 && !this.warnedMode) {
        this.warnedMode = true;
        this.log.warn(
          { path: this.settings.macaroonpath, mode: mode.toString(8) },
          'the LND macaroon is readable by every user on this machine; it grants what its permissions say (admin: everything) — chmod o-rwx it',
        );
      }
    } catch (err) {
      return this.fail({
        state: 'failed',
        reason: `cannot read lnd.macaroonpath ${this.settings.macaroonpath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      });
    }
    // gRPC channels are made again only when the credentials changed (each set holds a channel per service).
    const key = createHash('sha256')
      .update(`${cert ?? ''}|${macaroon}|${this.settings.socket}`)
      .digest('hex');
    if (!this.lnd || key !== this.credentialsKey) {
      closeGrpc(this.lnd);
      this.lnd = ln.authenticatedLndGrpc({ ...(cert ? { cert } : {}), macaroon, socket: this.settings.socket }).lnd;
      this.credentialsKey = key;
    }
    let info: Awaited<ReturnType<typeof Ln.getWalletInfo>>;
    try {
      info = await this.timed(ln.getWalletInfo({ lnd: this.lnd }));
    } catch (err) {
      return this.fail(
        classify(err, this.settings) ?? { state: 'failed', reason: `LND's getinfo failed: ${errorParts(err).details || errorParts(err).message}` },
      );
    }
    if (!info.chains.includes(CHAIN_HASH[this.network])) {
      return this.fail({ state: 'failed', reason: `LND serves chain ${info.chains.join(',') || '(none)'}, not anyad's ${this.network}; refusing to use it` });
    }
    this.connected = true;
    this.who = `LND ${info.version} (${info.public_key.slice(0, 16)}…)`;
    this.synced = info.is_synced_to_chain;
    if (!this.streaming) this.cell.set('starting', `connected to ${this.who}; catching up its invoices`);
    else this.healthy();
  }

  private who = '';
  private synced = false;
  private streaming = false;

  /** The stream is attached: the first time, the room's beforeReady runs before callers are let through. */
  private async attached(): Promise<void> {
    if (this.stage !== undefined && this.beforeReady) {
      this.stage = 'taking the channel and peer baseline';
      await this.beforeReady().catch((err: Error) => this.log.warn({ reason: err.message }, 'channel and peer baseline failed'));
    }
    if (this.running) this.healthy();
  }

  /** The invoice stream is attached: health says what LND is. */
  private healthy(): void {
    this.streaming = true;
    if (this.stage !== undefined) this.log.info({ lnd: this.who }, 'LND attached: invoices reconciled, stream open');
    this.stage = undefined;
    if (this.synced) this.cell.set('ok', `connected to ${this.who}`);
    else this.cell.set('degraded', `connected to ${this.who}, which is not yet synced to the chain`);
  }

  private fail(t: Trouble): never {
    this.connected = false;
    this.cell.set(t.state, t.reason);
    throw new ProbeFailed(t.reason);
  }

  /** Follows invoices from the persisted cursors; reconnects with backoff while LND is away or locked. */
  private async followInvoices(): Promise<void> {
    const backoff = this.backoff;
    while (this.running) {
      try {
        if (this.stage) this.stage = 'loading ln-service';
        await loadLnService();
        if (this.stage) this.stage = `connecting to ${this.settings.socket}`;
        if (!this.connected) await this.probe();
        backoff.reset();
        if (this.stage) this.stage = 'reconciling invoices';
        await this.reconcile();
        if (this.stage) this.stage = 'attaching the invoice stream';
        await this.stream();
      } catch (err) {
        if (!this.running) return;
        const t = classify(err, this.settings);
        if (this.connected || this.stage !== undefined)
          this.log.warn({ reason: t?.reason ?? errorParts(err).message }, this.connected ? 'lost LND' : 'LND unavailable; retrying');
        this.stage = undefined;
        if (t) this.cell.set(t.state, t.reason);
        else if (!(err instanceof ProbeFailed))
          this.cell.set('degraded', `following LND's invoices failed: ${errorParts(err).details || errorParts(err).message}; retrying`);
        this.connected = false;
        await backoff.wait();
      }
    }
  }

  /** Every invoice with add_index > after, oldest first, from LND's ListInvoices (paged). */
  private async invoicesAfter(after: number): Promise<RawInvoice[]> {
    const out: RawInvoice[] = [];
    for (let offset = after; ;) {
      const page = await this.timed(listInvoicesRaw(this.lnd!, { index_offset: String(offset), num_max_invoices: String(INVOICE_PAGE), reversed: false }));
      out.push(...page.invoices);
      const last = Number(page.last_index_offset);
      if (page.invoices.length < INVOICE_PAGE || !(last > offset)) return out;
      offset = last;
    }
  }

  /**
   * Reports, from LND's record, every invoice created after the add cursor and settled after the settle cursor, in
   * index order; the cursors move with each report. Scans from the oldest invoice that was still open at the last
   * reconciliation (only an open invoice can settle later). Serialized with the stream's handling.
   */
  private async reconcile(): Promise<void> {
    const add = await this.records.cursor('add_index');
    let settle = await this.records.cursor('settle_index');
    const floor = (await this.records.cursor('open_floor')) ?? 1;
    const first = add === undefined;
    const all = await this.invoicesAfter(first ? 0 : Math.max(0, Math.min(floor, add + 1) - 1));
    const maxAdd = all.reduce((m, i) => Math.max(m, Number(i.add_index)), add ?? 0);
    const maxSettle = all.reduce((m, i) => Math.max(m, Number(i.settle_index)), settle ?? 0);
    const open = all.filter((i) => i.state === 'OPEN' || i.state === 'ACCEPTED').map((i) => Number(i.add_index));
    const nextFloor = open.length > 0 ? Math.min(...open) : maxAdd + 1;
    if (first) {
      // First start: from now on; history before anyad is not replayed.
      await this.records.setCursor('add_index', maxAdd);
      await this.records.setCursor('settle_index', maxSettle);
      await this.records.setCursor('open_floor', nextFloor);
      this.log.info({ add_index: maxAdd, settle_index: maxSettle }, 'LND invoices followed from now on');
      return;
    }
    if (settle === undefined) {
      // State from a build that kept no settle cursor until a first settlement: settlements follow from now on.
      settle = maxSettle;
      await this.records.setCursor('settle_index', settle);
      this.log.warn({ settle_index: settle }, 'no LND settle cursor was kept by the previous build; settlements are followed from now on');
    }
    for (const i of all.filter((x) => Number(x.add_index) > add).sort((a, b) => Number(a.add_index) - Number(b.add_index))) {
      await this.records.created({ payment_hash: hashOf(i), amount_msat: Number(i.value_msat) || null }, 'add_index', Number(i.add_index));
    }
    const from = settle;
    for (const i of all.filter((x) => Number(x.settle_index) > from).sort((a, b) => Number(a.settle_index) - Number(b.settle_index))) {
      await this.records.settled(
        { payment_hash: hashOf(i), paid_at: Number(i.settle_date), amount_received_msat: Number(i.amt_paid_msat) },
        'settle_index',
        Number(i.settle_index),
      );
    }
    // Cancellations have no index of their own: anyad's own records follow the node's (each reported once).
    for (const i of all.filter((x) => x.state === 'CANCELED')) {
      const known = await this.records.invoice(hashOf(i));
      if (known && known.status !== 'canceled') await this.records.canceled(hashOf(i));
    }
    await this.records.setCursor('open_floor', nextFloor);
  }

  /**
   * One SubscribeInvoices stream from the cursors. An event is reported only when its index is the next one; a
   * duplicate is dropped and a gap reconciles from LND's record. Resolves when stopped, rejects when it fails.
   */
  private async stream(): Promise<void> {
    let lastAdd = (await this.records.cursor('add_index')) ?? 0;
    let lastSettle = (await this.records.cursor('settle_index')) ?? 0;
    // Closed while the attach was under way (a stop right after the start): no stream to open, nothing to wait for.
    if (!this.running) return;
    return new Promise<void>((resolve, reject) => {
      let queue = Promise.resolve();
      // ln-service's own restarts are pushed out of the way (this loop restarts, reconciling first).
      const sub = ln.subscribeToInvoices({
        lnd: this.lnd!,
        ...(lastAdd > 0 ? { added_after: lastAdd } : {}),
        ...(lastSettle > 0 ? { confirmed_after: lastSettle } : {}),
        restart_delay_ms: 3_600_000,
      });
      const end = (err?: unknown): void => {
        this.stopStream = undefined;
        this.streaming = false;
        sub.removeAllListeners();
        void queue.then(() => (err === undefined ? resolve() : reject(err)), reject);
      };
      this.stopStream = () => end();
      const catchUp = async (): Promise<void> => {
        await this.reconcile();
        lastAdd = (await this.records.cursor('add_index')) ?? lastAdd;
        lastSettle = (await this.records.cursor('settle_index')) ?? lastSettle;
      };
      sub.on('invoice_updated', (inv: Ln.LndInvoice) => {
        queue = queue.then(async () => {
          if (inv.index === lastAdd + 1) {
            lastAdd = inv.index;
            await this.records.created({ payment_hash: inv.id, amount_msat: num(inv.mtokens) || null }, 'add_index', inv.index);
          } else if (inv.index > lastAdd + 1) return catchUp();
          if (inv.is_confirmed && inv.confirmed_index !== undefined) {
            if (inv.confirmed_index === lastSettle + 1) {
              lastSettle = inv.confirmed_index;
              await this.records.settled(
                { payment_hash: inv.id, paid_at: epoch(inv.confirmed_at), amount_received_msat: num(inv.received_mtokens) },
                'settle_index',
                inv.confirmed_index,
              );
            } else if (inv.confirmed_index > lastSettle + 1) return catchUp();
          } else if (inv.is_canceled) {
            await this.records.canceled(inv.id);
          }
          return undefined;
        });
        queue.catch((err: unknown) => end(err));
      });
      sub.on('error', (err: unknown) => end(err));
      sub.on('end', () => end(new Error('LND ended the invoice subscription')));
      // Attached, after the reconciliation: only now is the backend ok (an invoice made before is in the record).
      void this.attached();
    });
  }

  private timed<T>(p: Promise<T>, ms = this.settings.timeoutMs): Promise<T> {
    let t: NodeJS.Timeout;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(rpcError('BackendUnavailable', `LND did not answer within ${ms / 1000} s`, { service: 'lnd' })), ms);
      }),
    ]).finally(() => clearTimeout(t));
  }

  /** Runs one ln-service call, or answers BackendUnavailable at once when LND is not connected. */
  private async call<T>(f: (lnd: Ln.AuthenticatedLnd) => Promise<T>, ms = this.settings.timeoutMs): Promise<T> {
    if (!this.connected || !this.lnd) throw rpcError('BackendUnavailable', `LND is not connected: ${this.cell.get().detail}`, { service: 'lnd' });
    try {
      return await this.timed(f(this.lnd), ms);
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /** LND's failures as the caller's error codes, keeping ln-service's name and LND's words in data. */
  private mapError(err: unknown): unknown {
    if (err instanceof RpcError) return err;
    const t = classify(err, this.settings);
    if (t) {
      if (this.connected) this.log.warn({ reason: t.reason }, 'lost LND');
      this.connected = false;
      this.cell.set(t.state, t.reason);
      this.stopStream?.(); // the follower reconnects with backoff
      return rpcError('BackendUnavailable', t.reason, { service: 'lnd', reason: t.reason });
    }
    const p = errorParts(err);
    const words = p.details ? `${p.message}: ${p.details}` : p.message;
    // ln-service's own argument checks are 400s named Expected...; its other 400s (InsufficientFundsToCreateChannel)
    // are LND refusing, like any other refusal.
    if (p.status === 400 && p.message.startsWith('Expected')) return rpcError('InvalidParams', `LND: ${words}`, { lnd_error: p.message });
    if (/payment is in transition|already in flight/i.test(`${p.message} ${p.details}`)) return new PaymentInFlight(`LND: ${words}`);
    const kind = LND_KIND[p.message];
    return rpcError('BackendRejected', `LND: ${words}`, { lnd_error: p.message, ...(p.details ? { reason: p.details } : {}), ...(kind ? { kind } : {}) });
  }

  async getInfo(): Promise<LnInfo> {
    const i = await this.call((lnd) => ln.getWalletInfo({ lnd }));
    const network = (Object.entries(CHAIN_HASH).find(([, h]) => i.chains.includes(h))?.[0] as Network | undefined) ?? 'unknown';
    return {
      id: i.public_key,
      alias: i.alias,
      network: network === 'main' ? 'bitcoin' : network === 'test' ? 'testnet' : network,
      block_height: i.current_block_height,
      num_peers: i.peers_count,
      num_active_channels: i.active_channels_count,
      version: i.version,
    };
  }

  async balance(): Promise<LnBalance> {
    const [c, p, ch] = await Promise.all([
      this.call((lnd) => ln.getChainBalance({ lnd })),
      this.call((lnd) => ln.getPendingChainBalance({ lnd })),
      this.call((lnd) => ln.getChannelBalance({ lnd })),
    ]);
    return {
      onchain_confirmed_sat: c.chain_balance,
      onchain_unconfirmed_sat: p.pending_chain_balance,
      channel_local_msat: ch.channel_balance_mtokens !== undefined ? Number(ch.channel_balance_mtokens) : ch.channel_balance * 1000,
    };
  }

  async listPeers(): Promise<LnPeer[]> {
    // LND lists the peers it is connected to.
    const r = await this.call((lnd) => ln.getPeers({ lnd }));
    return r.peers.map((p) => ({ id: p.public_key, connected: true, address: p.socket || null }));
  }

  async connect(id: string, host?: string, port?: number): Promise<void> {
    if (!host) throw rpcError('InvalidParams', "LND needs the peer's host to connect (it does not look addresses up in the graph for this call)");
    await this.call((lnd) =>
      ln.addPeer({ lnd, public_key: id, socket: `${host}:${port ?? 9735}`, retry_count: 0, timeout: Math.min(this.settings.timeoutMs, 30_000) }),
    );
  }

  async listChannels(): Promise<LnChannel[]> {
    // LND lists channels waiting for their funding or closing transaction apart from open ones.
    const [r, p] = await Promise.all([this.call((lnd) => ln.getChannels({ lnd })), this.call((lnd) => ln.getPendingChannels({ lnd }))]);
    const pending: LnChannel[] = p.pending_channels.map((c) => ({
      channel_id: `${c.transaction_id}:${c.transaction_vout}`,
      short_channel_id: null,
      peer: c.partner_public_key,
      state: c.is_opening ? 'pending_open' : 'closing',
      active: false,
      capacity_sat: c.capacity,
      local_msat: c.local_balance * 1000,
      remote_msat: c.remote_balance * 1000,
    }));
    return r.channels
      .map((c): LnChannel => ({
        channel_id: `${c.transaction_id}:${c.transaction_vout}`,
        short_channel_id: c.id || null,
        peer: c.partner_public_key,
        state: c.is_opening ? 'opening' : c.is_closing ? 'closing' : 'open',
        active: c.is_active,
        capacity_sat: c.capacity,
        local_msat: c.local_balance * 1000,
        remote_msat: c.remote_balance * 1000,
      }))
      .concat(pending);
  }

  async openChannel(peer: string, amountSat: number): Promise<{ txid: string; channel_id: string }> {
    const r = await this.call((lnd) => ln.openChannel({ lnd, partner_public_key: peer, local_tokens: amountSat }));
    return { txid: r.transaction_id, channel_id: `${r.transaction_id}:${r.transaction_vout}` };
  }

  async closeChannel(channel: string): Promise<{ type: string; txid: string | null }> {
    const chans = await this.listChannels();
    const c = chans.find((x) => x.channel_id === channel || x.short_channel_id === channel || x.peer === channel);
    if (!c) throw rpcError('NotFound', `LND has no open channel '${channel}' (give a channel point txid:vout, a short channel id or a peer id)`);
    const [txid, vout] = c.channel_id.split(':');
    const r = await this.call((lnd) => ln.closeChannel({ lnd, transaction_id: txid!, transaction_vout: Number(vout) }));
    return { type: 'mutual', txid: r.transaction_id ?? null };
  }

  async createInvoice(req: NewInvoice): Promise<{ payment_hash: string; bolt11: string; expires_at: number }> {
    // LND has no invoice labels: the label lives only in anyad's record.
    const expiresAt = Math.floor(Date.now() / 1000) + req.expiry;
    const r = await this.call((lnd) =>
      ln.createInvoice({
        lnd,
        description: req.description,
        ...(req.amount_msat !== null ? { mtokens: String(req.amount_msat) } : {}),
        expires_at: new Date(expiresAt * 1000).toISOString(),
      }),
    );
    return { payment_hash: r.id, bolt11: r.request, expires_at: expiresAt };
  }

  async lookupInvoice(paymentHash: string): Promise<InvoiceRecord | undefined> {
    let i: Ln.LndInvoice;
    try {
      i = await this.call((lnd) => ln.getInvoice({ lnd, id: paymentHash }));
    } catch (err) {
      if (err instanceof RpcError && /unable to locate invoice/.test(err.message)) return undefined;
      throw err;
    }
    const known = await this.records.invoice(paymentHash);
    const expiresAt = epoch(i.expires_at);
    const status: InvoiceRecord['status'] = i.is_confirmed ? 'paid' : i.is_canceled ? 'canceled' : expiresAt <= Date.now() / 1000 ? 'expired' : 'unpaid';
    return {
      payment_hash: i.id,
      bolt11: i.request ?? '',
      label: known?.label ?? '',
      description: i.description,
      amount_msat: num(i.mtokens) || null,
      status,
      created_at: epoch(i.created_at),
      expires_at: expiresAt,
      ...(i.is_confirmed ? { paid_at: epoch(i.confirmed_at), amount_received_msat: num(i.received_mtokens) } : {}),
    };
  }

  async decode(invoice: string): Promise<LnDecoded> {
    const d = await this.call((lnd) => ln.decodePaymentRequest({ lnd, request: invoice }));
    return {
      payment_hash: d.id,
      payee: d.destination,
      amount_msat: num(d.mtokens) || null,
      description: d.description ?? '',
      created_at: epoch(d.created_at),
      expires_at: epoch(d.expires_at),
    };
  }

  /** A payment LND already has in flight (its ErrPaymentInFlight, "payment is in transition") stays pending. */
  async pay(req: PayRequest): Promise<PayResult> {
    const r = await this.call(
      (lnd) =>
        ln.payViaPaymentRequest({
          lnd,
          request: req.invoice,
          pathfinding_timeout: req.timeout * 1000,
          ...(req.max_fee_msat !== undefined ? { max_fee_mtokens: String(req.max_fee_msat) } : {}),
        }),
      req.timeout * 1000 + this.settings.timeoutMs,
    );
    const fee = Number(r.fee_mtokens);
    return { payment_hash: r.id, amount_msat: Number(r.mtokens) - fee, fee_msat: fee, preimage: r.secret };
  }

  async paymentState(paymentHash: string): Promise<PaymentState | undefined> {
    let r: Awaited<ReturnType<typeof Ln.getPayment>>;
    try {
      r = await this.call((lnd) => ln.getPayment({ lnd, id: paymentHash }));
    } catch (err) {
      if (err instanceof RpcError && (err.data as { lnd_error?: string } | undefined)?.lnd_error === 'SentPaymentNotFound') return undefined;
      throw err;
    }
    if (r.is_confirmed && r.payment) {
      const fee = Number(r.payment.fee_mtokens);
      return { status: 'complete', preimage: r.payment.secret, amount_msat: Number(r.payment.mtokens) - fee, fee_msat: fee };
    }
    return { status: r.is_failed ? 'failed' : 'pending' };
  }

  async estimateFee(invoice: string): Promise<{ fee_msat: number }> {
    const r = await this.call((lnd) => ln.getRoutingFeeEstimate({ lnd, request: invoice, timeout: Math.min(this.settings.timeoutMs, 60_000) }));
    return { fee_msat: Number(r.fee_mtokens) };
  }
}
