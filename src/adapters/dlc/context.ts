// What the DLC room's modules share: the contract record and its states, the parameters and bounds of the
// operations, the context object every module's functions take (the room's store, the HSM and bitcoin rooms, the
// bus, the locks, the workers, the bounds), and the small helpers that turn a refused check into the caller's error.
// It imports none of the modules that use it (negotiation, funding, following, closing, contracts, terms).

import { randomBytes } from 'node:crypto';
import type { LRUCache } from 'lru-cache';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import type { Logger } from 'pino';
import type { Network } from '../../core/options.js';
import type { KeyedLock } from '../../core/keyed-lock.js';
import { rpcError } from '../../core/errors.js';
import type { EventBus } from '../../core/events.js';
import type { BatchOp, RoomDb, Store } from '../../core/store.js';
import type { BitcoinApi, ChainNotifications } from '../bitcoin/api.js';
import type { ContractSigning, HsmApi } from '../../hsm/api.js';
import type { WalletApi, WalletInput } from '../../wallet/api.js';
import type { P2pApi } from '../../p2p/api.js';
import { LimitError, MessageError, type Accept, type DlcLimits, type Offer } from './messages.js';
import { NumericError } from './numeric.js';
import { OracleError } from './oracle.js';
import type { OracleClient } from './oracle-client.js';
import { DlcTxError, type AcceptTerms, type DlcTransactions } from './transactions.js';
import { RuleError } from './rules.js';
import type { DlcWorkers } from './worker.js';

export type ContractState = 'offered' | 'accepted' | 'signed' | 'broadcast' | 'confirmed' | 'closing' | 'closed' | 'refunding' | 'refunded' | 'cancelled';

export interface ContractRecord {
  id: string;
  role: 'offerer' | 'accepter';
  state: ContractState;
  offer: string;
  /** accept_dlc and sign_dlc with their CET and refund signatures blanked (sealing.ts); in full in `sealed`. */
  accept: string | null;
  sign: string | null;
  /**
   * The messages as exchanged, sealed by the HSM room (purpose `dlc.messages:<id>`): they carry both parties' CET
   * adaptor and refund signatures. Absent in a record an earlier anyad wrote in clear (resealed by the follower).
   */
  sealed?: string;
  keys: { funding: string; payout: string; change: string };
  contract_id: string | null;
  funding_txid: string | null;
  closing_txid: string | null;
  /** The closing transaction (CET, refund or mutual close) as sent, to send again while the node does not know it. */
  closing_hex?: string;
  /**
   * Mutual closes proposed (each one the counterparty may still take, so each is recognised on chain) or the one
   * taken: the transaction's id and the payouts (sat, as strings).
   */
  mutual_closes?: Array<{ txid: string; offer_payout: string; accept_payout: string }>;
  outcome: string | null;
  /**
   * A contract the wallet room funds (no utxos given): its coins, promised to 'dlc:<id>', with their key origins
   * for the HSM to sign them; its payout and change go to wallet addresses (keys.payout and keys.change 'wallet').
   */
  wallet?: { inputs: WalletInput[] };
  /** The counterparty's node key when the contract's messages go over the peer network (peer-wire.ts). */
  peer?: string;
  created: string;
  updated: string;
}

export const SIGHASH_ALL = bitcoin.Transaction.SIGHASH_ALL;
export const u64 = (): bigint => randomBytes(8).readBigUInt64BE(0);
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export interface OfferParams {
  /** One oracle's announcement (hex) … */
  announcement?: string;
  /** … or several oracles' announcements of the same enumerated outcomes, `threshold` of which complete a CET. */
  announcements?: string[];
  threshold?: number;
  /** An enumerated event: the offerer's payout per outcome. */
  payouts?: Array<{ outcome: string; offer_payout_sat: number }>;
  /** A digit-decomposition event: the offerer's payout at points of the outcome axis, joined by straight lines. */
  payout_curve?: Array<{ outcome: number; offer_payout_sat: number }>;
  rounding_mod?: number;
  offer_collateral_sat: number;
  total_collateral_sat: number;
  fee_rate_sat_vb: number;
  /** This party's coins; when omitted, the wallet room chooses them (wallet-funding.ts). */
  utxos?: Array<{ txid: string; vout: number }>;
  cet_locktime?: number;
  refund_locktime?: number;
  /** The counterparty's node key: the offer goes to it over the peer network, and the rest of the protocol too. */
  peer?: string;
}

export function asRpc(err: unknown): unknown {
  if (err instanceof LimitError) return rpcError('PolicyDenied', err.message, { rule: err.rule, limit: err.limit, value: err.value });
  if (err instanceof RuleError)
    return err.rule ? rpcError('PolicyDenied', err.message, { rule: err.rule, ...err.data }) : rpcError('InvalidParams', err.message);
  if (err instanceof MessageError || err instanceof OracleError || err instanceof DlcTxError || err instanceof NumericError)
    return rpcError('InvalidParams', err.message);
  return err;
}

