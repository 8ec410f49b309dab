// The DLC's transactions as dlcspecs Transactions.md fixes them, so both parties build the same bytes and their
// signatures fit: the funding transaction (inputs by input_serial_id, outputs by serial id, a 2-of-2 P2WSH of the
// lexicographically sorted funding keys), one CET per outcome (locktime cet_locktime, sequence 0xfffffffe, payouts
// by payout_serial_id, outputs under the 1000-sat dust limit left out) and the refund (locktime refund_locktime,
// each party's collateral, the offerer's output first). Fees follow the spec's expected weights: a party pays for its inputs, its change and
// its CET output; the funding output carries both CET fees.

import * as bitcoin from 'bitcoinjs-lib';
import type { Accept, FundingInput, Offer } from './messages.js';

export const DUST_LIMIT = 1000n;
const CET_SEQUENCE = 0xfffffffe;

export class DlcTxError extends Error {
  override name = 'DlcTxError';
}

/** What the accepter brings (the fields of accept_dlc that shape the transactions). */
export type AcceptTerms = Pick<
  Accept,
  'accept_collateral' | 'funding_pubkey' | 'payout_spk' | 'payout_serial_id' | 'funding_inputs' | 'change_spk' | 'change_serial_id'
>;

/** The funding transaction and what the closing transactions need of it. */
export interface DlcFunding {
  funding: bitcoin.Transaction;
  fundingScript: Buffer;
  fundOutputIndex: number;
  fundValue: bigint;
  offerChange: bigint;
  acceptChange: bigint;
}

export interface DlcTransactions extends DlcFunding {
  cets: bitcoin.Transaction[];
  refund: bitcoin.Transaction;
}

/** 2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG with the keys in lexicographic order (BIP 67). */
export function fundingScript(a: string, b: string): Buffer {
  const [k1, k2] = [a, b].sort();
  return Buffer.from(
    bitcoin.script.compile([bitcoin.opcodes.OP_2!, Buffer.from(k1!, 'hex'), Buffer.from(k2!, 'hex'), bitcoin.opcodes.OP_2!, bitcoin.opcodes.OP_CHECKMULTISIG!]),
  );
}

const ceilDiv4 = (w: bigint): bigint => (w + 3n) / 4n;
const scriptSigLen = (i: FundingInput): number => (i.redeem_script.length === 0 ? 0 : 1 + i.redeem_script.length / 2);

/** A party's share of the funding transaction's fee: its inputs, its change output and half the shared fields. */
export function fundingFee(inputs: FundingInput[], changeSpk: string, feeRate: bigint): bigint {
  const inputWeight = inputs.reduce((s, i) => s + BigInt(164 + 4 * scriptSigLen(i) + i.max_witness_len), 0n);
  return ceilDiv4(107n + 36n + 4n * BigInt(changeSpk.length / 2) + inputWeight) * feeRate;
}

/** A party's share of a CET's (or the refund's) fee. */
export function cetFee(payoutSpk: string, feeRate: bigint): bigint {
  return ceilDiv4(249n + 4n * BigInt(payoutSpk.length / 2)) * feeRate;
}

/** The value of the output an input spends, read from its previous transaction (whose txid is the outpoint the funding transaction spends, so the value is the one on chain). */
export function inputValue(i: FundingInput): bigint {
  const tx = bitcoin.Transaction.fromHex(i.prev_tx);
  const out = tx.outs[i.prev_tx_vout];
  if (!out) throw new DlcTxError(`funding input ${i.input_serial_id}: its previous transaction has no output ${i.prev_tx_vout}`);
  return BigInt(out.value);
}

function byPayoutSerial(outs: Array<{ serial: bigint; spk: string; value: bigint }>, tx: bitcoin.Transaction): void {
  for (const o of outs.sort((a, b) => (a.serial < b.serial ? -1 : 1))) if (o.value >= DUST_LIMIT) tx.addOutput(Buffer.from(o.spk, 'hex'), o.value);
}

