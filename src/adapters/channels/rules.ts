// The rules every state, every revealed secret, every counterparty signature, every funding output and every
// spend of it must pass, as pure functions: the service applies them to what a party proposes or receives, and the
// tests call them directly. A broken rule is an InvalidParams error whose message names it (PolicyDenied with
// data.rule for a payment this side did not approve).
//
// Sources: BOLT 2 (open_channel/accept_channel "the receiving node MUST fail the channel if", funding_created,
// channel_ready), BOLT 3 (commitment outputs), BIP66 (strict DER), BIP146 (LOW_S).

import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../core/errors.js';
import { channelCurve } from './curve.js';
import { perCommitmentPoint } from './keys.js';
import { MAX_INDEX, SecretStore, ShachainError, type StoredSecret } from './shachain.js';
import { commitmentNumberOf, DUST_LIMIT, p2wpkh, p2wsh, toLocalOf, type ChannelState, type ChannelTerms } from './transactions.js';

/** An application's rule over a proposed state (the generic rules always apply first): a reason to refuse, or undefined. */
export type StateRule = (channel: { id: string; capacity_sat: bigint }, previous: ChannelState, next: ChannelState) => string | undefined;

/**
 * The next state after `prev`: its number is the next one, both balances are 0 or above the dust limit and add up
 * to the capacity minus the commitment fee, the app data is 32 bytes, and every application rule agrees.
 */
export function checkNextState(
  channel: { id: string; capacity_sat: bigint; fee_sat: bigint },
  prev: ChannelState,
  next: ChannelState,
  rules: ReadonlyMap<string, StateRule> = new Map(),
): void {
  const { capacity_sat: capacity, fee_sat: fee } = channel;
  if (next.number !== prev.number + 1) throw rpcError('InvalidParams', `state ${next.number} does not follow state ${prev.number} (replayed or out of order)`);
  if (next.to_opener_sat < 0n || next.to_accepter_sat < 0n) throw rpcError('InvalidParams', 'a balance is negative');
  if (next.to_opener_sat + next.to_accepter_sat !== capacity - fee)
    throw rpcError(
      'InvalidParams',
      `the balances add up to ${next.to_opener_sat + next.to_accepter_sat} sat; they must add up to the capacity minus the commitment fee, ${capacity - fee} sat`,
    );
  for (const [who, v] of [
    ['opener', next.to_opener_sat],
    ['accepter', next.to_accepter_sat],
  ] as const)
    if (v > 0n && v < DUST_LIMIT)
      throw rpcError('InvalidParams', `the ${who}'s balance of ${v} sat is dust (under ${DUST_LIMIT} sat): give it 0 or at least ${DUST_LIMIT}`);
  if (!/^[0-9a-f]{64}$/.test(next.app_hash)) throw rpcError('InvalidParams', 'app_hash must be 32 bytes of lowercase hex');
  for (const [name, rule] of rules) {
    const reason = rule({ id: channel.id, capacity_sat: capacity }, prev, next);
    if (reason) throw rpcError('InvalidParams', `the application rule ${name} refuses state ${next.number}: ${reason}`);
  }
}

/**
 * A revealed per-commitment secret of state n, checked against the point given for n and against the secrets
 * revealed before (BOLT 3: each must derive the earlier ones it covers); the store's entries with it added.
 */
export function acceptRevealedSecret(saved: StoredSecret[], n: number, pointHex: string | undefined, secret: Uint8Array): StoredSecret[] {
  if (!pointHex) throw rpcError('InvalidParams', `no point of state ${n} to check its secret against`);
  if (Buffer.from(perCommitmentPoint(secret)).toString('hex') !== pointHex)
    throw rpcError('InvalidParams', `the revealed secret of state ${n} does not match its per-commitment point`);
  const store = new SecretStore(saved);
  try {
    store.insert(secret, MAX_INDEX - BigInt(n));
  } catch (err) {
    if (err instanceof ShachainError) throw rpcError('InvalidParams', err.message);
    throw err;
  }
  return store.save();
}

// ---- to_self_delay (BOLT 2 open_channel / accept_channel) ----

/**
 * The to_self_delay this side requires of the counterparty (what it sends in open or accept): at least the floor,
 * so a revoked state of theirs can be punished in time.
 */
