// A state channel's transactions, as BOLT 3 builds Lightning's (without HTLCs, with option_static_remotekey):
// the 2-of-2 P2WSH funding output; each party's commitment, whose to_local output is delayed by to_self_delay
// for its holder and spendable at once by the other party with the revocation key once the state is revoked;
// the cooperative closing transaction, each balance to the payout script its party named at the open (BOLT 2's
// upfront_shutdown_script); the holder's sweep of to_local after the delay; and the penalty that takes a revoked
// commitment's to_local with the revocation key. One generalisation: each state commits to 32 bytes of
// application data, carried by the commitment and closing transactions in a zero-value OP_RETURN output, so the
// state that settles on chain shows which application state it was.

import { createHash } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { LRUCache } from 'lru-cache';
import { derivePubkey, revocationPubkey } from './keys.js';

/** Outputs below this are refused in a state (Bitcoin Core's dust limit for P2WSH outputs is 330; BOLT 2 asks ≥ 354). */
export const DUST_LIMIT = 546n;
/**
 * The size both parties compute a commitment's (and a close's) fee from: a protocol constant, so it cannot change
 * under open channels (their signed states would no longer match). The real sizes are larger — 224 vB for a
 * commitment, 212 vB for a close to two P2WPKH payouts, up to 236 vB with P2WSH/P2TR payouts — so a fee rate of
 * 1 sat/vB would leave both under the nodes' 1 sat/vB relay floor, and a force close could never be broadcast:
 * MIN_FEE_RATE is 2, checked at open on both sides.
 */
export const COMMITMENT_VBYTES = 202n;
/** The lowest fee rate a channel is opened with (see COMMITMENT_VBYTES). */
export const MIN_FEE_RATE = 2;
/** Virtual size of the closing transaction (two P2WPKH outputs and the app-data output). */
export const CLOSING_VBYTES = 190n;
/** Virtual size of a sweep or penalty: one to_local input, one P2WPKH output. */
export const SWEEP_VBYTES = 122n;
/** The longest payout script: P2WSH and P2TR (34 bytes); P2WPKH is 22. */
export const MAX_PAYOUT_SCRIPT = 34;

/** A sweep's or penalty's virtual size paying `payTo` (a P2WSH or P2TR output is 12 bytes over a P2WPKH one). */
export const sweepVbytes = (payTo: Buffer): bigint => SWEEP_VBYTES + BigInt(payTo.length - 22);

export class ChannelTxError extends Error {
  override name = 'ChannelTxError';
}

/** One party's public keys for a channel (33-byte compressed, hex). */
export interface PartyKeys {
  funding: string;
  revocation_basepoint: string;
  payment_basepoint: string;
  delayed_payment_basepoint: string;
}

/** A channel's fixed terms. */
export interface ChannelTerms {
  funding_txid: string;
  funding_vout: number;
  capacity_sat: bigint;
  /**
   * Blocks the holder of each commitment waits before taking its to_local output. BOLT 2: each party's
   * to_self_delay is the one the OTHER party required of it (the opener's commitment carries the delay sent in
   * accept, the accepter's the one sent in open).
   */
  to_self_delay: { opener: number; accepter: number };
  opener: PartyKeys;
  accepter: PartyKeys;
  /**
   * The output scripts (hex) of each party's balance in the cooperative close, agreed at the open; without them (a
   * party that named none, an earlier anyad's record) each balance goes to its party's payment basepoint.
   */
  payout?: { opener: string; accepter: string };
}

/** A state both parties sign: the commitment number, the balances, the app data. */
export interface ChannelState {
  number: number;
  to_opener_sat: bigint;
  to_accepter_sat: bigint;
  app_hash: string;
}

const hexb = (s: string): Buffer => Buffer.from(s, 'hex');

