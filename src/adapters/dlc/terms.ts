// An offer's terms: built from dlc.offer's parameters (the payouts or payout curve, the oracles), held to this
// node's bounds whoever made them (rust-dlc OfferDlc::validate and AcceptDlc::validate, dlcspecs Protocol.md), to
// what the accepting app expects (dlc.accept's expect), and shown in plain JSON (dlc.decodeoffer). The
// counterparty's signatures are checked here too, before anything of ours is signed.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Static } from '@sinclair/typebox';
import { chainHash } from '../../core/bitcoin-network.js';
import { rpcError } from '../../core/errors.js';
import type { dlcDecodeoffer } from './declarations.js';
import { checkOracleSet, combinationCount, type Accept, type ContractInfo, type Offer } from './messages.js';
import type { NumericDescriptor } from './numeric.js';
import { verifyAnnouncement, type OracleAnnouncement } from './oracle.js';
import { checkCompactLowS, checkFeeRate, checkFundingInput, checkFundingPubkey, checkLocktimes, checkStandardSpk } from './rules.js';
import type { Prepared } from './work.js';
import { readOffer } from './contracts.js';
import { rule, type DlcContext, type ExpectedTerms, type OfferParams } from './context.js';

/** Whether the payouts name each of the event's outcomes exactly once. */
function namesEachOutcome(eventOutcomes: string[], payouts: Array<{ outcome: string }>): boolean {
  const named = new Set(payouts.map((x) => x.outcome));
  return named.size === payouts.length && payouts.length === eventOutcomes.length && eventOutcomes.every((o) => named.has(o));
}

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

