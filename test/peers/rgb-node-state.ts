// The RGB Lightning Node test peer's state (see rgb-node.ts for what the peer proves): its assets, transfers and
// wallet outputs, the RGB proxy two peers share, what it needs of the chain, and the views computed from the state
// that every handler uses (an asset by id, its balance as rgb-lib counts it, the asset and transfer JSON).

import * as bitcoin from 'bitcoinjs-lib';
import type { ECPairInterface } from 'ecpair';
import { E } from './rgb-node-api.js';

export const NET = bitcoin.networks.regtest;

/** baid64 as RGB writes ids: URL-safe base64 with '~' for '-', no padding, in dash-separated groups. */
export function baid64(bytes: Buffer): string {
  const s = bytes.toString('base64url').replaceAll('-', '~');
  const groups = [s.slice(0, 8)];
  for (let i = 8; i < s.length; i += 7) groups.push(s.slice(i, i + 7));
  return groups.join('-');
}

/** The RGB proxy (transport) two peers share: consignments by recipient id, with the recipient's ACK or NACK. */
export class RgbProxy {
  readonly consignments = new Map<string, Consignment>();
}
export interface Consignment {
  asset: AssetRec;
  amount: number;
  txid: string;
  ack: boolean | null;
}

/** What the peer needs of the chain: broadcast and confirmations (bcoin's RPC). */
export interface ChainAccess {
  rpc<T = unknown>(method: string, ...params: unknown[]): Promise<T>;
  send(hex: string): Promise<string>;
}

export interface AssetRec {
  asset_id: string;
  schema: 'Nia' | 'Cfa' | 'Uda';
  ticker: string | null;
  name: string;
  details: string | null;
  precision: number;
  issued_supply: number;
  timestamp: number;
  added_at: number;
}
export interface TransferRec {
  idx: number;
  asset_id: string | null;
  created_at: number;
  updated_at: number;
  status: 'WaitingCounterparty' | 'WaitingConfirmations' | 'Settled' | 'Failed';
  requested_assignment: { type: string; value?: number } | null;
  assignments: Array<{ type: 'Fungible'; value: number }>;
  kind: 'Issuance' | 'ReceiveBlind' | 'ReceiveWitness' | 'Send';
  txid: string | null;
  recipient_id: string | null;
  receive_utxo: string | null;
  change_utxo: string | null;
  expiration: number | null;
  transport_endpoints: Array<{ endpoint: string; transport_type: 'JsonRpc'; used: boolean }>;
  min_confirmations: number;
  /** A send's transaction until it is broadcast, its change, and the output it spends. */
  txhex?: string;
  txchange?: number;
  input?: Utxo;
}
export interface Utxo {
  txid: string;
  vout: number;
  value: number;
  colorable: boolean;
  spent: boolean;
}

export const now = (): number => Math.floor(Date.now() / 1000);

/** How a peer is made: its proxy and chain, its password and API token, the network it says it is on. */
export interface RgbOptions {
  proxy: RgbProxy;
  chain: ChainAccess;
  password: string;
  token?: string;
  network?: 'Regtest' | 'Testnet' | 'Mainnet' | 'Signet';
  proxyUrl?: string;
}

/** Everything the handlers read and write. */
export interface RgbState {
  readonly opts: RgbOptions;
  /** The wallet key: one P2WPKH address for every output the node holds. */
  readonly key: ECPairInterface;
  readonly pubkey: string;
  readonly address: string;
  readonly script: Uint8Array;
  readonly assets: Map<string, AssetRec>;
  readonly transfers: TransferRec[];
  readonly utxos: Utxo[];
}

export function findAsset(s: RgbState, id: string): AssetRec {
  if (!/^rgb:[0-9A-Za-z_~-]+$/.test(id)) throw E.invalidAssetId(id);
  const a = s.assets.get(id);
  if (!a) throw E.unknownContract();
  return a;
}

export function balance(
  s: RgbState,
  assetId: string,
): { settled: number; future: number; spendable: number; offchain_outbound: number; offchain_inbound: number } {
  let settled = 0;
  let future = 0;
  let spendable = 0;
  for (const t of s.transfers) {
    if (t.asset_id !== assetId || t.status === 'Failed') continue;
    const amt = t.assignments.reduce((sum, a) => sum + a.value, 0);
    const out = t.kind === 'Send';
    if (t.status === 'Settled') {
      settled += out ? -amt : amt;
      future += out ? -amt : amt;
      spendable += out ? -amt : amt;
    } else if (out) {
      future -= amt;
      spendable -= amt;
    } else if (t.status === 'WaitingConfirmations') future += amt;
  }
  return { settled, future, spendable, offchain_outbound: 0, offchain_inbound: 0 };
}

export function assetView(s: RgbState, a: AssetRec): Record<string, unknown> {
  return {
    asset_id: a.asset_id,
    ...(a.schema === 'Cfa' ? {} : { ticker: a.ticker }),
    name: a.name,
    details: a.details,
    precision: a.precision,
    issued_supply: a.issued_supply,
    timestamp: a.timestamp,
    added_at: a.added_at,
    balance: balance(s, a.asset_id),
    ...(a.schema === 'Uda' ? { token: null } : { media: null }),
  };
}

export function freeColorable(s: RgbState): Utxo | undefined {
  return s.utxos.find((u) => u.colorable && !u.spent);
}

export function nextIdx(s: RgbState): number {
  return s.transfers.reduce((m, t) => Math.max(m, t.idx), 0) + 1;
}

export function prefix(s: RgbState): string {
  return { Regtest: 'bcrt', Testnet: 'tb', Signet: 'tb', Mainnet: 'bc' }[s.opts.network ?? 'Regtest'];
}

export function publicTransfer(t: TransferRec): unknown {
  const { min_confirmations: _m, txhex: _h, txchange: _c, input: _i, asset_id: _a, ...rest } = t;
  return rest;
}