/** The funding output's witness script: 2-of-2 with the keys in lexicographic order (BOLT 3). */
export function fundingScript(a: string, b: string): Buffer {
  const [x, y] = [a, b].sort();
  return Buffer.from(bitcoin.script.compile([bitcoin.opcodes.OP_2!, hexb(x!), hexb(y!), bitcoin.opcodes.OP_2!, bitcoin.opcodes.OP_CHECKMULTISIG!]));
}

export function p2wsh(script: Buffer): Buffer {
  return Buffer.from(bitcoin.payments.p2wsh({ redeem: { output: script } }).output!);
}

/**
 * Scripts every commitment of a channel builds again from the same public inputs: a basepoint's P2WPKH, and the
 * to_local script of a holder at a per-commitment point (two multiplications and a tweak of the curve, the most
 * costly part of building a commitment). Each is a pure function of the key the cache holds it under, so a cached
 * value is the bytes a rebuild gives; copies go out, so no caller can change what the next one gets.
 */
const scripts = new LRUCache<string, Buffer>({ max: 2048 });
function cachedScript(key: string, make: () => Buffer): Buffer {
  let v = scripts.get(key);
  if (!v) scripts.set(key, (v = make()));
  return Buffer.from(v);
}

export function p2wpkh(pubkeyHex: string): Buffer {
  return cachedScript(`p2wpkh:${pubkeyHex}`, () => Buffer.from(bitcoin.payments.p2wpkh({ pubkey: hexb(pubkeyHex) }).output!));
}

/** BOLT 3's to_local script: the revocation key at once, or the delayed key after to_self_delay blocks. */
export function toLocalScript(revocationKey: Uint8Array, toSelfDelay: number, delayedKey: Uint8Array): Buffer {
  return Buffer.from(
    bitcoin.script.compile([
      bitcoin.opcodes.OP_IF!,
      Buffer.from(revocationKey),
      bitcoin.opcodes.OP_ELSE!,
      bitcoin.script.number.encode(toSelfDelay),
      bitcoin.opcodes.OP_CHECKSEQUENCEVERIFY!,
      bitcoin.opcodes.OP_DROP!,
      Buffer.from(delayedKey),
      bitcoin.opcodes.OP_ENDIF!,
      bitcoin.opcodes.OP_CHECKSIG!,
    ]),
  );
}

/** The lower 48 bits of SHA256(opener payment_basepoint || accepter payment_basepoint): hides the state number on chain. */
export function obscuringFactor(t: ChannelTerms): bigint {
  const h = createHash('sha256').update(hexb(t.opener.payment_basepoint)).update(hexb(t.accepter.payment_basepoint)).digest();
  return BigInt(`0x${h.subarray(26).toString('hex')}`);
}

/** The state number a commitment carries in its locktime and sequence (BOLT 3), undefined when it carries none. */
export function commitmentNumberOf(tx: bitcoin.Transaction, t: ChannelTerms): number | undefined {
  const seq = tx.ins[0]?.sequence ?? 0;
  if (tx.ins.length !== 1 || tx.locktime >>> 24 !== 0x20 || seq >>> 24 !== 0x80) return undefined;
  const obscured = (BigInt(seq & 0xffffff) << 24n) | BigInt(tx.locktime & 0xffffff);
  return Number(obscured ^ obscuringFactor(t));
}

/** The keys and script of one holder's to_local output at a per-commitment point. */
export function toLocalOf(t: ChannelTerms, holder: 'opener' | 'accepter', point: Uint8Array): Buffer {
  const mine = t[holder];
  const theirs = holder === 'opener' ? t.accepter : t.opener;
  const delay = t.to_self_delay[holder];
  const key = `to_local:${theirs.revocation_basepoint}:${mine.delayed_payment_basepoint}:${delay}:${Buffer.from(point).toString('hex')}`;
  return cachedScript(key, () =>
    toLocalScript(revocationPubkey(hexb(theirs.revocation_basepoint), point), delay, derivePubkey(hexb(mine.delayed_payment_basepoint), point)),
  );
}

function appOutput(appHash: string): Buffer {
  return Buffer.from(bitcoin.script.compile([bitcoin.opcodes.OP_RETURN!, hexb(appHash)]));
}

