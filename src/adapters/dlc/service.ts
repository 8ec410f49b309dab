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
import { adaptorDecrypt, adaptorVerify } from '../../core/ecdsa-adaptor.js';
import { bitcoinNetwork, chainHash } from '../../core/bitcoin-network.js';
import { rpcError } from '../../rpc/errors.js';
import type { EventBus } from '../../rpc/events.js';
import type { BatchOp, RoomDb, Store } from '../../store/store.js';
import type { BitcoinApi } from '../bitcoin/room.js';
import type { HsmApi } from '../../hsm/room.js';
import {
  decodeAccept,
  decodeClose,
  decodeOffer,
  decodeSign,
  encodeAccept,
  encodeClose,
  encodeOffer,
  encodeSign,
  checkOracleSet,
  MAX_ORACLES,
  MessageError,
  numericPayouts,
  PROTOCOL_VERSION,
  type Accept,
  type ContractInfo,
  type FundingInput,
  type Offer,
} from './messages.js';
import { NumericError, type NumericDescriptor } from './numeric.js';
import { decodeAttestation, OracleError, verifyAnnouncement, type OracleAnnouncement } from './oracle.js';
import { OracleUnreachable, type OracleClient } from './oracle-client.js';
import { adaptorPoints, attestedByThreshold, attestedCet, sumScalars } from './outcomes.js';
import { buildTransactions, closingSighash, contractId, DlcTxError, mutualClose, type DlcTransactions } from './transactions.js';
import type { Logger } from 'pino';

export type ContractState = 'offered' | 'accepted' | 'signed' | 'broadcast' | 'confirmed' | 'closing' | 'closed' | 'refunding' | 'refunded' | 'cancelled';
const OPEN: readonly ContractState[] = ['signed', 'broadcast', 'confirmed', 'closing', 'refunding'];

export interface ContractRecord {
  id: string;
  role: 'offerer' | 'accepter';
  state: ContractState;
  offer: string;
  accept: string | null;
  sign: string | null;
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
  if (err instanceof MessageError || err instanceof OracleError || err instanceof DlcTxError) return rpcError('InvalidParams', err.message);
  return err;
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

const compactOf = (der: Uint8Array): string => hex(secp256k1.Signature.fromBytes(der, 'der').toBytes('compact'));
const derWithSighash = (compact: Uint8Array): Buffer => Buffer.from(bitcoin.script.signature.encode(Buffer.from(compact), SIGHASH_ALL));

interface ContractParts {
  offer: Offer;
  accept: Accept;
  t: DlcTransactions;
  theirAdaptor: string[];
  theirRefund: string;
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
  ) {
    this.net = bitcoinNetwork(network);
  }

  async open(): Promise<void> {
    // Every block: look at the open contracts' transactions (one look at a time, in block order).
    this.unlisten = this.bus.listen((topic, data) => {
      if (topic === 'chain.block')
        this.following = this.following
          .then(() => this.follow((data as { hash: string }).hash))
          .catch((err: Error) => this.log.warn({ reason: err.message }, 'DLC follow failed; next block retries'));
    });
    this.cell.set('ok', 'following contracts through the bitcoin room');
  }

  async close(): Promise<void> {
    this.unlisten?.();
    await this.following;
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
    this.bus.publish('dlc.contract', { id: rec.id, contract_id: rec.contract_id, state: rec.state, previous, txid, outcome: rec.outcome });
    return rec;
  }