/** The funding transaction (cheap: no CET is built). */
export function buildFunding(offer: Offer, accept: AcceptTerms): DlcFunding {
  const rate = offer.fee_rate_per_vb;
  const total = offer.contract_info.total_collateral;
  if (offer.offer_collateral + accept.accept_collateral !== total)
    throw new DlcTxError(`the collaterals (${offer.offer_collateral} + ${accept.accept_collateral}) do not add up to total_collateral ${total}`);
  const serials = [offer.payout_serial_id, accept.payout_serial_id];
  if (serials[0] === serials[1]) throw new DlcTxError('both payout outputs have the same serial id');
  const offerCetFee = cetFee(offer.payout_spk, rate);
  const acceptCetFee = cetFee(accept.payout_spk, rate);
  const fundValue = total + offerCetFee + acceptCetFee;
  const change = (inputs: FundingInput[], collateral: bigint, spk: string, ownCetFee: bigint, who: string): bigint => {
    const c = inputs.reduce((s, i) => s + inputValue(i), 0n) - collateral - fundingFee(inputs, spk, rate) - ownCetFee;
    if (c < DUST_LIMIT) throw new DlcTxError(`the ${who}'s inputs leave ${c} sat of change, under the ${DUST_LIMIT}-sat dust limit: add funding`);
    return c;
  };
  const offerChange = change(offer.funding_inputs, offer.offer_collateral, offer.change_spk, offerCetFee, 'offerer');
  const acceptChange = change(accept.funding_inputs, accept.accept_collateral, accept.change_spk, acceptCetFee, 'accepter');

  const funding = new bitcoin.Transaction();
  funding.version = 2;
  funding.locktime = 0;
  const inputs = [...offer.funding_inputs, ...accept.funding_inputs].sort((a, b) =>
    a.input_serial_id < b.input_serial_id ? -1 : a.input_serial_id > b.input_serial_id ? 1 : 0,
  );
  if (new Set(inputs.map((i) => i.input_serial_id)).size !== inputs.length) throw new DlcTxError('two funding inputs have the same serial id');
  for (const i of inputs) {
    const prev = bitcoin.Transaction.fromHex(i.prev_tx);
    const idx = funding.addInput(Buffer.from(prev.getHash()), i.prev_tx_vout, i.sequence);
    if (i.redeem_script) funding.setInputScript(idx, Buffer.from(bitcoin.script.compile([Buffer.from(i.redeem_script, 'hex')])));
  }
  const script = fundingScript(offer.funding_pubkey, accept.funding_pubkey);
  const p2wsh = bitcoin.payments.p2wsh({ redeem: { output: script } }).output!;
  const outs = [
    { serial: offer.fund_output_serial_id, spk: Buffer.from(p2wsh).toString('hex'), value: fundValue, fund: true },
    { serial: offer.change_serial_id, spk: offer.change_spk, value: offerChange, fund: false },
    { serial: accept.change_serial_id, spk: accept.change_spk, value: acceptChange, fund: false },
  ].sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0));
  if (new Set(outs.map((o) => o.serial)).size !== outs.length) throw new DlcTxError('two funding outputs have the same serial id');
  for (const o of outs) funding.addOutput(Buffer.from(o.spk, 'hex'), o.value);
  const fundOutputIndex = outs.findIndex((o) => o.fund);
  return { funding, fundingScript: script, fundOutputIndex, fundValue, offerChange, acceptChange };
}

/** A transaction spending the funding output to both payout scripts (a CET, the refund). */
function closingTx(
  offer: Offer,
  accept: AcceptTerms,
  fund: { hash: Buffer; index: number },
  locktime: number,
  offerValue: bigint,
  acceptValue: bigint,
  sorted = true,
): bitcoin.Transaction {
  const tx = new bitcoin.Transaction();
  tx.version = 2;
  tx.locktime = locktime;
  tx.addInput(fund.hash, fund.index, CET_SEQUENCE);
  const outs = [
    { serial: offer.payout_serial_id, spk: offer.payout_spk, value: offerValue },
    { serial: accept.payout_serial_id, spk: accept.payout_spk, value: acceptValue },
  ];
  if (sorted) byPayoutSerial(outs, tx);
  else for (const o of outs) if (o.value >= DUST_LIMIT) tx.addOutput(Buffer.from(o.spk, 'hex'), o.value);
  return tx;
}

const fundOf = (f: DlcFunding): { hash: Buffer; index: number } => ({ hash: Buffer.from(f.funding.getHash()), index: f.fundOutputIndex });

/**
 * The refund: its outputs are the offerer's then the accepter's, not sorted by payout_serial_id as the CETs' are:
 * so the dlcspecs vectors (single_oracle_numerical, whose accepter's serial id is the lower) and rust-dlc make it.
 */
export function buildRefund(offer: Offer, accept: AcceptTerms, f: DlcFunding): bitcoin.Transaction {
  return closingTx(offer, accept, fundOf(f), offer.refund_locktime, offer.offer_collateral, accept.accept_collateral, false);
}

/** One CET per payout entry (per outcome, or per numeric digit prefix), in the payouts' order. */
export function buildCets(offer: Offer, accept: AcceptTerms, f: DlcFunding): bitcoin.Transaction[] {
  const total = offer.contract_info.total_collateral;
  const fund = fundOf(f);
  return offer.contract_info.payouts.map((p) => {
    if (p.offer_payout > total) throw new DlcTxError(`outcome "${p.outcome}" pays the offerer ${p.offer_payout}, more than the total collateral ${total}`);
    return closingTx(offer, accept, fund, offer.cet_locktime, p.offer_payout, total - p.offer_payout);
  });
}

export function buildTransactions(offer: Offer, accept: AcceptTerms): DlcTransactions {
  const f = buildFunding(offer, accept);
  return { ...f, cets: buildCets(offer, accept, f), refund: buildRefund(offer, accept, f) };
}

/**
 * The mutual close (node-dlc's close_dlc): version 2, locktime 0, the funding output as its only input with
 * sequence 0, the two payouts by payout_serial_id (a payout under the dust limit left out). Its fee is what the
 * funding output holds beyond the payouts.
 */