/** Outputs in BIP69 order (value, then script), as BOLT 3 orders a commitment's. */
function addSorted(tx: bitcoin.Transaction, outs: Array<{ script: Buffer; value: bigint }>): void {
  for (const o of [...outs].sort((a, b) => (a.value === b.value ? Buffer.compare(a.script, b.script) : a.value < b.value ? -1 : 1)))
    tx.addOutput(o.script, o.value);
}

function spendFunding(t: ChannelTerms, sequence: number, locktime: number): bitcoin.Transaction {
  const tx = new bitcoin.Transaction();
  tx.version = 2;
  tx.locktime = locktime;
  tx.addInput(Buffer.from(t.funding_txid, 'hex').reverse(), t.funding_vout, sequence);
  return tx;
}

/**
 * The commitment of `holder` for a state, at the holder's per-commitment point of that number: to_local (the
 * holder's balance, delayed, revocable), to_remote (the other's balance to its payment basepoint), the app data.
 */
export function commitmentTx(t: ChannelTerms, s: ChannelState, holder: 'opener' | 'accepter', point: Uint8Array): bitcoin.Transaction {
  const obscured = BigInt(s.number) ^ obscuringFactor(t);
  const tx = spendFunding(t, Number((0x80n << 24n) | (obscured >> 24n)), Number((0x20n << 24n) | (obscured & 0xffffffn)));
  const other = holder === 'opener' ? 'accepter' : 'opener';
  const local = holder === 'opener' ? s.to_opener_sat : s.to_accepter_sat;
  const remote = holder === 'opener' ? s.to_accepter_sat : s.to_opener_sat;
  const outs: Array<{ script: Buffer; value: bigint }> = [{ script: appOutput(s.app_hash), value: 0n }];
  if (local > 0n) outs.push({ script: p2wsh(toLocalOf(t, holder, point)), value: local });
  if (remote > 0n) outs.push({ script: p2wpkh(t[other].payment_basepoint), value: remote });
  addSorted(tx, outs);
  return tx;
}

/** Where a party's balance of the cooperative close goes: its agreed payout script, else its payment basepoint. */
export function payoutOf(t: ChannelTerms, party: 'opener' | 'accepter'): Buffer {
  return t.payout ? hexb(t.payout[party]) : p2wpkh(t[party].payment_basepoint);
}

/** The cooperative close of a state: each balance to its party's payout script, at once, and the app data. */
export function closingTx(t: ChannelTerms, s: ChannelState): bitcoin.Transaction {
  const tx = spendFunding(t, 0xffffffff, 0);
  const outs: Array<{ script: Buffer; value: bigint }> = [{ script: appOutput(s.app_hash), value: 0n }];
  if (s.to_opener_sat > 0n) outs.push({ script: payoutOf(t, 'opener'), value: s.to_opener_sat });
  if (s.to_accepter_sat > 0n) outs.push({ script: payoutOf(t, 'accepter'), value: s.to_accepter_sat });
  addSorted(tx, outs);
  return tx;
}

/** The digest a party signs to spend the funding output (SIGHASH_ALL, BIP143). */
export function fundingSighash(tx: bitcoin.Transaction, t: ChannelTerms): Buffer {
  return Buffer.from(tx.hashForWitnessV0(0, fundingScript(t.opener.funding, t.accepter.funding), t.capacity_sat, bitcoin.Transaction.SIGHASH_ALL));
}

/** The 2-of-2 witness: signatures in the order of the keys in the script. */
export function fundingWitness(t: ChannelTerms, sigs: { opener: Buffer; accepter: Buffer }): Buffer[] {
  const first = t.opener.funding < t.accepter.funding ? sigs.opener : sigs.accepter;
  const second = first === sigs.opener ? sigs.accepter : sigs.opener;
  return [Buffer.alloc(0), first, second, fundingScript(t.opener.funding, t.accepter.funding)];
}

