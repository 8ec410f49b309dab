// The Core Lightning backend: a Layer2 adapter over lightningd's JSON-RPC. It follows settled invoices with
// waitanyinvoice from a pay_index cursor kept in LevelDB (written with the invoice record, in one batch), and new
// invoices with `wait invoices created` from a created_index cursor, so after a restart of anyad or lightningd no
// settlement or creation is missed and none is reported twice.

import type { Logger } from 'pino';
import { Backoff } from '../../core/backoff.js';
import { HealthCell, type Health } from '../../core/service.js';
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
import { ClnClient, ClnError, ClnUnreachable } from './cln-client.js';
import type { LnRecords } from './records.js';

/** lightningd's network names. */
const CLN_NETWORK: Record<Network, string> = { main: 'bitcoin', test: 'testnet', signet: 'signet', regtest: 'regtest' };

/** lightningd's error codes (common/jsonrpc_errors.h: pay, fundchannel, connect) as node-independent kinds. */
const CLN_KIND: Record<number, RefusalKind> = {
  201: 'already_paid',
  203: 'rejected_by_destination',
  205: 'no_route',
  206: 'fee_limit',
  207: 'invoice_expired',
  210: 'no_route',
  301: 'insufficient_funds',
  400: 'peer_unreachable',
  401: 'peer_unreachable',
};

/** Maps lightningd's failures to the caller's error codes, keeping its own code and words in data. */
export function clnError(err: unknown): unknown {
  if (err instanceof RpcError) return err;
  if (err instanceof ClnUnreachable)
    return rpcError('BackendUnavailable', `lightningd is not reachable: ${err.message}`, { service: 'cln', reason: err.message });
  if (err instanceof ClnError) {
    if (err.code === -32602) return rpcError('InvalidParams', `lightningd: ${err.message}`, { cln_code: err.code });
    const kind = CLN_KIND[err.code];
    return rpcError('BackendRejected', `lightningd: ${err.message}`, { cln_code: err.code, reason: err.message, ...(kind ? { kind } : {}) });
  }
  return err;
}

interface ClnInvoice {
  payment_hash: string;
  bolt11?: string;
  label: string;
  description?: string;
  amount_msat?: number;
  amount_received_msat?: number;
  status: 'unpaid' | 'paid' | 'expired';
  pay_index?: number;
  paid_at?: number;
  expires_at: number;
}

export class ClnBackend implements LightningBackend {
  readonly name = 'cln';
  readonly optional = true;
  readonly backend = 'cln';
  // lightningd's keysend takes no preimage (it draws one), so the hash is known only once it answers: a crash before
  // that would leave a payment made through anyad with no record of it.
  readonly keysendRefusal = "Core Lightning's keysend draws its own preimage, so anyad could not record the payment under its hash before it starts";
  private readonly cell = new HealthCell('starting', 'connecting to lightningd');
  private running = false;
  private loop: Promise<void> | undefined;
  private createdLoop: Promise<void> | undefined;
  /** The settlement follower's and the creation follower's. */
  private readonly backoffs = [new Backoff(250, 15_000), new Backoff(250, 15_000)] as const;
  connected = false;

  readonly client: ClnClient;
  private readonly records: LnRecords;
  private readonly network: Network;
  private readonly log: Logger;

  constructor(opts: { client: ClnClient; records: LnRecords; network: Network; log: Logger }) {
    this.client = opts.client;
    this.records = opts.records;
    this.network = opts.network;
    this.log = opts.log;
  }

  health(): Health {
    return this.cell.get();
  }

  async open(): Promise<void> {
    this.running = true;
    try {
      await this.probe();
    } finally {
      this.loop = this.followInvoices();
      this.createdLoop = this.followCreated();
    }
  }

  async close(): Promise<void> {
    this.running = false;
    this.client.close();
    for (const b of this.backoffs) b.interrupt();
    await Promise.all([this.loop, this.createdLoop]);
    this.cell.set('stopped', 'closed');
  }