/** Runs a check, its refusal as the caller's error (a rule's config key in data.rule). */
export function rule<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw asRpc(err);
  }
}

/** The bounds a counterparty's terms are held to, from the room's config keys (options.ts). */
export interface DlcBounds {
  limits: DlcLimits;
  maxFeeRate: number;
  minRefundDelay: number;
  maxRefundDelay: number;
  workerTimeout: number;
  workers: number;
}

export const DEFAULT_BOUNDS: DlcBounds = {
  limits: { maxOutcomes: 1 << 20, maxCets: 2500, maxPayoutPoints: 16, maxOracles: 10, maxOracleCombinations: 252 },
  maxFeeRate: 6250,
  minRefundDelay: 604_800,
  maxRefundDelay: 31_536_000,
  workerTimeout: 120,
  workers: 2,
};

/** What an accepting app expects of an offer (dlc.accept's expect): the offer is refused when it differs. */
export interface ExpectedTerms {
  accept_collateral_sat?: number;
  total_collateral_sat?: number;
  max_fee_rate_sat_vb?: number;
  event_id?: string;
  latest_refund_locktime?: number;
}

/** A new contract's record. */
export function fresh(
  id: string,
  role: ContractRecord['role'],
  state: ContractState,
  offer: string,
  keys: ContractRecord['keys'],
  more: Partial<ContractRecord>,
): ContractRecord {
  const now = new Date().toISOString();
  return {
    id,
    role,
    state,
    offer,
    accept: null,
    sign: null,
    keys,
    contract_id: null,
    funding_txid: null,
    closing_txid: null,
    outcome: null,
    created: now,
    updated: now,
    ...more,
  };
}

/** The fields of an accept that shape the transactions (what a worker needs; not its signatures). */
export const acceptTerms = (a: AcceptTerms): AcceptTerms => ({
  accept_collateral: a.accept_collateral,
  funding_pubkey: a.funding_pubkey,
  payout_spk: a.payout_spk,
  payout_serial_id: a.payout_serial_id,
  funding_inputs: a.funding_inputs,
  change_spk: a.change_spk,
  change_serial_id: a.change_serial_id,
});

/** A DER signature (the HSM's) in the 64-byte compact form the messages carry. */
export const compactOf = (der: Uint8Array): string => hex(secp256k1.Signature.fromBytes(der, 'der').toBytes('compact'));
/** A compact signature as a witness element: DER with its SIGHASH_ALL byte. */
export const derWithSighash = (compact: Uint8Array): Buffer => Buffer.from(bitcoin.script.signature.encode(Buffer.from(compact), SIGHASH_ALL));

/** A signed contract's decoded messages, transactions and keys (contracts.ts parts(), cached per contract). */
export interface ContractParts {
  offer: Offer;
  accept: Accept;
  t: DlcTransactions;
  /** The HSM context of this contract's signatures (purpose and amount set per signature). */
  signing: Omit<ContractSigning, 'purpose' | 'spends_sat'>;
  /** This party's collateral: what a signature on the funding, a CET or the refund can lose. */
  ownCollateral: bigint;
  theirKey: string;
  ourKey: string;
}

/** The room's context: what every module's functions work with. */
export interface DlcContext {
  db: RoomDb;
  store: Store;
  bus: EventBus;
  hsm: HsmApi;
  chain: BitcoinApi;
  /** The wallet room's coin service, when it is on: it funds contracts offered or accepted without utxos. */
  wallet?: WalletApi;
  /** The room's chain notifications (registered under contract ids; chain-notes.ts). */
  notes: ChainNotifications;
  network: Network;
  net: bitcoin.Network;
  log: Logger;
  /** dlc.oracle: the oracles asked for announcements and attestations. */
  oracles: OracleClient[];
  /** dlc.autorefund, dlc.autoclose: the follower refunds past the refund locktime, closes at an attestation. */
  autorefund: boolean;
  autoclose: boolean;
  /** The bounds a counterparty's terms are held to (dlc.max*, dlc.*refunddelay, dlc.worker*). */
  bounds: DlcBounds;
  locks: KeyedLock;
  workers: DlcWorkers;
  /** Decoded parts of signed contracts, by id; bounded, as a node may hold many finished contracts. */
  partsCache: LRUCache<string, ContractParts>;
  /** Whether a sweep found no record in clear left (records are written sealed): no more sweeps then. */
  sealing: { allSealed: boolean };
  /** The p2p room's api when the peer network is on (dlc.offer peer=, offers taken from peers: peer-wire.ts). */
  p2p?: P2pApi;
  /** Starts the room's wire work (peer-wire.ts): the segmented messages queued to send, the messages taken. */
  wire: { kick(): void; stopping(): boolean };
}

/** A step whose message goes to the contract's peer: written with the step's record (peer-wire.ts commitStep). */
export interface Via {
  peer: string;
  /** Other writes of the step (the inbox entry it answers, deleted; a received offer taken). */
  extra?: BatchOp[];
}
