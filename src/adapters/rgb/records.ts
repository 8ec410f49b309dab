// The RGB room's sublevel: what anyad has seen of the node (its assets and the last status of every transfer, so
// each change is reported once across restarts of anyad and of the node) and the operations made through anyad
// (issuances, invoices, sends) with their labels, listable while the node is away.
//
// Keys: "<node pubkey>:a:<asset id>", "<node pubkey>:t:<asset id>:<idx>", "<node pubkey>:baseline" (the node was
// looked at once: what it had then is the baseline, not news), "op:<id>". Seen state is keyed by the node's public
// key, so pointing rgb.url at another node never mixes the two. The new statuses and the events' data are written
// in one synced batch before the events are published.

import type { EventBus, TopicData } from '../../core/events.js';
import { RGB_ASSET, RGB_TRANSFER } from './topics.js';
import type { BatchOp, RoomDb, Store } from '../../core/store.js';
import { fungible, type NodeAsset, type NodeTransfer } from './node-types.js';

export type AssetSchemaName = 'nia' | 'cfa' | 'uda';

export interface AssetView {
  asset_id: string;
  schema: AssetSchemaName;
  ticker: string | null;
  name: string;
  details: string | null;
  precision: number;
  issued_supply: number | null;
  timestamp: number;
  added_at: number;
  balance: { settled: number; future: number; spendable: number; offchain_outbound: number; offchain_inbound: number };
}

export type TransferStatus = 'waiting_counterparty' | 'waiting_confirmations' | 'settled' | 'failed';

export interface TransferView {
  asset_id: string;
  idx: number;
  kind: 'issuance' | 'receive_blind' | 'receive_witness' | 'send' | 'inflation';
  status: TransferStatus;
  amount: number;
  txid: string | null;
  recipient_id: string | null;
  receive_utxo: string | null;
  change_utxo: string | null;
  expiration: number | null;
  created_at: number;
  updated_at: number;
}

export interface OpRecord {
  /** The asset id (issue), recipient id (invoice), txid (send) or "ln:<payment hash>" (lninvoice). */
  id: string;
  operation: 'issue' | 'invoice' | 'send' | 'lninvoice';
  label: string;
  created_at: number;
  asset_id: string | null;
  amount: number | null;
  detail: Record<string, string | number | boolean | null>;
}

const STATUS: Record<NodeTransfer['status'], TransferStatus> = {
  WaitingCounterparty: 'waiting_counterparty',
  WaitingConfirmations: 'waiting_confirmations',
  Settled: 'settled',
  Failed: 'failed',
};
const KIND: Record<NodeTransfer['kind'], TransferView['kind']> = {
  Issuance: 'issuance',
  ReceiveBlind: 'receive_blind',
  ReceiveWitness: 'receive_witness',
  Send: 'send',
  Inflation: 'inflation',
};

export function assetView(a: NodeAsset, schema: AssetSchemaName): AssetView {
  return {
    asset_id: a.asset_id,
    schema,
    ticker: a.ticker ?? null,
    name: a.name,
    details: a.details ?? null,
    precision: a.precision,
    issued_supply: a.issued_supply ?? null,
    timestamp: a.timestamp,
    added_at: a.added_at,
    balance: {
      settled: a.balance.settled,
      future: a.balance.future,
      spendable: a.balance.spendable,
      offchain_outbound: a.balance.offchain_outbound ?? 0,
      offchain_inbound: a.balance.offchain_inbound ?? 0,
    },
  };
}

export function transferView(assetId: string, t: NodeTransfer): TransferView {
  return {
    asset_id: assetId,
    idx: t.idx,
    kind: KIND[t.kind] ?? 'send',
    status: STATUS[t.status] ?? 'failed',
    amount: fungible(t.requested_assignment) || t.assignments.reduce((s, a) => s + fungible(a), 0),
    txid: t.txid ?? null,
    recipient_id: t.recipient_id ?? null,
    receive_utxo: t.receive_utxo ?? null,
    change_utxo: t.change_utxo ?? null,
    expiration: t.expiration ?? null,
    created_at: t.created_at,
    updated_at: t.updated_at,
  };
}

const range = (prefix: string): { gte: string; lt: string } => ({ gte: prefix, lt: `${prefix}\xff` });

export class RgbRecords {
  constructor(
    private readonly db: RoomDb,
    private readonly store: Store,
    private readonly bus: EventBus,
  ) {}