  private async probe(): Promise<void> {
    try {
      const info = await this.client.call<{ id: string; network: string; version: string; warning_bitcoind_sync?: string; warning_lightningd_sync?: string }>(
        'getinfo',
      );
      if (info.network !== CLN_NETWORK[this.network]) {
        this.connected = false;
        this.cell.set('failed', `lightningd is on ${info.network}, but anyad runs on ${CLN_NETWORK[this.network]}; refusing to use it`);
        throw new Error(this.cell.get().detail);
      }
      this.connected = true;
      const who = `Core Lightning ${info.version} (${info.id.slice(0, 16)}…)`;
      const warning = info.warning_bitcoind_sync ?? info.warning_lightningd_sync;
      if (warning) this.cell.set('degraded', `connected to ${who}: ${warning}`);
      else this.cell.set('ok', `connected to ${who}`);
    } catch (err) {
      this.connected = false;
      if (err instanceof ClnUnreachable) this.cell.set('unavailable', err.message);
      throw err;
    }
  }

  /** Follows settled invoices from the persisted cursor; reconnects with backoff while lightningd is away. */
  private async followInvoices(): Promise<void> {
    const backoff = this.backoffs[0];
    while (this.running) {
      try {
        if (!this.connected) await this.probe();
        const cursor = (await this.records.cursor('pay_index')) ?? 0;
        const inv = await this.client.call<ClnInvoice & { pay_index: number }>('waitanyinvoice', { lastpay_index: cursor, timeout: 30 });
        backoff.reset();
        await this.records.settled(
          {
            payment_hash: inv.payment_hash,
            label: inv.label,
            ...(inv.paid_at !== undefined ? { paid_at: inv.paid_at } : {}),
            ...(inv.amount_received_msat !== undefined ? { amount_received_msat: inv.amount_received_msat } : {}),
          },
          'pay_index',
          inv.pay_index,
        );
      } catch (err) {
        if (!this.running) return;
        if (err instanceof ClnError && err.code === 904) continue; // waitanyinvoice timed out: ask again
        if (this.connected) this.log.warn({ reason: (err as Error).message }, 'lost lightningd');
        this.connected = false;
        if (!(err instanceof ClnUnreachable) && !(err instanceof ClnError)) this.log.error({ reason: (err as Error).message }, 'invoice follower error');
        await backoff.wait();
      }
    }
  }

  /**
   * Follows new invoices with `wait invoices created` (lightningd v23.08+) from a created_index cursor. On the first
   * start the cursor is set to lightningd's current index: invoices made from then on are reported.
   */
  private async followCreated(): Promise<void> {
    const backoff = this.backoffs[1];
    while (this.running) {
      try {
        if (!this.connected) {
          await backoff.wait(); // the settlement follower reconnects
          continue;
        }
        let cursor = await this.records.cursor('created_index');
        if (cursor === undefined) {
          cursor = (await this.client.call<{ created?: number }>('wait', { subsystem: 'invoices', indexname: 'created', nextvalue: 0 })).created ?? 0;
          await this.records.setCursor('created_index', cursor);
        }
        await this.client.call('wait', { subsystem: 'invoices', indexname: 'created', nextvalue: cursor + 1 }, { timeoutMs: 0 });
        const r = await this.client.call<{ invoices: Array<ClnInvoice & { created_index: number }> }>('listinvoices', { index: 'created', start: cursor + 1 });
        for (const inv of r.invoices.filter((i) => i.created_index > cursor!).sort((x, y) => x.created_index - y.created_index)) {
          await this.records.created(
            { payment_hash: inv.payment_hash, label: inv.label, amount_msat: inv.amount_msat ?? null },
            'created_index',
            inv.created_index,
          );
        }
        backoff.reset();
      } catch (err) {
        if (!this.running) return;
        if (err instanceof ClnError && err.code === -32601) {
          this.records.followsCreated = false;
          this.log.warn('this lightningd has no `wait` (before v23.08): ln.invoice created is reported only for invoices made through anyad');
          return;
        }
        await backoff.wait();
      }
    }
  }

