// offer_dlc, accept_dlc and sign_dlc as the dlcspecs test vectors (test/test_vectors/*.json, protocol version 1)
// and rust-dlc serialize them: a u16 message type, then fields with enum variants and list lengths as bigsize,
// scripts as u16-prefixed bytes, oracle announcements as TLV records. Enumerated contracts with one oracle or a
// threshold of several, and numeric contracts (polynomial and hyperbola payout pieces, one oracle or a threshold of
// several attesting the same value) are read and written; disjoint events and allowed differences between oracles
// are refused by name (not built yet).

import { numericCets, NumericError, type Hyperbola, type NumericDescriptor, type PayoutPoint, type WireFloat } from './numeric.js';
import { OracleError, verifyAnnouncement, type OracleAnnouncement } from './oracle.js';
import { Reader, WireError, Writer } from './wire.js';

export const MSG = { offer: 42778, accept: 42780, sign: 42782, close: 52170 } as const;
export const PROTOCOL_VERSION = 1;

export class MessageError extends Error {
  override name = 'MessageError';
}

export interface FundingInput {
  input_serial_id: bigint;
  prev_tx: string;
  prev_tx_vout: number;
  sequence: number;
  max_witness_len: number;
  redeem_script: string;
}

export interface EnumPayout {
  /** The outcome (enumerated), or the digit prefix written out (numeric: "0000000101", "000000011"). */
  outcome: string;
  /** The offerer's payout in this outcome (the accepter gets total_collateral minus it). */
  offer_payout: bigint;
  /** Numeric contracts: the digit prefix an attestation must start with for this CET. */
  digits?: number[];
}

export interface ContractInfo {
  total_collateral: bigint;
  /** One entry per CET, in the CETs' order. */
  payouts: EnumPayout[];
  /** A numeric contract's payout function (its CETs are derived from it). */
  numeric?: NumericDescriptor;
  /** The (first) oracle's announcement: with several oracles, every one announces the same outcomes. */
  announcement: OracleAnnouncement;
  /** The announcement's TLV bytes, kept to write the offer back byte for byte. */
  announcement_tlv: string;
  /** Several oracles (oracle_info variant 1): a CET completes with the attestations of `threshold` of them. */
  oracles?: { threshold: number; announcements: OracleAnnouncement[]; tlvs: string[] };
}

/** The most oracles one contract names (C(20,10) = 184,756 adaptor signatures per outcome already). */
export const MAX_ORACLES = 20;

/**
 * What one contract may ask of this node, checked while its offer is read and before any heavy work (a numeric
 * payout curve's evaluation at every outcome, the CETs, the adaptor points): config keys dlc.maxoutcomes,
 * dlc.maxcets, dlc.maxpayoutpoints, dlc.maxoracles, dlc.maxoraclecombinations.
 */
export interface DlcLimits {
  /** Enumerated outcomes, or base^digits values a numeric event can take (each one evaluated on the payout curve). */
  maxOutcomes: number;
  /** CETs times oracle combinations: the adaptor signatures one contract makes and checks. */
  maxCets: number;
  /** Interpolation points of one polynomial payout piece (evaluation costs their square per outcome), and rounding intervals. */
  maxPayoutPoints: number;
  maxOracles: number;
  /** C(oracles, threshold): the adaptor signatures per CET of a threshold contract. */
  maxOracleCombinations: number;
}

/** The most this build handles at all (what a contract already kept is read with). */
export const HARD_LIMITS: DlcLimits = {
  maxOutcomes: 1 << 20,
  maxCets: 100_000,
  maxPayoutPoints: 10_000,
  maxOracles: MAX_ORACLES,
  maxOracleCombinations: 184_756,
};

/** A contract over one of the limits: `rule` is the config key, with its value and the contract's. */
export class LimitError extends Error {
  override name = 'LimitError';
  constructor(
    what: string,
    readonly rule: string,
    readonly limit: number,
    readonly value: number,
  ) {
    super(`${what}: ${value} is over ${rule} (${limit}); refused before any work`);
  }
}

function limit(what: string, rule: string, max: number, value: number): void {
  if (value > max) throw new LimitError(what, rule, max, value);
}

/** C(n, t), counted without overflow for the sizes allowed. */
export function combinationCount(n: number, t: number): number {
  let c = 1;
  for (let i = 1; i <= t; i++) c = (c * (n - t + i)) / i;
  return Math.round(c);
}