export function mutualClose(offer: Offer, accept: AcceptTerms, t: DlcFunding, offerPayout: bigint, acceptPayout: bigint): bitcoin.Transaction {
  if (offerPayout + acceptPayout > t.fundValue)
    throw new DlcTxError(`the payouts (${offerPayout} + ${acceptPayout}) exceed the funding output's ${t.fundValue} sat`);
  const tx = new bitcoin.Transaction();
  tx.version = 2;
  tx.locktime = 0;
  tx.addInput(Buffer.from(t.funding.getHash()), t.fundOutputIndex, 0);
  byPayoutSerial(
    [
      { serial: offer.payout_serial_id, spk: offer.payout_spk, value: offerPayout },
      { serial: accept.payout_serial_id, spk: accept.payout_spk, value: acceptPayout },
    ],
    tx,
  );
  if (tx.outs.length === 0)
    throw new DlcTxError(`both payouts (${offerPayout}, ${acceptPayout}) are under the ${DUST_LIMIT}-sat dust limit: the close would pay nobody`);
  return tx;
}

/** The digest a funding key signs for a CET or the refund (segwit v0, SIGHASH_ALL, the 2-of-2 script). */
export function closingSighash(tx: bitcoin.Transaction, t: Pick<DlcFunding, 'fundingScript' | 'fundValue'>): Buffer {
  return Buffer.from(tx.hashForWitnessV0(0, t.fundingScript, t.fundValue, bitcoin.Transaction.SIGHASH_ALL));
}

const sha256d = (b: Uint8Array): Buffer => Buffer.from(bitcoin.crypto.hash256(b));

/**
 * closingSighash of many transactions spending the same funding output (a contract's CETs): BIP143's preimage is
 * the same for all of them but for hashOutputs and the locktime, so that part (with hashPrevouts and hashSequence)
 * is made once, and each CET costs its outputs' hash and the final one. The same digests as closingSighash (a
 * transaction of another shape is hashed by it).
 */
export function closingSighashes(txs: bitcoin.Transaction[], t: Pick<DlcFunding, 'fundingScript' | 'fundValue'>): Buffer[] {
  const first = txs[0];
  if (!first || first.ins.length !== 1) return txs.map((tx) => closingSighash(tx, t));
  const inp = first.ins[0]!;
  const outpoint = Buffer.alloc(36);
  Buffer.from(inp.hash).copy(outpoint, 0);
  outpoint.writeUInt32LE(inp.index, 32);
  const seq = Buffer.alloc(4);
  seq.writeUInt32LE(inp.sequence, 0);
  const script = t.fundingScript;
  const head = Buffer.alloc(4 + 32 + 32 + 36 + varLength(script.length) + script.length + 8 + 4);
  let at = head.writeUInt32LE(first.version, 0);
  at += sha256d(outpoint).copy(head, at);
  at += sha256d(seq).copy(head, at);
  at += outpoint.copy(head, at);
  at = writeVarLength(head, script.length, at);
  at += script.copy(head, at);
  at = head.writeBigUInt64LE(t.fundValue, at);
  head.writeUInt32LE(inp.sequence, at);
  return txs.map((tx) => {
    const i = tx.ins[0];
    if (
      tx.ins.length !== 1 ||
      tx.version !== first.version ||
      Buffer.compare(i!.hash, inp.hash) !== 0 ||
      i!.index !== inp.index ||
      i!.sequence !== inp.sequence
    )
      return closingSighash(tx, t);
    const outs = Buffer.concat(
      tx.outs.map((o) => {
        const b = Buffer.alloc(8 + varLength(o.script.length) + o.script.length);
        const n = writeVarLength(b, o.script.length, b.writeBigUInt64LE(BigInt(o.value), 0));
        Buffer.from(o.script).copy(b, n);
        return b;
      }),
    );
    const tail = Buffer.alloc(32 + 4 + 4);
    sha256d(outs).copy(tail, 0);
    tail.writeUInt32LE(tx.locktime, 32);
    tail.writeUInt32LE(bitcoin.Transaction.SIGHASH_ALL, 36);
    return sha256d(Buffer.concat([head, tail]));
  });
}

/** Bitcoin's CompactSize length prefix. */
const varLength = (n: number): number => (n < 0xfd ? 1 : n <= 0xffff ? 3 : 5);
function writeVarLength(b: Buffer, n: number, at: number): number {
  if (n < 0xfd) return b.writeUInt8(n, at);
  if (n <= 0xffff) return b.writeUInt16LE(n, b.writeUInt8(0xfd, at));
  return b.writeUInt32LE(n, b.writeUInt8(0xfe, at));
}

/**
 * contract_id (Protocol.md): the funding txid (in its internal byte order) XOR the temporary contract id, with the
 * funding output index XORed into the last two bytes, as Lightning's channel_id is made.
 */
export function contractId(t: Pick<DlcFunding, 'funding' | 'fundOutputIndex'>, temporaryId: string): string {
  const id = Buffer.from(t.funding.getHash()).reverse();
  const tmp = Buffer.from(temporaryId, 'hex');
  const out = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) out[i] = id[i]! ^ tmp[i]!;
  out[30]! ^= (t.fundOutputIndex >> 8) & 0xff;
  out[31]! ^= t.fundOutputIndex & 0xff;
  return out.toString('hex');
}