/**
 * A transaction taking a commitment's to_local output to `payTo` (an output script): the holder's sweep after the
 * delay (sequence = to_self_delay, the ELSE branch) or the other party's penalty (the revocation branch).
 */
export function toLocalSpend(
  commitment: bitcoin.Transaction,
  vout: number,
  script: Buffer,
  payTo: Buffer,
  fee: bigint,
  path: { sweep: number } | 'penalty',
): { tx: bitcoin.Transaction; digest: Buffer; witness: (sig: Buffer) => Buffer[] } {
  const value = commitment.outs[vout]!.value;
  if (value - fee < DUST_LIMIT) throw new ChannelTxError(`the output of ${value} sat cannot pay a fee of ${fee} sat`);
  const tx = new bitcoin.Transaction();
  tx.version = 2;
  tx.addInput(Buffer.from(commitment.getHash()), vout, path === 'penalty' ? 0xfffffffd : path.sweep);
  tx.addOutput(payTo, value - fee);
  const digest = Buffer.from(tx.hashForWitnessV0(0, script, value, bitcoin.Transaction.SIGHASH_ALL));
  return { tx, digest, witness: (sig) => [sig, path === 'penalty' ? Buffer.of(1) : Buffer.alloc(0), script] };
}

/**
 * The spend of our to_remote output of their commitment (a P2WPKH of our payment basepoint, BOLT 3 with a static
 * remote key): no delay, so it signals replacement; BIP143's scriptCode of a P2WPKH is its P2PKH script.
 */
export function toRemoteSpend(
  commitment: bitcoin.Transaction,
  vout: number,
  pubkey: Buffer,
  payTo: Buffer,
  fee: bigint,
): { tx: bitcoin.Transaction; digest: Buffer; witness: (sig: Buffer) => Buffer[] } {
  const value = commitment.outs[vout]!.value;
  if (value - fee < DUST_LIMIT) throw new ChannelTxError(`the output of ${value} sat cannot pay a fee of ${fee} sat`);
  const tx = new bitcoin.Transaction();
  tx.version = 2;
  tx.addInput(Buffer.from(commitment.getHash()), vout, 0xfffffffd);
  tx.addOutput(payTo, value - fee);
  const scriptCode = Buffer.from(bitcoin.payments.p2pkh({ pubkey }).output!);
  const digest = Buffer.from(tx.hashForWitnessV0(0, scriptCode, value, bitcoin.Transaction.SIGHASH_ALL));
  return { tx, digest, witness: (sig) => [sig, pubkey] };
}

/**
 * Why a counterparty's payout script is refused, or undefined when it is one BOLT 2's shutdown rules allow without
 * further options: P2WPKH (OP_0 and 20 bytes), P2WSH (OP_0 and 32 bytes) or P2TR (OP_1 and 32 bytes). The payment
 * basepoint's P2WPKH is one of them.
 */
export function payoutScriptProblem(script: Buffer): string | undefined {
  const push = (n: number): boolean => script.length === n + 2 && script[1] === n;
  if (script[0] === bitcoin.opcodes.OP_0 && (push(20) || push(32))) return undefined;
  if (script[0] === bitcoin.opcodes.OP_1 && push(32)) return undefined;
  const kind =
    script.length === 25 && script[0] === bitcoin.opcodes.OP_DUP && script[1] === bitcoin.opcodes.OP_HASH160 && script[2] === 20
      ? 'a P2PKH script'
      : script.length === 23 && script[0] === bitcoin.opcodes.OP_HASH160 && script[1] === 20 && script[22] === bitcoin.opcodes.OP_EQUAL
        ? 'a P2SH script'
        : script.length > MAX_PAYOUT_SCRIPT
          ? `${script.length} bytes long (at most ${MAX_PAYOUT_SCRIPT})`
          : 'not a segwit v0 or v1 output script';
  return `is ${kind}: a payout script must be P2WPKH, P2WSH or P2TR (BOLT 2 shutdown rules)`;
}
