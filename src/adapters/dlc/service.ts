// A DLC participant: offers, accepts, signs and finalizes contracts (enumerated outcomes on one oracle or a
// threshold of several; numeric outcomes on one oracle) as the dlcspecs define them (messages.ts,
// transactions.ts), with every key in the HSM room's keystore (funding, payout, change) and every funding input
// signed through its PSBT path, so the collateral counts against the signing policy like any spend. Contracts are
// kept in the room's sublevel; each transition is written (synced) before its dlc.contract event. The chain is
// followed through the bitcoin room: funding seen and confirmed, a CET, the refund or a mutual close confirmed
// (whoever sent it), and the refund sent by itself past its locktime (dlc.autorefund).

import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import { HealthCell, type Health, type Service } from '../../core/service.js';
import type { Network } from '../../core/options.js';
import { KeyedLock } from '../../core/keyed-lock.js';
import { adaptorDecrypt } from '../../core/ecdsa-adaptor.js';
import { bitcoinNetwork, chainHash } from '../../core/bitcoin-network.js';
import { ErrorCode, rpcError, RpcError } from '../../core/errors.js';
import type { EventBus } from '../../core/events.js';
import type { BatchOp, RoomDb, Store } from '../../core/store.js';
import { CHAIN_BLOCK, type BitcoinApi } from '../bitcoin/api.js';
import type { ContractSigning, HsmApi } from '../../hsm/api.js';
import {
  decodeAccept,
  decodeClose,
  decodeSign,
  encodeAccept,
  encodeClose,
  encodeOffer,
  encodeSign,
  checkOracleSet,
  combinationCount,
  HARD_LIMITS,
  LimitError,
  MessageError,
  PROTOCOL_VERSION,
  type Accept,
  type ContractInfo,
  type DlcLimits,
  type FundingInput,
  type Offer,
  type Sign,
} from './messages.js';
import { NumericError, type NumericDescriptor } from './numeric.js';
import { decodeAttestation, OracleError, verifyAnnouncement, type OracleAnnouncement } from './oracle.js';
import { OracleUnreachable, type OracleClient } from './oracle-client.js';
import { attestedByThreshold, attestedCet, sumScalars } from './outcomes.js';
import {
  buildFunding,
  buildRefund,
  closingSighash,
  contractId,
  DlcTxError,
  mutualClose,
  type AcceptTerms,
  type DlcFunding,
  type DlcTransactions,
} from './transactions.js';
import {
  checkCloseFee,
  checkCompactLowS,
  checkDerLowS,
  checkFeeRate,
  checkFundingInput,
  checkFundingPubkey,
  checkLocktimes,
  checkStandardSpk,
  checkTaprootKeySpend,
  checkWitnessLen,
  RuleError,
  type FundingKind,
} from './rules.js';
import type { Prepared } from './work.js';
import { packMessages, publicAccept, publicSign, sealPurpose, unpackMessages, type Messages } from './sealing.js';
import { DlcWorkers } from './worker.js';
import type { Logger } from 'pino';
import type { Static } from '@sinclair/typebox';
import type { dlcDecodeoffer } from './declarations.js';
import { DLC_CONTRACT } from './topics.js';

export type ContractState = 'offered' | 'accepted' | 'signed' | 'broadcast' | 'confirmed' | 'closing' | 'closed' | 'refunding' | 'refunded' | 'cancelled';
const OPEN: readonly ContractState[] = ['signed', 'broadcast', 'confirmed', 'closing', 'refunding'];

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
  created: string;
  updated: string;
}

/** A P2WPKH input's witness: count, a signature of up to 72 bytes with its sighash byte, a 33-byte key. */
const P2WPKH_MAX_WITNESS = 108;
/** Outstanding mutual close proposals per contract (each a signed transaction the counterparty may broadcast). */
const MAX_CLOSE_PROPOSALS = 16;
const SIGHASH_ALL = bitcoin.Transaction.SIGHASH_ALL;
const u64 = (): bigint => randomBytes(8).readBigUInt64BE(0);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

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
  utxos: Array<{ txid: string; vout: number }>;
  cet_locktime?: number;
  refund_locktime?: number;
}

function asRpc(err: unknown): unknown {
  if (err instanceof LimitError) return rpcError('PolicyDenied', err.message, { rule: err.rule, limit: err.limit, value: err.value });
  if (err instanceof RuleError)
    return err.rule ? rpcError('PolicyDenied', err.message, { rule: err.rule, ...err.data }) : rpcError('InvalidParams', err.message);
  if (err instanceof MessageError || err instanceof OracleError || err instanceof DlcTxError || err instanceof NumericError)
    return rpcError('InvalidParams', err.message);
  return err;
}

/** Runs a check, its refusal as the caller's error (a rule's config key in data.rule). */
function rule<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw asRpc(err);
  }
}

/** The bounds a counterparty's terms are held to, from the room's config keys (options.ts). */
export interface DlcSettings {
  limits: DlcLimits;
  maxFeeRate: number;
  minRefundDelay: number;
  maxRefundDelay: number;
  workerTimeout: number;
  workers: number;
}