  /** Calls lightningd, or answers BackendUnavailable at once when it is not connected. */
  async call<T>(method: string, params: Record<string, unknown> = {}, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (!this.connected) throw rpcError('BackendUnavailable', `lightningd is not connected: ${this.cell.get().detail}`, { service: 'cln' });
    try {
      return await this.client.call<T>(method, params, opts);
    } catch (err) {
      throw clnError(err);
    }
  }

  async getInfo(): Promise<LnInfo> {
    const i = await this.call<{
      id: string;
      alias: string;
      network: string;
      blockheight: number;
      num_peers: number;
      num_active_channels: number;
      version: string;
    }>('getinfo');
    return {
      id: i.id,
      alias: i.alias,
      network: i.network,
      block_height: i.blockheight,
      num_peers: i.num_peers,
      num_active_channels: i.num_active_channels,
      version: i.version,
    };
  }

  async balance(): Promise<LnBalance> {
    const f = await this.call<{ outputs: Array<{ amount_msat: number; status: string }>; channels: Array<{ our_amount_msat: number }> }>('listfunds');
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    return {
      onchain_confirmed_sat: Math.floor(sum(f.outputs.filter((o) => o.status === 'confirmed').map((o) => o.amount_msat)) / 1000),
      onchain_unconfirmed_sat: Math.floor(sum(f.outputs.filter((o) => o.status !== 'confirmed').map((o) => o.amount_msat)) / 1000),
      channel_local_msat: sum(f.channels.map((c) => c.our_amount_msat)),
    };
  }

  async listPeers(): Promise<LnPeer[]> {
    const r = await this.call<{ peers: Array<{ id: string; connected: boolean; netaddr?: string[] }> }>('listpeers');
    return r.peers.map((p) => ({ id: p.id, connected: p.connected, address: p.netaddr?.[0] ?? null }));
  }

  async connect(id: string, host?: string, port?: number): Promise<void> {
    await this.call('connect', { id, ...(host ? { host } : {}), ...(port ? { port } : {}) });
  }

  async listChannels(): Promise<LnChannel[]> {
    const r = await this.call<{
      channels: Array<{
        peer_id: string;
        peer_connected: boolean;
        state: string;
        channel_id?: string;
        short_channel_id?: string;
        total_msat?: number;
        to_us_msat?: number;
      }>;
    }>('listpeerchannels');
    return r.channels.map((c) => ({
      channel_id: c.channel_id ?? '',
      short_channel_id: c.short_channel_id ?? null,
      peer: c.peer_id,
      state: c.state,
      active: c.peer_connected && c.state === 'CHANNELD_NORMAL',
      capacity_sat: Math.floor((c.total_msat ?? 0) / 1000),
      local_msat: c.to_us_msat ?? 0,
      remote_msat: (c.total_msat ?? 0) - (c.to_us_msat ?? 0),
    }));
  }

  async openChannel(peer: string, amountSat: number): Promise<{ txid: string; channel_id: string }> {
    const r = await this.call<{ txid: string; channel_id: string }>('fundchannel', { id: peer, amount: amountSat });
    return { txid: r.txid, channel_id: r.channel_id };
  }

  async closeChannel(channel: string, force: boolean): Promise<{ type: string; txid: string | null }> {
    // Looked up first so an unknown channel is NotFound, as on LND (lightningd words it as a bad parameter).
    const known = (await this.listChannels()).some((c) => c.channel_id === channel || c.short_channel_id === channel || c.peer === channel);
    if (!known) throw rpcError('NotFound', `lightningd has no channel '${channel}' (give a channel id, a short channel id or a peer id)`);
    // lightningd has no immediate force close: `close` with unilateraltimeout 1 closes unilaterally after one second
    // without a mutual close (its documented way); its answer's type says which close it was.
    const r = await this.call<{ type: string; txid?: string }>('close', force ? { id: channel, unilateraltimeout: 1 } : { id: channel });
    return { type: r.type, txid: r.txid ?? null };
  }

  async createInvoice(req: NewInvoice): Promise<{ payment_hash: string; bolt11: string; expires_at: number }> {
    const r = await this.call<{ payment_hash: string; bolt11: string; expires_at: number }>('invoice', {
      amount_msat: req.amount_msat ?? 'any',
      label: req.label,
      description: req.description,
      expiry: req.expiry,
    });
    return { payment_hash: r.payment_hash, bolt11: r.bolt11, expires_at: r.expires_at };
  }

