// What the ln.* methods need from a Lightning backend, in one shape for both Core Lightning and LND, so a caller
// sees the same fields whichever node answers. Each backend translates its node's own names into these; where a
// node cannot do something it refuses with a clear error instead of returning something made up.

import type { Service } from '../../core/service.js';
import { ErrorCode, RpcError } from '../../core/errors.js';

export type BackendName = 'cln' | 'lnd' | 'ldk';

export interface LnInfo {
  id: string;
  alias: string;
  network: string;
  block_height: number;
  /** The node's best block, displayed hex: LND and LDK say it, Core Lightning's getinfo does not. */
  block_hash?: string;
  num_peers: number;
  num_active_channels: number;
  version: string;
}

export interface LnBalance {
  onchain_confirmed_sat: number;
  onchain_unconfirmed_sat: number;
  channel_local_msat: number;
}

export interface LnPeer {
  id: string;
  connected: boolean;
  address: string | null;
}

export interface LnChannel {
  /** CLN's channel_id, or LND's channel point "txid:vout" (what ln.closechannel takes back). */
  channel_id: string;
  short_channel_id: string | null;
  peer: string;
  state: string;
  active: boolean;
  capacity_sat: number;
  local_msat: number;
  remote_msat: number;
}

export interface LnDecoded {
  payment_hash: string;
  payee: string;
  amount_msat: number | null;
  description: string;
  created_at: number;
  expires_at: number;
}

export interface InvoiceRecord {
  payment_hash: string;
  bolt11: string;
  label: string;
  description: string;
  amount_msat: number | null;
  status: 'unpaid' | 'paid' | 'expired' | 'canceled';
  /** Unix seconds; null when the node does not say (Core Lightning, for invoices anyad did not make). */
  created_at: number | null;
  expires_at: number;
  paid_at?: number;
  amount_received_msat?: number;
  /** A spontaneous payment received (keysend): no invoice was made, the record is what the node was paid. */
  keysend?: boolean;
}

export interface PaymentRecord {
  payment_hash: string;
  bolt11: string;
  status: 'pending' | 'complete' | 'failed';
  amount_msat: number | null;
  fee_msat: number | null;
  created_at: number;
  /**
   * The preimage in clear: in answers only. In the store only in records of an earlier anyad, until they are
   * resealed (preimages.ts).
   */
  preimage?: string;
  /** The preimage sealed by the HSM room (HsmApi.sealSecret), as kept at rest; never in an answer. */
  preimage_sealed?: string;
  error?: string;
  /** A keysend (no invoice, bolt11 empty): the node it was sent to. */
  destination?: string;
}

export interface NewInvoice {
  amount_msat: number | null;
  description: string;
  expiry: number;
  label: string;
}

export interface PayRequest {
  invoice: string;
  max_fee_msat?: number;
  timeout: number;
}

/** A spontaneous payment (keysend): anyad chose the preimage, the payee learns it from the onion. */
export interface KeysendRequest {
  destination: string;
  amount_msat: number;
  preimage: string;
  max_fee_msat?: number;
  timeout: number;
}

export interface PayResult {
  payment_hash: string;
  amount_msat: number;
  fee_msat: number;
  preimage: string;
}

/** What both nodes can do; the events, records and the Layer2 face around them are shared (adapter.ts, operations.ts). */
export interface LightningBackend extends Service {
  readonly backend: BackendName;
  /** False while the node is unreachable, locked or refused; calls then fail at once with BackendUnavailable. */
  readonly connected: boolean;
  /** What a backend that attaches after anyad is ready is doing meanwhile; undefined once it is done (or failed). */
  startingStage?(): string | undefined;
  /** Run once the backend has attached, before callers are let through (the room takes the channel watch's baseline). */
  beforeReady?: () => Promise<void>;
  getInfo(): Promise<LnInfo>;
  balance(): Promise<LnBalance>;
  listPeers(): Promise<LnPeer[]>;
  connect(id: string, host?: string, port?: number): Promise<void>;
  listChannels(): Promise<LnChannel[]>;
  openChannel(peer: string, amountSat: number): Promise<{ txid: string; channel_id: string }>;
  /** `force`: broadcast the latest commitment instead of negotiating (each node's own way of doing it). */
  closeChannel(channel: string, force: boolean): Promise<{ type: string; txid: string | null }>;
  createInvoice(req: NewInvoice): Promise<{ payment_hash: string; bolt11: string; expires_at: number }>;
  /** The node's view of an invoice, or undefined when it does not know the hash. */
  lookupInvoice(paymentHash: string): Promise<InvoiceRecord | undefined>;
  decode(invoice: string): Promise<LnDecoded>;
  pay(req: PayRequest): Promise<PayResult>;
  /** Keysend, where the backend has it built; without it ln.keysend answers Unsupported, with keysendRefusal's reason. */
  keysend?(req: KeysendRequest): Promise<PayResult>;
  readonly keysendRefusal?: string;
  /** The routing fee the node expects to pay for this invoice now. */
  estimateFee(invoice: string): Promise<{ fee_msat: number }>;
  /** How the node's payment of this hash stands, or undefined when the node has no such payment. */
  paymentState(paymentHash: string): Promise<PaymentState | undefined>;
}

/**
 * The node took the payment but has no final word on it yet (lightningd's PAY_IN_PROGRESS, 200; LND's IN_FLIGHT):
 * the record stays pending until the node says how it ended.
 */
export class PaymentInFlight extends Error {
  override name = 'PaymentInFlight';
}

export interface PaymentState {
  status: 'pending' | 'complete' | 'failed';
  preimage?: string;
  amount_msat?: number;
  fee_msat?: number;
}

/**
 * Why a node refused, in words that do not depend on the node, as `data.kind` of a BackendRejected error (the node's
 * own code and words stay beside it). Absent when the refusal fits none of these.
 */
export type RefusalKind =
  'no_route' | 'fee_limit' | 'rejected_by_destination' | 'already_paid' | 'invoice_expired' | 'insufficient_funds' | 'peer_unreachable' | 'timeout';

/** Callers wait (-28, WarmingUp, naming the stage) while the backend attaches: nothing is done through anyad before its events can be seen. */
export function refuseWhileStarting(b: LightningBackend): void {
  const stage = b.startingStage?.();
  if (stage !== undefined)
    throw new RpcError(ErrorCode.WarmingUp, `${b.backend} is starting: ${stage}`, { stage: `${b.backend}: ${stage}`, service: b.backend });
}
