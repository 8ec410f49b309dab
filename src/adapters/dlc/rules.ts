// The checks a counterparty's DLC message gets before anything of ours is signed: pure functions, each one rule,
// each refusal naming what is wrong. Sources: dlcspecs Protocol.md (offer_dlc / accept_dlc / sign_dlc requirements:
// segwit funding inputs, standard scripts), rust-dlc dlc-messages `OfferDlc::validate` (CET locktime not after the
// event's maturity, refund locktime bounded after it) and dlc `util::validate_fee_rate` (at most 25 × 250 sat/vB),
// BIP 146 (low S) and BIP 66 (strict DER) for every signature that goes into a witness.

import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import * as bitcoin from 'bitcoinjs-lib';
import type { FundingInput } from './messages.js';

/** A refusal: `rule` is the config key whose bound was crossed (policy), or undefined for a malformed value. */
export class RuleError extends Error {
  override name = 'RuleError';
  constructor(
    message: string,
    readonly rule?: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const N = secp256k1.Point.Fn.ORDER;
const HALF_N = N >> 1n;
const big = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
const hash160 = (b: Uint8Array): Buffer => Buffer.from(ripemd160(sha256(b)));
/** A locktime under this is a block height, at or over it a time (BIP 65 / nLockTime). */
export const LOCKTIME_THRESHOLD = 500_000_000;
/** Seconds per block, to turn a delay in seconds into blocks where the locktimes are heights. */
const BLOCK_SECONDS = 600;

/** rust-dlc's bound (dlc util::validate_fee_rate): a fee rate over 25 × 250 sat/vB is refused. */
export const RUST_DLC_MAX_FEE_RATE = 25 * 250;

/** The fee rate an offer names: at least 1 sat/vB (a funding transaction that relays), at most `max` (dlc.maxfeerate). */
export function checkFeeRate(rate: bigint, max: number): void {
  if (rate < 1n) throw new RuleError(`fee_rate_per_vb ${rate} is under 1 sat/vB: the funding transaction would not relay`);
  if (rate > BigInt(max))
    throw new RuleError(`fee_rate_per_vb ${rate} sat/vB is over dlc.maxfeerate (${max} sat/vB)`, 'dlc.maxfeerate', { limit: max, value: Number(rate) });
}

export interface LocktimeBounds {
  /** dlc.minrefunddelay: seconds from the CET locktime to the refund locktime, at least. */
  minRefundDelay: number;
  /** dlc.maxrefunddelay: seconds from the CET locktime to the refund locktime, at most (0: no bound). */
  maxRefundDelay: number;
}

/**
 * The locktimes of an offer (rust-dlc OfferDlc::validate): both heights or both times; the CET locktime not after
 * the event's maturity (the CETs must be usable once the oracle attests); the refund locktime at least
 * minRefundDelay after the CET locktime (a refund usable a second after the CETs is a free option for whoever the
 * outcome makes lose) and, when maxRefundDelay is set, at most that long after (coins not held for years when the
 * oracle never attests). With heights, delays count 600 s a block, and the maturity is placed at the height the
 * chain reaches by then at that pace from `tip`.
 */
export function checkLocktimes(cet: number, refund: number, maturity: number, bounds: LocktimeBounds, tip: { height: number; now: number } | undefined): void {
  const heights = cet < LOCKTIME_THRESHOLD;
  if (heights !== refund < LOCKTIME_THRESHOLD)
    throw new RuleError(`cet_locktime ${cet} and refund_locktime ${refund} are not both block heights or both times: their order means nothing`);
  if (heights) {
    if (!tip) throw new RuleError('block-height locktimes need the chain tip, which is not known');
    const maturityHeight = tip.height + Math.ceil(Math.max(0, maturity - tip.now) / BLOCK_SECONDS);
    if (cet > maturityHeight)
      throw new RuleError(
        `cet_locktime ${cet} (a height) is after the event's maturity (${maturity}, about height ${maturityHeight}): the CETs could not be used when the oracle attests`,
      );
  } else if (cet > maturity)
    throw new RuleError(`cet_locktime ${cet} is after the event's maturity ${maturity}: the CETs could not be used when the oracle attests`);
  const unit = heights ? 'blocks' : 'seconds';
  const toUnit = (seconds: number): number => (heights ? Math.ceil(seconds / BLOCK_SECONDS) : seconds);
  const delay = refund - cet;
  const min = toUnit(bounds.minRefundDelay);
  if (delay < min || delay <= 0)
    throw new RuleError(
      `refund_locktime ${refund} is ${delay} ${unit} after cet_locktime ${cet}; dlc.minrefunddelay asks for at least ${min} ${unit}`,
      'dlc.minrefunddelay',
      { limit: bounds.minRefundDelay, value: heights ? delay * BLOCK_SECONDS : delay },
    );
  if (bounds.maxRefundDelay > 0 && delay > toUnit(bounds.maxRefundDelay))
    throw new RuleError(
      `refund_locktime ${refund} is ${delay} ${unit} after cet_locktime ${cet}; dlc.maxrefunddelay allows at most ${toUnit(bounds.maxRefundDelay)} ${unit}`,
      'dlc.maxrefunddelay',
      { limit: bounds.maxRefundDelay, value: heights ? delay * BLOCK_SECONDS : delay },
    );
}

/** Which standard output script this is (Bitcoin Core's IsStandard output types that pay a key or script), or undefined. */
export function standardKind(spk: Buffer): 'p2pkh' | 'p2sh' | 'p2wpkh' | 'p2wsh' | 'p2tr' | undefined {
  if (spk.length === 25 && spk[0] === 0x76 && spk[1] === 0xa9 && spk[2] === 0x14 && spk[23] === 0x88 && spk[24] === 0xac) return 'p2pkh';
  if (spk.length === 23 && spk[0] === 0xa9 && spk[1] === 0x14 && spk[22] === 0x87) return 'p2sh';
  if (spk.length === 22 && spk[0] === 0x00 && spk[1] === 0x14) return 'p2wpkh';
  if (spk.length === 34 && spk[0] === 0x00 && spk[1] === 0x20) return 'p2wsh';
  if (spk.length === 34 && spk[0] === 0x51 && spk[1] === 0x20) return 'p2tr';
  return undefined;
}

/**
 * A payout or change script the counterparty names must be standard (P2PKH, P2SH, P2WPKH, P2WSH, P2TR): a CET or
 * refund paying a non-standard script (a bare OP_TRUE) is not relayed, and then cannot be used in time.
 */
export function checkStandardSpk(spkHex: string, what: string): void {
  if (!standardKind(Buffer.from(spkHex, 'hex')))
    throw new RuleError(
      `${what} ${spkHex || '(empty)'} is not a standard output script (P2PKH, P2SH, P2WPKH, P2WSH or P2TR): transactions paying it would not relay`,
    );
}

/** A funding public key: a valid compressed secp256k1 point. */
export function checkFundingPubkey(pubkey: string, ours: string | undefined): void {
  try {
    if (pubkey.length !== 66) throw new Error('length');
    secp256k1.Point.fromHex(pubkey).assertValidity();
  } catch {
    throw new RuleError(`funding_pubkey ${pubkey} is not a compressed secp256k1 point: the funding output could never be spent`);
  }
  if (ours !== undefined && pubkey === ours) throw new RuleError('funding_pubkey is our own funding key');
}

export type FundingKind = 'p2wpkh' | 'p2wsh' | 'p2tr' | 'p2sh-p2wpkh' | 'p2sh-p2wsh';

/** The least max_witness_len a kind of input can be spent with: count, signature (71 DER + sighash), key; or a key-path Schnorr signature. */
const MIN_WITNESS: Partial<Record<FundingKind, number>> = { p2wpkh: 107, 'p2sh-p2wpkh': 107, p2tr: 66 };

/**
 * One funding input of the counterparty (dlcspecs Protocol.md, funding_input): its previous transaction decodes and
 * has the output it names, and that output is segwit: native P2WPKH, P2WSH or P2TR with no redeem script, or P2SH
 * whose given redeem script is a v0 witness program hashing to it. Anything else (P2PKH, a bare script, P2SH without
 * its witness program) could be signed with a scriptSig its owner chooses after we signed, changing the funding
 * txid under every CET and the refund. Answers the output's kind, value and script (to check against the chain).
 */
export function checkFundingInput(i: FundingInput, what: string): { kind: FundingKind; txid: string; value: bigint; script: Buffer } {
  let prev: bitcoin.Transaction;
  try {
    prev = bitcoin.Transaction.fromHex(i.prev_tx);
  } catch {
    throw new RuleError(`${what}: prev_tx is not a transaction`);
  }
  const out = prev.outs[i.prev_tx_vout];
  if (!out) throw new RuleError(`${what}: prev_tx ${prev.getId()} has no output ${i.prev_tx_vout}`);
  const script = Buffer.from(out.script);
  const redeem = Buffer.from(i.redeem_script, 'hex');
  const program = (s: Buffer): 'p2wpkh' | 'p2wsh' | 'p2tr' | undefined => {
    const k = standardKind(s);
    return k === 'p2wpkh' || k === 'p2wsh' || k === 'p2tr' ? k : undefined;
  };
  let kind: FundingKind;
  const native = program(script);
  if (native) {
    if (redeem.length !== 0) throw new RuleError(`${what}: a native segwit output (${native}) takes no redeem_script`);
    kind = native;
  } else if (standardKind(script) === 'p2sh') {
    const inner = program(redeem);
    if (!inner) throw new RuleError(`${what}: a P2SH output is taken only as wrapped segwit, with its witness program as redeem_script`);
    // BIP 341: Taproot is the native v1 program only; a v1 program under P2SH has no spending rule at all, so anyone
    // can spend that coin (a miner, a third party) and the funding transaction spending it with it.
    if (inner === 'p2tr') throw new RuleError(`${what}: a witness v1 program inside P2SH is not Taproot (BIP 341): anyone could spend that coin first`);
    if (!hash160(redeem).equals(script.subarray(2, 22))) throw new RuleError(`${what}: redeem_script does not hash to the P2SH output it spends`);
    kind = inner === 'p2wpkh' ? 'p2sh-p2wpkh' : 'p2sh-p2wsh';
  } else
    throw new RuleError(
      `${what}: the output ${prev.getId()}:${i.prev_tx_vout} is not segwit (P2WPKH, P2WSH, P2TR, or one of them wrapped in P2SH); its signer could change the funding txid after we signed`,
    );
  const least = MIN_WITNESS[kind];
  if (least !== undefined && i.max_witness_len < least)
    throw new RuleError(`${what}: max_witness_len ${i.max_witness_len} is under the ${least} bytes a ${kind} input needs (the funding fee would be short)`);
  return { kind, txid: prev.getId(), value: BigInt(out.value), script };
}

/** A 64-byte compact signature (r || s) as the messages carry it: 0 < r, s < n and s in the lower half (BIP 146). */
export function checkCompactLowS(sigHex: string, what: string): void {
  const sig = Buffer.from(sigHex, 'hex');
  if (sig.length !== 64) throw new RuleError(`${what} is not a 64-byte signature`);
  const r = big(sig.subarray(0, 32));
  const s = big(sig.subarray(32));
  if (r === 0n || r >= N || s === 0n || s >= N) throw new RuleError(`${what} is not a valid signature (r or s out of range)`);
  if (s > HALF_N) throw new RuleError(`${what} has a high S value: not standard (BIP 146 low S)`);
}

/** A signature as a witness carries it (DER + sighash byte): strict DER (BIP 66), SIGHASH_ALL, low S (BIP 146). */
export function checkDerLowS(sig: Buffer, what: string): void {
  if (!bitcoin.script.isCanonicalScriptSignature(sig)) throw new RuleError(`${what} is not a strict DER signature with a sighash type`);
  if (sig[sig.length - 1] !== bitcoin.Transaction.SIGHASH_ALL) throw new RuleError(`${what} is not SIGHASH_ALL`);
  const { signature } = bitcoin.script.signature.decode(sig);
  if (big(signature.subarray(32)) > HALF_N) throw new RuleError(`${what} has a high S value: not standard (BIP 146 low S)`);
}

/** BIP 141: a witness's serialized size, its element count and each element with its length (compact sizes). */
export function witnessSize(stack: Uint8Array[]): number {
  const varint = (n: number): number => (n < 0xfd ? 1 : n <= 0xffff ? 3 : 5);
  return stack.reduce((sum, e) => sum + varint(e.length) + e.length, varint(stack.length));
}

/**
 * A funding witness no larger than its input's declared max_witness_len (dlcspecs Protocol.md, funding_input: "the
 * maximum witness length that can be used to spend the input"): the funding fee both sides pay is computed from the
 * declared lengths, so a longer real witness makes the funding transaction's fee rate lower than agreed (it may not
 * relay, and we pay for its weight). Matters for P2WSH, whose script the counterparty chooses.
 */
export function checkWitnessLen(stack: Uint8Array[], declared: number, what: string): void {
  const size = witnessSize(stack);
  if (size > declared)
    throw new RuleError(`${what} is ${size} bytes, more than the ${declared} its input's max_witness_len declared (the funding fee would be short)`);
}

/**
 * A P2TR funding input's key-path witness (BIP 341): one 64-byte BIP 340 Schnorr signature (SIGHASH_DEFAULT) or 65
 * with SIGHASH_ALL, valid under the output key for `sighash(hashType)` (the BIP 341 signature message of the funding
 * transaction, which commits to every input's previous output). An annex is refused (not standard for relay, and
 * nothing of ours needs it). A script-path spend (two elements or more, no annex) is left to the node: its script is
 * the counterparty's. Without this, an invalid key-path signature made the funding unbroadcastable after we signed.
 */
export function checkTaprootKeySpend(stack: Uint8Array[], outputKey: Uint8Array, sighash: (hashType: number) => Uint8Array, what: string): void {
  if (stack.length === 0) throw new RuleError(`${what}: empty`);
  if (stack.length >= 2 && stack.at(-1)![0] === 0x50) throw new RuleError(`${what}: carries an annex (BIP 341), not standard`);
  if (stack.length !== 1) return;
  const sig = stack[0]!;
  if (sig.length !== 64 && !(sig.length === 65 && sig[64] === bitcoin.Transaction.SIGHASH_ALL))
    throw new RuleError(`${what}: a key-path witness is one 64-byte Schnorr signature (or 65 with SIGHASH_ALL)`);
  const hashType = sig.length === 64 ? 0x00 : bitcoin.Transaction.SIGHASH_ALL;
  let valid = false;
  try {
    valid = schnorr.verify(sig.subarray(0, 64), sighash(hashType), outputKey);
  } catch {
    valid = false;
  }
  if (!valid) throw new RuleError(`${what}: the Schnorr signature does not verify for the funding transaction (BIP 341 key path)`);
}

/**
 * A mutual close proposed by the counterparty (close_dlc) pays at most the total collateral: the rest of the funding
 * output, the CET fee both parties put in, is its fee, so it confirms as a CET would at the contract's fee rate. A
 * close whose payouts take that fee too is not relayed: once we signed it, the counterparty could get it mined later
 * (paying the fee from its own output, CPFP) when the oracle's outcome favours it, and use a CET otherwise.
 */
export function checkCloseFee(offerPayout: bigint, acceptPayout: bigint, totalCollateral: bigint): void {
  if (offerPayout + acceptPayout > totalCollateral)
    throw new RuleError(
      `close_dlc pays ${offerPayout} + ${acceptPayout} sat, more than the total collateral ${totalCollateral}: it takes the fee the funding output keeps for it, and would not confirm`,
    );
}