  private async newKeys(id: string): Promise<{ keys: ContractRecord['keys']; funding: string; payoutSpk: string; changeSpk: string }> {
    // Refused before any key is made when the HSM cannot sign CETs.
    const refusal = this.hsm.adaptorRefusal();
    if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
    const [funding, payout, change] = await Promise.all(['funding', 'payout', 'change'].map((k) => this.hsm.generateKey(`dlc ${id.slice(0, 16)} ${k}`, null)));
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

  /** Drops a contract that was not funded yet (offered, or accepted before the offerer signed): its coins are free again. */
  async cancel(id: string, caller: string): Promise<{ id: string; state: string }> {
    return this.locks.run([id, 'utxos'], async () => {
      const rec = await this.get(id);
      if (rec.state !== 'offered' && rec.state !== 'accepted')
        throw rpcError('Conflict', `contract ${id} is ${rec.state}: only an offered or accepted contract (no funding signed by us) can be cancelled`);
      const ops: BatchOp[] = [];
      for await (const [k, v] of this.db.iterator({ gte: 'u:', lt: 'u;' })) if (v === id) ops.push({ type: 'del', sublevel: this.db, key: k });
      await this.save({ ...rec, state: 'cancelled' }, rec.state, ops);
      this.log.info({ id, caller }, 'DLC cancelled');
      return { id, state: 'cancelled' };
    });
  }

  /** The CETs' payouts of an offer: per enumerated outcome, or from a payout curve over the event's digits. */
  private contractTerms(p: OfferParams, announcement: OracleAnnouncement): { payouts: ContractInfo['payouts']; numeric?: NumericDescriptor } {
    const d = announcement.event.descriptor;
    const total = BigInt(p.total_collateral_sat);
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
    try {
      return { numeric, payouts: numericPayouts(numeric, announcement, total) };
    } catch (err) {
      if (err instanceof NumericError || err instanceof MessageError) throw rpcError('InvalidParams', `payout_curve: ${err.message}`);
      throw err;
    }
  }

  /** The offer's oracles: one announcement, or several with a threshold (enumerated events only). */
  private offerOracles(p: OfferParams): { announcement: OracleAnnouncement; announcement_tlv: string; oracles?: ContractInfo['oracles'] } {
    if ((p.announcement === undefined) === (p.announcements === undefined))
      throw rpcError('InvalidParams', 'give announcement (one oracle) or announcements (several), not both');
    if (p.announcement !== undefined) {
      if (p.threshold !== undefined) throw rpcError('InvalidParams', 'threshold goes with announcements (several oracles)');
      try {
        return { announcement: verifyAnnouncement(Buffer.from(p.announcement, 'hex')), announcement_tlv: p.announcement.toLowerCase() };
      } catch (err) {
        throw asRpc(err);
      }
    }
    const tlvs = p.announcements!.map((a) => a.toLowerCase());
    const threshold = p.threshold ?? tlvs.length;
    if (tlvs.length < 2 || tlvs.length > MAX_ORACLES) throw rpcError('InvalidParams', `announcements takes 2 to ${MAX_ORACLES} oracles`);
    let announcements: OracleAnnouncement[];
    try {
      announcements = tlvs.map((a) => verifyAnnouncement(Buffer.from(a, 'hex')));
      checkOracleSet(announcements, threshold);
    } catch (err) {
      throw asRpc(err);
    }
    return { announcement: announcements[0]!, announcement_tlv: tlvs[0]!, oracles: { threshold, announcements, tlvs } };
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
    return this.locks.run('utxos', async () => {
      const reservations = await this.reserve(id, p.utxos);
      const k = await this.newKeys(id);
      const offer: Offer = {
        protocol_version: PROTOCOL_VERSION,
        contract_flags: 0,
        chain_hash: chainHash(this.network),
        temporary_contract_id: id,
        contract_info: {
          total_collateral: BigInt(p.total_collateral_sat),
          ...contract,
          ...oracles,
        },
        funding_pubkey: k.funding,
        payout_spk: k.payoutSpk,
        payout_serial_id: u64(),
        offer_collateral: BigInt(p.offer_collateral_sat),
        funding_inputs: await this.fundingInputs(p.utxos),
        change_spk: k.changeSpk,
        change_serial_id: u64(),
        fund_output_serial_id: u64(),
        fee_rate_per_vb: BigInt(p.fee_rate_sat_vb),
        cet_locktime,
        refund_locktime,
      };
      const offerHex = hex(encodeOffer(offer));
      await this.save(fresh(id, 'offerer', 'offered', offerHex, k.keys, {}), null, reservations);
      this.log.info({ id, caller }, 'DLC offered');
      return { id, offer: offerHex };
    });
  }

  async accept(offerHex: string, utxos: OfferParams['utxos'], caller: string): Promise<{ id: string; accept: string }> {
    let offer: Offer;
    try {
      offer = decodeOffer(Buffer.from(offerHex, 'hex'));
    } catch (err) {
      throw asRpc(err);
    }
    if (offer.chain_hash !== chainHash(this.network))
      throw rpcError('InvalidParams', `the offer is for another chain (chain_hash ${offer.chain_hash}); this anyad is on ${this.network}`);
    const d = offer.contract_info.announcement.event.descriptor;
    // A numeric offer's CETs come from its payout curve (checked when it was decoded); an enumerated one names each
    // of the event's outcomes once.
    if (!offer.contract_info.numeric && !(d.kind === 'enum' && namesEachOutcome(d.outcomes, offer.contract_info.payouts)))
      throw rpcError('InvalidParams', "the offer's payouts do not name each of the event's outcomes once");
    if (offer.refund_locktime <= offer.cet_locktime) throw rpcError('InvalidParams', 'the offer refunds before its CETs may be used');
    const id = offer.temporary_contract_id;
    return this.locks.run([id, 'utxos'], async () => {
      if (await this.db.get(`c:${id}`)) throw rpcError('Conflict', `contract ${id} is known already`);
      const reservations = await this.reserve(id, utxos);
      const total = offer.contract_info.total_collateral;
      if (offer.offer_collateral > total) throw rpcError('InvalidParams', 'the offer collateral is more than the total');
      const k = await this.newKeys(id);
      const terms: Accept = {
        protocol_version: PROTOCOL_VERSION,
        temporary_contract_id: id,
        accept_collateral: total - offer.offer_collateral,
        funding_pubkey: k.funding,
        payout_spk: k.payoutSpk,
        payout_serial_id: u64(),
        funding_inputs: await this.fundingInputs(utxos),
        change_spk: k.changeSpk,
        change_serial_id: u64(),
        cet_adaptor_signatures: [],
        refund_signature: '',
      };
      let t: DlcTransactions;
      try {
        t = buildTransactions(offer, terms);
      } catch (err) {
        throw asRpc(err);
      }
      const sigs = await this.cetSignatures(offer, t, k.keys.funding, caller);
      terms.cet_adaptor_signatures = sigs.adaptor;
      terms.refund_signature = sigs.refund;
      const acceptHex = hex(encodeAccept(terms));
      const rec = fresh(id, 'accepter', 'accepted', offerHex.toLowerCase(), k.keys, {
        accept: acceptHex,
        contract_id: contractId(t, id),
        funding_txid: t.funding.getId(),
      });
      await this.save(rec, null, reservations);
      this.log.info({ id, caller }, 'DLC accepted');
      return { id, accept: acceptHex };
    });
  }

  /** This party's adaptor signature on every CET (encrypted under its outcome's point) and its refund signature. */
  private async cetSignatures(
    offer: Offer,
    t: DlcTransactions,
    fundingKey: string,
    caller: string,
    points = adaptorPoints(offer.contract_info),
  ): Promise<{ adaptor: string[]; refund: string }> {
    const digests = t.cets.map((cet) => closingSighash(cet, t));
    const items = points.map(({ cet, point }) => ({ point: Buffer.from(point), digest: digests[cet]! }));
    const adaptor = (await this.hsm.adaptorSignAll(fundingKey, items, caller)).map(hex);
    const refund = compactOf(await this.hsm.signDigest(fundingKey, closingSighash(t.refund, t), caller));
    return { adaptor, refund };
  }

  /** The counterparty's signatures, checked before anything of ours is signed or sent. */
  private checkCounterparty(
    offer: Offer,
    t: DlcTransactions,
    pubkey: string,
    adaptor: string[],
    refund: string,
    who: string,
    points = adaptorPoints(offer.contract_info),
  ): void {
    if (adaptor.length !== points.length)
      throw rpcError('InvalidParams', `the ${who} sent ${adaptor.length} CET signatures; the contract has ${points.length} (outcomes × oracle combinations)`);
    const digests = t.cets.map((cet) => closingSighash(cet, t));
    points.forEach(({ cet, point }, i) => {
      if (!adaptorVerify(Buffer.from(pubkey, 'hex'), point, digests[cet]!, Buffer.from(adaptor[i]!, 'hex')))
        throw rpcError(
          'InvalidParams',
          `the ${who}'s adaptor signature for outcome "${offer.contract_info.payouts[cet]!.outcome}"${offer.contract_info.oracles ? ` (signature ${i + 1}, one per oracle combination)` : ''} does not verify`,
        );
    });
    if (!secp256k1.verify(Buffer.from(refund, 'hex'), closingSighash(t.refund, t), Buffer.from(pubkey, 'hex'), { prehash: false, lowS: false }))
      throw rpcError('InvalidParams', `the ${who}'s refund signature does not verify`);
  }

  /** A PSBT of the funding transaction with every input's previous transaction, for the HSM to sign its own. */
  private fundingPsbt(t: DlcTransactions, inputs: FundingInput[]): bitcoin.Psbt {
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
  private async signFunding(t: DlcTransactions, all: FundingInput[], own: FundingInput[], caller: string): Promise<{ psbt: bitcoin.Psbt; stacks: string[][] }> {
    const unsigned = this.fundingPsbt(t, all);
    const signed = await this.hsm.signPsbt(unsigned.toBase64(), caller);
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

  /** At the offerer: checks the accept, signs CETs, refund and funding inputs; answers sign_dlc. */
  async signAccept(acceptHex: string, caller: string): Promise<{ id: string; contract_id: string; sign: string }> {
    let accept: Accept;
    try {
      accept = decodeAccept(Buffer.from(acceptHex, 'hex'));
    } catch (err) {
      throw asRpc(err);
    }
    const id = accept.temporary_contract_id;
    return this.locks.run(id, async () => {
      const rec = await this.get(id);
      if (rec.role !== 'offerer' || rec.state !== 'offered')
        throw rpcError('Conflict', `contract ${id} is ${rec.state} (${rec.role}); an accept fits an offered contract of ours`);
      const offer = decodeOffer(Buffer.from(rec.offer, 'hex'));
      let t: DlcTransactions;
      try {
        t = buildTransactions(offer, accept);
      } catch (err) {
        throw asRpc(err);
      }
      // The CETs' adaptor points (sums of oracle points, for every CET and oracle combination) serve both steps.
      const points = adaptorPoints(offer.contract_info);
      this.checkCounterparty(offer, t, accept.funding_pubkey, accept.cet_adaptor_signatures, accept.refund_signature, 'accepter', points);
      const sigs = await this.cetSignatures(offer, t, rec.keys.funding, caller, points);
      const funding = await this.signFunding(t, [...offer.funding_inputs, ...accept.funding_inputs], offer.funding_inputs, caller);
      const cid = contractId(t, id);
      const signHex = hex(
        encodeSign({
          protocol_version: PROTOCOL_VERSION,
          contract_id: cid,
          cet_adaptor_signatures: sigs.adaptor,
          refund_signature: sigs.refund,
          funding_signatures: funding.stacks,
        }),
      );
      await this.save(
        { ...rec, state: 'signed', accept: acceptHex.toLowerCase(), sign: signHex, contract_id: cid, funding_txid: t.funding.getId() },
        rec.state,
      );
      this.log.info({ id, contract_id: cid, caller }, 'DLC signed');
      return { id, contract_id: cid, sign: signHex };
    });
  }

  /** At the accepter: checks sign_dlc, signs its funding inputs, broadcasts the funding transaction. */
  async finalize(signHex: string, caller: string): Promise<{ id: string; contract_id: string; txid: string }> {
    let sign;
    try {
      sign = decodeSign(Buffer.from(signHex, 'hex'));
    } catch (err) {
      throw asRpc(err);
    }
    const rec = (await this.list()).find((r) => r.contract_id === sign.contract_id && r.role === 'accepter');
    if (!rec) throw rpcError('NotFound', `no accepted contract with contract_id ${sign.contract_id}`);
    return this.locks.run(rec.id, async () => {
      const cur = await this.get(rec.id);
      if (cur.state !== 'accepted') throw rpcError('Conflict', `contract ${cur.id} is ${cur.state}; sign_dlc fits an accepted one`);
      const offer = decodeOffer(Buffer.from(cur.offer, 'hex'));
      const accept = decodeAccept(Buffer.from(cur.accept!, 'hex'));
      const t = buildTransactions(offer, accept);
      this.checkCounterparty(offer, t, offer.funding_pubkey, sign.cet_adaptor_signatures, sign.refund_signature, 'offerer');
      if (sign.funding_signatures.length !== offer.funding_inputs.length)
        throw rpcError('InvalidParams', `the offerer sent ${sign.funding_signatures.length} funding witnesses for ${offer.funding_inputs.length} inputs`);
      const { psbt } = await this.signFunding(t, [...offer.funding_inputs, ...accept.funding_inputs], accept.funding_inputs, caller);
      const offerInputs = [...offer.funding_inputs].sort((a, b) => (a.input_serial_id < b.input_serial_id ? -1 : 1));
      // The unsigned funding transaction with every witness: ours from the HSM's PSBT, the offerer's from sign_dlc.
      const tx = t.funding.clone();
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
      const txid = await this.chain.broadcast(tx.toHex(), 'the funding');
      await this.save({ ...cur, state: 'broadcast', sign: signHex.toLowerCase(), funding_txid: txid }, cur.state);
      this.log.info({ id: cur.id, txid, caller }, 'DLC funding broadcast');
      return { id: cur.id, contract_id: cur.contract_id!, txid };
    });
  }

  /** Both parties' messages of a signed contract, its transactions, and which signatures are the counterparty's. */
  private parts(rec: ContractRecord): ContractParts {
    if (!rec.accept || !rec.sign) throw rpcError('Conflict', `contract ${rec.id} is ${rec.state}: not signed by both parties yet`);
    // A signed contract's messages never change: decode them (an oracle signature check, a numeric curve's
    // evaluation) and build its transactions once, not at every block the follower looks at it.
    const cached = this.partsCache.get(rec.id);
    if (cached) return cached;
    const offer = decodeOffer(Buffer.from(rec.offer, 'hex'));
    const accept = decodeAccept(Buffer.from(rec.accept, 'hex'));
    const sign = decodeSign(Buffer.from(rec.sign, 'hex'));
    const t = buildTransactions(offer, accept);
    const offerer = rec.role === 'offerer';
    const parts: ContractParts = {
      offer,
      accept,
      t,
      theirAdaptor: offerer ? accept.cet_adaptor_signatures : sign.cet_adaptor_signatures,
      theirRefund: offerer ? accept.refund_signature : sign.refund_signature,
      theirKey: offerer ? accept.funding_pubkey : offer.funding_pubkey,
      ourKey: offerer ? offer.funding_pubkey : accept.funding_pubkey,
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
      const { offer, t, theirAdaptor, theirKey, ourKey } = this.parts(rec);
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
      const ours = Buffer.concat([await this.hsm.signDigest(rec.keys.funding, digest, caller), Buffer.of(SIGHASH_ALL)]);
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
      const { t, theirRefund, theirKey, ourKey } = this.parts(rec);
      const digest = closingSighash(t.refund, t);
      const ours = Buffer.concat([await this.hsm.signDigest(rec.keys.funding, digest, caller), Buffer.of(SIGHASH_ALL)]);
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
    const open = (await this.list()).filter((r) => OPEN.includes(r.state));
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
      const { offer, accept, t } = this.parts(rec);
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
      const signature = compactOf(await this.hsm.signDigest(rec.keys.funding, closingSighash(tx, t), caller));
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
      const { offer, accept, t, theirKey, ourKey } = this.parts(rec);
      const ours = rec.role === 'offerer' ? c.offer_payout : c.accept_payout;
      if (ours !== BigInt(payoutSat))
        throw rpcError('InvalidParams', `the close pays this party ${ours} sat, not the payout_sat ${payoutSat} it expects; not signed`);
      let tx: bitcoin.Transaction;
      try {
        tx = mutualClose(offer, accept, t, c.offer_payout, c.accept_payout);
      } catch (err) {
        throw asRpc(err);
      }
      const digest = closingSighash(tx, t);
      const theirSig = Buffer.from(c.close_signature, 'hex');
      if (!secp256k1.verify(theirSig, digest, Buffer.from(theirKey, 'hex'), { prehash: false, lowS: false }))
        throw rpcError('InvalidParams', "close_dlc: close_signature does not verify against the counterparty's funding key for this close");
      const mine = Buffer.concat([await this.hsm.signDigest(rec.keys.funding, digest, caller), Buffer.of(SIGHASH_ALL)]);
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
    if (rec.state === 'signed' || rec.state === 'broadcast') {
      const c = await this.confirmations(rec.funding_txid!, this.parts(rec).t.fundOutputIndex);
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
    const { offer, t } = this.parts(rec);
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
    return (await this.chain.node<unknown>('gettxout', rec.funding_txid!, this.parts(rec).t.fundOutputIndex, true)) !== null;
  }

  /** Runs fn after the current lock holder (followOne) returns: refund() takes the same contract lock. */
  private locksFree(fn: () => Promise<unknown>): Promise<void> {
    setImmediate(() => void fn().catch((err: Error) => this.log.warn({ reason: err.message }, 'DLC automatic close or refund failed; next block retries')));
    return Promise.resolve();
  }
}
