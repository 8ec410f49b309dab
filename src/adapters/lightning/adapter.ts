// A Lightning node as a Layer2 adapter: the backend (Core Lightning or LND) does the talking; this gives it the face
// every second-layer protocol shows anyad — capabilities, topics, operations with schemas, submit / status /
// history over anyad's records, and fee estimates. Opening and closing it connects and disconnects the backend.

import type { Health } from '../../core/service.js';
import { rpcError } from '../../core/errors.js';
import type { Layer2Adapter, OperationRecord } from '../layer2/api.js';
import { refuseWhileStarting, type InvoiceRecord, type PaymentRecord } from './backend.js';
import { checkInvoice } from './bolt11.js';
import { FeeOp, InvoiceOp, PayOp } from './declarations.js';
import { createInvoice, pay, type LnParts } from './operations.js';
import { newestFirst } from './records.js';

const CAPABILITIES = [
  'info',
  'balance',
  'peer.list',
  'peer.connect',
  'channel.list',
  'channel.open',
  'channel.close',
  'invoice.create',
  'invoice.lookup',
  'invoice.list',
  'invoice.decode',
  'pay',
  'payment.list',
  'fee.estimate',
  'events.invoice',
  'events.payment',
  'events.channel',
  'events.peer',
];
const LN_TOPICS = ['ln.invoice', 'ln.payment', 'ln.channel', 'ln.peer'] as const;

const asOperation = {
  payment: ({ preimage_sealed: _sealed, ...p }: PaymentRecord): OperationRecord => ({
    id: p.payment_hash,
    operation: 'pay',
    status: p.status,
    created_at: p.created_at,
    detail: { ...p },
  }),
  invoice: (i: InvoiceRecord): OperationRecord => ({
    id: i.payment_hash,
    operation: 'invoice.create',
    status: i.status,
    created_at: i.created_at,
    detail: { ...i },
  }),
};

export class LightningAdapter implements Layer2Adapter {
  readonly protocol = 'lightning';
  readonly topics = LN_TOPICS;
  readonly operations = { pay: PayOp, 'invoice.create': InvoiceOp };
  readonly estimates = { pay: FeeOp };

  constructor(private readonly parts: LnParts) {}

  get name(): string {
    return this.parts.backend.name;
  }
  get backend(): string {
    return this.parts.backend.backend;
  }
  get optional(): boolean {
    return true;
  }

  open(): Promise<void> {
    return this.parts.backend.open();
  }
  close(): Promise<void> {
    return this.parts.backend.close();
  }
  health(): Health {
    return this.parts.backend.health();
  }
  capabilities(): string[] {
    return CAPABILITIES;
  }
  /** The node in a line, and how far anyad has followed it (its cursors). */
  async summary(): Promise<Record<string, unknown>> {
    const i = await this.parts.backend.getInfo();
    return {
      id: i.id,
      alias: i.alias,
      block_height: i.block_height,
      active_channels: i.num_active_channels,
      network: i.network,
      cursors: await this.parts.records.cursors(),
    };
  }

  async submit(operation: string, params: Record<string, unknown>): Promise<OperationRecord> {
    refuseWhileStarting(this.parts.backend);
    if (operation === 'pay') {
      const r = await pay(this.parts, params as never);
      return (await this.status(r.payment_hash))!;
    }
    if (operation === 'invoice.create') {
      const r = await createInvoice(this.parts, params as never);
      return (await this.status(r.payment_hash))!;
    }
    throw rpcError('InvalidParams', `lightning cannot submit '${operation}' (it can: ${Object.keys(this.operations).join(', ')})`);
  }

  async status(id: string): Promise<OperationRecord | undefined> {
    const hash = id.toLowerCase();
    const p = await this.parts.records.payment(hash);
    // The preimage in clear, as an answer has it (l2.status strips it for roles below user).
    if (p) return asOperation.payment(await this.parts.preimages.reveal(p));
    const i = await this.parts.records.invoice(hash);
    return i ? asOperation.invoice(i) : undefined;
  }

  async history(limit: number, offset: number): Promise<{ total: number; items: OperationRecord[] }> {
    const payments = new Map((await this.parts.records.payments()).map((p) => [p.payment_hash, p]));
    const page = newestFirst(
      [...[...payments.values()].map(asOperation.payment), ...(await this.parts.records.invoices()).map(asOperation.invoice)],
      limit,
      offset,
    );
    // Only the page's payments have their preimage opened (l2.history strips it for roles below user).
    const items = await Promise.all(
      page.items.map(async (op) => (op.operation === 'pay' ? asOperation.payment(await this.parts.preimages.reveal(payments.get(op.id)!)) : op)),
    );
    return { total: page.total, items };
  }

  async estimateFee(operation: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    refuseWhileStarting(this.parts.backend);
    if (operation !== 'pay')
      throw rpcError('InvalidParams', `lightning can estimate the fee of: ${Object.keys(this.estimates).join(', ')} (not '${operation}')`);
    checkInvoice(String(params.invoice), this.parts.network);
    return this.parts.backend.estimateFee(String(params.invoice));
  }
}
