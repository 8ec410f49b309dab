// The contract_info field of offer_dlc (dlcspecs Messaging.md): the total collateral, the payouts (enumerated
// outcomes, or a numeric payout function of polynomial and hyperbola pieces with its rounding intervals) and the
// oracles (one announcement, or a threshold of several). Read under the limits (message-fields.ts) before any
// payout curve is evaluated; written back byte for byte (the announcements' TLVs are kept as received).

import { numericCets, type Hyperbola, type NumericDescriptor, type PayoutPoint, type WireFloat } from './numeric.js';
import { verifyAnnouncement, type OracleAnnouncement } from './oracle.js';
import type { Reader } from './wire.js';
import { Writer } from './wire.js';
import { combinationCount, hex, limit, MAX_ITEMS, MAX_ORACLES, MessageError, type DlcLimits } from './message-fields.js';

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

export function readContractInfo(r: Reader, limits: DlcLimits): ContractInfo {
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

export function writeContractInfo(w: Writer, c: ContractInfo): void {
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