export function checkOwnDelay(delay: number, min: number): void {
  if (!Number.isInteger(delay) || delay < min)
    throw rpcError('PolicyDenied', `to_self_delay ${delay} is under this anyad's floor of ${min} blocks (sc.mintoselfdelay)`, {
      rule: 'sc.mintoselfdelay',
      min,
    });
}

/**
 * The to_self_delay the counterparty requires of this side (what it sent in open or accept). BOLT 2: the
 * receiving node MAY fail the channel if to_self_delay is unreasonably large; here above sc.maxtoselfdelay.
 */
export function checkTheirDelay(delay: number, max: number): void {
  if (delay > max)
    throw rpcError(
      'InvalidParams',
      `the counterparty requires a to_self_delay of ${delay} blocks of this side: over the ${max} this anyad accepts (sc.maxtoselfdelay)`,
    );
}

// ---- consent to a state that pays the counterparty ----

/** How much this side's balance goes down from `prev` to `next` (0 when it stays or goes up). */
export function ownDecrease(role: 'opener' | 'accepter', prev: ChannelState, next: ChannelState): bigint {
  const d = role === 'opener' ? prev.to_opener_sat - next.to_opener_sat : prev.to_accepter_sat - next.to_accepter_sat;
  return d > 0n ? d : 0n;
}

/**
 * A state the counterparty proposes is signed only when it does not lower this side's balance by more than what
 * was approved for it: the local admin's standing allowance per update (sc.autopaymaxsat) or the max_pay_sat of
 * the very sc.receive call that carries it. The amount is what anyad computes from the two states, never a figure
 * the message claims, so the counterparty cannot make a payment look smaller than it is.
 */
export function checkConsent(role: 'opener' | 'accepter', prev: ChannelState, next: ChannelState, allowance: bigint, channel: string): void {
  const pays = ownDecrease(role, prev, next);
  if (pays > allowance)
    throw rpcError(
      'PolicyDenied',
      `state ${next.number} proposed by the counterparty pays it ${pays} sat out of this side's balance, over the ${allowance} sat approved (sc.receive's max_pay_sat, or sc.autopaymaxsat)`,
      {
        rule: 'sc.consent',
        channel,
        number: next.number,
        pays_sat: Number(pays),
        approved_sat: Number(allowance),
        to_opener_sat: Number(next.to_opener_sat),
        to_accepter_sat: Number(next.to_accepter_sat),
      },
    );
}

// ---- counterparty signatures (BIP66, BIP146) ----

/** BIP66's IsValidSignatureEncoding, for a signature without its sighash byte: strict DER of two positive integers. */
export function isStrictDer(sig: Uint8Array): boolean {
  if (sig.length < 8 || sig.length > 72) return false;
  if (sig[0] !== 0x30 || sig[1] !== sig.length - 2) return false;
  const lenR = sig[3]!;
  if (sig[2] !== 0x02 || lenR === 0 || 5 + lenR >= sig.length) return false;
  const lenS = sig[5 + lenR]!;
  if (lenR + lenS + 6 !== sig.length) return false;
  if (sig[4 + lenR] !== 0x02 || lenS === 0) return false;
  // Neither negative nor padded with a needless zero byte.
  if (sig[4]! & 0x80) return false;
  if (lenR > 1 && sig[4] === 0 && !(sig[5]! & 0x80)) return false;
  if (sig[6 + lenR]! & 0x80) return false;
  if (lenS > 1 && sig[6 + lenR] === 0 && !(sig[7 + lenR]! & 0x80)) return false;
  return true;
}

const HALF_N = secp256k1.Point.Fn.ORDER >> 1n;
const N = secp256k1.Point.Fn.ORDER;

/** What is wrong with a DER signature's encoding or values (BIP66 strict DER, r and s in range, BIP146 low S), or undefined. */
export function signatureEncodingProblem(sig: Uint8Array): string | undefined {
  if (!isStrictDer(sig)) return 'is not strict DER (BIP66)';
  const lenR = sig[3]!;
  const r = BigInt(`0x${Buffer.from(sig.subarray(4, 4 + lenR)).toString('hex')}`);
  const s = BigInt(`0x${Buffer.from(sig.subarray(6 + lenR)).toString('hex')}`);
  if (r === 0n || r >= N || s === 0n || s >= N) return 'has r or s out of range';
  if (s > HALF_N) return 'has a high S (BIP146 LOW_S): refused';
  return undefined;
}

