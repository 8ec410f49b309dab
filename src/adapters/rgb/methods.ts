// rgb.* methods: RGB Lightning Node's RGB side behind anyad's API, with anyad's checks first (asset ids, invoice
// network, fee-rate cap), its records (labels, stale answers while the node is away) and its roles (reading for
// readonly, receiving for user, spending and node control for admin, as ln.* has them).

import { Type } from '@sinclair/typebox';
import { defineMethod, type MethodSpec } from '../../rpc/registry.js';
import { checkAssetId } from './formats.js';
import type { NodeBalance, NodeInfo, NodeNetworkInfo } from './node-types.js';
import {
  AssetId,
  checkFeeRate,
  createInvoice,
  createLnInvoice,
  decodeInvoice,
  InvoiceParams,
  InvoiceResult,
  IssueParams,
  IssueResult,
  issueAsset,
  LnInvoiceParams,
  LnInvoiceResult,
  SendParams,
  SendResult,
  sendAsset,
} from './operations.js';
import type { OpRecord } from './records.js';
import type { RgbService } from './service.js';

const NoParams = Type.Object({}, { additionalProperties: false });
const BalanceT = Type.Object({
  settled: Type.Integer(),
  future: Type.Integer(),
  spendable: Type.Integer(),
  offchain_outbound: Type.Integer(),
  offchain_inbound: Type.Integer(),
});
const AssetT = Type.Object({
  asset_id: Type.String(),
  schema: Type.Union([Type.Literal('nia'), Type.Literal('cfa'), Type.Literal('uda')]),
  ticker: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  details: Type.Union([Type.String(), Type.Null()]),
  precision: Type.Integer(),
  issued_supply: Type.Union([Type.Integer(), Type.Null()]),
  timestamp: Type.Integer(),
  added_at: Type.Integer(),
  balance: BalanceT,
});
const StatusT = Type.Union([Type.Literal('waiting_counterparty'), Type.Literal('waiting_confirmations'), Type.Literal('settled'), Type.Literal('failed')]);
const TransferT = Type.Object({
  asset_id: Type.String(),
  idx: Type.Integer(),
  kind: Type.Union([Type.Literal('issuance'), Type.Literal('receive_blind'), Type.Literal('receive_witness'), Type.Literal('send'), Type.Literal('inflation')]),
  status: StatusT,
  amount: Type.Integer(),
  txid: Type.Union([Type.String(), Type.Null()]),
  recipient_id: Type.Union([Type.String(), Type.Null()]),
  receive_utxo: Type.Union([Type.String(), Type.Null()]),
  change_utxo: Type.Union([Type.String(), Type.Null()]),
  expiration: Type.Union([Type.Integer(), Type.Null()]),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
});
export const OpT = Type.Object({
  id: Type.String(),
  operation: Type.Union([Type.Literal('issue'), Type.Literal('invoice'), Type.Literal('send'), Type.Literal('lninvoice')]),
  label: Type.String(),
  created_at: Type.Integer(),
  asset_id: Type.Union([Type.String(), Type.Null()]),
  amount: Type.Union([Type.Integer(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
});
const Stale = Type.Boolean({ description: "From anyad's records because the node is not usable now (away, locked)." });

export function newestFirst(all: OpRecord[], limit: number, offset: number): { total: number; items: OpRecord[] } {
  const sorted = [...all].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
  return { total: all.length, items: sorted.slice(offset, offset + limit) };
}

export function rgbMethods(svc: RgbService, maxFeeRate: number): MethodSpec[] {
  return [
    defineMethod({
      name: 'rgb.getinfo',
      summary: 'The RGB node: public key, network, height, channels and peers, and whether it is usable (unlocked, on anyad’s network).',
      params: NoParams,
      result: Type.Object({
        state: Type.String({ description: 'ok, degraded (locked), unavailable or failed (another network), as in health.' }),
        detail: Type.String(),
        pubkey: Type.Union([Type.String(), Type.Null()]),
        network: Type.Union([Type.String(), Type.Null()]),
        height: Type.Union([Type.Integer(), Type.Null()]),
        num_channels: Type.Union([Type.Integer(), Type.Null()]),
        num_peers: Type.Union([Type.Integer(), Type.Null()]),
      }),
      role: 'readonly',
      handler: async () => {
        const h = svc.health();
        const empty = { pubkey: null, network: null, height: null, num_channels: null, num_peers: null };
        if (!svc.ready) return { state: h.state, detail: h.detail, ...empty };
        const [net, info] = await svc.call((c) => Promise.all([c.get<NodeNetworkInfo>('/networkinfo'), c.get<NodeInfo>('/nodeinfo')]));
        return {
          state: h.state,
          detail: h.detail,
          pubkey: info.pubkey,
          network: net.network,
          height: net.height,
          num_channels: info.num_channels,
          num_peers: info.num_peers,
        };
      },
    }),
    defineMethod({
      name: 'rgb.unlock',
      summary: 'Unlocks the RGB node (its password and the bitcoind and indexer it should use); the secrets go to the node only, never to a log.',
      params: Type.Object(
        {
          password: Type.String({ minLength: 1, maxLength: 1000 }),
          bitcoind_rpc_username: Type.String({ maxLength: 1000 }),
          bitcoind_rpc_password: Type.String({ maxLength: 1000 }),
          bitcoind_rpc_host: Type.String({ minLength: 1, maxLength: 300 }),
          bitcoind_rpc_port: Type.Integer({ minimum: 1, maximum: 65535 }),
          indexer_url: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
          proxy_endpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
          announce_addresses: Type.Array(Type.String({ maxLength: 300 }), { maxItems: 16, default: [] }),
          announce_alias: Type.Optional(Type.String({ maxLength: 32 })),
        },
        { additionalProperties: false },
      ),
      result: Type.Object({ state: Type.String(), detail: Type.String() }),
      role: 'admin',
      errors: ['BackendUnavailable', 'BackendRejected', 'Unsupported'],
      handler: async (p) => {
        await svc.call((c) =>
          c.post('/unlock', { ...p, indexer_url: p.indexer_url ?? null, proxy_endpoint: p.proxy_endpoint ?? null, announce_alias: p.announce_alias ?? null }),
        );
        await svc.connect();
        const h = svc.health();
        return { state: h.state, detail: h.detail };
      },
    }),
    defineMethod({
      name: 'rgb.lock',
      summary: 'Locks the RGB node (it then refuses everything until rgb.unlock).',
      params: NoParams,
      result: Type.Object({ state: Type.String(), detail: Type.String() }),
      role: 'admin',
      errors: ['BackendUnavailable', 'BackendRejected', 'Locked'],
      handler: async () => {
        svc.requireReady();
        await svc.call((c) => c.post('/lock'));
        await svc.connect();
        const h = svc.health();
        return { state: h.state, detail: h.detail };
      },
    }),
    defineMethod({
      name: 'rgb.listassets',
      summary:
        'The node’s RGB assets (NIA, CFA, UDA) with their balances (settled, future, spendable); anyad’s last picture, marked stale, while the node is away.',
      params: Type.Object(
        { schemas: Type.Optional(Type.Array(Type.Union([Type.Literal('nia'), Type.Literal('cfa'), Type.Literal('uda')]), { maxItems: 3, uniqueItems: true })) },
        { additionalProperties: false },
      ),
      result: Type.Object({ stale: Stale, assets: Type.Array(AssetT) }),
      role: 'readonly',
      errors: ['BackendUnavailable', 'Locked'],
      handler: async (p) => {
        const want = (a: { schema: string }): boolean => !p.schemas || p.schemas.includes(a.schema as 'nia');
        if (svc.ready) {
          const { assets } = await svc.snapshotAssets();
          return { stale: false, assets: assets.filter(want) };
        }
        const node = await svc.lastNode();
        if (!node) svc.requireReady();
        return { stale: true, assets: (await svc.records.assets(node!)).filter(want) };
      },
    }),
    defineMethod({
      name: 'rgb.assetbalance',
      summary: 'One asset’s balance on the node: settled, future (with pending transfers), spendable, and in Lightning channels.',
      params: Type.Object({ asset_id: AssetId }, { additionalProperties: false }),
      result: BalanceT,
      role: 'readonly',
      errors: ['BackendUnavailable', 'Locked', 'NotFound'],
      handler: async ({ asset_id }) => {
        checkAssetId(asset_id);
        svc.requireReady();
        const b = await svc.call((c) => c.post<NodeBalance>('/assetbalance', { asset_id }));
        return {
          settled: b.settled,
          future: b.future,
          spendable: b.spendable,
          offchain_outbound: b.offchain_outbound ?? 0,
          offchain_inbound: b.offchain_inbound ?? 0,
        };
      },
    }),
    defineMethod({
      name: 'rgb.issueasset',
      summary: 'Issues an RGB asset on the node: nia (ticker, amounts), cfa (amounts) or uda (one unique token); needs colorable UTXOs (rgb.createutxos).',
      params: IssueParams,
      result: IssueResult,
      role: 'admin',
      errors: ['BackendUnavailable', 'BackendRejected', 'Locked'],
      handler: (p) => issueAsset(svc, p),
    }),
    defineMethod({
      name: 'rgb.createinvoice',
      summary: 'An RGB invoice to receive an asset on chain (blinded UTXO, or witness output with witness=true), recorded with its label.',
      params: InvoiceParams,
      result: InvoiceResult,
      role: 'user',
      errors: ['BackendUnavailable', 'BackendRejected', 'Locked', 'NotFound'],
      handler: (p) => createInvoice(svc, p),
    }),
    defineMethod({
      name: 'rgb.decodeinvoice',
      summary: 'What an RGB invoice asks for (asset, amount, recipient, expiry, transport endpoints), refused when it is for another network.',
      params: Type.Object({ invoice: SendParams.properties.invoice }, { additionalProperties: false }),
      result: Type.Object({
        recipient_id: Type.String(),
        asset_schema: Type.Union([Type.String(), Type.Null()]),
        asset_id: Type.Union([Type.String(), Type.Null()]),
        amount: Type.Union([Type.Integer(), Type.Null()]),
        network: Type.String(),
        expiration_timestamp: Type.Union([Type.Integer(), Type.Null()]),
        transport_endpoints: Type.Array(Type.String()),
      }),
      role: 'readonly',
      errors: ['BackendUnavailable', 'Locked'],
      handler: async ({ invoice }) => {
        const d = await decodeInvoice(svc, invoice);
        const amount = d.assignment && typeof d.assignment.value === 'number' ? d.assignment.value : null;
        return {
          recipient_id: d.recipient_id,
          asset_schema: d.asset_schema ?? null,
          asset_id: d.asset_id ?? null,
          amount,
          network: d.network,
          expiration_timestamp: d.expiration_timestamp ?? null,
          transport_endpoints: d.transport_endpoints,
        };
      },
    }),
    defineMethod({
      name: 'rgb.sendasset',
      summary:
        'Pays an RGB invoice: checks its network, asset, amount, expiry and the spendable balance first, then sends on chain (fee rate capped by rgb.maxfeerate).',
      params: SendParams,
      result: SendResult,
      role: 'admin',
      errors: ['BackendUnavailable', 'BackendRejected', 'Locked', 'NotFound', 'PolicyDenied'],
      handler: (p) => sendAsset(svc, maxFeeRate, p),
    }),
    defineMethod({
      name: 'rgb.refresh',
      summary: 'Asks the node to move pending transfers on (fetch and accept consignments, broadcast, count confirmations), then reports what changed.',
      params: NoParams,
      result: Type.Object({ refreshed: Type.Boolean() }),
      role: 'user',
      errors: ['BackendUnavailable', 'Locked'],
      handler: async () => {
        svc.requireReady();
        await svc.call((c) => c.post('/refreshtransfers', { skip_sync: false }));
        await svc.tick();
        return { refreshed: true };
      },
    }),
    defineMethod({
      name: 'rgb.listtransfers',
      summary:
        'The transfers of an asset on the node (issuance, receives, sends) with their status; anyad’s last picture, marked stale, while the node is away.',
      params: Type.Object({ asset_id: AssetId }, { additionalProperties: false }),
      result: Type.Object({ stale: Stale, transfers: Type.Array(TransferT) }),
      role: 'readonly',
      errors: ['BackendUnavailable', 'Locked', 'NotFound'],
      handler: async ({ asset_id }) => {
        checkAssetId(asset_id);
        if (svc.ready) return { stale: false, transfers: await svc.transfersOf(asset_id) };
        const node = await svc.lastNode();
        if (!node) svc.requireReady();
        return { stale: true, transfers: await svc.records.transfers(node!, asset_id) };
      },
    }),
    defineMethod({
      name: 'rgb.failtransfers',
      summary: 'Marks pending transfers failed on the node (one batch by index, or every eligible one), releasing what they held.',
      params: Type.Object(
        {
          batch_transfer_idx: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
          no_asset_only: Type.Boolean({ default: false, description: 'Only receives that name no asset.' }),
        },
        { additionalProperties: false },
      ),
      result: Type.Object({ transfers_changed: Type.Boolean() }),
      role: 'admin',
      errors: ['BackendUnavailable', 'BackendRejected', 'Locked', 'NotFound'],
      handler: async (p) => {
        svc.requireReady();
        const r = await svc.call((c) =>
          c.post<{ transfers_changed: boolean }>('/failtransfers', {
            batch_transfer_idx: p.batch_transfer_idx ?? null,
            no_asset_only: p.no_asset_only,
            skip_sync: false,
          }),
        );
        await svc.tick();
        return { transfers_changed: r.transfers_changed };
      },
    }),
    defineMethod({
      name: 'rgb.createutxos',
      summary: 'Has the node make UTXOs to hold RGB allocations (needed before issuing or receiving); fee rate capped by rgb.maxfeerate.',
      params: Type.Object(
        {
          num: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
          size: Type.Optional(Type.Integer({ minimum: 294, maximum: 100_000_000, description: 'Sats each.' })),
          up_to: Type.Boolean({ default: false, description: 'Only as many as needed to have num.' }),
          fee_rate: SendParams.properties.fee_rate,
        },
        { additionalProperties: false },
      ),
      result: Type.Object({ created: Type.Boolean() }),
      role: 'admin',
      errors: ['BackendUnavailable', 'BackendRejected', 'Locked', 'PolicyDenied'],
      handler: async (p) => {
        checkFeeRate(p.fee_rate, maxFeeRate);
        svc.requireReady();
        await svc.call((c) => c.post('/createutxos', { up_to: p.up_to, num: p.num ?? null, size: p.size ?? null, fee_rate: p.fee_rate, skip_sync: false }));
        return { created: true };
      },
    }),
    defineMethod({
      name: 'rgb.lninvoice',
      summary: 'A Lightning invoice for an RGB asset amount (RGB channels of the node), recorded with its label.',
      params: LnInvoiceParams,
      result: LnInvoiceResult,
      role: 'user',
      errors: ['BackendUnavailable', 'BackendRejected', 'Locked'],
      handler: (p) => createLnInvoice(svc, p),
    }),
    defineMethod({
      name: 'rgb.estimatefee',
      summary: 'The node’s fee-rate estimate (sat/vB) for confirmation within a number of blocks.',
      params: Type.Object({ blocks: Type.Integer({ minimum: 1, maximum: 1008, default: 6 }) }, { additionalProperties: false }),
      result: Type.Object({ fee_rate: Type.Number({ description: 'sat/vB' }), blocks: Type.Integer() }),
      role: 'readonly',
      errors: ['BackendUnavailable', 'BackendRejected', 'Locked'],
      handler: async ({ blocks }) => {
        svc.requireReady();
        const r = await svc.call((c) => c.post<{ fee_rate: number }>('/estimatefee', { blocks }));
        return { fee_rate: r.fee_rate, blocks };
      },
    }),
    defineMethod({
      name: 'rgb.history',
      summary: 'Issuances, invoices and sends made through anyad, newest first, with their labels (from anyad’s records; the node need not be up).',
      params: Type.Object(
        {
          limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
          offset: Type.Integer({ minimum: 0, default: 0 }),
        },
        { additionalProperties: false },
      ),
      result: Type.Object({ total: Type.Integer(), items: Type.Array(OpT) }),
      role: 'readonly',
      handler: async ({ limit, offset }) => newestFirst(await svc.records.ops(), limit, offset),
    }),
  ];
}
