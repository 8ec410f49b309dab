// RGB as a Layer2 adapter: the upstream contract's issue_asset, transfer_asset, check_transaction_status,
// get_transaction_history and estimate_fees are l2.submit (asset.issue, asset.transfer, invoice.create),
// l2.status, l2.history and l2.estimatefee over the same operations and records as rgb.*. Opening and closing it
// connects and disconnects the node.

import { Type } from '@sinclair/typebox';
import type { Health } from '../../core/service.js';
import { rpcError } from '../../core/errors.js';
import type { Layer2Adapter, OperationRecord } from '../layer2/api.js';
import { newestFirst } from './methods.js';
import { InvoiceParams, IssueParams, SendParams } from './declarations.js';
import { createInvoice, issueAsset, sendAsset } from './operations.js';
import type { OpRecord } from './records.js';
import type { RgbService } from './service.js';

const CAPABILITIES = [
  'info',
  'asset.list',
  'asset.balance',
  'asset.issue.nia',
  'asset.issue.cfa',
  'asset.issue.uda',
  'invoice.create.blind',
  'invoice.create.witness',
  'invoice.decode',
  'asset.transfer',
  'transfer.list',
  'transfer.refresh',
  'transfer.fail',
  'utxo.create',
  'lninvoice',
  'fee.estimate',
  'events.transfer',
  'events.asset',
];
const OPERATION_OF: Record<OpRecord['operation'], string> = { issue: 'asset.issue', send: 'asset.transfer', invoice: 'invoice.create', lninvoice: 'lninvoice' };
const EstimateParams = Type.Object({ blocks: Type.Integer({ minimum: 1, maximum: 1008, default: 6 }) }, { additionalProperties: false });

export class RgbAdapter implements Layer2Adapter {
  readonly protocol = 'rgb';
  readonly backend = 'rln';
  readonly topics = ['rgb.transfer', 'rgb.asset'] as const;
  readonly operations = { 'asset.issue': IssueParams, 'asset.transfer': SendParams, 'invoice.create': InvoiceParams };
  readonly estimates = { 'asset.transfer': EstimateParams };
  readonly optional = true;

  constructor(
    private readonly svc: RgbService,
    private readonly maxFeeRate: number,
  ) {}

  get name(): string {
    return this.svc.name;
  }
  open(): Promise<void> {
    return this.svc.open();
  }
  close(): Promise<void> {
    return this.svc.close();
  }
  health(): Health {
    return this.svc.health();
  }
  capabilities(): string[] {
    return CAPABILITIES;
  }

  async summary(): Promise<Record<string, unknown>> {
    const node = await this.svc.lastNode();
    return { node: node ?? null, connected: this.svc.ready, operations: (await this.svc.records.ops()).length };
  }

  async submit(operation: string, params: Record<string, unknown>): Promise<OperationRecord> {
    if (operation === 'asset.issue') {
      const r = await issueAsset(this.svc, params as never);
      return (await this.status(r.asset_id))!;
    }
    if (operation === 'asset.transfer') {
      const r = await sendAsset(this.svc, this.maxFeeRate, params as never);
      return (await this.status(r.txid))!;
    }
    if (operation === 'invoice.create') {
      const r = await createInvoice(this.svc, params as never);
      return (await this.status(r.recipient_id))!;
    }
    throw rpcError('InvalidParams', `rgb cannot submit '${operation}'`);
  }

  /** anyad's record, with the status of its transfer as anyad last saw it on the node (pending until seen). */
  async status(id: string): Promise<OperationRecord | undefined> {
    const rec = await this.svc.records.op(id);
    if (!rec) return undefined;
    let status = rec.operation === 'issue' ? 'settled' : 'pending';
    const node = await this.svc.lastNode();
    if (node && rec.asset_id && rec.operation !== 'issue') {
      const t = (await this.svc.records.transfers(node, rec.asset_id)).find((x) => x.txid === id || x.recipient_id === id);
      if (t) status = t.status;
    }
    return {
      id: rec.id,
      operation: OPERATION_OF[rec.operation],
      status,
      created_at: rec.created_at,
      detail: { ...rec.detail, label: rec.label, asset_id: rec.asset_id, amount: rec.amount },
    };
  }

  async history(limit: number, offset: number): Promise<{ total: number; items: OperationRecord[] }> {
    const { total, items } = newestFirst(await this.svc.records.ops(), limit, offset);
    return { total, items: (await Promise.all(items.map((o) => this.status(o.id)))).filter((x): x is OperationRecord => x !== undefined) };
  }

  async estimateFee(_operation: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.svc.requireReady();
    const blocks = params.blocks as number;
    const r = await this.svc.call((c) => c.post<{ fee_rate: number }>('/estimatefee', { blocks }));
    return { fee_rate_sat_vb: r.fee_rate, blocks };
  }
}
