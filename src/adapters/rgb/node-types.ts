// The shapes RGB Lightning Node answers with (openapi.yaml components/schemas, required-ness from src/routes.rs),
// only the fields anyad reads.

export interface NodeAssignment {
  type: 'Fungible' | 'NonFungible' | 'InflationRight' | 'ReplaceRight' | 'Any';
  value?: number;
}

export interface NodeBalance {
  settled: number;
  future: number;
  spendable: number;
  offchain_outbound?: number;
  offchain_inbound?: number;
}

export interface NodeAsset {
  asset_id: string;
  ticker?: string | null;
  name: string;
  details?: string | null;
  precision: number;
  issued_supply?: number;
  timestamp: number;
  added_at: number;
  balance: NodeBalance;
}

export interface NodeAssets {
  nia?: NodeAsset[] | null;
  uda?: NodeAsset[] | null;
  cfa?: NodeAsset[] | null;
}

export type NodeTransferStatus = 'WaitingCounterparty' | 'WaitingConfirmations' | 'Settled' | 'Failed';

export interface NodeTransfer {
  idx: number;
  created_at: number;
  updated_at: number;
  status: NodeTransferStatus;
  requested_assignment?: NodeAssignment | null;
  assignments: NodeAssignment[];
  kind: 'Issuance' | 'ReceiveBlind' | 'ReceiveWitness' | 'Send' | 'Inflation';
  txid?: string | null;
  recipient_id?: string | null;
  receive_utxo?: string | null;
  change_utxo?: string | null;
  expiration?: number | null;
}

export interface NodeInfo {
  pubkey: string;
  num_channels: number;
  num_usable_channels: number;
  num_peers: number;
  local_balance_sat: number;
}

export interface NodeNetworkInfo {
  network: string;
  height: number;
}

export interface DecodedInvoice {
  recipient_id: string;
  asset_schema?: string | null;
  asset_id?: string | null;
  assignment?: NodeAssignment | null;
  network: string;
  expiration_timestamp?: number | null;
  transport_endpoints: string[];
}

/** The fungible amount an assignment carries (0 for the others). */
export function fungible(a: NodeAssignment | null | undefined): number {
  return a && (a.type === 'Fungible' || a.type === 'InflationRight') && typeof a.value === 'number' ? a.value : 0;
}
