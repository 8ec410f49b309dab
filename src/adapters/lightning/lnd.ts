// The LND backend: a Layer2 adapter over LND's gRPC through ln-service, wiring the pieces that do the work:
// - lnd-connection.ts: the connection (credentials, network and wallet checks, timeouts, error mapping) and health;
// - lnd-invoices.ts: invoices, and reporting each created and settled exactly once (reconciliation and stream);
// - lnd-payments.ts: payments and their state on the node; lnd-channels.ts: node info, balances, peers, channels.
// This class owns the follower: it reconnects with backoff when LND restarts, reconciles, then attaches the stream.
// Health is ok only once the reconciliation is done and the stream is attached. The start does not wait for it (it
// costs about a second: loading ln-service and its gRPC stack, connecting, reconciling): anyad is ready meanwhile,
// and every LND call answers -28 (WarmingUp) naming the stage until the stream is attached, so nothing is created
// through anyad before its event can be seen.

import type { Logger } from 'pino';
import { Backoff } from '../../core/backoff.js';
import type { Health } from '../../core/service.js';
import type { Network } from '../../core/options.js';
import type {
  PaymentState,
  InvoiceRecord,
  LightningBackend,
  LnBalance,
  LnChannel,
  LnDecoded,
  LnInfo,
  LnPeer,
  NewInvoice,
  PayRequest,
  KeysendRequest,
  PayResult,
} from './backend.js';
import * as channels from './lnd-channels.js';
import { classify, errorParts, loadLnService, LndConnection, ProbeFailed, type LndSettings } from './lnd-connection.js';
import * as invoices from './lnd-invoices.js';
import * as payments from './lnd-payments.js';
import type { LnRecords } from './records.js';

export class LndBackend implements LightningBackend {
  readonly name = 'lnd';
  readonly optional = true;
  readonly backend = 'lnd';
  private readonly conn: LndConnection;
  private readonly invoiceContext: invoices.LndInvoiceContext;
  private readonly log: Logger;
  private readonly backoff = new Backoff(250, 15_000);
  private running = false;
  private loop: Promise<void> | undefined;
  beforeReady: (() => Promise<void>) | undefined;

  constructor(opts: { settings: LndSettings; records: LnRecords; network: Network; log: Logger }) {
    this.log = opts.log;
    this.conn = new LndConnection({ settings: opts.settings, network: opts.network, log: opts.log });
    this.invoiceContext = { conn: this.conn, records: opts.records, log: opts.log };
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  health(): Health {
    return this.conn.cell.get();
  }

  /** Starts following LND in the background; calls answer -28 with the stage until the first stream is attached. */
  async open(): Promise<void> {
    this.running = true;
    this.loop = this.followInvoices();
  }

  /** What the first attach is doing, while it runs; undefined once attached or once the first attempt failed. */
  startingStage(): string | undefined {
    return this.conn.stage;
  }

  async close(): Promise<void> {
    this.running = false;
    this.conn.stopStream?.();
    this.backoff.interrupt();
    await this.loop;
    this.conn.close();
    this.conn.cell.set('stopped', 'closed');
  }

  /** The stream is attached: the first time, the room's beforeReady runs before callers are let through. */
  private async attached(): Promise<void> {
    const conn = this.conn;
    if (conn.stage !== undefined && this.beforeReady) {
      conn.stage = 'taking the channel and peer baseline';
      await this.beforeReady().catch((err: Error) => this.log.warn({ reason: err.message }, 'channel and peer baseline failed'));
    }
    if (this.running) conn.healthy();
  }

  /** Follows invoices from the persisted cursors; reconnects with backoff while LND is away or locked. */
  private async followInvoices(): Promise<void> {
    const { backoff, conn } = this;
    const hooks = { running: () => this.running, attached: () => this.attached() };
    while (this.running) {
      try {
        if (conn.stage) conn.stage = 'loading ln-service';
        await loadLnService();
        if (conn.stage) conn.stage = `connecting to ${conn.settings.socket}`;
        if (!conn.connected) await conn.probe();
        backoff.reset();
        if (conn.stage) conn.stage = 'reconciling invoices';
        await invoices.reconcile(this.invoiceContext);
        if (conn.stage) conn.stage = 'attaching the invoice stream';
        await invoices.stream(this.invoiceContext, hooks);
      } catch (err) {
        if (!this.running) return;
        const t = classify(err, conn.settings);
        if (conn.connected || conn.stage !== undefined)
          this.log.warn({ reason: t?.reason ?? errorParts(err).message }, conn.connected ? 'lost LND' : 'LND unavailable; retrying');
        conn.stage = undefined;
        if (t) conn.cell.set(t.state, t.reason);
        else if (!(err instanceof ProbeFailed))
          conn.cell.set('degraded', `following LND's invoices failed: ${errorParts(err).details || errorParts(err).message}; retrying`);
        conn.connected = false;
        await backoff.wait();
      }
    }
  }

  getInfo(): Promise<LnInfo> {
    return channels.getInfo(this.conn);
  }
  balance(): Promise<LnBalance> {
    return channels.balance(this.conn);
  }
  listPeers(): Promise<LnPeer[]> {
    return channels.listPeers(this.conn);
  }
  connect(id: string, host?: string, port?: number): Promise<void> {
    return channels.connect(this.conn, id, host, port);
  }
  listChannels(): Promise<LnChannel[]> {
    return channels.listChannels(this.conn);
  }
  openChannel(peer: string, amountSat: number): Promise<{ txid: string; channel_id: string }> {
    return channels.openChannel(this.conn, peer, amountSat);
  }
  closeChannel(channel: string, force: boolean): Promise<{ type: string; txid: string | null }> {
    return channels.closeChannel(this.conn, channel, force);
  }
  createInvoice(req: NewInvoice): Promise<{ payment_hash: string; bolt11: string; expires_at: number }> {
    return invoices.createInvoice(this.conn, req);
  }
  lookupInvoice(paymentHash: string): Promise<InvoiceRecord | undefined> {
    return invoices.lookupInvoice(this.invoiceContext, paymentHash);
  }
  decode(invoice: string): Promise<LnDecoded> {
    return invoices.decode(this.conn, invoice);
  }
  pay(req: PayRequest): Promise<PayResult> {
    return payments.pay(this.conn, req);
  }
  keysend(req: KeysendRequest): Promise<PayResult> {
    return payments.keysend(this.conn, req);
  }
  paymentState(paymentHash: string): Promise<PaymentState | undefined> {
    return payments.paymentState(this.conn, paymentHash);
  }
  estimateFee(invoice: string): Promise<{ fee_msat: number }> {
    return payments.estimateFee(this.conn, invoice);
  }
}