export interface Offer {
  protocol_version: number;
  contract_flags: number;
  chain_hash: string;
  temporary_contract_id: string;
  contract_info: ContractInfo;
  funding_pubkey: string;
  payout_spk: string;
  payout_serial_id: bigint;
  offer_collateral: bigint;
  funding_inputs: FundingInput[];
  change_spk: string;
  change_serial_id: bigint;
  fund_output_serial_id: bigint;
  fee_rate_per_vb: bigint;
  cet_locktime: number;
  refund_locktime: number;
}

export interface Accept {
  protocol_version: number;
  temporary_contract_id: string;
  accept_collateral: bigint;
  funding_pubkey: string;
  payout_spk: string;
  payout_serial_id: bigint;
  funding_inputs: FundingInput[];
  change_spk: string;
  change_serial_id: bigint;
  cet_adaptor_signatures: string[];
  refund_signature: string;
}

export interface Sign {
  protocol_version: number;
  contract_id: string;
  cet_adaptor_signatures: string[];
  refund_signature: string;
  /** One witness stack per funding input of the signer, in input_serial_id order. */
  funding_signatures: string[][];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const MAX_ITEMS = 100_000;

function guard<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof LimitError) throw err;
    if (err instanceof WireError || err instanceof OracleError || err instanceof NumericError) throw new MessageError(`${what}: ${err.message}`);
    throw err;
  }
}

function messageReader(bytes: Uint8Array, type: number, name: string): Reader {
  const r = new Reader(bytes, name);
  const t = r.u16('message type');
  if (t !== type) throw new MessageError(`not a ${name} message: its type is ${t}, expected ${type}`);
  return r;
}

const readSpk = (r: Reader, field: string): string => hex(r.bytes(r.u16(`${field} length`), field));
const writeSpk = (w: Writer, spk: string): Writer => w.u16(spk.length / 2).bytes(Buffer.from(spk, 'hex'));

function readInputs(r: Reader): FundingInput[] {
  const n = r.size('funding input count', MAX_ITEMS);
  return Array.from({ length: n }, (_, i) => {
    const input_serial_id = r.u64(`input ${i + 1} serial id`);
    const prev_tx = hex(r.bytes(r.size(`input ${i + 1} prevtx length`, 4_000_000), `input ${i + 1} prevtx`));
    return {
      input_serial_id,
      prev_tx,
      prev_tx_vout: r.u32(`input ${i + 1} prevtx_vout`),
      sequence: r.u32(`input ${i + 1} sequence`),
      max_witness_len: r.u16(`input ${i + 1} max_witness_len`),
      redeem_script: readSpk(r, `input ${i + 1} redeemscript`),
    };
  });
}

function writeInputs(w: Writer, inputs: FundingInput[]): void {
  w.bigsize(inputs.length);
  for (const i of inputs) {
    w.u64(i.input_serial_id)
      .bigsize(i.prev_tx.length / 2)
      .bytes(Buffer.from(i.prev_tx, 'hex'))
      .u32(i.prev_tx_vout)
      .u32(i.sequence)
      .u16(i.max_witness_len);
    writeSpk(w, i.redeem_script);
  }
}

function readAdaptorSigs(r: Reader): string[] {
  const n = r.size('adaptor signature count', MAX_ITEMS);
  return Array.from({ length: n }, (_, i) => hex(r.bytes(162, `adaptor signature ${i + 1}`)));
}

function writeAdaptorSigs(w: Writer, sigs: string[]): void {
  w.bigsize(sigs.length);
  for (const s of sigs) w.bytes(Buffer.from(s, 'hex'));
}

const readPoint = (r: Reader, what: string): PayoutPoint => ({
  event_outcome: r.u64(`${what} event_outcome`),
  outcome_payout: r.u64(`${what} outcome_payout`),
  extra_precision: r.u16(`${what} extra_precision`),
});
const writePoint = (w: Writer, p: PayoutPoint): Writer => w.u64(p.event_outcome).u64(p.outcome_payout).u16(p.extra_precision);