  async lookupInvoice(paymentHash: string): Promise<InvoiceRecord | undefined> {
    const r = await this.call<{ invoices: Array<ClnInvoice & { created_at?: number }> }>('listinvoices', { payment_hash: paymentHash });
    const i = r.invoices[0];
    if (!i) return undefined;
    const known = await this.records.invoice(paymentHash);
    return {
      payment_hash: i.payment_hash,
      bolt11: i.bolt11 ?? '',
      label: i.label,
      description: i.description ?? '',
      amount_msat: i.amount_msat ?? null,
      status: i.status,
      created_at: known?.created_at ?? null,
      expires_at: i.expires_at,
      ...(i.paid_at !== undefined ? { paid_at: i.paid_at } : {}),
      ...(i.amount_received_msat !== undefined ? { amount_received_msat: i.amount_received_msat } : {}),
    };
  }

  async decode(invoice: string): Promise<LnDecoded> {
    const d = await this.call<{ payment_hash: string; payee: string; amount_msat?: number; description?: string; created_at: number; expiry: number }>(
      'decode',
      { string: invoice },
    );
    return {
      payment_hash: d.payment_hash,
      payee: d.payee,
      amount_msat: d.amount_msat ?? null,
      description: d.description ?? '',
      created_at: d.created_at,
      expires_at: d.created_at + d.expiry,
    };
  }

  /**
   * pay keeps trying for retry_for seconds, so the call may take that long on top of cln.timeout. PAY_IN_PROGRESS
   * (200) is not a failure: the node is still paying (a part in flight, or another caller's attempt).
   */
  async pay(req: PayRequest): Promise<PayResult> {
    let r: { payment_hash: string; amount_msat: number; amount_sent_msat: number; payment_preimage: string };
    try {
      r = await this.call(
        'pay',
        { bolt11: req.invoice, retry_for: req.timeout, ...(req.max_fee_msat !== undefined ? { maxfee: req.max_fee_msat } : {}) },
        { timeoutMs: this.client.timeoutMs + req.timeout * 1000 },
      );
    } catch (err) {
      if (err instanceof RpcError && (err.data as { cln_code?: number } | undefined)?.cln_code === 200) throw new PaymentInFlight(err.message);
      throw err;
    }
    return { payment_hash: r.payment_hash, amount_msat: r.amount_msat, fee_msat: r.amount_sent_msat - r.amount_msat, preimage: r.payment_preimage };
  }

  async paymentState(paymentHash: string): Promise<PaymentState | undefined> {
    const r = await this.call<{
      pays: Array<{ status: 'pending' | 'complete' | 'failed'; preimage?: string; amount_msat?: number; amount_sent_msat?: number }>;
    }>('listpays', { payment_hash: paymentHash });
    // Several attempts may be listed; one that completed decides, then one still going.
    const p = r.pays.find((x) => x.status === 'complete') ?? r.pays.find((x) => x.status === 'pending') ?? r.pays[0];
    if (!p) return undefined;
    return {
      status: p.status,
      ...(p.preimage ? { preimage: p.preimage } : {}),
      ...(p.amount_msat !== undefined ? { amount_msat: p.amount_msat } : {}),
      ...(p.amount_msat !== undefined && p.amount_sent_msat !== undefined ? { fee_msat: p.amount_sent_msat - p.amount_msat } : {}),
    };
  }

  async estimateFee(invoice: string): Promise<{ fee_msat: number }> {
    const d = await this.decode(invoice);
    if (d.amount_msat === null) throw rpcError('InvalidParams', 'invoice: it names no amount, so there is no route to price');
    const r = await this.call<{ route: Array<{ amount_msat: number }> }>('getroute', { id: d.payee, amount_msat: d.amount_msat, riskfactor: 10 });
    return { fee_msat: (r.route[0]?.amount_msat ?? d.amount_msat) - d.amount_msat };
  }
}
