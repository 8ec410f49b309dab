// rgb.* methods: RGB Lightning Node's RGB side behind anyad's API, with anyad's checks first (asset ids, invoice
// network, fee-rate cap), its records (labels, stale answers while the node is away) and its roles (reading for
// readonly, receiving for user, spending and node control for admin, as ln.* has them).

import * as D from './declarations.js';
import { implement, type MethodSpec } from '../../core/methods.js';
import { checkAssetId } from './formats.js';
import type { NodeBalance, NodeInfo, NodeNetworkInfo } from './node-types.js';
import { checkFeeRate, createInvoice, createLnInvoice, decodeInvoice, issueAsset, sendAsset } from './operations.js';
import type { OpRecord } from './records.js';
import type { RgbService } from './service.js';

export function newestFirst(all: OpRecord[], limit: number, offset: number): { total: number; items: OpRecord[] } {
  const sorted = [...all].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
  return { total: all.length, items: sorted.slice(offset, offset + limit) };
}

export function rgbMethods(svc: RgbService, maxFeeRate: number): MethodSpec[] {
  return [
    implement(D.rgbGetinfo, async () => {
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
    }),
    implement(D.rgbUnlock, async (p) => {
      await svc.call((c) =>
        c.post('/unlock', { ...p, indexer_url: p.indexer_url ?? null, proxy_endpoint: p.proxy_endpoint ?? null, announce_alias: p.announce_alias ?? null }),
      );
      await svc.connect();
      const h = svc.health();
      return { state: h.state, detail: h.detail };
    }),
    implement(D.rgbLock, async () => {
      svc.requireReady();
      await svc.call((c) => c.post('/lock'));
      await svc.connect();
      const h = svc.health();
      return { state: h.state, detail: h.detail };
    }),
    implement(D.rgbListassets, async (p) => {
      const want = (a: { schema: string }): boolean => !p.schemas || p.schemas.includes(a.schema as 'nia');
      if (svc.ready) {
        const { assets } = await svc.snapshotAssets();
        return { stale: false, assets: assets.filter(want) };
      }
      const node = await svc.lastNode();
      if (!node) svc.requireReady();
      return { stale: true, assets: (await svc.records.assets(node!)).filter(want) };
    }),
    implement(D.rgbAssetbalance, async ({ asset_id }) => {
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
    }),
    implement(D.rgbIssueasset, (p) => issueAsset(svc, p)),
    implement(D.rgbCreateinvoice, (p) => createInvoice(svc, p)),
    implement(D.rgbDecodeinvoice, async ({ invoice }) => {
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
    }),
    implement(D.rgbSendasset, (p) => sendAsset(svc, maxFeeRate, p)),
    implement(D.rgbRefresh, async () => {
      svc.requireReady();
      await svc.call((c) => c.post('/refreshtransfers', { skip_sync: false }));
      await svc.tick();
      return { refreshed: true };
    }),
    implement(D.rgbListtransfers, async ({ asset_id }) => {
      checkAssetId(asset_id);
      if (svc.ready) return { stale: false, transfers: await svc.transfersOf(asset_id) };
      const node = await svc.lastNode();
      if (!node) svc.requireReady();
      return { stale: true, transfers: await svc.records.transfers(node!, asset_id) };
    }),
    implement(D.rgbFailtransfers, async (p) => {
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
    }),
    implement(D.rgbCreateutxos, async (p) => {
      checkFeeRate(p.fee_rate, maxFeeRate);
      svc.requireReady();
      await svc.call((c) => c.post('/createutxos', { up_to: p.up_to, num: p.num ?? null, size: p.size ?? null, fee_rate: p.fee_rate, skip_sync: false }));
      return { created: true };
    }),
    implement(D.rgbLninvoice, (p) => createLnInvoice(svc, p)),
    implement(D.rgbEstimatefee, async ({ blocks }) => {
      svc.requireReady();
      const r = await svc.call((c) => c.post<{ fee_rate: number }>('/estimatefee', { blocks }));
      return { fee_rate: r.fee_rate, blocks };
    }),
    implement(D.rgbHistory, async ({ limit, offset }) => newestFirst(await svc.records.ops(), limit, offset)),
  ];
}