function readNumeric(r: Reader, limits: DlcLimits): NumericDescriptor {
  const num_digits = r.u16('num_digits');
  const pieces = Array.from({ length: r.size('payout function piece count', 10_000) }, (_, i) => {
    const end_point = readPoint(r, `piece ${i + 1} end point`);
    const kind = r.bigsize(`piece ${i + 1} curve kind`);
    if (kind === 1n) {
      const float = (what: string): WireFloat => ({
        positive: r.bool(`piece ${i + 1} ${what} sign`),
        int: r.u64(`piece ${i + 1} ${what}`),
        frac: r.u16(`piece ${i + 1} ${what} fraction`),
      });
      const hyperbola: Hyperbola = {
        use_positive_piece: r.bool(`piece ${i + 1} use_positive_piece`),
        translate_outcome: float('translate_outcome'),
        translate_payout: float('translate_payout'),
        a: float('a'),
        b: float('b'),
        c: float('c'),
        d: float('d'),
      };
      return { end_point, points: [], hyperbola };
    }
    if (kind !== 0n) throw new MessageError(`piece ${i + 1}: payout curve kind ${kind} is neither polynomial (0) nor hyperbola (1)`);
    const count = r.size(`piece ${i + 1} point count`, 10_000);
    limit(`payout curve piece ${i + 1} points`, 'dlc.maxpayoutpoints', limits.maxPayoutPoints, count);
    const points = Array.from({ length: count }, (_, j) => readPoint(r, `piece ${i + 1} point ${j + 1}`));
    return { end_point, points };
  });
  const last_endpoint = readPoint(r, 'last end point');
  const intervals = r.size('rounding interval count', 10_000);
  limit('rounding intervals', 'dlc.maxpayoutpoints', limits.maxPayoutPoints, intervals);
  const rounding = Array.from({ length: intervals }, (_, i) => ({
    begin: r.u64(`rounding interval ${i + 1} begin`),
    mod: r.u64(`rounding interval ${i + 1} modulus`),
  }));
  return { num_digits, pieces, last_endpoint, rounding };
}

function writeNumeric(w: Writer, d: NumericDescriptor): void {
  w.u16(d.num_digits).bigsize(d.pieces.length);
  const float = (f: WireFloat): Writer => w.bool(f.positive).u64(f.int).u16(f.frac);
  for (const p of d.pieces) {
    writePoint(w, p.end_point);
    if (p.hyperbola) {
      const h = p.hyperbola;
      w.bigsize(1).bool(h.use_positive_piece);
      for (const f of [h.translate_outcome, h.translate_payout, h.a, h.b, h.c, h.d]) float(f);
      continue;
    }
    w.bigsize(0).bigsize(p.points.length);
    for (const q of p.points) writePoint(w, q);
  }
  writePoint(w, d.last_endpoint).bigsize(d.rounding.length);
  for (const x of d.rounding) w.u64(x.begin).u64(x.mod);
}

/** A numeric contract's CETs, from its payout function and the oracle's digit decomposition. */
export function numericPayouts(numeric: NumericDescriptor, announcement: OracleAnnouncement, total: bigint): EnumPayout[] {
  const d = announcement.event.descriptor;
  if (d.kind !== 'digits') throw new MessageError('a numeric contract needs a digit-decomposition event');
  if (d.signed) throw new MessageError('signed digit-decomposition events are not supported yet');
  if (d.nb_digits !== numeric.num_digits) throw new MessageError(`the contract has ${numeric.num_digits} digits, the event ${d.nb_digits}`);
  const cets = numericCets(numeric, d.base, total);
  // One payout for every outcome makes a CET of no digit: no oracle signature would unlock it (no adaptor point).
  if (cets.some((c) => c.digits.length === 0)) throw new MessageError('the payout curve pays the same at every outcome: there is nothing to contract on');
  return cets.map((c) => ({ outcome: c.digits.join(d.base > 10 ? ',' : ''), offer_payout: c.offer_payout, digits: c.digits }));
}

/**
 * A threshold of several oracles: possible, each oracle once, and all announcing the same event shape (the same
 * enumerated outcomes, or the same base and number of digits).
 */
export function checkOracleSet(announcements: OracleAnnouncement[], threshold: number): void {
  const n = announcements.length;
  if (n < 1 || threshold < 1 || threshold > n) throw new MessageError(`threshold ${threshold} of ${n} oracles is impossible`);
  if (new Set(announcements.map((a) => a.oracle_public_key)).size !== n) throw new MessageError('an oracle is named twice');
  const shape = (a: OracleAnnouncement): string => {
    const d = a.event.descriptor;
    return d.kind === 'enum' ? `enum ${JSON.stringify([...d.outcomes].sort())}` : `digits ${d.base} ${d.nb_digits} ${d.signed}`;
  };
  if (announcements.some((a) => shape(a) !== shape(announcements[0]!)))
    throw new MessageError("the oracles' events do not all announce the same outcomes (enumerated) or the same digits (numeric)");
}

