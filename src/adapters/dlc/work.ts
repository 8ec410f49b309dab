// The heavy, pure part of a contract's negotiation, as one function of plain data so it runs in a worker thread
// (worker.ts): reading an offer (a numeric payout curve evaluated at every outcome the oracle can attest), building
// every CET and its sighash, the adaptor points (sums of oracle points per CET and oracle combination), and checking
// the counterparty's adaptor signatures. What stays on the main thread is what needs the HSM (the adaptor signing
// itself: the keys live in the HSM room) or the chain.

import { adaptorVerify } from '../../core/ecdsa-adaptor.js';
import { decodeOffer, type DlcLimits, type Offer } from './messages.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { adaptorPointsAffine } from './outcomes.js';
import { buildCets, buildFunding, buildRefund, closingSighash, closingSighashes, type AcceptTerms } from './transactions.js';

export type WorkRequest =
  /** offer_dlc read under the limits (the payout curve evaluated). */
  | { op: 'decodeOffer'; offer: Uint8Array; limits: DlcLimits }
  /** Every CET's sighash and adaptor point; with `check`, the counterparty's adaptor signatures verified against them. */
  | { op: 'prepare'; offer: Offer; accept: AcceptTerms; check?: { pubkey: string; adaptor: string[] } }
  /** Every CET of a contract, serialized (a signed contract's, to recognise them on chain and complete one). */
  | { op: 'cets'; offer: Offer; accept: AcceptTerms }
  /** A slice of a prepared contract's items and the counterparty's adaptor signatures on them: the first that fails. */
  | { op: 'verify'; pubkey: string; items: Array<{ full: Uint8Array; digest: Uint8Array }>; adaptor: string[] };

export interface Prepared {
  /**
   * One per adaptor signature, in the messages' order: its CET, its point (compressed, as signed and audited), the
   * same point uncompressed (65 bytes: what a verification parses without a square root; the same signature check,
   * ~10% less time), the CET's sighash.
   */
  items: Array<{ cet: number; point: Uint8Array; full: Uint8Array; digest: Uint8Array }>;
  refundDigest: Uint8Array;
  /** The position of the first counterparty adaptor signature that does not verify, or -1 (none, or not asked). */
  badAdaptor: number;
  /** The counterparty sent this many adaptor signatures (when `check` was given). */
  adaptorCount: number;
}

/** The key uncompressed, parsed once for a contract's signatures; as given when it is no point (nothing verifies then). */
function uncompressed(pubkey: string): Uint8Array {
  try {
    return secp256k1.Point.fromHex(pubkey).toBytes(false);
  } catch {
    return Buffer.from(pubkey, 'hex');
  }
}

/** The position of the first adaptor signature that does not verify over its item, or -1. */
export function firstBad(pubkey: string, items: Array<{ full: Uint8Array; digest: Uint8Array }>, adaptor: string[]): number {
  const pub = uncompressed(pubkey);
  return items.findIndex(({ full, digest }, i) => !adaptorVerify(pub, full, digest, Buffer.from(adaptor[i]!, 'hex')));
}

export function runWork(req: WorkRequest): unknown {
  if (req.op === 'decodeOffer') return decodeOffer(req.offer, req.limits);
  if (req.op === 'verify') return firstBad(req.pubkey, req.items, req.adaptor);
  const f = buildFunding(req.offer, req.accept);
  const cets = buildCets(req.offer, req.accept, f);
  if (req.op === 'cets') return cets.map((c) => c.toHex());
  const digests = closingSighashes(cets, f);
  const items = adaptorPointsAffine(req.offer.contract_info).map(({ cet, P }) => ({
    cet,
    point: P.toBytes(true),
    full: P.toBytes(false),
    digest: new Uint8Array(digests[cet]!),
  }));
  let badAdaptor = -1;
  const check = req.check;
  if (check && check.adaptor.length === items.length) badAdaptor = firstBad(check.pubkey, items, check.adaptor);
  const prepared: Prepared = {
    items,
    refundDigest: new Uint8Array(closingSighash(buildRefund(req.offer, req.accept, f), f)),
    badAdaptor,
    adaptorCount: check?.adaptor.length ?? 0,
  };
  return prepared;
}