/**
 * A counterparty's signature, before it is stored or acted on: strict DER (BIP66: it goes into a witness as is),
 * low S (BIP146 LOW_S: a high-S signature makes the transaction non-standard, so a commitment we hold could not
 * be relayed), r and s in range, and valid for `pubkey` over `digest` (the sighash of the transaction it is for).
 */
export function checkCounterpartySig(sigHex: string, digest: Uint8Array, pubkeyHex: string, what: string): void {
  const sig = Buffer.from(sigHex, 'hex');
  const problem = signatureEncodingProblem(sig);
  if (problem) throw rpcError('InvalidParams', `the counterparty's signature on ${what} ${problem}`);
  if (!channelCurve().verifyDer(sig, digest, Buffer.from(pubkeyHex, 'hex'))) throw rpcError('InvalidParams', `the counterparty's signature is not on ${what}`);
}

// ---- the funding output (BOLT 2 funding_created, channel_ready) ----

/**
 * The output a channel is funded by: exactly the capacity, paid to the P2WSH of the 2-of-2 of both funding keys.
 * Anything else (another coin at that outpoint, a smaller amount, another script) is not this channel.
 */
export function checkFundingOutput(out: { value: bigint; script: Uint8Array } | undefined, capacity: bigint, expectedScript: Uint8Array, where: string): void {
  if (!out) throw rpcError('InvalidParams', `${where} has no output at the funding outpoint`);
  if (out.value !== capacity)
    throw rpcError('InvalidParams', `${where} pays ${out.value} sat to the funding output, not the channel's capacity of ${capacity} sat`);
  if (Buffer.compare(Buffer.from(out.script), Buffer.from(expectedScript)) !== 0)
    throw rpcError('InvalidParams', `${where}'s funding output is not the P2WSH of the 2-of-2 of both funding keys`);
}

/**
 * The funding transaction the opener describes in funding_created (unsigned; its txid is final when every input is
 * segwit, and a transaction whose txid changes when signed never funds the channel): it must be the transaction of
 * the txid it names, and its output at the vout it names must be the channel's funding output.
 */
export function checkFundingTx(txHex: string, txid: string, vout: number, capacity: bigint, expectedScript: Uint8Array): void {
  let tx: bitcoin.Transaction;
  try {
    tx = bitcoin.Transaction.fromHex(txHex);
  } catch {
    throw rpcError('InvalidParams', 'funding_tx is not a transaction');
  }
  if (tx.getId() !== txid) throw rpcError('InvalidParams', `funding_tx is transaction ${tx.getId()}, not the funding_txid ${txid} it names`);
  const out = tx.outs[vout];
  checkFundingOutput(out ? { value: BigInt(out.value), script: out.script } : undefined, capacity, expectedScript, 'funding_tx');
}

// ---- spends of the funding output ----

/**
 * True when `tx` is a commitment of `holder` for this channel at the holder's per-commitment point `point`
 * (BOLT 3): one input, the funding outpoint; the commitment number in its locktime and sequence; outputs only the
 * app data, the holder's to_local at that point, the other party's to_remote, each once, adding up to no more
 * than the capacity.
 */
export function isCommitmentOf(tx: bitcoin.Transaction, t: ChannelTerms, holder: 'opener' | 'accepter', point: Uint8Array): boolean {
  if (tx.ins.length !== 1 || commitmentNumberOf(tx, t) === undefined) return false;
  const input = tx.ins[0]!;
  if (Buffer.from(input.hash).reverse().toString('hex') !== t.funding_txid || input.index !== t.funding_vout) return false;
  const toLocal = p2wsh(toLocalOf(t, holder, point));
  const toRemote = p2wpkh(t[holder === 'opener' ? 'accepter' : 'opener'].payment_basepoint);
  const seen = new Set<string>();
  let total = 0n;
  for (const o of tx.outs) {
    const script = Buffer.from(o.script);
    const value = BigInt(o.value);
    const kind = isAppData(script) && value === 0n ? 'app' : script.equals(toLocal) ? 'local' : script.equals(toRemote) ? 'remote' : undefined;
    if (!kind || seen.has(kind)) return false;
    seen.add(kind);
    total += value;
  }
  return total <= t.capacity_sat;
}

/** OP_RETURN and 32 bytes: a state's app data output. */
function isAppData(script: Buffer): boolean {
  return script.length === 34 && script[0] === bitcoin.opcodes.OP_RETURN && script[1] === 32;
}