function readContractInfo(r: Reader, limits: DlcLimits): ContractInfo {
  const variant = r.bigsize('contract_info variant');
  if (variant !== 0n) throw new MessageError('disjoint contract infos (several events) are not supported yet');
  const total_collateral = r.u64('total_collateral');
  const descriptor = r.bigsize('contract_descriptor variant');
  let payouts: EnumPayout[] = [];
  let numeric: NumericDescriptor | undefined;
  if (descriptor === 0n) {
    const n = r.size('outcome count', MAX_ITEMS);
    limit('enumerated outcomes', 'dlc.maxoutcomes', limits.maxOutcomes, n);
    payouts = Array.from({ length: n }, (_, i) => ({ outcome: r.string(`outcome ${i + 1}`), offer_payout: r.u64(`payout ${i + 1}`) }));
  } else if (descriptor === 1n) numeric = readNumeric(r, limits);
  else throw new MessageError(`contract_descriptor variant ${descriptor} is neither enumerated (0) nor numeric (1)`);
  const oracle = r.bigsize('oracle_info variant');
  // An announcement is a TLV record: read its extent, then verify it whole.
  const readAnnouncement = (what: string): { announcement: OracleAnnouncement; raw: Uint8Array } => {
    const start = r.peekType(what);
    if (start !== 55332n) throw new MessageError(`the ${what} has type ${start}, expected 55332`);
    const { raw } = r.tlv(55332, what);
    return { announcement: verifyAnnouncement(raw), raw };
  };
  // Before the payout curve is evaluated: how many values it would be evaluated at, how many CETs an enumerated
  // contract makes.
  const sized = (announcement: OracleAnnouncement, combinations: number): void => {
    const d = announcement.event.descriptor;
    if (d.kind === 'digits') limit('numeric event outcomes (base^digits)', 'dlc.maxoutcomes', limits.maxOutcomes, d.base ** d.nb_digits);
    else limit('CETs × oracle combinations', 'dlc.maxcets', limits.maxCets, payouts.length * combinations);
  };
  const cetsAfter = (combinations: number): void => limit('CETs × oracle combinations', 'dlc.maxcets', limits.maxCets, payouts.length * combinations);
  if (oracle === 0n) {
    const { announcement, raw } = readAnnouncement('oracle_announcement');
    sized(announcement, 1);
    if (numeric) payouts = numericPayouts(numeric, announcement, total_collateral);
    cetsAfter(1);
    return { total_collateral, payouts, ...(numeric ? { numeric } : {}), announcement, announcement_tlv: hex(raw) };
  }
  if (oracle !== 1n) throw new MessageError(`oracle_info variant ${oracle} is neither single (0) nor multi (1)`);
  const threshold = r.u16('threshold');
  const n = r.size('oracle announcement count', MAX_ORACLES);
  limit('oracles', 'dlc.maxoracles', limits.maxOracles, n);
  if (threshold >= 1 && threshold <= n)
    limit(`oracle combinations (${threshold} of ${n})`, 'dlc.maxoraclecombinations', limits.maxOracleCombinations, combinationCount(n, threshold));
  const read = Array.from({ length: n }, (_, i) => readAnnouncement(`oracle_announcement ${i + 1}`));
  if (r.u8('oracle_params presence') !== 0)
    throw new MessageError('oracle_params (allowed differences between oracles of a numeric contract) are not supported yet');
  const announcements = read.map((x) => x.announcement);
  checkOracleSet(announcements, threshold);
  const combinations = combinationCount(n, threshold);
  sized(announcements[0]!, combinations);
  if (numeric) payouts = numericPayouts(numeric, announcements[0]!, total_collateral);
  else if (announcements[0]!.event.descriptor.kind !== 'enum') throw new MessageError('an enumerated contract needs enumerated events');
  cetsAfter(combinations);
  const tlvs = read.map((x) => hex(x.raw));
  return {
    total_collateral,
    payouts,
    ...(numeric ? { numeric } : {}),
    announcement: announcements[0]!,
    announcement_tlv: tlvs[0]!,
    oracles: { threshold, announcements, tlvs },
  };
}

