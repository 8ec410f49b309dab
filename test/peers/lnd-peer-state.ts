// The LND test peer's state (see lnd-peer.ts for what the peer proves): its invoices with their add and settle
// indexes, its channels, the invoice subscribers, the payments it made, and the settings a test turns (locked, chain,
// synced, ...). The invoice registry's rules live here: settling and cancelling, and the live events filtered per
// client as LND's dispatchToClients does; and the JSON LND answers for an invoice and a channel.

import { createHash } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { PayFailure, type LnNetwork, type NetNode } from './ln-network.js';
import type { Obj } from './lnd-peer-grpc.js';

export interface LInv {
  memo: string;
  r_preimage: Buffer;
  r_hash: Buffer;
  value_msat: number;
  creation_date: number;
  expiry: number;
  payment_request: string;
  payment_addr: Buffer;
  add_index: number;
  settle_index: number;
  settle_date: number;
  amt_paid_msat: number;
  state: 'OPEN' | 'SETTLED' | 'CANCELED';
  /** Made by a keysend received (LND's invoice registry adds one for it, with no payment request). */
  is_keysend?: boolean;
}

export interface LChan {
  /** Waiting for its funding transaction to confirm (listed by PendingChannels, not ListChannels). */
  pending: boolean;
  txid: string;
  vout: number;
  chan_id: string;
  peer: string;
  capacity: number;
  local: number;
  /** Force closed: the commitment's txid, broadcast and waiting for its block (PendingChannels' waiting_close_channels). */
  closing?: string;
}

/** An invoice subscription: its stream and the last add/settle index it was sent. */
export interface Subscriber {
  call: grpc.ServerWritableStream<Obj, Obj>;
  addIndex: number;
  settleIndex: number;
  macaroon: string;
}

/** What a test turns on a running peer (LndPeer's public fields). */
export interface LndKnobs {
  locked: boolean;
  /** The chain GetInfo reports (LND's chains field). */
  chain: { chain: string; network: string };
  /** GetInfo's synced_to_chain. */
  synced: boolean;
  /** Delay before a new invoice subscription gets its backlog and live events (a late attach). */
  subscribeDelayMs: number;
  onchainSat: number;
  /** While set, payments wait in flight until release() (to stand for a slow route). */
  holdPayments: boolean;
  /** Called when an invoice settles (benchmarks time from here). */
  onSettle: ((hash: string) => void) | undefined;
  /** LND's --accept-keysend: without it, a keysend is failed back as unknown payment details. */
  acceptKeysend: boolean;
}

/** Everything the handlers read and write. */
export interface LndState {
  /** This peer on the shared network (its id, whether it is online, its peers). */
  readonly node: NetNode;
  readonly alias: string;
  /** The node key that signs its invoices. */
  readonly key: Buffer;
  readonly net: LnNetwork;
  readonly knobs: LndKnobs;
  readonly invoices: LInv[];
  readonly channels: LChan[];
  readonly subscribers: Set<Subscriber>;
  /** Each payment's latest Payment message, by hash (what TrackPaymentV2 answers). */
  readonly payments: Map<string, Obj>;
  /** Payments waiting for release() while holdPayments is set. */
  readonly held: Array<() => void>;
  addIndex: number;
  settleIndex: number;
}

/** A live event, filtered per client as LND's dispatchToClients does. */
export function notify(s: LndState, inv: LInv): void {
  for (const sub of s.subscribers) {
    if (inv.state === 'SETTLED' && sub.settleIndex >= inv.settle_index) continue;
    if (inv.state === 'OPEN' && sub.addIndex >= inv.add_index) continue;
    sub.call.write(invoiceJson(inv));
    if (inv.state === 'SETTLED') sub.settleIndex = inv.settle_index;
    if (inv.state === 'OPEN') sub.addIndex = inv.add_index;
  }
}

/** Settles the open invoice with `hash` (a payment arrived over the network); answers its preimage (hex). */
export function settleInvoice(s: LndState, hash: string, amountMsat: number): string {
  const inv = s.invoices.find((i) => i.r_hash.toString('hex') === hash);
  if (!inv || inv.state === 'CANCELED') throw new PayFailure('unknown_hash');
  if (inv.state === 'SETTLED') throw new PayFailure('already_paid');
  inv.state = 'SETTLED';
  inv.settle_index = ++s.settleIndex;
  inv.settle_date = Math.floor(Date.now() / 1000);
  inv.amt_paid_msat = amountMsat;
  s.knobs.onSettle?.(hash);
  notify(s, inv);
  return inv.r_preimage.toString('hex');
}

