// The Core Lightning backend: a Layer2 adapter over lightningd's JSON-RPC. It follows settled invoices with
// waitanyinvoice from a pay_index cursor kept in LevelDB (written with the invoice record, in one batch), so after a
// restart of anyad or lightningd no settled invoice is missed and none is reported twice. Invoices and payments made
// through anyad are kept as records, so they can be listed while lightningd is down.

import type { Logger } from 'pino';
import { HealthCell, type Health, type Service } from '../../core/service.js';
import type { Network } from '../../core/options.js';
import { rpcError, RpcError } from '../../rpc/errors.js';
import type { EventBus } from '../../rpc/events.js';
import type { BatchOp, RoomDb, Store } from '../../store/store.js';
import type { Layer2Adapter } from '../layer2/contract.js';
import { ClnClient, ClnError, ClnUnreachable } from './cln-client.js';

/** lightningd's network names. */
const CLN_NETWORK: Record<Network, string> = { main: 'bitcoin', test: 'testnet', signet: 'signet', regtest: 'regtest' };

export interface InvoiceRecord {
  payment_hash: string;
  bolt11: string;
  label: string;
  description: string;
  amount_msat: number | null;
  status: 'unpaid' | 'paid' | 'expired';
  created_at: number;
  expires_at: number;
  paid_at?: number;
  amount_received_msat?: number;
}

export interface PaymentRecord {
  payment_hash: string;
  bolt11: string;
  status: 'pending' | 'complete' | 'failed';
  amount_msat: number | null;
  fee_msat: number | null;
  created_at: number;
  preimage?: string;
  error?: string;
}

export const CLN_CAPABILITIES = ['info', 'balance', 'peer.list', 'peer.connect', 'channel.list', 'channel.open', 'channel.close', 'invoice.create', 'invoice.lookup', 'invoice.list', 'invoice.decode', 'pay', 'payment.list', 'events.invoice', 'events.payment', 'events.channel', 'events.peer'];

/** Maps lightningd's failures to the caller's error codes, keeping its own code and words in data. */
export function clnError(err: unknown): unknown {
  if (err instanceof RpcError) return err;
  if (err instanceof ClnUnreachable) return rpcError('BackendUnavailable', `lightningd is not reachable: ${err.message}`, { service: 'cln', reason: err.message });
  if (err instanceof ClnError) {
    if (err.code === -32602) return rpcError('InvalidParams', `lightningd: ${err.message}`, { cln_code: err.code });
    return rpcError('BackendRejected', `lightningd: ${err.message}`, { cln_code: err.code, reason: err.message });
  }
  return err;
}

export class ClnBackend implements Service, Layer2Adapter {
  readonly name = 'cln';
  readonly optional = true;
  readonly protocol = 'lightning';
  readonly backend = 'cln';
  private readonly cell = new HealthCell('starting', 'connecting to lightningd');
  private running = false;
  private loop: Promise<void> | undefined;
  connected = false;

  constructor(
    readonly client: ClnClient,
    private readonly db: RoomDb,
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly network: Network,
    private readonly log: Logger,
  ) {}

  health(): Health {
    return this.cell.get();
  }

  capabilities(): string[] {
    return CLN_CAPABILITIES;
  }

  async summary(): Promise<Record<string, unknown>> {
    const i = await this.client.call<{ id: string; alias: string; blockheight: number; num_active_channels: number; network: string }>('getinfo');
    return { id: i.id, alias: i.alias, block_height: i.blockheight, active_channels: i.num_active_channels, network: i.network };
  }

  async open(): Promise<void> {
    this.running = true;
    try {
      await this.probe();
    } finally {
      this.loop = this.followInvoices();
    }
  }

  async close(): Promise<void> {
    this.running = false;
    this.client.close();
    await this.loop;
    this.cell.set('stopped', 'closed');
  }