function writeContractInfo(w: Writer, c: ContractInfo): void {
  w.bigsize(0).u64(c.total_collateral);
  if (c.numeric) writeNumeric(w.bigsize(1), c.numeric);
  else {
    w.bigsize(0).bigsize(c.payouts.length);
    for (const p of c.payouts) w.string(p.outcome).u64(p.offer_payout);
  }
  if (!c.oracles) {
    w.bigsize(0).bytes(Buffer.from(c.announcement_tlv, 'hex'));
    return;
  }
  w.bigsize(1).u16(c.oracles.threshold).bigsize(c.oracles.tlvs.length);
  for (const t of c.oracles.tlvs) w.bytes(Buffer.from(t, 'hex'));
  w.u8(0);
}

/** offer_dlc from its bytes; `limits` are checked as it is read, before its payout curve is evaluated. */
export function decodeOffer(bytes: Uint8Array, limits: DlcLimits = HARD_LIMITS): Offer {
  return guard('offer_dlc', () => {
    const r = messageReader(bytes, MSG.offer, 'offer_dlc');
    const o: Offer = {
      protocol_version: r.u32('protocol_version'),
      contract_flags: r.u8('contract_flags'),
      chain_hash: hex(r.bytes(32, 'chain_hash')),
      temporary_contract_id: hex(r.bytes(32, 'temporary_contract_id')),
      contract_info: readContractInfo(r, limits),
      funding_pubkey: hex(r.bytes(33, 'funding_pubkey')),
      payout_spk: readSpk(r, 'payout_spk'),
      payout_serial_id: r.u64('payout_serial_id'),
      offer_collateral: r.u64('offer_collateral'),
      funding_inputs: readInputs(r),
      change_spk: readSpk(r, 'change_spk'),
      change_serial_id: r.u64('change_serial_id'),
      fund_output_serial_id: r.u64('fund_output_serial_id'),
      fee_rate_per_vb: r.u64('fee_rate_per_vb'),
      cet_locktime: r.u32('cet_locktime'),
      refund_locktime: r.u32('refund_locktime'),
    };
    r.end();
    if (o.protocol_version !== PROTOCOL_VERSION) throw new MessageError(`protocol version ${o.protocol_version} is not ${PROTOCOL_VERSION}`);
    return o;
  });
}

export function encodeOffer(o: Offer): Uint8Array {
  const w = new Writer()
    .u16(MSG.offer)
    .u32(o.protocol_version)
    .u8(o.contract_flags)
    .bytes(Buffer.from(o.chain_hash, 'hex'))
    .bytes(Buffer.from(o.temporary_contract_id, 'hex'));
  writeContractInfo(w, o.contract_info);
  w.bytes(Buffer.from(o.funding_pubkey, 'hex'));
  writeSpk(w, o.payout_spk).u64(o.payout_serial_id).u64(o.offer_collateral);
  writeInputs(w, o.funding_inputs);
  writeSpk(w, o.change_spk).u64(o.change_serial_id).u64(o.fund_output_serial_id).u64(o.fee_rate_per_vb).u32(o.cet_locktime).u32(o.refund_locktime);
  return w.done();
}

export function decodeAccept(bytes: Uint8Array): Accept {
  return guard('accept_dlc', () => {
    const r = messageReader(bytes, MSG.accept, 'accept_dlc');
    const a: Accept = {
      protocol_version: r.u32('protocol_version'),
      temporary_contract_id: hex(r.bytes(32, 'temporary_contract_id')),
      accept_collateral: r.u64('accept_collateral'),
      funding_pubkey: hex(r.bytes(33, 'funding_pubkey')),
      payout_spk: readSpk(r, 'payout_spk'),
      payout_serial_id: r.u64('payout_serial_id'),
      funding_inputs: readInputs(r),
      change_spk: readSpk(r, 'change_spk'),
      change_serial_id: r.u64('change_serial_id'),
      cet_adaptor_signatures: readAdaptorSigs(r),
      refund_signature: hex(r.bytes(64, 'refund_signature')),
    };
    if (r.u8('negotiation_fields present') !== 0) throw new MessageError('negotiation fields are not supported yet');
    r.end();
    if (a.protocol_version !== PROTOCOL_VERSION) throw new MessageError(`protocol version ${a.protocol_version} is not ${PROTOCOL_VERSION}`);
    return a;
  });
}