/**
 * A keysend received, as LND's invoice registry takes one (processKeySend): an invoice is added for it, with the
 * preimage from the onion, no payment request and a day's expiry, then settled at once; both are live events.
 */
export function receiveKeysend(s: LndState, preimage: string, amountMsat: number): void {
  if (!s.knobs.acceptKeysend) throw new PayFailure('unknown_hash');
  const r_preimage = Buffer.from(preimage, 'hex');
  const r_hash = createHash('sha256').update(r_preimage).digest();
  if (s.invoices.some((i) => i.r_hash.equals(r_hash))) throw new PayFailure('already_paid');
  const inv: LInv = {
    memo: '',
    r_preimage,
    r_hash,
    value_msat: amountMsat,
    creation_date: Math.floor(Date.now() / 1000),
    expiry: 86_400,
    payment_request: '',
    payment_addr: Buffer.alloc(0),
    add_index: ++s.addIndex,
    settle_index: 0,
    settle_date: 0,
    amt_paid_msat: 0,
    state: 'OPEN',
    is_keysend: true,
  };
  s.invoices.push(inv);
  notify(s, inv);
  settleInvoice(s, r_hash.toString('hex'), amountMsat);
}

/** Cancels an open invoice, as `lncli cancelinvoice` does. */
export function cancelInvoice(s: LndState, hash: string): void {
  const inv = s.invoices.find((i) => i.r_hash.toString('hex') === hash && i.state === 'OPEN');
  if (!inv) throw new Error(`no open invoice ${hash}`);
  inv.state = 'CANCELED';
  notify(s, inv);
}

/** Confirms every pending channel's funding, as mining would: each gets a short channel id and opens. */
export function confirmChannels(s: LndState): void {
  for (const c of s.channels.filter((x) => x.pending)) {
    c.pending = false;
    c.chan_id = String((300n << 40n) | (BigInt(s.channels.indexOf(c) + 1) << 16n));
  }
}

/** A channel as ListChannels answers it. */
export function channelJson(s: LndState, c: LChan): Obj {
  const constraints = {
    csv_delay: 144,
    chan_reserve_sat: '1000',
    dust_limit_sat: '354',
    max_pending_amt_msat: String(c.capacity * 990),
    min_htlc_msat: '1',
    max_accepted_htlcs: 483,
  };
  return {
    active: s.net.nodes.get(c.peer)?.online === true,
    remote_pubkey: c.peer,
    channel_point: `${c.txid}:${c.vout}`,
    chan_id: c.chan_id,
    capacity: String(c.capacity),
    local_balance: String(c.local),
    remote_balance: String(c.capacity - c.local),
    commit_fee: '0',
    commit_weight: '0',
    fee_per_kw: '253',
    unsettled_balance: '0',
    total_satoshis_sent: '0',
    total_satoshis_received: '0',
    num_updates: '0',
    pending_htlcs: [],
    csv_delay: 144,
    private: false,
    initiator: true,
    chan_status_flags: 'ChanStatusDefault',
    local_chan_reserve_sat: '1000',
    remote_chan_reserve_sat: '1000',
    static_remote_key: true,
    commitment_type: 'ANCHORS',
    lifetime: '10',
    uptime: '10',
    close_address: '',
    push_amount_sat: '0',
    thaw_height: 0,
    local_constraints: constraints,
    remote_constraints: constraints,
    alias_scids: [],
    zero_conf: false,
    zero_conf_confirmed_scid: '0',
    peer_alias: '',
    peer_scid_alias: '0',
    memo: '',
  };
}

/** An invoice as LookupInvoice, ListInvoices and SubscribeInvoices answer it. */
export function invoiceJson(i: LInv): Obj {
  return {
    memo: i.memo,
    r_preimage: i.r_preimage,
    r_hash: i.r_hash,
    value: String(Math.floor(i.value_msat / 1000)),
    value_msat: String(i.value_msat),
    settled: i.state === 'SETTLED',
    creation_date: String(i.creation_date),
    settle_date: String(i.settle_date),
    payment_request: i.payment_request,
    description_hash: Buffer.alloc(0),
    expiry: String(i.expiry),
    fallback_addr: '',
    cltv_expiry: '18',
    route_hints: [],
    private: false,
    add_index: String(i.add_index),
    settle_index: String(i.settle_index),
    amt_paid: String(Math.floor(i.amt_paid_msat / 1000)),
    amt_paid_sat: String(Math.floor(i.amt_paid_msat / 1000)),
    amt_paid_msat: String(i.amt_paid_msat),
    state: i.state,
    htlcs: [],
    features: {},
    is_keysend: i.is_keysend === true,
    payment_addr: i.payment_addr,
    is_amp: false,
    amp_invoice_state: {},
  };
}