/** The CETs' payouts of an offer: per enumerated outcome, or a payout curve over the event's digits (evaluated in a worker). */
export function contractTerms(p: OfferParams, announcement: OracleAnnouncement): { payouts: ContractInfo['payouts']; numeric?: NumericDescriptor } {
  const d = announcement.event.descriptor;
  if (d.kind === 'enum') {
    if (!p.payouts || p.payout_curve) throw rpcError('InvalidParams', 'an enumerated event takes payouts (one per outcome), not payout_curve');
    if (!namesEachOutcome(d.outcomes, p.payouts))
      throw rpcError('InvalidParams', `payouts must name each of the event's outcomes once (${d.outcomes.join(', ')})`);
    for (const x of p.payouts)
      if (x.offer_payout_sat > p.total_collateral_sat) throw rpcError('InvalidParams', `the payout for "${x.outcome}" is more than total_collateral_sat`);
    return { payouts: p.payouts.map((x) => ({ outcome: x.outcome, offer_payout: BigInt(x.offer_payout_sat) })) };
  }
  if (!p.payout_curve || p.payouts) throw rpcError('InvalidParams', 'a digit-decomposition event takes payout_curve (points of the outcome axis), not payouts');
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
export function offerOracles(
  ctx: DlcContext,
  p: OfferParams,
): { announcement: OracleAnnouncement; announcement_tlv: string; oracles?: ContractInfo['oracles'] } {
  if ((p.announcement === undefined) === (p.announcements === undefined))
    throw rpcError('InvalidParams', 'give announcement (one oracle) or announcements (several), not both');
  if (p.announcement !== undefined) {
    if (p.threshold !== undefined) throw rpcError('InvalidParams', 'threshold goes with announcements (several oracles)');
    return rule(() => ({ announcement: verifyAnnouncement(Buffer.from(p.announcement!, 'hex')), announcement_tlv: p.announcement!.toLowerCase() }));
  }
  const tlvs = p.announcements!.map((a) => a.toLowerCase());
  const threshold = p.threshold ?? tlvs.length;
  const { maxOracles, maxOracleCombinations } = ctx.bounds.limits;
  if (tlvs.length < 2 || tlvs.length > maxOracles)
    throw rpcError('PolicyDenied', `announcements takes 2 to ${maxOracles} oracles (dlc.maxoracles)`, {
      rule: 'dlc.maxoracles',
      limit: maxOracles,
      value: tlvs.length,
    });
  if (threshold <= tlvs.length && combinationCount(tlvs.length, threshold) > maxOracleCombinations)
    throw rpcError('PolicyDenied', `${threshold} of ${tlvs.length} oracles make more combinations than dlc.maxoraclecombinations (${maxOracleCombinations})`, {
      rule: 'dlc.maxoraclecombinations',
      limit: maxOracleCombinations,
      value: combinationCount(tlvs.length, threshold),
    });
  const announcements = rule(() => tlvs.map((a) => verifyAnnouncement(Buffer.from(a, 'hex'))));
  rule(() => checkOracleSet(announcements, threshold));
  return { announcement: announcements[0]!, announcement_tlv: tlvs[0]!, oracles: { threshold, announcements, tlvs } };
}

/** The chain tip, for block-height locktimes (rust-dlc's checks compare them with the event's maturity). */
export async function tip(ctx: DlcContext, cetLocktime: number): Promise<{ height: number; now: number } | undefined> {
  if (cetLocktime >= 500_000_000) return undefined;
  const at = ctx.chain.tip();
  if (!at) throw rpcError('BackendUnavailable', 'the chain watcher has not reached the tip yet', { service: 'bitcoind' });
  return { height: at.height, now: Math.floor(Date.now() / 1000) };
}

/** The offer's terms as this node holds every offer to them, its own included (rust-dlc OfferDlc::validate, Protocol.md). */
export async function checkOfferTerms(ctx: DlcContext, offer: Offer): Promise<void> {
  const ci = offer.contract_info;
  if (offer.offer_collateral > ci.total_collateral)
    throw rpcError('InvalidParams', `offer_collateral ${offer.offer_collateral} is more than total_collateral ${ci.total_collateral}`);
  rule(() => checkFeeRate(offer.fee_rate_per_vb, ctx.bounds.maxFeeRate));
  // Every oracle's event matures at the same time or later than the first's: the CETs must wait for the earliest.
  const maturity = Math.min(...(ci.oracles?.announcements ?? [ci.announcement]).map((a) => a.event.maturity_epoch));
  const chainTip = await tip(ctx, offer.cet_locktime);
  rule(() => checkLocktimes(offer.cet_locktime, offer.refund_locktime, maturity, ctx.bounds, chainTip));
}

/**
 * dlc.decodeoffer: an offer's terms in plain JSON for an app to show its user before dlc.accept, read under the
 * same limits; `refusal` says what dlc.accept would refuse in its terms (not the chain checks of its inputs).
 */
export async function decodeOffer(ctx: DlcContext, offerHex: string): Promise<Static<typeof dlcDecodeoffer.result>> {
  const offer = await readOffer(ctx, offerHex, ctx.bounds.limits, 'decoding an offer');
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
    if (offer.chain_hash !== chainHash(ctx.network)) throw rpcError('InvalidParams', `the offer is for another chain (chain_hash ${offer.chain_hash})`);
    checkOfferShape(offer);
    await checkOfferTerms(ctx, offer);
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
export function checkOfferShape(offer: Offer, ourFundingKey?: string): void {
  const d = offer.contract_info.announcement.event.descriptor;
  // A numeric offer's CETs come from its payout curve (checked when it was read); an enumerated one names each of
  // the event's outcomes once.
  if (!offer.contract_info.numeric && !(d.kind === 'enum' && namesEachOutcome(d.outcomes, offer.contract_info.payouts)))
    throw rpcError('InvalidParams', "the offer's payouts do not name each of the event's outcomes once");
  rule(() => checkFundingPubkey(offer.funding_pubkey, ourFundingKey));
  rule(() => checkStandardSpk(offer.payout_spk, "the offer's payout_spk"));
  rule(() => checkStandardSpk(offer.change_spk, "the offer's change_spk"));
}

/** dlc.accept's expectations of the app: the offer is refused where it differs. */
export function checkExpected(offer: Offer, expect: ExpectedTerms | undefined): void {
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

/** The accept's own fields (rust-dlc AcceptDlc::validate, Protocol.md), before its signatures are looked at. */
export function checkAcceptShape(offer: Offer, accept: Accept): void {
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

/** The counterparty's CET and refund signatures, checked (the adaptor ones in the worker) before anything of ours is signed. */
export function checkCounterparty(offer: Offer, prepared: Prepared, pubkey: string, refund: string, who: string): void {
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