  private async probe(): Promise<void> {
    try {
      const info = await this.client.call<{ id: string; network: string; version: string }>('getinfo');
      if (info.network !== CLN_NETWORK[this.network]) {
        this.connected = false;
        this.cell.set('failed', `lightningd is on ${info.network}, but anyad runs on ${CLN_NETWORK[this.network]}; refusing to use it`);
        throw new Error(this.cell.get().detail);
      }
      this.connected = true;
      this.cell.set('ok', `connected to Core Lightning ${info.version} (${info.id.slice(0, 16)}…)`);
    } catch (err) {
      this.connected = false;
      if (err instanceof ClnUnreachable) this.cell.set('unavailable', err.message);
      throw err;
    }
  }

  /** Follows settled invoices from the persisted cursor; reconnects with backoff while lightningd is away. */
  private async followInvoices(): Promise<void> {
    let delay = 250;
    while (this.running) {
      try {
        if (!this.connected) await this.probe();
        const cursor = ((await this.db.get('cursor:pay_index')) as number | undefined) ?? 0;
        const inv = await this.client.call<{ payment_hash: string; bolt11?: string; label: string; description?: string; amount_msat?: number; amount_received_msat?: number; status: string; pay_index: number; paid_at?: number; expires_at: number }>('waitanyinvoice', { lastpay_index: cursor, timeout: 30 });
        delay = 250;
        const known = (await this.db.get(`inv:${inv.payment_hash}`)) as InvoiceRecord | undefined;
        const rec: InvoiceRecord = {
          ...(known ?? { payment_hash: inv.payment_hash, bolt11: inv.bolt11 ?? '', label: inv.label, description: inv.description ?? '', amount_msat: inv.amount_msat ?? null, created_at: 0, expires_at: inv.expires_at }),
          status: 'paid',
          ...(inv.paid_at !== undefined ? { paid_at: inv.paid_at } : {}),
          ...(inv.amount_received_msat !== undefined ? { amount_received_msat: inv.amount_received_msat } : {}),
        };
        const ops: BatchOp[] = [
          { type: 'put', sublevel: this.db, key: `inv:${inv.payment_hash}`, value: rec },
          { type: 'put', sublevel: this.db, key: 'cursor:pay_index', value: inv.pay_index },
        ];
        await this.store.batch(ops);
        this.bus.publish('ln.invoice', { backend: 'cln', status: 'settled', payment_hash: inv.payment_hash, label: inv.label, amount_received_msat: inv.amount_received_msat ?? null, pay_index: inv.pay_index });
      } catch (err) {
        if (!this.running) return;
        if (err instanceof ClnError && err.code === 904) continue; // waitanyinvoice timed out: ask again
        if (this.connected) this.log.warn({ reason: (err as Error).message }, 'lost lightningd');
        this.connected = false;
        if (!(err instanceof ClnUnreachable) && !(err instanceof ClnError)) this.log.error({ reason: (err as Error).message }, 'invoice follower error');
        await new Promise((r) => setTimeout(r, delay * (0.75 + Math.random() / 2)));
        delay = Math.min(delay * 2, 15_000);
      }
    }
  }

  /** Calls lightningd, or answers BackendUnavailable at once when it is not connected. */
  async call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    if (!this.connected) throw rpcError('BackendUnavailable', `lightningd is not connected: ${this.cell.get().detail}`, { service: 'cln' });
    try {
      return await this.client.call<T>(method, params);
    } catch (err) {
      throw clnError(err);
    }
  }

  async saveInvoice(r: InvoiceRecord): Promise<void> {
    await this.store.batch([{ type: 'put', sublevel: this.db, key: `inv:${r.payment_hash}`, value: r }]);
  }

  async savePayment(r: PaymentRecord): Promise<void> {
    await this.store.batch([{ type: 'put', sublevel: this.db, key: `pay:${r.payment_hash}`, value: r }]);
  }

  async records<T>(prefix: 'inv' | 'pay'): Promise<T[]> {
    const out: T[] = [];
    for await (const [, v] of this.db.iterator({ gte: `${prefix}:`, lt: `${prefix};` })) out.push(v as T);
    return out;
  }
}