export function encodeAccept(a: Accept): Uint8Array {
  const w = new Writer()
    .u16(MSG.accept)
    .u32(a.protocol_version)
    .bytes(Buffer.from(a.temporary_contract_id, 'hex'))
    .u64(a.accept_collateral)
    .bytes(Buffer.from(a.funding_pubkey, 'hex'));
  writeSpk(w, a.payout_spk).u64(a.payout_serial_id);
  writeInputs(w, a.funding_inputs);
  writeSpk(w, a.change_spk).u64(a.change_serial_id);
  writeAdaptorSigs(w, a.cet_adaptor_signatures);
  return w.bytes(Buffer.from(a.refund_signature, 'hex')).u8(0).done();
}

export function decodeSign(bytes: Uint8Array): Sign {
  return guard('sign_dlc', () => {
    const r = messageReader(bytes, MSG.sign, 'sign_dlc');
    const s: Sign = {
      protocol_version: r.u32('protocol_version'),
      contract_id: hex(r.bytes(32, 'contract_id')),
      cet_adaptor_signatures: readAdaptorSigs(r),
      refund_signature: hex(r.bytes(64, 'refund_signature')),
      funding_signatures: Array.from({ length: r.size('funding signature count', MAX_ITEMS) }, (_, i) =>
        Array.from({ length: r.size(`witness ${i + 1} element count`, 100) }, (_, j) =>
          hex(r.bytes(r.size(`witness ${i + 1} element ${j + 1} length`, 10_000), `witness ${i + 1} element ${j + 1}`)),
        ),
      ),
    };
    r.end();
    if (s.protocol_version !== PROTOCOL_VERSION) throw new MessageError(`protocol version ${s.protocol_version} is not ${PROTOCOL_VERSION}`);
    return s;
  });
}

export function encodeSign(s: Sign): Uint8Array {
  const w = new Writer().u16(MSG.sign).u32(s.protocol_version).bytes(Buffer.from(s.contract_id, 'hex'));
  writeAdaptorSigs(w, s.cet_adaptor_signatures);
  w.bytes(Buffer.from(s.refund_signature, 'hex')).bigsize(s.funding_signatures.length);
  for (const stack of s.funding_signatures) {
    w.bigsize(stack.length);
    for (const e of stack) w.bigsize(e.length / 2).bytes(Buffer.from(e, 'hex'));
  }
  return w.done();
}

/**
 * close_dlc_v0: a mutual close proposal. The dlcspecs have no mutual-close message; this is node-dlc's DlcCloseV0
 * (type 52170, as Atomic Finance's DLC provider sends it): the contract id, the proposer's compact signature of the
 * close transaction, both payouts, the funding input's serial id, then extra funding inputs and their signatures.
 * anyad sends and takes it without extra inputs (an offer that carries some is refused by name).
 */
export interface Close {
  contract_id: string;
  close_signature: string;
  offer_payout: bigint;
  accept_payout: bigint;
  fund_input_serial_id: bigint;
}

export function decodeClose(bytes: Uint8Array): Close {
  return guard('close_dlc', () => {
    const r = messageReader(bytes, MSG.close, 'close_dlc');
    const c: Close = {
      contract_id: hex(r.bytes(32, 'contract_id')),
      close_signature: hex(r.bytes(64, 'close_signature')),
      offer_payout: r.u64('offer_payout_satoshis'),
      accept_payout: r.u64('accept_payout_satoshis'),
      fund_input_serial_id: r.u64('fund_input_serial_id'),
    };
    if (r.size('funding input count', MAX_ITEMS) !== 0)
      throw new MessageError('close_dlc with extra funding inputs is not supported (anyad closes from the funding output alone)');
    if (r.size('funding signature count', MAX_ITEMS) !== 0) throw new MessageError('close_dlc carries funding signatures but no funding inputs');
    r.end();
    return c;
  });
}

export function encodeClose(c: Close): Uint8Array {
  return new Writer()
    .u16(MSG.close)
    .bytes(Buffer.from(c.contract_id, 'hex'))
    .bytes(Buffer.from(c.close_signature, 'hex'))
    .u64(c.offer_payout)
    .u64(c.accept_payout)
    .u64(c.fund_input_serial_id)
    .bigsize(0)
    .bigsize(0)
    .done();
}
