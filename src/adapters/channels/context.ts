// What every part of the room shares: the context (its sublevel, the store, the bus, the HSM and bitcoin rooms'
// apis, the admin's policy, the per-channel locks, the applications' rules, the per-commitment seeds), the record's
// reads and its one synced write, and what the parts ask of the HSM for a channel: the per-commitment secrets and
// points, the signature on the counterparty's commitment, a signed message. Every HSM call names its caller (the
// RPC connection and method, or `anyad sc (<cause>)` for the room's own work) and the channel's ContractSigning.

import { LRUCache } from 'lru-cache';
import type * as bitcoin from 'bitcoinjs-lib';
import type { Logger } from 'pino';
import type { KeyedLock } from '../../core/keyed-lock.js';
import { rpcError } from '../../core/errors.js';
import type { EventBus } from '../../core/events.js';
import type { BatchOp, RoomDb, Store } from '../../core/store.js';
import type { BitcoinApi, ChainNotifications } from '../bitcoin/api.js';
import type { ContractSigning, HsmApi } from '../../hsm/api.js';
import type { WalletApi } from '../../wallet/api.js';
import { perCommitmentPoint } from './keys.js';
import { checkCounterpartySig, checkNextState, signatureEncodingProblem, type StateRule } from './rules.js';
import { decodeMessage, encodeMessage, MessageError, messageDigest, verifyMessage, type Envelope, type MessageType } from './messages.js';
import { MAX_INDEX, secretFromSeed } from './shachain.js';
import { commitmentTx, fundingSighash, toLocalOf, type ChannelState, type ChannelTerms } from './transactions.js';
import { asRpc, hex, other, toState, type ChannelRecord, type ChannelStateName } from './record.js';
import { SC_CHANNEL } from './topics.js';

/** What the local admin set for channels (config keys sc.*). */
export interface ChannelPolicy {
  /** sc.justice: make an encrypted penalty for every revoked state of the counterparty, for a tower. */
  justice: boolean;
  /** sc.toselfdelay: what sc.accept requires of the opener unless it names its own. */
  acceptDelay: number;
  /** sc.mintoselfdelay: the least to_self_delay this side requires of a counterparty. */
  minDelay: number;
  /** sc.maxtoselfdelay: the most to_self_delay a counterparty may require of this side. */
  maxDelay: number;
  /** sc.autopaymaxsat: how much this side's balance may go down in one received state without max_pay_sat. */
  autopayMaxSat: bigint;
}

export const DEFAULT_POLICY: ChannelPolicy = { justice: false, acceptDelay: 144, minDelay: 144, maxDelay: 2016, autopayMaxSat: 0n };

export interface ChannelContext {
  readonly db: RoomDb;
  readonly store: Store;
  readonly bus: EventBus;
  readonly hsm: HsmApi;
  readonly chain: BitcoinApi;
  /**
   * The wallet room's coin service, when it is on: it funds a channel opened without utxos (wallet-funding.ts), and
   * its addresses take what a close, sweep or penalty pays this side (payouts.ts).
   */
  readonly wallet?: WalletApi;
  /** The room's chain notifications (its funding outputs' spends), from the bitcoin room. */
  readonly notes: ChainNotifications;
  readonly log: Logger;
  readonly policy: ChannelPolicy;
  readonly net: bitcoin.Network;
  /** The chain hash every message names (a message for another network is refused). */
  readonly chainHash: string;
  /** One critical section per channel id (and 'utxos' for the coins funding channels, 'tower' for the tower). */
  readonly locks: KeyedLock;
  /** Applications' rules, applied to every state proposed or received after the generic rules. */
  readonly rules: Map<string, StateRule>;
  /** Per-commitment seeds by channel, derived by the HSM once per run. */
  readonly seeds: LRUCache<string, Buffer>;
  /**
   * Set for a step whose writes must land in ONE batch with something else (peering.ts: a message taken from a peer,
   * whose batch also holds the mark "taken" and the answer queued to the peer; a message sent, whose batch holds
   * its outbox entry). Absent: every save is its own synced batch, as for the messages apps carry.
   */
  readonly unit?: Unit;
}

/**
 * One step's writes, collected by save() instead of written, and what waits until they are durable (the events, a
 * broadcast). The step ends its critical section with done(), which hands them and the step's message to commit.
 */
export interface Unit {
  readonly ops: BatchOp[];
  readonly after: Array<() => void>;
  /** Writes ops (and the message to the peer, if any) in one synced batch; then runs every after. */
  commit(message: string | null): Promise<void>;
}

/** Ends a step's critical section: in a unit, its writes and its message are committed together now. */
export async function done(room: ChannelContext, message: string | null): Promise<void> {
  if (room.unit) await room.unit.commit(message);
}