export const DEFAULT_SETTINGS: DlcSettings = {
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

/** A witness stack from its serialization (count, then each element with its length, all compact sizes). */
function witnessStack(serialized: Uint8Array): string[] {
  const r = { at: 0 };
  const varint = (): number => {
    const first = serialized[r.at++]!;
    if (first < 0xfd) return first;
    const n = first === 0xfd ? 2 : 4;
    let v = 0;
    for (let i = 0; i < n; i++) v += serialized[r.at + i]! * 2 ** (8 * i);
    r.at += n;
    return v;
  };
  const count = varint();
  return Array.from({ length: count }, () => {
    const len = varint();
    const e = serialized.subarray(r.at, r.at + len);
    r.at += len;
    return hex(e);
  });
}

/** Whether the payouts name each of the event's outcomes exactly once. */
function namesEachOutcome(eventOutcomes: string[], payouts: Array<{ outcome: string }>): boolean {
  const named = new Set(payouts.map((x) => x.outcome));
  return named.size === payouts.length && payouts.length === eventOutcomes.length && eventOutcomes.every((o) => named.has(o));
}

/** A new contract's record. */
function fresh(
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
const acceptTerms = (a: AcceptTerms): AcceptTerms => ({
  accept_collateral: a.accept_collateral,
  funding_pubkey: a.funding_pubkey,
  payout_spk: a.payout_spk,
  payout_serial_id: a.payout_serial_id,
  funding_inputs: a.funding_inputs,
  change_spk: a.change_spk,
  change_serial_id: a.change_serial_id,
});

/**
 * A numeric contract's payouts as ranges of the outcome axis (each CET's digit prefix covers base^(digits - its
 * length) consecutive values; neighbours with the same payout joined): what an app shows its user.
 */
function numericRanges(
  ci: ContractInfo,
  base: number,
  digits: number,
): Array<{ from: number; to: number; offer_payout_sat: number; accept_payout_sat: number }> {
  const out: Array<{ from: number; to: number; offer_payout_sat: number; accept_payout_sat: number }> = [];
  for (const p of ci.payouts) {
    const prefix = p.digits ?? [];
    const width = base ** (digits - prefix.length);
    const from = prefix.reduce((v, d) => v * base + d, 0) * width;
    const last = out.at(-1);
    const offer_payout_sat = Number(p.offer_payout);
    if (last && last.to + 1 === from && last.offer_payout_sat === offer_payout_sat) last.to = from + width - 1;
    else out.push({ from, to: from + width - 1, offer_payout_sat, accept_payout_sat: Number(ci.total_collateral - p.offer_payout) });
  }
  return out;
}

const compactOf = (der: Uint8Array): string => hex(secp256k1.Signature.fromBytes(der, 'der').toBytes('compact'));
/** A mutual close's amount at risk for this side: its collateral minus what the close pays it, when positive. */
const closeSpends = (ownCollateral: bigint, ownPayout: bigint): number => Number(ownCollateral > ownPayout ? ownCollateral - ownPayout : 0n);
const derWithSighash = (compact: Uint8Array): Buffer => Buffer.from(bitcoin.script.signature.encode(Buffer.from(compact), SIGHASH_ALL));

interface ContractParts {
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

export class DlcService implements Service {
  readonly name = 'dlc';
  readonly requires = ['hsm'];
  private readonly cell = new HealthCell('starting', 'opening');
  private readonly locks = new KeyedLock();
  /** Decoded parts of signed contracts, by id; bounded, as a node may hold many finished contracts. */
  private readonly partsCache = new LRUCache<string, ContractParts>({ max: 256 });
  private unlisten: (() => void) | undefined;
  private following = Promise.resolve();
  private readonly net: bitcoin.Network;
  private readonly workers: DlcWorkers;
  /** Whether a sweep found no record in clear left (records are written sealed): no more sweeps then. */
  private allSealed = false;

  constructor(
    private readonly db: RoomDb,
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly hsm: HsmApi,
    private readonly chain: BitcoinApi,
    private readonly network: Network,
    private readonly autorefund: boolean,
    private readonly log: Logger,
    private readonly oracles: OracleClient[] = [],
    private readonly autoclose = false,
    private readonly settings: DlcSettings = DEFAULT_SETTINGS,
  ) {
    this.net = bitcoinNetwork(network);
    this.workers = new DlcWorkers(settings.workers, settings.workerTimeout, log);
  }

  async open(): Promise<void> {
    // Records of an earlier anyad in clear: sealed now if the keystore is open, else at a block after it is.
    this.following = this.resealClear();
    // Every block: look at the open contracts' transactions (one look at a time, in block order).
    this.unlisten = this.bus.on(CHAIN_BLOCK, (b) => {
      this.following = this.following
        .then(() => this.follow(b.hash))
        .catch((err: Error) => this.log.warn({ reason: err.message }, 'DLC follow failed; next block retries'));
    });
    this.cell.set('ok', 'following contracts through the bitcoin room');
  }

  async close(): Promise<void> {
    this.unlisten?.();
    await this.following;
    await this.workers.close();
    this.cell.set('stopped', 'closed');
  }

  health(): Health {
    return this.cell.get();
  }

  async list(): Promise<ContractRecord[]> {
    const out: ContractRecord[] = [];
    for await (const [, v] of this.db.iterator({ gte: 'c:', lt: 'c;' })) out.push(v as ContractRecord);
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  async get(id: string): Promise<ContractRecord> {
    const rec = (await this.db.get(`c:${id}`)) as ContractRecord | undefined;
    if (!rec) throw rpcError('NotFound', `no contract ${id}`);
    return rec;
  }

  /** Writes the record (synced, with any other writes of the same step) and then tells subscribers. */
  private async save(rec: ContractRecord, previous: ContractState | null, extra: BatchOp[] = []): Promise<ContractRecord> {
    rec.updated = new Date().toISOString();
    const ops: BatchOp[] = [{ type: 'put', sublevel: this.db, key: `c:${rec.id}`, value: rec }, ...extra];
    await this.store.batch(ops, { sync: true });
    const txid =
      rec.state === 'closing' || rec.state === 'closed' || rec.state === 'refunding' || rec.state === 'refunded' ? rec.closing_txid : rec.funding_txid;
    this.bus.publish(DLC_CONTRACT, { id: rec.id, contract_id: rec.contract_id, state: rec.state, previous, txid, outcome: rec.outcome });
    return rec;
  }

  private async newKeys(id: string): Promise<{ keys: ContractRecord['keys']; funding: string; payoutSpk: string; changeSpk: string }> {
    // Refused before any key is made when the HSM cannot sign CETs.
    const refusal = this.hsm.adaptorRefusal();
    if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
    const [funding, payout, change] = await Promise.all(
      ['funding', 'payout', 'change'].map((k) => this.hsm.generateKey(`dlc ${id.slice(0, 16)} ${k}`, null, 'dlc')),
    );
    const spk = (pub: string): string => hex(bitcoin.payments.p2wpkh({ pubkey: Buffer.from(pub, 'hex'), network: this.net }).output!);
    return {
      keys: { funding: funding!.id, payout: payout!.id, change: change!.id },
      funding: funding!.public_key,
      payoutSpk: spk(payout!.public_key),
      changeSpk: spk(change!.public_key),
    };
  }

  /** The party's funding inputs from its UTXOs: unspent, P2WPKH, their previous transactions from the node. */
  private async fundingInputs(utxos: OfferParams['utxos']): Promise<FundingInput[]> {
    const seen = new Set<string>();
    const out: FundingInput[] = [];
    for (const [i, u] of utxos.entries()) {
      const op = `${u.txid}:${u.vout}`;
      if (seen.has(op)) throw rpcError('InvalidParams', `utxos[${i}] ${op} is listed twice`);
      seen.add(op);
      if (!(await this.chain.node<unknown>('gettxout', u.txid, u.vout, true))) throw rpcError('NotFound', `utxos[${i}] ${op} is spent or does not exist`);
      const prevHex = await this.chain.node<string>('getrawtransaction', u.txid, false);
      const prev = bitcoin.Transaction.fromHex(prevHex);
      const spent = prev.outs[u.vout];
      if (!spent) throw rpcError('NotFound', `utxos[${i}]: ${u.txid} has no output ${u.vout}`);
      if (!(spent.script.length === 22 && spent.script[0] === 0 && spent.script[1] === 20))
        throw rpcError('InvalidParams', `utxos[${i}] ${op} is not a P2WPKH output (the funding inputs anyad signs are P2WPKH keystore outputs)`);
      out.push({
        input_serial_id: u64(),
        prev_tx: prevHex,
        prev_tx_vout: u.vout,
        sequence: 0xffffffff,
        max_witness_len: P2WPKH_MAX_WITNESS,
        redeem_script: '',
      });
    }
    return out;
  }

  /**
   * A coin committed to one open contract is refused to another (under the 'utxos' lock, checked and written with
   * the contract): two contracts funded by one coin would leave one of them unfundable after both were signed.
   */
  private async reserve(id: string, utxos: OfferParams['utxos']): Promise<BatchOp[]> {
    const ops: BatchOp[] = [];
    for (const [i, u] of utxos.entries()) {
      const key = `u:${u.txid.toLowerCase()}:${u.vout}`;
      const holder = (await this.db.get(key)) as string | undefined;
      if (holder !== undefined && holder !== id)
        throw rpcError('Conflict', `utxos[${i}] ${u.txid}:${u.vout} funds contract ${holder} already (dlc.cancel releases an unsigned one)`, {
          contract: holder,
        });
      ops.push({ type: 'put', sublevel: this.db, key, value: id });
    }
    return ops;
  }

  /**
   * Drops a contract that was not funded: offered, accepted before the offerer signed, or signed (by both) with its
   * funding transaction seen neither on chain nor in the node's mempool. Its coins are free again. A signed one's
   * funding could still be sent by the counterparty (it holds our funding signatures): the follower keeps looking
   * for it, and the coins are safe from that only once spent elsewhere.
   *
   * 'broadcast' is taken as 'signed' is: it says the funding was sent or seen once, not that it still can confirm.
   * A counterparty that spends its own funding input elsewhere (a replacement, or a conflict sent first to a node
   * that answers sendrawtransaction before validating) makes the funding invalid for good; without this, our coins
   * stayed reserved to a contract that can never be funded, and no call could free them.
   */
  async cancel(id: string, caller: string): Promise<{ id: string; state: string }> {
    return this.locks.run([id, 'utxos'], async () => {
      const rec = await this.get(id);
      if (rec.state !== 'offered' && rec.state !== 'accepted' && rec.state !== 'signed' && rec.state !== 'broadcast')
        throw rpcError('Conflict', `contract ${id} is ${rec.state}: only an offered, accepted or signed but never funded contract can be cancelled`);
      if (rec.state === 'signed' || rec.state === 'broadcast') {
        if (await this.fundingSeen(rec))
          throw rpcError('Conflict', `contract ${id}: its funding transaction ${rec.funding_txid} is on chain or in the mempool; it cannot be cancelled`, {
            txid: rec.funding_txid,
          });
        // A node without txindex does not know a confirmed transaction whose output is spent already: a coin of ours
        // that is spent may have been spent by the funding. Refused rather than guessed.
        const { offer, accept } = await this.parts(rec);
        for (const i of rec.role === 'offerer' ? offer.funding_inputs : accept.funding_inputs) {
          const txid = bitcoin.Transaction.fromHex(i.prev_tx).getId();
          if ((await this.chain.node<unknown>('gettxout', txid, i.prev_tx_vout, true)) === null)
            throw rpcError(
              'Conflict',
              `contract ${id}: our funding input ${txid}:${i.prev_tx_vout} is spent (by the funding transaction, or elsewhere); it cannot be cancelled`,
              { txid: rec.funding_txid },
            );
        }
      }
      const ops: BatchOp[] = [];
      for await (const [k, v] of this.db.iterator({ gte: 'u:', lt: 'u;' })) if (v === id) ops.push({ type: 'del', sublevel: this.db, key: k });
      await this.save({ ...rec, state: 'cancelled' }, rec.state, ops);
      this.log.info({ id, caller, was: rec.state }, 'DLC cancelled');
      return { id, state: 'cancelled' };
    });
  }

  /** Whether the node knows the funding transaction: in its mempool or on chain (its output unspent, or by txindex). */
  private async fundingSeen(rec: ContractRecord): Promise<boolean> {
    if (!rec.funding_txid) return false;
    return (await this.confirmations(rec.funding_txid, (await this.parts(rec)).t.fundOutputIndex)) !== undefined;
  }

  /** The CETs' payouts of an offer: per enumerated outcome, or a payout curve over the event's digits (evaluated in a worker). */
  private contractTerms(p: OfferParams, announcement: OracleAnnouncement): { payouts: ContractInfo['payouts']; numeric?: NumericDescriptor } {
    const d = announcement.event.descriptor;
    if (d.kind === 'enum') {
      if (!p.payouts || p.payout_curve) throw rpcError('InvalidParams', 'an enumerated event takes payouts (one per outcome), not payout_curve');
      if (!namesEachOutcome(d.outcomes, p.payouts))
        throw rpcError('InvalidParams', `payouts must name each of the event's outcomes once (${d.outcomes.join(', ')})`);
      for (const x of p.payouts)
        if (x.offer_payout_sat > p.total_collateral_sat) throw rpcError('InvalidParams', `the payout for "${x.outcome}" is more than total_collateral_sat`);
      return { payouts: p.payouts.map((x) => ({ outcome: x.outcome, offer_payout: BigInt(x.offer_payout_sat) })) };
    }
    if (!p.payout_curve || p.payouts)
      throw rpcError('InvalidParams', 'a digit-decomposition event takes payout_curve (points of the outcome axis), not payouts');
    const point = (x: { outcome: number; offer_payout_sat: number }) => ({
      event_outcome: BigInt(x.outcome),
      outcome_payout: BigInt(x.offer_payout_sat),
      extra_precision: 0,
    });
    const curve = p.payout_curve;
    const numeric: NumericDescriptor = {
      num_digits: d.nb_digits,
      pieces: curve.slice(0, -1).map((x) => ({ end_point: point(x), points: [] })),
      last_endpoint: point(curve.at(-1)!),
      rounding: [{ begin: 0n, mod: BigInt(p.rounding_mod ?? 1) }],
    };
    // The CETs come from reading the offer back in a worker (under the limits, as the counterparty reads it).
    return { numeric, payouts: [] };
  }

  /** The offer's oracles: one announcement, or several with a threshold. */
  private offerOracles(p: OfferParams): { announcement: OracleAnnouncement; announcement_tlv: string; oracles?: ContractInfo['oracles'] } {
    if ((p.announcement === undefined) === (p.announcements === undefined))
      throw rpcError('InvalidParams', 'give announcement (one oracle) or announcements (several), not both');
    if (p.announcement !== undefined) {
      if (p.threshold !== undefined) throw rpcError('InvalidParams', 'threshold goes with announcements (several oracles)');
      return rule(() => ({ announcement: verifyAnnouncement(Buffer.from(p.announcement!, 'hex')), announcement_tlv: p.announcement!.toLowerCase() }));
    }
    const tlvs = p.announcements!.map((a) => a.toLowerCase());
    const threshold = p.threshold ?? tlvs.length;
    const { maxOracles, maxOracleCombinations } = this.settings.limits;
    if (tlvs.length < 2 || tlvs.length > maxOracles)
      throw rpcError('PolicyDenied', `announcements takes 2 to ${maxOracles} oracles (dlc.maxoracles)`, {
        rule: 'dlc.maxoracles',
        limit: maxOracles,
        value: tlvs.length,
      });
    if (threshold <= tlvs.length && combinationCount(tlvs.length, threshold) > maxOracleCombinations)
      throw rpcError(
        'PolicyDenied',
        `${threshold} of ${tlvs.length} oracles make more combinations than dlc.maxoraclecombinations (${maxOracleCombinations})`,
        {
          rule: 'dlc.maxoraclecombinations',
          limit: maxOracleCombinations,
          value: combinationCount(tlvs.length, threshold),
        },
      );
    const announcements = rule(() => tlvs.map((a) => verifyAnnouncement(Buffer.from(a, 'hex'))));
    rule(() => checkOracleSet(announcements, threshold));
    return { announcement: announcements[0]!, announcement_tlv: tlvs[0]!, oracles: { threshold, announcements, tlvs } };
  }

  /** The chain tip, for block-height locktimes (rust-dlc's checks compare them with the event's maturity). */
  private async tip(cetLocktime: number): Promise<{ height: number; now: number } | undefined> {
    if (cetLocktime >= 500_000_000) return undefined;
    return { height: await this.chain.node<number>('getblockcount'), now: Math.floor(Date.now() / 1000) };
  }

  /** The offer's terms as this node holds every offer to them, its own included (rust-dlc OfferDlc::validate, Protocol.md). */
  private async checkOfferTerms(offer: Offer): Promise<void> {
    const ci = offer.contract_info;
    if (offer.offer_collateral > ci.total_collateral)
      throw rpcError('InvalidParams', `offer_collateral ${offer.offer_collateral} is more than total_collateral ${ci.total_collateral}`);
    rule(() => checkFeeRate(offer.fee_rate_per_vb, this.settings.maxFeeRate));
    // Every oracle's event matures at the same time or later than the first's: the CETs must wait for the earliest.
    const maturity = Math.min(...(ci.oracles?.announcements ?? [ci.announcement]).map((a) => a.event.maturity_epoch));
    const tip = await this.tip(offer.cet_locktime);
    rule(() => checkLocktimes(offer.cet_locktime, offer.refund_locktime, maturity, this.settings, tip));
  }

  async offer(p: OfferParams, caller: string): Promise<{ id: string; offer: string }> {
    const oracles = this.offerOracles(p);
    const announcement = oracles.announcement;
    if (p.offer_collateral_sat > p.total_collateral_sat) throw rpcError('InvalidParams', 'offer_collateral_sat is more than total_collateral_sat');
    const contract = this.contractTerms(p, announcement);
    const cet_locktime = p.cet_locktime ?? announcement.event.maturity_epoch;
    const refund_locktime = p.refund_locktime ?? cet_locktime + 7 * 24 * 3600;
    if (refund_locktime <= cet_locktime) throw rpcError('InvalidParams', `refund_locktime ${refund_locktime} must be after cet_locktime ${cet_locktime}`);
    const id = hex(randomBytes(32));
    // Refused before anything else when the HSM cannot sign CETs (as newKeys refuses).
    const refusal = this.hsm.adaptorRefusal();
    if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
    return this.locks.run('utxos', async () => {
      const reservations = await this.reserve(id, p.utxos);
      const terms = {
        protocol_version: PROTOCOL_VERSION,
        contract_flags: 0,
        chain_hash: chainHash(this.network),
        temporary_contract_id: id,
        contract_info: {
          total_collateral: BigInt(p.total_collateral_sat),
          ...contract,
          ...oracles,
        },
        payout_serial_id: u64(),
        offer_collateral: BigInt(p.offer_collateral_sat),
        funding_inputs: await this.fundingInputs(p.utxos),
        change_serial_id: u64(),
        fund_output_serial_id: u64(),
        fee_rate_per_vb: BigInt(p.fee_rate_sat_vb),
        cet_locktime,
        refund_locktime,
      };
      // Read as the counterparty will read it (the limits, the payout curve's CETs, in a worker) and held to the same
      // terms, before any key is made: the keys' fields are not read yet.
      const draft: Offer = { ...terms, funding_pubkey: `02${'00'.repeat(32)}`, payout_spk: '', change_spk: '' };
      const read = await this.readOffer(hex(encodeOffer(draft)), this.settings.limits, `the offer ${id.slice(0, 16)}`);
      await this.checkOfferTerms(read);
      const k = await this.newKeys(id);
      const offerHex = hex(
        encodeOffer({ ...terms, contract_info: read.contract_info, funding_pubkey: k.funding, payout_spk: k.payoutSpk, change_spk: k.changeSpk }),
      );
      await this.save(fresh(id, 'offerer', 'offered', offerHex, k.keys, {}), null, reservations);
      this.log.info({ id, caller }, 'DLC offered');
      return { id, offer: offerHex };
    });
  }

  /** offer_dlc read in a worker under `limits` (a counterparty's: the config's; one kept already: the build's). */
  private async readOffer(offerHex: string, limits: DlcLimits, what: string): Promise<Offer> {
    return this.workers.run<Offer>({ op: 'decodeOffer', offer: Buffer.from(offerHex, 'hex'), limits }, what);
  }

  /**
   * dlc.decodeoffer: an offer's terms in plain JSON for an app to show its user before dlc.accept, read under the
   * same limits; `refusal` says what dlc.accept would refuse in its terms (not the chain checks of its inputs).
   */
  async decodeOffer(offerHex: string): Promise<Static<typeof dlcDecodeoffer.result>> {
    const offer = await this.readOffer(offerHex, this.settings.limits, 'decoding an offer');
    const ci = offer.contract_info;
    const total = ci.total_collateral;
    const ev = ci.announcement.event;
    const d = ev.descriptor;
    const payouts =
      d.kind === 'enum'
        ? ci.payouts.map((p) => ({ outcome: p.outcome, offer_payout_sat: Number(p.offer_payout), accept_payout_sat: Number(total - p.offer_payout) }))
        : numericRanges(ci, d.base, d.nb_digits);
    let refusal: string | null = null;
    try {
      if (offer.chain_hash !== chainHash(this.network)) throw rpcError('InvalidParams', `the offer is for another chain (chain_hash ${offer.chain_hash})`);
      this.checkOfferShape(offer);
      await this.checkOfferTerms(offer);
    } catch (err) {
      refusal = (err as Error).message;
    }
    return {
      temporary_contract_id: offer.temporary_contract_id,
      chain_hash: offer.chain_hash,
      total_collateral_sat: Number(total),
      offer_collateral_sat: Number(offer.offer_collateral),
      accept_collateral_sat: Number(total - offer.offer_collateral),
      fee_rate_sat_vb: Number(offer.fee_rate_per_vb),
      cet_locktime: offer.cet_locktime,
      refund_locktime: offer.refund_locktime,
      event: {
        event_id: ev.event_id,
        maturity_epoch: ev.maturity_epoch,
        kind: d.kind,
        ...(d.kind === 'enum' ? { outcomes: d.outcomes } : { base: d.base, nb_digits: d.nb_digits, unit: d.unit, precision: d.precision }),
      },
      oracles: (ci.oracles?.announcements ?? [ci.announcement]).map((a) => a.oracle_public_key),
      threshold: ci.oracles?.threshold ?? 1,
      cets: ci.payouts.length,
      adaptor_signatures: ci.payouts.length * (ci.oracles ? combinationCount(ci.oracles.announcements.length, ci.oracles.threshold) : 1),
      payouts,
      counterparty: {
        funding_pubkey: offer.funding_pubkey,
        payout_spk: offer.payout_spk,
        change_spk: offer.change_spk,
        funding_inputs: offer.funding_inputs.map((i) => {
          try {
            const f = checkFundingInput(i, 'input');
            return { txid: f.txid, vout: i.prev_tx_vout, value_sat: Number(f.value), kind: f.kind as string };
          } catch {
            return { txid: null, vout: i.prev_tx_vout, value_sat: null, kind: 'refused' };
          }
        }),
      },
      refusal,
    };
  }

  /** What an offer must be whatever the bounds: for this chain, each outcome once, standard scripts, a valid key. */
  private checkOfferShape(offer: Offer, ourFundingKey?: string): void {
    const d = offer.contract_info.announcement.event.descriptor;
    // A numeric offer's CETs come from its payout curve (checked when it was read); an enumerated one names each of
    // the event's outcomes once.
    if (!offer.contract_info.numeric && !(d.kind === 'enum' && namesEachOutcome(d.outcomes, offer.contract_info.payouts)))
      throw rpcError('InvalidParams', "the offer's payouts do not name each of the event's outcomes once");
    rule(() => checkFundingPubkey(offer.funding_pubkey, ourFundingKey));
    rule(() => checkStandardSpk(offer.payout_spk, "the offer's payout_spk"));
    rule(() => checkStandardSpk(offer.change_spk, "the offer's change_spk"));
  }

  /**
   * The counterparty's funding inputs (dlcspecs Protocol.md): each segwit (rules.ts checkFundingInput), each outpoint
   * once in the whole funding transaction and none a coin of ours, each unspent on chain (or in the mempool) with
   * the value and script its prev_tx claims: a prev_tx that is not on chain makes a funding transaction that never
   * confirms, with our collateral signed into it. The sums are checked when the funding transaction is built (each
   * party's inputs cover its collateral, its fees and a change output over the dust limit).
   */
  private async checkTheirInputs(inputs: FundingInput[], who: string, ourInputs: FundingInput[]): Promise<FundingKind[]> {
    if (inputs.length === 0) throw rpcError('InvalidParams', `the ${who} names no funding input`);
    const outpoint = (i: FundingInput): string => `${bitcoin.Transaction.fromHex(i.prev_tx).getId()}:${i.prev_tx_vout}`;
    const seen = new Set(ourInputs.map(outpoint));
    const kinds: FundingKind[] = [];
    for (const [k, i] of inputs.entries()) {
      const what = `the ${who}'s funding input ${k + 1}`;
      const f = rule(() => checkFundingInput(i, what));
      const op = `${f.txid}:${i.prev_tx_vout}`;
      if (seen.has(op)) throw rpcError('InvalidParams', `${what} ${op} is spent twice in the funding transaction`);
      seen.add(op);
      if ((await this.db.get(`u:${f.txid}:${i.prev_tx_vout}`)) !== undefined)
        throw rpcError('InvalidParams', `${what} ${op} is a coin of ours (reserved for a contract): not the ${who}'s to give`);
      const utxo = await this.chain.node<{ value: number; scriptPubKey: { hex: string } } | null>('gettxout', f.txid, i.prev_tx_vout, true);
      if (!utxo) throw rpcError('InvalidParams', `${what} ${op} is spent or not on chain: the funding transaction could never confirm`);
      const value = BigInt(Math.round(utxo.value * 1e8));
      if (value !== f.value || utxo.scriptPubKey.hex !== f.script.toString('hex'))
        throw rpcError('InvalidParams', `${what} ${op}: the chain holds ${value} sat to ${utxo.scriptPubKey.hex}, not what its prev_tx says`);
      kinds.push(f.kind);
    }
    return kinds;
  }

  /** dlc.accept's expectations of the app: the offer is refused where it differs. */
  private checkExpected(offer: Offer, expect: ExpectedTerms | undefined): void {
    if (!expect) return;
    const total = offer.contract_info.total_collateral;
    const differs = (what: string, got: string | number | bigint, want: string | number | bigint): never => {
      throw rpcError('InvalidParams', `the offer's ${what} is ${got}, not the ${want} expected; not accepted`, { field: what });
    };
    if (expect.accept_collateral_sat !== undefined && total - offer.offer_collateral !== BigInt(expect.accept_collateral_sat))
      differs('accept collateral', total - offer.offer_collateral, expect.accept_collateral_sat);
    if (expect.total_collateral_sat !== undefined && total !== BigInt(expect.total_collateral_sat))
      differs('total collateral', total, expect.total_collateral_sat);
    if (expect.max_fee_rate_sat_vb !== undefined && offer.fee_rate_per_vb > BigInt(expect.max_fee_rate_sat_vb))
      differs('fee rate', offer.fee_rate_per_vb, `at most ${expect.max_fee_rate_sat_vb}`);
    if (expect.event_id !== undefined && offer.contract_info.announcement.event.event_id !== expect.event_id)
      differs('event', offer.contract_info.announcement.event.event_id, expect.event_id);
    if (expect.latest_refund_locktime !== undefined && offer.refund_locktime > expect.latest_refund_locktime)
      differs('refund locktime', offer.refund_locktime, `at most ${expect.latest_refund_locktime}`);
  }

  async accept(offerHex: string, utxos: OfferParams['utxos'], caller: string, expect?: ExpectedTerms): Promise<{ id: string; accept: string }> {
    // Read under the limits in a worker: nothing heavy on this thread, nothing of ours made before the checks.
    const offer = await this.readOffer(offerHex, this.settings.limits, 'reading an offer');
    if (offer.chain_hash !== chainHash(this.network))
      throw rpcError('InvalidParams', `the offer is for another chain (chain_hash ${offer.chain_hash}); this anyad is on ${this.network}`);
    this.checkOfferShape(offer);
    await this.checkOfferTerms(offer);
    this.checkExpected(offer, expect);
    const id = offer.temporary_contract_id;
    return this.locks.run([id, 'utxos'], async () => {
      if (await this.db.get(`c:${id}`)) throw rpcError('Conflict', `contract ${id} is known already`);
      const reservations = await this.reserve(id, utxos);
      const ownInputs = await this.fundingInputs(utxos);
      await this.checkTheirInputs(offer.funding_inputs, 'offerer', ownInputs);
      const total = offer.contract_info.total_collateral;
      const k = await this.newKeys(id);
      const terms: Accept = {
        protocol_version: PROTOCOL_VERSION,
        temporary_contract_id: id,
        accept_collateral: total - offer.offer_collateral,
        funding_pubkey: k.funding,
        payout_spk: k.payoutSpk,
        payout_serial_id: u64(),
        funding_inputs: ownInputs,
        change_spk: k.changeSpk,
        change_serial_id: u64(),
        cet_adaptor_signatures: [],
        refund_signature: '',
      };
      const f = rule(() => buildFunding(offer, terms));
      const prepared = await this.workers.run<Prepared>({ op: 'prepare', offer, accept: acceptTerms(terms) }, `accepting ${id.slice(0, 16)}`);
      const signing = { kind: 'dlc' as const, contract: id, counterparty: offer.funding_pubkey };
      const sigs = await this.cetSignatures(prepared, k.keys.funding, caller, signing, terms.accept_collateral);
      terms.cet_adaptor_signatures = sigs.adaptor;
      terms.refund_signature = sigs.refund;
      const acceptHex = hex(encodeAccept(terms));
      const rec = fresh(id, 'accepter', 'accepted', offerHex.toLowerCase(), k.keys, {
        accept: publicAccept(acceptHex),
        sealed: await this.seal(id, { accept: acceptHex, sign: null }),
        contract_id: contractId(f, id),
        funding_txid: f.funding.getId(),
      });
      await this.save(rec, null, reservations);
      this.log.info({ id, caller }, 'DLC accepted');
      return { id, accept: acceptHex };
    });
  }

  /**
   * This party's adaptor signature on every CET (encrypted under its outcome's point) and its refund signature, each
   * with the contract's context for the HSM's policy: what this side can lose by them is its own collateral.
   */
  private async cetSignatures(
    prepared: Prepared,
    fundingKey: string,
    caller: string,
    signing: Omit<ContractSigning, 'purpose' | 'spends_sat'>,
    ownCollateral: bigint,
  ): Promise<{ adaptor: string[]; refund: string }> {
    const items = prepared.items.map(({ point, digest }) => ({ point: Buffer.from(point), digest: Buffer.from(digest) }));
    const spends_sat = Number(ownCollateral);
    const adaptor = (await this.hsm.adaptorSignAll(fundingKey, items, caller, { ...signing, purpose: 'cet', spends_sat })).map(hex);
    const refund = compactOf(await this.hsm.signDigest(fundingKey, Buffer.from(prepared.refundDigest), caller, { ...signing, purpose: 'refund', spends_sat }));
    return { adaptor, refund };
  }

  /** The counterparty's CET and refund signatures, checked (the adaptor ones in the worker) before anything of ours is signed. */
  private checkCounterparty(offer: Offer, prepared: Prepared, pubkey: string, refund: string, who: string): void {
    if (prepared.adaptorCount !== prepared.items.length)
      throw rpcError(
        'InvalidParams',
        `the ${who} sent ${prepared.adaptorCount} CET signatures; the contract has ${prepared.items.length} (outcomes × oracle combinations)`,
      );
    if (prepared.badAdaptor >= 0) {
      const i = prepared.badAdaptor;
      throw rpcError(
        'InvalidParams',
        `the ${who}'s adaptor signature for outcome "${offer.contract_info.payouts[prepared.items[i]!.cet]!.outcome}"${offer.contract_info.oracles ? ` (signature ${i + 1}, one per oracle combination)` : ''} does not verify`,
      );
    }
    rule(() => checkCompactLowS(refund, `the ${who}'s refund signature`));
    if (!secp256k1.verify(Buffer.from(refund, 'hex'), prepared.refundDigest, Buffer.from(pubkey, 'hex'), { prehash: false, lowS: true }))
      throw rpcError('InvalidParams', `the ${who}'s refund signature does not verify`);
  }

  /** A PSBT of the funding transaction with every input's previous transaction, for the HSM to sign its own. */
  private fundingPsbt(t: DlcFunding, inputs: FundingInput[]): bitcoin.Psbt {
    const psbt = new bitcoin.Psbt({ network: this.net });
    psbt.setVersion(2);
    psbt.setLocktime(t.funding.locktime);
    const byOutpoint = new Map(inputs.map((i) => [`${bitcoin.Transaction.fromHex(i.prev_tx).getId()}:${i.prev_tx_vout}`, i]));
    for (const txin of t.funding.ins) {
      const i = byOutpoint.get(`${hex(Buffer.from(txin.hash).reverse())}:${txin.index}`)!;
      const prev = bitcoin.Transaction.fromHex(i.prev_tx);
      psbt.addInput({
        hash: Buffer.from(txin.hash),
        index: txin.index,
        sequence: txin.sequence,
        nonWitnessUtxo: Buffer.from(i.prev_tx, 'hex'),
        witnessUtxo: { script: prev.outs[txin.index]!.script, value: BigInt(prev.outs[txin.index]!.value) },
      });
    }
    for (const o of t.funding.outs) psbt.addOutput({ script: o.script, value: BigInt(o.value) });
    return psbt;
  }

  /** Signs this party's funding inputs through the HSM; answers their witness stacks in input_serial_id order. */
  private async signFunding(
    t: DlcFunding,
    all: FundingInput[],
    own: FundingInput[],
    caller: string,
    signing: ContractSigning,
  ): Promise<{ psbt: bitcoin.Psbt; stacks: string[][] }> {
    const unsigned = this.fundingPsbt(t, all);
    const signed = await this.hsm.signPsbt(unsigned.toBase64(), caller, signing);
    const psbt = bitcoin.Psbt.fromBase64(signed.psbt, { network: this.net });
    const ownOutpoints = new Set(own.map((i) => `${bitcoin.Transaction.fromHex(i.prev_tx).getId()}:${i.prev_tx_vout}`));
    const stacks: Array<{ serial: bigint; stack: string[] }> = [];
    t.funding.ins.forEach((txin, idx) => {
      const op = `${hex(Buffer.from(txin.hash).reverse())}:${txin.index}`;
      if (!ownOutpoints.has(op)) return;
      if (!signed.signed.includes(idx)) throw rpcError('PolicyDenied', `the HSM did not sign funding input ${op}: is it an output of a keystore key?`);
      psbt.finalizeInput(idx);
      const serial = own.find((i) => `${bitcoin.Transaction.fromHex(i.prev_tx).getId()}:${i.prev_tx_vout}` === op)!.input_serial_id;
      stacks.push({ serial, stack: witnessStack(psbt.data.inputs[idx]!.finalScriptWitness!) });
    });
    return { psbt, stacks: stacks.sort((a, b) => (a.serial < b.serial ? -1 : 1)).map((s) => s.stack) };
  }

  /** The accept's own fields (rust-dlc AcceptDlc::validate, Protocol.md), before its signatures are looked at. */
  private checkAcceptShape(offer: Offer, accept: Accept): void {
    const total = offer.contract_info.total_collateral;
    if (accept.accept_collateral !== total - offer.offer_collateral)
      throw rpcError(
        'InvalidParams',
        `accept_collateral ${accept.accept_collateral} is not total_collateral - offer_collateral (${total - offer.offer_collateral})`,
      );
    rule(() => checkFundingPubkey(accept.funding_pubkey, offer.funding_pubkey));
    rule(() => checkStandardSpk(accept.payout_spk, "the accept's payout_spk"));
    rule(() => checkStandardSpk(accept.change_spk, "the accept's change_spk"));
  }

  /** At the offerer: checks the accept, signs CETs, refund and funding inputs; answers sign_dlc. */
  async signAccept(acceptHex: string, caller: string): Promise<{ id: string; contract_id: string; sign: string }> {
    const accept = rule(() => decodeAccept(Buffer.from(acceptHex, 'hex')));
    const id = accept.temporary_contract_id;
    return this.locks.run(id, async () => {
      const rec = await this.get(id);
      if (rec.role !== 'offerer' || rec.state !== 'offered')
        throw rpcError('Conflict', `contract ${id} is ${rec.state} (${rec.role}); an accept fits an offered contract of ours`);
      const offer = await this.readOffer(rec.offer, HARD_LIMITS, `our offer ${id.slice(0, 16)}`);
      this.checkAcceptShape(offer, accept);
      rule(() => checkCompactLowS(accept.refund_signature, "the accepter's refund signature"));
      await this.checkTheirInputs(accept.funding_inputs, 'accepter', offer.funding_inputs);
      const f = rule(() => buildFunding(offer, accept));
      // The CETs, their sighashes and adaptor points, and the accepter's adaptor signatures checked: in a worker.
      const prepared = await this.workers.run<Prepared>(
        { op: 'prepare', offer, accept: acceptTerms(accept), check: { pubkey: accept.funding_pubkey, adaptor: accept.cet_adaptor_signatures } },
        `checking the accept of ${id.slice(0, 16)}`,
      );
      this.checkCounterparty(offer, prepared, accept.funding_pubkey, accept.refund_signature, 'accepter');
      const signing = { kind: 'dlc' as const, contract: id, counterparty: accept.funding_pubkey };
      const sigs = await this.cetSignatures(prepared, rec.keys.funding, caller, signing, offer.offer_collateral);
      const funding = await this.signFunding(f, [...offer.funding_inputs, ...accept.funding_inputs], offer.funding_inputs, caller, {
        ...signing,
        purpose: 'funding',
        spends_sat: Number(offer.offer_collateral),
      });
      const cid = contractId(f, id);
      const signHex = hex(
        encodeSign({
          protocol_version: PROTOCOL_VERSION,
          contract_id: cid,
          cet_adaptor_signatures: sigs.adaptor,
          refund_signature: sigs.refund,
          funding_signatures: funding.stacks,
        }),
      );
      const full: Messages = { accept: acceptHex.toLowerCase(), sign: signHex };
      await this.save(
        {
          ...rec,
          state: 'signed',
          accept: publicAccept(full.accept!),
          sign: publicSign(signHex),
          sealed: await this.seal(id, full),
          contract_id: cid,
          funding_txid: f.funding.getId(),
        },
        rec.state,
      );
      this.log.info({ id, contract_id: cid, caller }, 'DLC signed');
      return { id, contract_id: cid, sign: signHex };
    });
  }

  /**
   * The offerer's funding witnesses in sign_dlc: one stack per input of its, in input_serial_id order, each fit for
   * its kind of output; every signature strict DER, SIGHASH_ALL, low S (BIP 66, BIP 146); a P2WPKH input's (native
   * or wrapped) verified against its key and the funding transaction, a P2TR key-path one (BIP 340) against the
   * output key; no witness larger than its input's max_witness_len. What a P2WSH script needs is not known here:
   * its stack's DER signatures are held to the same encoding rules, the node checks the rest.
   */
  private checkFundingWitnesses(f: DlcFunding, all: FundingInput[], theirs: FundingInput[], stacks: string[][]): void {
    if (stacks.length !== theirs.length) throw rpcError('InvalidParams', `the offerer sent ${stacks.length} funding witnesses for ${theirs.length} inputs`);
    const sorted = [...theirs].sort((a, b) => (a.input_serial_id < b.input_serial_id ? -1 : 1));
    const outpoint = (i: FundingInput): string => `${bitcoin.Transaction.fromHex(i.prev_tx).getId()}:${i.prev_tx_vout}`;
    const index = new Map(f.funding.ins.map((x, idx) => [`${hex(Buffer.from(x.hash).reverse())}:${x.index}`, idx]));
    const prevouts = f.funding.ins.map((x) => {
      const i = all.find((a) => outpoint(a) === `${hex(Buffer.from(x.hash).reverse())}:${x.index}`)!;
      const out = bitcoin.Transaction.fromHex(i.prev_tx).outs[i.prev_tx_vout]!;
      return { script: Buffer.from(out.script), value: BigInt(out.value) };
    });
    sorted.forEach((inp, k) => {
      const what = `the offerer's funding witness ${k + 1}`;
      const stack = stacks[k]!.map((e) => Buffer.from(e, 'hex'));
      const { kind } = rule(() => checkFundingInput(inp, what));
      const idx = index.get(outpoint(inp))!;
      if (kind === 'p2wpkh' || kind === 'p2sh-p2wpkh') {
        if (stack.length !== 2 || stack[1]!.length !== 33) throw rpcError('InvalidParams', `${what}: a P2WPKH witness is a signature and a 33-byte key`);
        rule(() => checkDerLowS(stack[0]!, `${what}'s signature`));
        const program = kind === 'p2wpkh' ? prevouts[idx]!.script.subarray(2) : Buffer.from(inp.redeem_script, 'hex').subarray(2);
        if (!Buffer.from(bitcoin.crypto.hash160(stack[1]!)).equals(program)) throw rpcError('InvalidParams', `${what}: its key is not the one the output pays`);
        const scriptCode = bitcoin.payments.p2pkh({ hash: Buffer.from(program) }).output!;
        const digest = f.funding.hashForWitnessV0(idx, Buffer.from(scriptCode), prevouts[idx]!.value, SIGHASH_ALL);
        const sig = bitcoin.script.signature.decode(stack[0]!).signature;
        if (!secp256k1.verify(sig, digest, stack[1]!, { prehash: false, lowS: true }))
          throw rpcError('InvalidParams', `${what}: the signature does not verify for the funding transaction`);
      } else if (kind === 'p2tr') {
        const sighash = (hashType: number): Uint8Array =>
          f.funding.hashForWitnessV1(
            idx,
            prevouts.map((p) => p.script),
            prevouts.map((p) => p.value),
            hashType,
          );
        rule(() => checkTaprootKeySpend(stack, prevouts[idx]!.script.subarray(2), sighash, what));
      } else {
        if (stack.length < 2) throw rpcError('InvalidParams', `${what}: a P2WSH witness ends with its script`);
        stack.slice(0, -1).forEach((e, j) => {
          if (e.length >= 9 && e.length <= 73 && e[0] === 0x30) rule(() => checkDerLowS(e, `${what} element ${j + 1}`));
        });
      }
      // After the kind's own checks (which name a malformed signature first): no larger than the input declared.
      rule(() => checkWitnessLen(stack, inp.max_witness_len, what));
    });
  }

  /** At the accepter: checks sign_dlc, signs its funding inputs, broadcasts the funding transaction. */
  async finalize(signHex: string, caller: string): Promise<{ id: string; contract_id: string; txid: string }> {
    const sign: Sign = rule(() => decodeSign(Buffer.from(signHex, 'hex')));
    const rec = (await this.list()).find((r) => r.contract_id === sign.contract_id && r.role === 'accepter');
    if (!rec) throw rpcError('NotFound', `no accepted contract with contract_id ${sign.contract_id}`);
    return this.locks.run(rec.id, async () => {
      const cur = await this.get(rec.id);
      if (cur.state !== 'accepted') throw rpcError('Conflict', `contract ${cur.id} is ${cur.state}; sign_dlc fits an accepted one`);
      // Our accept as sent, resealed below with the sign: opened before anything is signed (Locked refuses here).
      const ours = await this.messages(cur);
      const offer = await this.readOffer(cur.offer, HARD_LIMITS, `the offer of ${cur.id.slice(0, 16)}`);
      const accept = decodeAccept(Buffer.from(cur.accept!, 'hex'));
      const f = buildFunding(offer, accept);
      const all = [...offer.funding_inputs, ...accept.funding_inputs];
      rule(() => checkCompactLowS(sign.refund_signature, "the offerer's refund signature"));
      this.checkFundingWitnesses(f, all, offer.funding_inputs, sign.funding_signatures);
      const prepared = await this.workers.run<Prepared>(
        { op: 'prepare', offer, accept: acceptTerms(accept), check: { pubkey: offer.funding_pubkey, adaptor: sign.cet_adaptor_signatures } },
        `checking the sign of ${cur.id.slice(0, 16)}`,
      );
      this.checkCounterparty(offer, prepared, offer.funding_pubkey, sign.refund_signature, 'offerer');
      const { psbt } = await this.signFunding(f, all, accept.funding_inputs, caller, {
        kind: 'dlc',
        contract: cur.id,
        counterparty: offer.funding_pubkey,
        purpose: 'funding',
        spends_sat: Number(accept.accept_collateral),
      });
      const offerInputs = [...offer.funding_inputs].sort((a, b) => (a.input_serial_id < b.input_serial_id ? -1 : 1));
      // The unsigned funding transaction with every witness: ours from the HSM's PSBT, the offerer's from sign_dlc.
      const tx = f.funding.clone();
      psbt.data.inputs.forEach((input, idx) => {
        if (input.finalScriptWitness)
          tx.setWitness(
            idx,
            witnessStack(input.finalScriptWitness).map((e) => Buffer.from(e, 'hex')),
          );
      });
      offerInputs.forEach((inp, k) => {
        const prevId = bitcoin.Transaction.fromHex(inp.prev_tx).getId();
        const idx = tx.ins.findIndex((x) => hex(Buffer.from(x.hash).reverse()) === prevId && x.index === inp.prev_tx_vout);
        tx.setWitness(
          idx,
          sign.funding_signatures[k]!.map((e) => Buffer.from(e, 'hex')),
        );
      });
      // Sealed before the funding is sent: once it is, the offerer's CET signatures are what lets us claim, so the
      // record that keeps them must not be left unwritten by a keystore locked in between.
      const sealed = await this.seal(cur.id, { accept: ours.accept, sign: signHex.toLowerCase() });
      const txid = await this.chain.broadcast(tx.toHex(), 'the funding');
      await this.save({ ...cur, state: 'broadcast', sign: publicSign(signHex), sealed, funding_txid: txid }, cur.state);
      this.log.info({ id: cur.id, txid, caller }, 'DLC funding broadcast');
      return { id: cur.id, contract_id: cur.contract_id!, txid };
    });
  }

  /** The messages as one value sealed for this contract (Locked while the keystore is locked). */
  private async seal(id: string, m: Messages): Promise<string> {
    return this.hsm.sealSecret(sealPurpose(id), packMessages(m));
  }

  /** The accept and sign as exchanged, with every signature: opened from the sealed value, or a clear old record's. */
  private async messages(rec: ContractRecord): Promise<Messages> {
    if (rec.sealed === undefined) return { accept: rec.accept, sign: rec.sign };
    return unpackMessages(await this.hsm.openSecret(sealPurpose(rec.id), rec.sealed));
  }

  /** The counterparty's CET adaptor signatures and refund signature (sealed at rest): for a close only. */
  private async theirSignatures(rec: ContractRecord): Promise<{ adaptor: string[]; refund: string }> {
    const m = await this.messages(rec);
    if (!m.accept || !m.sign) throw rpcError('Conflict', `contract ${rec.id} is ${rec.state}: not signed by both parties yet`);
    const theirs = rec.role === 'offerer' ? decodeAccept(Buffer.from(m.accept, 'hex')) : decodeSign(Buffer.from(m.sign, 'hex'));
    return { adaptor: theirs.cet_adaptor_signatures, refund: theirs.refund_signature };
  }

  /**
   * dlc.get's messages: as exchanged (opened) for a caller that may act on the contract while the keystore is open;
   * without their CET and refund signatures (what is kept in clear) for a readonly caller, or while it is locked
   * (dlc.get keeps answering the contract's state then). `signatures` says which.
   */
  async exchanged(
    id: string,
    withSignatures: boolean,
  ): Promise<{ rec: ContractRecord; accept: string | null; sign: string | null; signatures: 'included' | 'omitted' }> {
    const rec = await this.get(id);
    if (withSignatures && (rec.accept !== null || rec.sign !== null)) {
      try {
        return { rec, ...(await this.messages(rec)), signatures: 'included' };
      } catch (err) {
        if (!(err instanceof RpcError && err.code === ErrorCode.Locked)) throw err;
      }
    }
    return { rec, accept: rec.accept && publicAccept(rec.accept), sign: rec.sign && publicSign(rec.sign), signatures: 'omitted' };
  }

  /**
   * Seals the records an earlier anyad wrote in clear (no `sealed`), once the keystore is open: each under its
   * contract's lock, read again there; then compacts the room's range, for LevelDB keeps an overwritten value in
   * its files until then. Stops at the first refusal (Locked): the next block tries again.
   */
  private async resealClear(): Promise<void> {
    if (this.allSealed) return;
    let sealed = 0;
    try {
      for (const r of await this.list()) {
        if (r.sealed !== undefined || (r.accept === null && r.sign === null)) continue;
        const done = await this.locks.run(r.id, async () => {
          const rec = await this.get(r.id);
          if (rec.sealed !== undefined) return false;
          const full: Messages = { accept: rec.accept, sign: rec.sign };
          const next: ContractRecord = {
            ...rec,
            accept: full.accept && publicAccept(full.accept),
            sign: full.sign && publicSign(full.sign),
            sealed: await this.seal(rec.id, full),
          };
          await this.store.batch([{ type: 'put', sublevel: this.db, key: `c:${rec.id}`, value: next }], { sync: true });
          return true;
        });
        if (done) sealed++;
      }
      this.allSealed = true; // every record written from now on is sealed when written
    } catch (err) {
      this.log.debug({ reason: (err as Error).message }, 'DLC records in clear wait for the keystore to be sealed');
    } finally {
      if (sealed > 0) {
        await this.store.compact(this.db).catch((err: Error) => this.log.warn({ reason: err.message }, 'DLC room compaction failed'));
        this.log.info({ sealed }, 'DLC contract signatures sealed by the HSM room');
      }
    }
  }

  /** Both parties' messages of a signed contract (terms: no signature needed), its transactions, and the keys. */
  private async parts(rec: ContractRecord): Promise<ContractParts> {
    if (!rec.accept || !rec.sign) throw rpcError('Conflict', `contract ${rec.id} is ${rec.state}: not signed by both parties yet`);
    // A signed contract's messages never change: decode them (an oracle signature check, a numeric curve's
    // evaluation) and build its transactions once, in a worker, not at every block the follower looks at it.
    const cached = this.partsCache.get(rec.id);
    if (cached) return cached;
    const offer = await this.readOffer(rec.offer, HARD_LIMITS, `the contract ${rec.id.slice(0, 16)}`);
    const accept = decodeAccept(Buffer.from(rec.accept, 'hex'));
    const f = buildFunding(offer, accept);
    const cets = (await this.workers.run<string[]>({ op: 'cets', offer, accept: acceptTerms(accept) }, `the CETs of ${rec.id.slice(0, 16)}`)).map((h) =>
      bitcoin.Transaction.fromHex(h),
    );
    const t: DlcTransactions = { ...f, cets, refund: buildRefund(offer, accept, f) };
    const offerer = rec.role === 'offerer';
    const theirKey = offerer ? accept.funding_pubkey : offer.funding_pubkey;
    const parts: ContractParts = {
      offer,
      accept,
      t,
      theirKey,
      ourKey: offerer ? offer.funding_pubkey : accept.funding_pubkey,
      signing: { kind: 'dlc', contract: rec.id, counterparty: theirKey },
      ownCollateral: offerer ? offer.offer_collateral : accept.accept_collateral,
    };
    this.partsCache.set(rec.id, parts);
    return parts;
  }

  /** The 2-of-2 witness: empty, then the signatures in the order of the sorted keys, then the script. */
  private spendFunding(tx: bitcoin.Transaction, t: DlcTransactions, ours: { key: string; sig: Buffer }, theirs: { key: string; sig: Buffer }): string {
    const [first, second] = [ours, theirs].sort((a, b) => a.key.localeCompare(b.key));
    tx.setWitness(0, [Buffer.alloc(0), first!.sig, second!.sig, t.fundingScript]);
    return tx.toHex();
  }

  /**
   * With the oracle's attestation (or, for a contract on several oracles, the attestations of at least `threshold`
   * of them agreeing on an outcome): the CET of the attested outcome, completed with both signatures, and broadcast.
   */
  async settle(id: string, attestationsHex: string[], caller: string): Promise<{ id: string; outcome: string; txid: string }> {
    return this.locks.run(id, async () => {
      const rec = await this.get(id);
      if (rec.state !== 'broadcast' && rec.state !== 'confirmed') throw rpcError('Conflict', `contract ${id} is ${rec.state}; a CET closes a funded contract`);
      const { offer, t, theirKey, ourKey, signing, ownCollateral } = await this.parts(rec);
      const { adaptor: theirAdaptor } = await this.theirSignatures(rec);
      let cetIdx: number;
      let idx: number;
      let s: Buffer;
      try {
        const ci = offer.contract_info;
        if (ci.oracles)
          ({ cetIdx, idx, s } = attestedByThreshold(
            ci,
            attestationsHex.map((h) => decodeAttestation(Buffer.from(h, 'hex'))),
          ));
        else {
          if (attestationsHex.length !== 1)
            throw rpcError('InvalidParams', `this contract has one oracle: give its one attestation, not ${attestationsHex.length}`);
          const one = attestedCet(ci, ci.announcement, decodeAttestation(Buffer.from(attestationsHex[0]!, 'hex')));
          cetIdx = idx = one.cet;
          s = sumScalars(one.s);
        }
      } catch (err) {
        throw asRpc(err);
      }
      const outcome = offer.contract_info.payouts[cetIdx]!.outcome;
      const cet = t.cets[cetIdx]!;
      const digest = closingSighash(cet, t);
      const theirs = derWithSighash(adaptorDecrypt(Buffer.from(theirAdaptor[idx]!, 'hex'), s));
      const ours = Buffer.concat([
        await this.hsm.signDigest(rec.keys.funding, digest, caller, { ...signing, purpose: 'cet', spends_sat: Number(ownCollateral) }),
        Buffer.of(SIGHASH_ALL),
      ]);
      const closingHex = this.spendFunding(cet, t, { key: ourKey, sig: ours }, { key: theirKey, sig: theirs });
      const txid = await this.chain.broadcast(closingHex, `the CET ("${outcome}")`);
      await this.save({ ...rec, state: 'closing', outcome, closing_txid: txid, closing_hex: closingHex }, rec.state);
      this.log.info({ id, outcome, txid, caller }, 'DLC CET broadcast');
      return { id, outcome, txid };
    });
  }

  /** The refund transaction, completed with both signatures, and broadcast (the node refuses it before its locktime). */
  async refund(id: string, caller: string): Promise<{ id: string; txid: string }> {
    return this.locks.run(id, async () => {
      const rec = await this.get(id);
      if (rec.state !== 'broadcast' && rec.state !== 'confirmed')
        throw rpcError('Conflict', `contract ${id} is ${rec.state}; the refund spends a funded contract`);
      const { t, theirKey, ourKey, signing, ownCollateral } = await this.parts(rec);
      const { refund: theirRefund } = await this.theirSignatures(rec);
      const digest = closingSighash(t.refund, t);
      const ours = Buffer.concat([
        await this.hsm.signDigest(rec.keys.funding, digest, caller, { ...signing, purpose: 'refund', spends_sat: Number(ownCollateral) }),
        Buffer.of(SIGHASH_ALL),
      ]);
      const closingHex = this.spendFunding(t.refund, t, { key: ourKey, sig: ours }, { key: theirKey, sig: derWithSighash(Buffer.from(theirRefund, 'hex')) });
      const txid = await this.chain.broadcast(closingHex, 'the refund');
      await this.save({ ...rec, state: 'refunding', closing_txid: txid, closing_hex: closingHex }, rec.state);
      this.log.info({ id, txid, caller }, 'DLC refund broadcast');
      return { id, txid };
    });
  }

  /** An announcement from the configured oracles (dlc.oracle), verified; with the oracle it came from. */
  async fetchAnnouncement(eventId: string): Promise<{ announcement: string; oracle: string }> {
    if (this.oracles.length === 0) throw rpcError('Unsupported', 'no oracle is configured (dlc.oracle)');
    const reasons: string[] = [];
    for (const o of this.oracles) {
      try {
        const tlv = await o.announcement(eventId);
        if (!tlv) {
          reasons.push(`${o.base}: no such event`);
          continue;
        }
        verifyAnnouncement(tlv);
        return { announcement: hex(tlv), oracle: o.base };
      } catch (err) {
        if (err instanceof OracleUnreachable || err instanceof OracleError) reasons.push(`${o.base}: ${err.message}`);
        else throw err;
      }
    }
    throw rpcError('NotFound', `no configured oracle gave a valid announcement of ${eventId}: ${reasons.join('; ')}`);
  }

  /** The attestations of a contract's event from the configured oracles its announcements name, as far as they have attested. */
  private async fetchAttestations(offer: Offer): Promise<string[]> {
    const ci = offer.contract_info;
    const out: string[] = [];
    for (const ann of ci.oracles?.announcements ?? [ci.announcement])
      for (const o of this.oracles) {
        if ((await o.publicKey()) !== ann.oracle_public_key) continue;
        const att = await o.attestation(ann.event.event_id);
        if (att) out.push(hex(att));
        break;
      }
    return out;
  }

  /** One look at every open contract after a block. */
  private async follow(blockHash: string): Promise<void> {
    await this.resealClear();
    // A cancelled contract that was signed by both is watched too: the counterparty holds our funding signatures and
    // may still send its funding transaction.
    const open = (await this.list()).filter((r) => OPEN.includes(r.state) || (r.state === 'cancelled' && r.sign !== null));
    if (open.length === 0) return;
    const header = await this.chain.node<{ height: number; mediantime?: number; time: number }>('getblockheader', blockHash);
    for (const r of open)
      await this.locks
        .run(r.id, () => this.followOne(r.id, header, blockHash))
        .catch((err: Error) => this.log.warn({ id: r.id, reason: err.message }, 'DLC follow failed'));
  }

  /**
   * Confirmations of a transaction: from gettxout on one of its outputs while unspent (what a node without
   * txindex can answer; 0 in the mempool), else getrawtransaction (a txindex or the mempool), else undefined.
   */
  private async confirmations(txid: string, vout: number): Promise<number | undefined> {
    const out = await this.chain.node<{ confirmations?: number } | null>('gettxout', txid, vout, true).catch(() => null);
    if (out) return out.confirmations ?? 0;
    try {
      const tx = await this.chain.node<{ confirmations?: number }>('getrawtransaction', txid, true);
      return tx.confirmations ?? 0;
    } catch {
      return undefined; // not known to the node (yet), or spent and no txindex: the block scan below sees spends
    }
  }

  /**
   * A mutual close proposed by us: we take `payout_sat` of the total collateral, the counterparty the rest, and the
   * fee is what the funding output holds beyond the collateral (the CET fee both parties already put in). Answers
   * close_dlc with our signature; the counterparty completes and broadcasts it (dlc.closeaccept).
   */
  async proposeClose(
    id: string,
    payoutSat: number,
    caller: string,
  ): Promise<{ id: string; close: string; txid: string; offer_payout_sat: number; accept_payout_sat: number }> {
    return this.locks.run(id, async () => {
      const rec = await this.get(id);
      if (rec.state !== 'broadcast' && rec.state !== 'confirmed')
        throw rpcError('Conflict', `contract ${id} is ${rec.state}; a mutual close spends a funded contract`);
      const { offer, accept, t, signing, ownCollateral } = await this.parts(rec);
      const total = offer.contract_info.total_collateral;
      const ours = BigInt(payoutSat);
      if (ours > total) throw rpcError('InvalidParams', `payout_sat ${payoutSat} is more than the total collateral ${total}`);
      const [offerPayout, acceptPayout] = rec.role === 'offerer' ? [ours, total - ours] : [total - ours, ours];
      let tx: bitcoin.Transaction;
      try {
        tx = mutualClose(offer, accept, t, offerPayout, acceptPayout);
      } catch (err) {
        throw asRpc(err);
      }
      // Every proposal stays takeable (its signature is out), so each is kept to be recognised on chain; bounded.
      const txid = tx.getId();
      const proposals = rec.mutual_closes ?? [];
      const known = proposals.some((p) => p.txid === txid);
      if (!known && proposals.length >= MAX_CLOSE_PROPOSALS)
        throw rpcError('Conflict', `contract ${id} has ${proposals.length} mutual close proposals outstanding already; the counterparty may take any of them`);
      const signature = compactOf(
        await this.hsm.signDigest(rec.keys.funding, closingSighash(tx, t), caller, {
          ...signing,
          purpose: 'close',
          spends_sat: closeSpends(ownCollateral, ours),
        }),
      );
      const close = hex(
        encodeClose({
          contract_id: rec.contract_id!,
          close_signature: signature,
          offer_payout: offerPayout,
          accept_payout: acceptPayout,
          fund_input_serial_id: u64(),
        }),
      );
      if (!known)
        await this.save({ ...rec, mutual_closes: [...proposals, { txid, offer_payout: String(offerPayout), accept_payout: String(acceptPayout) }] }, rec.state);
      this.log.info({ id, txid, caller }, 'DLC mutual close proposed');
      return { id, close, txid, offer_payout_sat: Number(offerPayout), accept_payout_sat: Number(acceptPayout) };
    });
  }

  /**
   * A counterparty's close_dlc: taken only when it pays us exactly `payout_sat` (refuse rather than guess), its
   * signature verifies against their funding key, and it spends our contract's funding output; then completed with
   * our signature and broadcast.
   */
  async acceptClose(closeHex: string, payoutSat: number, caller: string): Promise<{ id: string; txid: string }> {
    let c;
    try {
      c = decodeClose(Buffer.from(closeHex, 'hex'));
    } catch (err) {
      throw asRpc(err);
    }
    const found = (await this.list()).find((r) => r.contract_id === c.contract_id);
    if (!found) throw rpcError('NotFound', `no contract has contract_id ${c.contract_id}`);
    return this.locks.run(found.id, async () => {
      const rec = await this.get(found.id);
      if (rec.state !== 'broadcast' && rec.state !== 'confirmed')
        throw rpcError('Conflict', `contract ${rec.id} is ${rec.state}; a mutual close spends a funded contract`);
      const { offer, accept, t, theirKey, ourKey, signing, ownCollateral } = await this.parts(rec);
      const ours = rec.role === 'offerer' ? c.offer_payout : c.accept_payout;
      if (ours !== BigInt(payoutSat))
        throw rpcError('InvalidParams', `the close pays this party ${ours} sat, not the payout_sat ${payoutSat} it expects; not signed`);
      rule(() => checkCloseFee(c.offer_payout, c.accept_payout, offer.contract_info.total_collateral));
      let tx: bitcoin.Transaction;
      try {
        tx = mutualClose(offer, accept, t, c.offer_payout, c.accept_payout);
      } catch (err) {
        throw asRpc(err);
      }
      const digest = closingSighash(tx, t);
      const theirSig = Buffer.from(c.close_signature, 'hex');
      // BIP 146: a high-S signature would make the close non-standard; refused before ours is made.
      rule(() => checkCompactLowS(c.close_signature, 'close_dlc: close_signature'));
      if (!secp256k1.verify(theirSig, digest, Buffer.from(theirKey, 'hex'), { prehash: false, lowS: true }))
        throw rpcError('InvalidParams', "close_dlc: close_signature does not verify against the counterparty's funding key for this close");
      const mine = Buffer.concat([
        await this.hsm.signDigest(rec.keys.funding, digest, caller, { ...signing, purpose: 'close', spends_sat: closeSpends(ownCollateral, ours) }),
        Buffer.of(SIGHASH_ALL),
      ]);
      const closingHex = this.spendFunding(tx, t, { key: ourKey, sig: mine }, { key: theirKey, sig: derWithSighash(theirSig) });
      const txid = await this.chain.broadcast(closingHex, 'the mutual close');
      const mutual = { txid, offer_payout: String(c.offer_payout), accept_payout: String(c.accept_payout) };
      await this.save({ ...rec, state: 'closing', closing_txid: txid, closing_hex: closingHex, mutual_closes: [mutual] }, rec.state);
      this.log.info({ id: rec.id, txid, caller }, 'DLC mutual close broadcast');
      return { id: rec.id, txid };
    });
  }

  private async followOne(id: string, header: { height: number; mediantime?: number; time: number }, blockHash: string): Promise<void> {
    const rec = await this.get(id);
    if (rec.state === 'cancelled') {
      const c = await this.confirmations(rec.funding_txid!, (await this.parts(rec)).t.fundOutputIndex);
      if (c === undefined) return;
      this.log.warn({ id, txid: rec.funding_txid }, 'DLC cancelled contract funded after all (the counterparty sent its funding): followed again');
      await this.save({ ...rec, state: 'broadcast' }, 'cancelled');
      if (c >= 1) await this.save({ ...(await this.get(id)), state: 'confirmed' }, 'broadcast');
      return;
    }
    if (rec.state === 'signed' || rec.state === 'broadcast') {
      const c = await this.confirmations(rec.funding_txid!, (await this.parts(rec)).t.fundOutputIndex);
      if (c === undefined) return;
      if (rec.state === 'signed') await this.save({ ...rec, state: 'broadcast' }, 'signed');
      if (c >= 1) await this.save({ ...(await this.get(id)), state: 'confirmed' }, 'broadcast');
      return;
    }
    if (rec.state === 'closing' || rec.state === 'refunding') {
      // In this block (a node without txindex cannot say later), or confirmed already.
      const inBlock = (await this.chain.blockTxids(blockHash)).includes(rec.closing_txid!);
      const confirmations = inBlock ? 1 : await this.confirmations(rec.closing_txid!, 0);
      if ((confirmations ?? 0) >= 1) {
        await this.save({ ...rec, state: rec.state === 'closing' ? 'closed' : 'refunded' }, rec.state);
        return;
      }
      if (confirmations !== undefined) return; // in the mempool
      // The node does not know it: dropped from its mempool (a restart, an eviction), or refused after accepting
      // it for relay (bcoin answers sendrawtransaction before its mempool decides). Sent again while the funding
      // output is unspent, with the node's reason in the log if it refuses; otherwise the spend is looked for below.
      if (rec.closing_hex && (await this.fundingUnspent(rec))) {
        const what = rec.mutual_closes?.some((m) => m.txid === rec.closing_txid) ? 'the mutual close' : rec.state === 'closing' ? 'the CET' : 'the refund';
        await this.chain.broadcast(rec.closing_hex, what).then(
          () => this.log.info({ id, txid: rec.closing_txid }, 'DLC closing transaction sent again: the node did not know it'),
          (err: Error) => this.log.warn({ id, txid: rec.closing_txid, reason: err.message }, 'DLC closing transaction refused; next block retries'),
        );
        return;
      }
    } else if (rec.state !== 'confirmed') return;
    const { offer, t } = await this.parts(rec);
    const unspent = rec.state === 'confirmed' && (await this.fundingUnspent(rec));
    if (unspent && this.autoclose && Date.now() / 1000 >= offer.contract_info.announcement.event.maturity_epoch) {
      const attestations = await this.fetchAttestations(offer).catch((err: Error) => {
        this.log.warn({ id, reason: err.message }, 'DLC oracle not reached; next block retries');
        return [] as string[];
      });
      if (attestations.length >= (offer.contract_info.oracles?.threshold ?? 1)) {
        this.log.info({ id }, 'DLC attestation fetched: closing');
        await this.locksFree(() => this.settle(id, attestations, 'dlc.autoclose'));
        return;
      }
    }
    if (unspent) {
      const locktime = offer.refund_locktime;
      const due = locktime >= 500_000_000 ? (header.mediantime ?? header.time) >= locktime : header.height >= locktime;
      if (due && this.autorefund) {
        this.log.info({ id }, 'DLC refund locktime passed: refunding');
        await this.locksFree(() => this.refund(id, 'dlc.autorefund'));
      }
      return;
    }
    // Spent by the counterparty (or by us elsewhere): a CET of a known outcome, the refund, or the mutual close we
    // proposed.
    const known = new Map<string, { state: ContractState; outcome: string | null }>([
      [t.refund.getId(), { state: 'refunded', outcome: null }],
      ...offer.contract_info.payouts.map(
        (p, i) => [t.cets[i]!.getId(), { state: 'closed', outcome: p.outcome }] as [string, { state: ContractState; outcome: string }],
      ),
      ...(rec.mutual_closes ?? []).map((m) => [m.txid, { state: 'closed', outcome: null }] as [string, { state: ContractState; outcome: null }]),
    ]);
    for (const txid of await this.chain.blockTxids(blockHash)) {
      const k = known.get(txid);
      if (!k) continue;
      await this.save({ ...rec, state: k.state, closing_txid: txid, closing_hex: undefined, outcome: k.outcome }, rec.state);
      return;
    }
  }

  /** Whether the funding output is unspent, the node's mempool included. */
  private async fundingUnspent(rec: ContractRecord): Promise<boolean> {
    return (await this.chain.node<unknown>('gettxout', rec.funding_txid!, (await this.parts(rec)).t.fundOutputIndex, true)) !== null;
  }

  /** Runs fn after the current lock holder (followOne) returns: refund() takes the same contract lock. */
  private locksFree(fn: () => Promise<unknown>): Promise<void> {
    setImmediate(() => void fn().catch((err: Error) => this.log.warn({ reason: err.message }, 'DLC automatic close or refund failed; next block retries')));
    return Promise.resolve();
  }
}
