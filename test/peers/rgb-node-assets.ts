// The RGB Lightning Node test peer's node and asset handlers (see rgb-node.ts for what the peer proves): networkinfo
// and nodeinfo, listassets, issueasset{nia,cfa,uda} (an issuance transfer, settled at once), rgbinvoice (a receive
// waiting for its counterparty, on a free colorable output) and decodergbinvoice.

import { createHash, randomBytes } from 'node:crypto';
import { E } from './rgb-node-api.js';
import { assetView, baid64, freeColorable, nextIdx, now, prefix, type AssetRec, type RgbState } from './rgb-node-state.js';

export async function networkInfo(s: RgbState): Promise<unknown> {
  return { network: s.opts.network ?? 'Regtest', height: await s.opts.chain.rpc<number>('getblockcount') };
}

export function nodeInfo(s: RgbState): unknown {
  return {
    pubkey: s.pubkey,
    num_channels: 0,
    num_usable_channels: 0,
    local_balance_sat: 0,
    eventual_close_fees_sat: 0,
    pending_outbound_payments_sat: 0,
    num_peers: 0,
    account_xpub_vanilla: 'tpub',
    account_xpub_colored: 'tpub',
    max_media_upload_size_mb: 5,
    rgb_htlc_min_msat: 3_000_000,
    rgb_channel_capacity_min_sat: 30_010,
    channel_capacity_min_sat: 5506,
    channel_capacity_max_sat: 16_777_215,
    channel_asset_min_amount: 1,
    channel_asset_max_amount: Number.MAX_SAFE_INTEGER,
    network_nodes: 0,
    network_channels: 0,
  };
}

export function listAssets(s: RgbState, filter: string[]): unknown {
  const want = (schema: string): boolean => filter.length === 0 || filter.includes(schema);
  const of = (schema: AssetRec['schema']): unknown[] | null =>
    want(schema) ? [...s.assets.values()].filter((a) => a.schema === schema).map((a) => assetView(s, a)) : null;
  return { nia: of('Nia'), uda: of('Uda'), cfa: of('Cfa') };
}

export function issueAsset(s: RgbState, path: string, b: Record<string, unknown>): unknown {
  const schemas: Record<string, AssetRec['schema']> = { '/issueassetnia': 'Nia', '/issueassetcfa': 'Cfa', '/issueassetuda': 'Uda' };
  const schema = schemas[path]!;
  const amounts = schema === 'Uda' ? [1] : (b.amounts as number[]);
  if (amounts.length === 0) throw E.amount('issuance request with no provided amounts');
  if (amounts.some((a) => a === 0)) throw E.amount('0');
  if (schema !== 'Cfa' && !/^[A-Z][A-Z0-9]{0,7}$/.test(b.ticker as string)) throw E.ticker('ticker must be 1 to 8 capitals and digits');
  if (!freeColorable(s)) throw E.noUtxos();
  const t = now();
  const a: AssetRec = {
    asset_id: `rgb:${baid64(randomBytes(32))}`,
    schema,
    ticker: schema === 'Cfa' ? null : (b.ticker as string),
    name: b.name as string,
    details: (b.details as string | null | undefined) ?? null,
    precision: b.precision as number,
    issued_supply: amounts.reduce((sum, x) => sum + x, 0),
    timestamp: t,
    added_at: t,
  };
  s.assets.set(a.asset_id, a);
  s.transfers.push({
    idx: nextIdx(s),
    asset_id: a.asset_id,
    created_at: t,
    updated_at: t,
    status: 'Settled',
    requested_assignment: { type: 'Fungible', value: a.issued_supply },
    assignments: amounts.map((value) => ({ type: 'Fungible' as const, value })),
    kind: 'Issuance',
    txid: null,
    recipient_id: null,
    receive_utxo: null,
    change_utxo: null,
    expiration: null,
    transport_endpoints: [],
    min_confirmations: 0,
  });
  return { asset: assetView(s, a) };
}

export function rgbInvoice(s: RgbState, b: Record<string, unknown>): unknown {
  const assetId = (b.asset_id as string | null | undefined) ?? null;
  if (assetId && !/^rgb:[0-9A-Za-z_~-]+$/.test(assetId)) throw E.invalidAssetId(assetId);
  const asset = assetId ? s.assets.get(assetId) : undefined;
  const utxo = freeColorable(s);
  if (!utxo) throw E.noUtxos();
  const witness = b.witness === true;
  const recipient = `${prefix(s)}:${witness ? 'wvout' : 'utxob'}:${baid64(createHash('sha256').update(`${utxo.txid}:${utxo.vout}`).update(randomBytes(16)).digest())}`;
  const duration = (b.duration_seconds as number | null | undefined) ?? 86_400;
  const expiry = now() + duration;
  const amount = (b.assignment as { value?: number } | undefined)?.value;
  const endpoint = s.opts.proxyUrl ?? 'rpc://127.0.0.1:3000/json-rpc';
  const invoice = `rgb:${assetId ? assetId.slice(4) : '~'}/${asset?.schema ?? '~'}/${amount ?? '~'}/${recipient}?expiry=${expiry}&endpoints=${endpoint}`;
  const t = now();
  const idx = nextIdx(s);
  s.transfers.push({
    idx,
    asset_id: assetId,
    created_at: t,
    updated_at: t,
    status: 'WaitingCounterparty',
    requested_assignment: amount ? { type: 'Fungible', value: amount } : { type: 'Any' },
    assignments: [],
    kind: witness ? 'ReceiveWitness' : 'ReceiveBlind',
    txid: null,
    recipient_id: recipient,
    receive_utxo: `${utxo.txid}:${utxo.vout}`,
    change_utxo: null,
    expiration: expiry,
    transport_endpoints: [{ endpoint, transport_type: 'JsonRpc', used: false }],
    min_confirmations: b.min_confirmations as number,
  });
  return { recipient_id: recipient, invoice, expiration_timestamp: expiry, batch_transfer_idx: idx };
}

export function decodeRgbInvoice(invoice: string): unknown {
  const m = /^rgb:([^/?]+)\/([^/?]+)\/([^/?]+)\/([^/?]+)\?expiry=(\d+)&endpoints=(\S+)$/.exec(invoice);
  if (!m) throw E.invoice('cannot parse');
  const [, contract, schema, amount, recipient, expiry, endpoints] = m;
  const net = /^(bc|tb|bcrt):/.exec(recipient!)?.[1];
  if (!net) throw E.invoice('bad recipient');
  return {
    recipient_id: recipient,
    recipient_type: recipient!.includes(':wvout:') ? 'Witness' : 'Blind',
    asset_schema: schema === '~' ? null : schema,
    asset_id: contract === '~' ? null : `rgb:${contract}`,
    assignment: amount === '~' ? { type: 'Any' } : { type: 'Fungible', value: Number(amount) },
    network: { bc: 'Mainnet', tb: 'Testnet', bcrt: 'Regtest' }[net],
    expiration_timestamp: Number(expiry),
    transport_endpoints: endpoints!.split(','),
  };
}