  /** The assets last seen on the node with this public key. */
  async assets(node: string): Promise<AssetView[]> {
    const out: AssetView[] = [];
    for await (const [, v] of this.db.iterator(range(`${node}:a:`))) out.push(v as AssetView);
    return out;
  }

  /** The transfers of an asset last seen on the node. */
  async transfers(node: string, assetId: string): Promise<TransferView[]> {
    const out: TransferView[] = [];
    for await (const [, v] of this.db.iterator(range(`${node}:t:${assetId}:`))) out.push(v as TransferView);
    return out.sort((a, b) => a.idx - b.idx);
  }

  async ops(): Promise<OpRecord[]> {
    const out: OpRecord[] = [];
    for await (const [, v] of this.db.iterator(range('op:'))) out.push(v as OpRecord);
    return out;
  }

  async op(id: string): Promise<OpRecord | undefined> {
    return (await this.db.get(`op:${id}`)) as OpRecord | undefined;
  }

  async putOp(op: OpRecord): Promise<void> {
    await this.store.batch([{ type: 'put', sublevel: this.db, key: `op:${op.id}`, value: op }]);
  }

  /** The label of anyad's operation with one of these ids (a send's txid, an invoice's recipient id, an asset id). */
  private async labelOf(...ids: Array<string | null>): Promise<string | null> {
    for (const id of ids)
      if (id) {
        const o = await this.op(id);
        if (o?.label) return o.label;
      }
    return null;
  }

  /** The node anyad last followed (for stale answers while it is away). */
  async lastNode(): Promise<string | undefined> {
    return (await this.db.get('node')) as string | undefined;
  }

  /**
   * Compares what the node has now with what anyad last saw, writes the new picture and publishes what changed:
   * rgb.asset for an asset not seen before, rgb.transfer for a transfer not seen before or whose status moved.
   * The first look at a node only records its baseline. Callers hold the room's follow lock.
   */
  async follow(node: string, assets: AssetView[], transfers: TransferView[]): Promise<{ assets: number; transfers: number }> {
    const baseline = (await this.db.get(`${node}:baseline`)) === undefined;
    const ops: BatchOp[] = [];
    const events: Array<{ topic: 'asset'; data: TopicData<typeof RGB_ASSET> } | { topic: 'transfer'; data: TopicData<typeof RGB_TRANSFER> }> = [];
    const seenAssets = new Map((await this.assets(node)).map((a) => [a.asset_id, JSON.stringify(a)]));
    for (const a of assets) {
      const old = seenAssets.get(a.asset_id);
      if (old !== JSON.stringify(a)) ops.push({ type: 'put', sublevel: this.db, key: `${node}:a:${a.asset_id}`, value: a });
      if (!baseline && old === undefined)
        events.push({
          topic: 'asset',
          data: {
            asset_id: a.asset_id,
            schema: a.schema,
            name: a.name,
            ticker: a.ticker,
            precision: a.precision,
            issued_supply: a.issued_supply,
            label: await this.labelOf(a.asset_id),
          },
        });
    }
    const before = new Map<string, TransferView>();
    for (const assetId of new Set(transfers.map((t) => t.asset_id)))
      for (const t of await this.transfers(node, assetId)) before.set(`${t.asset_id}:${t.idx}`, t);
    for (const t of transfers) {
      const old = before.get(`${t.asset_id}:${t.idx}`);
      if (old && old.status === t.status && old.txid === t.txid && old.amount === t.amount) continue;
      ops.push({ type: 'put', sublevel: this.db, key: `${node}:t:${t.asset_id}:${t.idx}`, value: t });
      if (!baseline && old?.status !== t.status)
        events.push({
          topic: 'transfer',
          data: {
            ...t,
            previous: old?.status ?? null,
            label: await this.labelOf(t.txid, t.recipient_id),
          },
        });
    }
    if (baseline) ops.push({ type: 'put', sublevel: this.db, key: `${node}:baseline`, value: Date.now() });
    if ((await this.lastNode()) !== node) ops.push({ type: 'put', sublevel: this.db, key: 'node', value: node });
    if (ops.length > 0) await this.store.batch(ops);
    for (const e of events) {
      if (e.topic === 'asset') this.bus.publish(RGB_ASSET, e.data);
      else this.bus.publish(RGB_TRANSFER, e.data);
    }
    return { assets: events.filter((e) => e.topic === 'asset').length, transfers: events.filter((e) => e.topic === 'transfer').length };
  }
}