/**
 * Work that must follow the step's writes being durable (a broadcast): at once outside a unit (its error is the
 * caller's), after the unit's commit inside one (its error logged: the record keeps what is needed to do it again).
 */
export async function whenDurable(room: ChannelContext, what: string, f: () => Promise<unknown>): Promise<void> {
  if (!room.unit) {
    await f();
    return;
  }
  room.unit.after.push(() => void f().catch((err: Error) => room.log.warn({ reason: err.message }, `${what} failed; the next block tries again`)));
}

export const newSeedCache = (): LRUCache<string, Buffer> => new LRUCache<string, Buffer>({ max: 1024 });

export async function list(room: ChannelContext): Promise<ChannelRecord[]> {
  const out: ChannelRecord[] = [];
  for await (const [, v] of room.db.iterator({ gte: 'c:', lt: 'c;' })) out.push(v as ChannelRecord);
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

export async function get(room: ChannelContext, id: string): Promise<ChannelRecord> {
  const rec = (await room.db.get(`c:${id}`)) as ChannelRecord | undefined;
  if (!rec) throw rpcError('NotFound', `no channel ${id}`);
  return rec;
}

/**
 * Writes the record synced and then tells subscribers (a new state or a new signed state number); nothing is
 * answered before this returns. In a unit, the write joins the step's batch (done()) and the event waits for it.
 */
export async function save(room: ChannelContext, rec: ChannelRecord, previous: ChannelStateName | null, newNumber = false): Promise<ChannelRecord> {
  rec.updated = new Date().toISOString();
  const put: BatchOp = { type: 'put', sublevel: room.db, key: `c:${rec.id}`, value: rec };
  if (room.unit) {
    // Written with the rest of the step (done()); told once that is durable.
    room.unit.ops.push(put);
    room.unit.after.push(() => tell(room, rec, previous, newNumber));
    return rec;
  }
  await room.store.batch([put], { sync: true });
  tell(room, rec, previous, newNumber);
  return rec;
}

function tell(room: ChannelContext, rec: ChannelRecord, previous: ChannelStateName | null, newNumber: boolean): void {
  if (previous !== rec.state || newNumber)
    room.bus.publish(SC_CHANNEL, {
      id: rec.id,
      state: rec.state,
      previous,
      number: rec.current.number,
      to_opener_sat: Number(rec.current.to_opener_sat),
      to_accepter_sat: Number(rec.current.to_accepter_sat),
      app_hash: rec.current.app_hash,
      txid: rec.closing_txid ?? rec.funding_txid,
    });
}

async function seed(room: ChannelContext, rec: ChannelRecord, caller: string): Promise<Buffer> {
  const cached = room.seeds.get(rec.id);
  if (cached) return cached;
  const s = await room.hsm.derivedSecret(rec.keys.revocation, `anyad/sc/per-commitment-seed/${rec.id}`, caller);
  room.seeds.set(rec.id, s);
  return s;
}

/** Our per-commitment secret of a state number (BOLT 3 indexes count down from 2^48 - 1). */
export async function ourSecret(room: ChannelContext, rec: ChannelRecord, n: number, caller: string): Promise<Uint8Array> {
  return secretFromSeed(await seed(room, rec, caller), MAX_INDEX - BigInt(n));
}

export async function ourPoint(room: ChannelContext, rec: ChannelRecord, n: number, caller: string): Promise<Uint8Array> {
  return perCommitmentPoint(await ourSecret(room, rec, n, caller));
}

/**
 * Once a state is settled, the next one's commitments will need the to_local scripts at both parties' points of the
 * next number (both known now): derived off the step's path (after it has answered), so the next update finds them
 * cached (transactions.ts) instead of spending its own time on the curve. Public values only; our point only when
 * the channel's seed is cached already (no HSM call is made for it), and any error only means no head start.
 */
export function prepareNext(room: ChannelContext, rec: ChannelRecord): void {
  setImmediate(() => {
    try {
      const t = terms(rec);
      const n = rec.current.number + 1;
      const theirs = rec.their_points[n];
      if (theirs) toLocalOf(t, other(rec.role), Buffer.from(theirs, 'hex'));
      const s = room.seeds.get(rec.id);
      if (s) toLocalOf(t, rec.role, perCommitmentPoint(secretFromSeed(s, MAX_INDEX - BigInt(n))));
    } catch {
      // (The step that needs them derives them itself.)
    }
  });
}

/** The channel's terms, once both parties' keys and the funding outpoint are known. */
export function terms(rec: ChannelRecord): ChannelTerms {
  if (!rec.theirs || rec.funding_txid === null || rec.funding_vout === null) throw rpcError('Conflict', `channel ${rec.id} is ${rec.state}: not funded yet`);
  return {
    funding_txid: rec.funding_txid,
    funding_vout: rec.funding_vout,
    capacity_sat: BigInt(rec.capacity_sat),
    to_self_delay: {
      [rec.role]: rec.to_self_delay,
      [other(rec.role)]: rec.their_to_self_delay ?? rec.to_self_delay,
    } as ChannelTerms['to_self_delay'],
    opener: rec.role === 'opener' ? rec.ours : rec.theirs,
    accepter: rec.role === 'opener' ? rec.theirs : rec.ours,
    ...(rec.our_payout && rec.their_payout
      ? { payout: { [rec.role]: rec.our_payout, [other(rec.role)]: rec.their_payout } as NonNullable<ChannelTerms['payout']> }
      : {}),
  };
}

/**
 * What a signature the room asks of the HSM is for (its policy and audit read it): the channel, the counterparty's
 * funding key ('' before the accept names it), why, and how much it can move away from this side.
 */
export function contract(rec: ChannelRecord, purpose: string, spends: bigint = 0n): ContractSigning {
  return { kind: 'channel', contract: rec.id, counterparty: rec.theirs?.funding ?? '', purpose, spends_sat: Number(spends) };
}

/** Our signature with the channel's funding key on a digest of a funding-output spend (commitment, close). */
export async function fundingSign(room: ChannelContext, rec: ChannelRecord, digest: Buffer, caller: string, why: ContractSigning): Promise<Buffer> {
  return room.hsm.signDigest(rec.keys.funding, digest, caller, why);
}

/**
 * Our signature on the counterparty's commitment of a state (at their point of that number); `spends` is how much
 * the state lowers our balance from the one we hold now.
 */
export async function signTheirs(room: ChannelContext, rec: ChannelRecord, s: ChannelState, spends: bigint, caller: string): Promise<string> {
  const point = rec.their_points[s.number];
  if (!point) throw rpcError('InternalError', `no per-commitment point of the counterparty for state ${s.number}`);
  const t = terms(rec);
  const tx = commitmentTx(t, s, other(rec.role), Buffer.from(point, 'hex'));
  return hex(await fundingSign(room, rec, fundingSighash(tx, t), caller, contract(rec, 'commitment', spends)));
}

/** Refuses a counterparty's signature that is not strict DER, low S and on our commitment of the state. */
export async function checkOurs(room: ChannelContext, rec: ChannelRecord, s: ChannelState, sigHex: string, caller: string): Promise<void> {
  const t = terms(rec);
  const tx = commitmentTx(t, s, rec.role, await ourPoint(room, rec, s.number, caller));
  checkCounterpartySig(sigHex, fundingSighash(tx, t), rec.theirs!.funding, `our commitment of state ${s.number}`);
}

/** A message of ours for the channel, signed with its funding key. */
export async function message(room: ChannelContext, rec: ChannelRecord, type: MessageType, body: Record<string, unknown>, caller: string): Promise<string> {
  const e: Envelope = { v: 1, type, chain: room.chainHash, channel: rec.id, body };
  const sig = await fundingSign(room, rec, messageDigest(e), caller, contract(rec, `message.${type}`));
  return encodeMessage(e, sig);
}

/** A message for this network, decoded; its signature is checked afterwards (authentic) with the key the channel knows. */
export function read(room: ChannelContext, hexMsg: string): { e: Envelope; sig: string } {
  try {
    const { envelope, sig } = decodeMessage(hexMsg.toLowerCase());
    if (envelope.chain !== room.chainHash) throw new MessageError(`the message is for another network (chain ${envelope.chain}), not this one`);
    if (!/^[0-9a-f]{64}$/.test(envelope.channel)) throw new MessageError('the message names no channel id');
    return { e: envelope, sig };
  } catch (err) {
    throw asRpc(err);
  }
}

export function authentic(e: Envelope, sig: string, key: string): void {
  const problem = signatureEncodingProblem(Buffer.from(sig, 'hex'));
  if (problem) throw rpcError('InvalidParams', `the ${e.type} message's signature ${problem}`);
  if (!verifyMessage(e, sig, key)) throw rpcError('InvalidParams', `the ${e.type} message is not signed by the channel's counterparty`);
}

/** The generic rules, then the applications': a state that breaks one is refused with the reason. */
export function validate(room: ChannelContext, rec: ChannelRecord, next: ChannelState): void {
  checkNextState({ id: rec.id, capacity_sat: BigInt(rec.capacity_sat), fee_sat: BigInt(rec.fee_sat) }, toState(rec.current), next, room.rules);
}
