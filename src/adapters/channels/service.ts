// The state channels room: two-party channels with numbered states that both parties sign, built as Lightning's
// commitments are (BOLT 2/3: revocable commitments, per-commitment keys, a CSV delay, penalties), where each state
// carries both balances and 32 bytes of application data. Keys live in the HSM room's keystore; the chain is
// followed through the bitcoin room. anyad is also its own watchtower: at every block and at every transaction
// spending a channel's funding output (mempool included), it looks at what spent it and punishes a revoked state.
//
// The order of writes is what makes it safe: a party stores the counterparty's signature on its new commitment
// before it reveals the secret that revokes its previous one, and stores a revealed secret before it signs the
// next state; a message is answered only after its effects are durable.

import { createHash, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import * as bitcoin from 'bitcoinjs-lib';
import type { Logger } from 'pino';
import { HealthCell, type Health, type Service } from '../../core/service.js';
import type { Network } from '../../core/options.js';
import { KeyedLock } from '../../core/keyed-lock.js';
import { bitcoinNetwork, chainHash } from '../../core/bitcoin-network.js';
import { rpcError } from '../../core/errors.js';
import type { EventBus } from '../../core/events.js';
import type { RoomDb, Store } from '../../core/store.js';
import { CHAIN_BLOCK, CHAIN_TX, type BitcoinApi } from '../bitcoin/api.js';
import type { ContractSigning, HsmApi } from '../../hsm/api.js';
import { perCommitmentPoint } from './keys.js';
import { openJustice, sealJustice, type JusticeBlob } from './justice.js';
import {
  acceptRevealedSecret,
  checkConsent,
  checkCounterpartySig,
  checkFundingOutput,
  checkFundingTx,
  checkNextState,
  checkOwnDelay,
  checkTheirDelay,
  isCommitmentOf,
  ownDecrease,
  signatureEncodingProblem,
  type StateRule,
} from './rules.js';
import { decodeMessage, encodeMessage, field, MessageError, messageDigest, verifyMessage, type Envelope, type MessageType } from './messages.js';
import { MAX_INDEX, SecretStore, secretFromSeed, ShachainError } from './shachain.js';
import { holdsClear, openSecrets, sealSecrets, type KeptSecret } from './secrets.js';
import {
  closingTx,
  commitmentNumberOf,
  commitmentTx,
  COMMITMENT_VBYTES,
  DUST_LIMIT,
  fundingScript,
  p2wpkh,
  fundingSighash,
  fundingWitness,
  p2wsh,
  SWEEP_VBYTES,
  toLocalOf,
  toLocalSpend,
  type ChannelState,
  type ChannelTerms,
  type PartyKeys,
} from './transactions.js';
import { SC_CHANNEL, SC_TOWER } from './topics.js';

export type ChannelStateName =
  'opening' | 'accepted' | 'funding' | 'open' | 'closing' | 'force_closing' | 'remote_closing' | 'penalizing' | 'closed' | 'cancelled' | 'failed';
const WATCHED: readonly ChannelStateName[] = ['funding', 'open', 'closing', 'force_closing', 'remote_closing', 'penalizing'];

type Role = 'opener' | 'accepter';
const other = (r: Role): Role => (r === 'opener' ? 'accepter' : 'opener');

/** A state as stored (amounts as decimal strings: JSON has no bigint). */
interface StoredState {
  number: number;
  to_opener_sat: string;
  to_accepter_sat: string;
  app_hash: string;
}

export interface ChannelRecord {
  id: string;
  role: Role;
  state: ChannelStateName;
  capacity_sat: string;
  fee_sat: string;
  fee_rate_sat_vb: number;
  /**
   * Blocks this side waits for its own balance after broadcasting its commitment: the to_self_delay the
   * counterparty required of it (BOLT 2; 0 for the opener until the accept tells it).
   */
  to_self_delay: number;
  /**
   * Blocks the counterparty waits after broadcasting its commitment: the to_self_delay this side required of it,
   * the window to punish a revoked state of theirs. Absent in records from before it was kept apart (both were
   * to_self_delay then).
   */
  their_to_self_delay?: number;
  /** Why the channel failed (state 'failed'): a funding output that is not this channel's, an unknown spend of it. */
  failure?: string | null;
  /** HSM key ids: funding, revocation basepoint, payment basepoint (also where closes pay), delayed basepoint. */
  keys: { funding: string; revocation: string; payment: string; delayed: string };
  ours: PartyKeys;
  theirs: PartyKeys | null;
  /** The opener's funding inputs, and the funding PSBT once made (signed only after the first commitments are). */
  utxos: Array<{ txid: string; vout: number }>;
  funding_psbt: string | null;
  /**
   * The opener's signed funding transaction, kept from before its first broadcast: sent again at every block until
   * it confirms (a node may drop it from its mempool, or never have taken it). Absent in older records.
   */
  funding_hex?: string | null;
  funding_txid: string | null;
  funding_vout: number | null;
  /** The latest state whose commitment we hold with the counterparty's signature. */
  current: StoredState;
  current_sig: string | null;
  /** A state one of us proposed that is not settled yet: 'proposed' (we sent update) or 'acked' (we answered it). */
  pending: { state: StoredState; step: 'proposed' | 'acked'; before?: StoredState } | null;
  /** The counterparty's per-commitment points by state number (the ones still needed). */
  their_points: Record<string, string>;
  /**
   * The counterparty's revealed per-commitment secrets (BOLT 3 shachain: at most 49 entries), each sealed by the
   * HSM room (secrets.ts); in clear only in a record an earlier anyad wrote, until the sweep seals it.
   */
  their_secrets: KeptSecret[];
  /** Their highest revoked state number (-1: none). */
  their_revoked: number;
  /** Their highest state that we signed: they may still hold it and everything after their_revoked. */
  their_signed: number;
  closing_txid: string | null;
  closing_hex: string | null;
  closed_by: 'cooperative' | 'unilateral' | 'remote_unilateral' | 'penalty' | 'unknown' | null;
  /** Our sweep or penalty transaction, its fee, while it is not confirmed. */
  claim: { txid: string; fee_sat: string; kind: 'sweep' | 'penalty'; vout: number; commitment: string; sent: string[] } | null;
  /** The chain height up to which blocks were looked at for a spend of the funding output. */
  scan_height: number;
  created: string;
  updated: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const toState = (s: StoredState): ChannelState => ({ ...s, to_opener_sat: BigInt(s.to_opener_sat), to_accepter_sat: BigInt(s.to_accepter_sat) });
const stored = (s: ChannelState): StoredState => ({ ...s, to_opener_sat: s.to_opener_sat.toString(), to_accepter_sat: s.to_accepter_sat.toString() });
const ZERO_HASH = '0'.repeat(64);
const SIGHASH_ALL = Buffer.of(bitcoin.Transaction.SIGHASH_ALL);
const N = secp256k1.Point.Fn.ORDER;
const big = (b: Uint8Array): bigint => BigInt(`0x${hex(b)}`);
const b32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');

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

export interface OpenParams {
  capacity_sat: number;
  push_sat: number;
  to_self_delay: number;
  fee_rate_sat_vb: number;
  app_hash?: string;
  utxos: Array<{ txid: string; vout: number }>;
}

export class ChannelService implements Service {
  readonly name = 'channels';
  readonly requires = ['hsm'];
  private readonly cell = new HealthCell('starting', 'opening');
  private readonly locks = new KeyedLock();
  private readonly rules = new Map<string, StateRule>();
  /** Per-commitment seeds by channel, derived by the HSM once per run. */
  private readonly seeds = new LRUCache<string, Buffer>({ max: 1024 });
  private unlisten: (() => void) | undefined;
  /** The hints of the justice blobs held as a tower (sc.towerwatch), to look up every transaction seen. */
  private readonly towerHints = new Set<string>();
  /** How many blobs the tower holds (several may share a hint): what MAX_TOWER_BLOBS bounds. */
  private towerBlobs = 0;
  private following = Promise.resolve();
  /** A record may still keep revealed secrets in clear (an earlier anyad's): true from start until a sweep finds none. */
  private resealPending = true;
  private readonly net: bitcoin.Network;
  private readonly chainHash: string;

  constructor(
    private readonly db: RoomDb,
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly hsm: HsmApi,
    private readonly chain: BitcoinApi,
    network: Network,
    private readonly log: Logger,
    private readonly policy: ChannelPolicy = DEFAULT_POLICY,
  ) {
    this.net = bitcoinNetwork(network);
    this.chainHash = chainHash(network);
  }

  async open(): Promise<void> {
    for await (const key of this.db.keys({ gte: 'w:', lt: 'w;' })) {
      this.towerHints.add(key.slice(2, 34));
      this.towerBlobs++;
    }
    // Every block, and every watched transaction that spends a funding output: look at the channels (in order).
    const offBlock = this.bus.on(CHAIN_BLOCK, (b) => {
      if (this.resealPending) this.queue(() => this.resealClear());
      this.queue(() => this.lookAll());
      if (this.towerHints.size > 0) this.queue(() => this.towerBlock(b.hash));
    });
    const offTx = this.bus.on(CHAIN_TX, (t) => {
      if (t.spends.length > 0) this.queue(() => this.lookSpends(t.txid, t.spends));
    });
    this.unlisten = () => {
      offBlock();
      offTx();
    };
    this.queue(() => this.resealClear());
    this.cell.set('ok', 'following channels through the bitcoin room');
  }

  /**
   * Seals the revealed secrets an earlier anyad kept in clear (issue 26): at start, then at every block until none
   * is left (a locked keystore stops a sweep; the next block tries again, and until then the clear record works as
   * it is). The room's key range is then compacted, so the clear copies leave the LevelDB files rather than linger
   * in older tables until LevelDB gets round to them.
   */
  private async resealClear(): Promise<void> {
    if (!this.resealPending) return;
    let sealed = 0;
    try {
      for (const r of await this.list()) {
        if (!holdsClear(r.their_secrets)) continue;
        await this.locks.run(r.id, async () => {
          const rec = await this.get(r.id);
          if (!holdsClear(rec.their_secrets)) return;
          const plain = await openSecrets(this.hsm, rec.id, rec.their_secrets);
          await this.save({ ...rec, their_secrets: await sealSecrets(this.hsm, rec.id, plain, rec.their_secrets) }, rec.state);
          sealed++;
        });
      }
      this.resealPending = false;
    } catch (err) {
      this.log.warn({ reason: (err as Error).message }, 'cannot seal channel secrets kept in clear now (keystore locked?); the next block retries');
    } finally {
      if (sealed > 0) {
        await this.store.compact(this.db);
        this.log.info({ channels: sealed }, 'revealed channel secrets kept in clear sealed by the HSM room');
      }
    }
  }

  async close(): Promise<void> {
    this.unlisten?.();
    await this.following;
    this.cell.set('stopped', 'closed');
  }

  health(): Health {
    return this.cell.get();
  }

  private queue(f: () => Promise<void>): void {
    this.following = this.following.then(f).catch((err: Error) => this.log.warn({ reason: err.message }, 'channel follow failed; next block retries'));
  }

  /** An application's rule, applied to every state proposed or received after the generic rules. */
  addRule(name: string, rule: StateRule): void {
    this.rules.set(name, rule);
  }

  async list(): Promise<ChannelRecord[]> {
    const out: ChannelRecord[] = [];
    for await (const [, v] of this.db.iterator({ gte: 'c:', lt: 'c;' })) out.push(v as ChannelRecord);
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  async get(id: string): Promise<ChannelRecord> {
    const rec = (await this.db.get(`c:${id}`)) as ChannelRecord | undefined;
    if (!rec) throw rpcError('NotFound', `no channel ${id}`);
    return rec;
  }

  /**
   * Writes the record synced and then tells subscribers (a new state or a new signed state number); nothing is
   * answered before this returns.
   */
  private async save(rec: ChannelRecord, previous: ChannelStateName | null, newNumber = false): Promise<ChannelRecord> {
    rec.updated = new Date().toISOString();
    await this.store.batch([{ type: 'put', sublevel: this.db, key: `c:${rec.id}`, value: rec }], { sync: true });
    if (previous !== rec.state || newNumber)
      this.bus.publish(SC_CHANNEL, {
        id: rec.id,
        state: rec.state,
        previous,
        number: rec.current.number,
        to_opener_sat: Number(rec.current.to_opener_sat),
        to_accepter_sat: Number(rec.current.to_accepter_sat),
        app_hash: rec.current.app_hash,
        txid: rec.closing_txid ?? rec.funding_txid,
      });
    return rec;
  }

  // ---- keys and secrets ----

  private async seed(rec: ChannelRecord): Promise<Buffer> {
    const cached = this.seeds.get(rec.id);
    if (cached) return cached;
    const s = await this.hsm.derivedSecret(rec.keys.revocation, `anyad/sc/per-commitment-seed/${rec.id}`, 'sc');
    this.seeds.set(rec.id, s);
    return s;
  }

  /** Our per-commitment secret of a state number (BOLT 3 indexes count down from 2^48 - 1). */
  private async ourSecret(rec: ChannelRecord, n: number): Promise<Uint8Array> {
    return secretFromSeed(await this.seed(rec), MAX_INDEX - BigInt(n));
  }

  private async ourPoint(rec: ChannelRecord, n: number): Promise<Uint8Array> {
    return perCommitmentPoint(await this.ourSecret(rec, n));
  }

  private terms(rec: ChannelRecord): ChannelTerms {
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
    };
  }

  /**
   * What a signature the room asks of the HSM is for (its policy and audit read it): the channel, the counterparty's
   * funding key ('' before the accept names it), why, and how much it can move away from this side.
   */
  private contract(rec: ChannelRecord, purpose: string, spends: bigint = 0n): ContractSigning {
    return { kind: 'channel', contract: rec.id, counterparty: rec.theirs?.funding ?? '', purpose, spends_sat: Number(spends) };
  }

  /**
   * Our signature on the counterparty's commitment of a state (at their point of that number); `spends` is how much
   * the state lowers our balance from the one we hold now.
   */
  private async signTheirs(rec: ChannelRecord, s: ChannelState, spends: bigint): Promise<string> {
    const point = rec.their_points[s.number];
    if (!point) throw rpcError('InternalError', `no per-commitment point of the counterparty for state ${s.number}`);
    const t = this.terms(rec);
    const tx = commitmentTx(t, s, other(rec.role), Buffer.from(point, 'hex'));
    return hex(await this.hsm.signDigest(rec.keys.funding, fundingSighash(tx, t), 'sc', this.contract(rec, 'commitment', spends)));
  }

  /** Refuses a counterparty's signature that is not strict DER, low S and on our commitment of the state. */
  private async checkOurs(rec: ChannelRecord, s: ChannelState, sigHex: string): Promise<void> {
    const t = this.terms(rec);
    const tx = commitmentTx(t, s, rec.role, await this.ourPoint(rec, s.number));
    checkCounterpartySig(sigHex, fundingSighash(tx, t), rec.theirs!.funding, `our commitment of state ${s.number}`);
  }

  // ---- messages ----

  private async message(rec: ChannelRecord, type: MessageType, body: Record<string, unknown>): Promise<string> {
    const e: Envelope = { v: 1, type, chain: this.chainHash, channel: rec.id, body };
    const sig = await this.hsm.signDigest(rec.keys.funding, messageDigest(e), 'sc', this.contract(rec, `message.${type}`));
    return encodeMessage(e, sig);
  }

  /** A message for this network, decoded; its signature is checked against the key the channel knows (or the one it names, for open). */
  private read(hexMsg: string): { e: Envelope; sig: string } {
    try {
      const { envelope, sig } = decodeMessage(hexMsg.toLowerCase());
      if (envelope.chain !== this.chainHash) throw new MessageError(`the message is for another network (chain ${envelope.chain}), not this one`);
      if (!/^[0-9a-f]{64}$/.test(envelope.channel)) throw new MessageError('the message names no channel id');
      return { e: envelope, sig };
    } catch (err) {
      throw asRpc(err);
    }
  }

  private authentic(e: Envelope, sig: string, key: string): void {
    const problem = signatureEncodingProblem(Buffer.from(sig, 'hex'));
    if (problem) throw rpcError('InvalidParams', `the ${e.type} message's signature ${problem}`);
    if (!verifyMessage(e, sig, key)) throw rpcError('InvalidParams', `the ${e.type} message is not signed by the channel's counterparty`);
  }

  // ---- validation ----

  /** The generic rules, then the applications': a state that breaks one is refused with the reason. */
  private validate(rec: ChannelRecord, next: ChannelState): void {
    checkNextState({ id: rec.id, capacity_sat: BigInt(rec.capacity_sat), fee_sat: BigInt(rec.fee_sat) }, toState(rec.current), next, this.rules);
  }

  // ---- opening ----

  private async newKeys(id: string): Promise<{ keys: ChannelRecord['keys']; ours: PartyKeys }> {
    const refusal = this.hsm.channelRefusal();
    if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
    const names = ['funding', 'revocation', 'payment', 'delayed'] as const;
    const made = await Promise.all(names.map((k) => this.hsm.generateKey(`sc ${id.slice(0, 16)} ${k}`, null, 'channel')));
    return {
      keys: { funding: made[0]!.id, revocation: made[1]!.id, payment: made[2]!.id, delayed: made[3]!.id },
      ours: {
        funding: made[0]!.public_key,
        revocation_basepoint: made[1]!.public_key,
        payment_basepoint: made[2]!.public_key,
        delayed_payment_basepoint: made[3]!.public_key,
      },
    };
  }

  /** Coins funding a channel that is not open yet are refused to another one (under the 'utxos' lock). */
  private async checkCoins(utxos: OpenParams['utxos']): Promise<void> {
    const taken = new Map<string, string>();
    for (const r of await this.list())
      if (r.state === 'opening' || r.state === 'accepted' || r.state === 'funding') for (const u of r.utxos) taken.set(`${u.txid}:${u.vout}`, r.id);
    for (const [i, u] of utxos.entries()) {
      const holder = taken.get(`${u.txid}:${u.vout}`);
      if (holder) throw rpcError('Conflict', `utxos[${i}] ${u.txid}:${u.vout} funds channel ${holder} already`, { channel: holder });
      if (!(await this.chain.node<unknown>('gettxout', u.txid, u.vout, true)))
        throw rpcError('NotFound', `utxos[${i}] ${u.txid}:${u.vout} is spent or does not exist`);
    }
  }

  async openChannel(p: OpenParams): Promise<{ id: string; message: string }> {
    const capacity = BigInt(p.capacity_sat);
    const fee = BigInt(p.fee_rate_sat_vb) * COMMITMENT_VBYTES;
    const push = BigInt(p.push_sat);
    const first: ChannelState = { number: 0, to_opener_sat: capacity - fee - push, to_accepter_sat: push, app_hash: (p.app_hash ?? ZERO_HASH).toLowerCase() };
    if (first.to_opener_sat < DUST_LIMIT)
      throw rpcError('InvalidParams', `capacity_sat ${capacity} leaves the opener under ${DUST_LIMIT} sat after the fee (${fee}) and the push`);
    if (push > 0n && push < DUST_LIMIT) throw rpcError('InvalidParams', `push_sat ${push} is dust (under ${DUST_LIMIT} sat)`);
    // BOLT 2: the opener's to_self_delay is what it requires of the accepter (the accepter's commitment waits it).
    checkOwnDelay(p.to_self_delay, this.policy.minDelay);
    const id = randomBytes(32).toString('hex');
    return this.locks.run([id, 'utxos'], async () => {
      await this.checkCoins(p.utxos);
      const { keys, ours } = await this.newKeys(id);
      const rec = newRecord({
        id,
        role: 'opener',
        state: 'opening',
        capacity_sat: capacity.toString(),
        fee_sat: fee.toString(),
        fee_rate_sat_vb: p.fee_rate_sat_vb,
        to_self_delay: 0,
        their_to_self_delay: p.to_self_delay,
        keys,
        ours,
        theirs: null,
        utxos: p.utxos,
        current: stored(first),
        their_points: {},
      });
      const message = await this.message(rec, 'open', {
        capacity_sat: rec.capacity_sat,
        push_sat: push.toString(),
        fee_rate_sat_vb: p.fee_rate_sat_vb,
        to_self_delay: p.to_self_delay,
        app_hash: first.app_hash,
        keys: ours,
        first_point: hex(await this.ourPoint(rec, 0)),
        next_point: hex(await this.ourPoint(rec, 1)),
      });
      await this.save(rec, null);
      this.log.info({ id, capacity_sat: Number(capacity) }, 'channel offered');
      return { id, message };
    });
  }

  /**
   * Accepts an open message. `ownDelay` is the to_self_delay this side requires of the opener (BOLT 2
   * accept_channel), sc.toselfdelay unless given; the opener's to_self_delay is what this side will wait.
   */
  async accept(hexMsg: string, ownDelay?: number): Promise<{ id: string; message: string }> {
    const { e, sig } = this.read(hexMsg);
    if (e.type !== 'open') throw rpcError('InvalidParams', `sc.accept takes an open message, not ${e.type} (sc.receive takes the others)`);
    let theirs: PartyKeys, capacity: bigint, push: bigint, feeRate: number, delay: number, appHash: string, firstPoint: string, nextPoint: string;
    try {
      theirs = partyKeys(e.body);
      capacity = field.sat(e.body, 'capacity_sat');
      push = field.sat(e.body, 'push_sat');
      feeRate = field.int(e.body, 'fee_rate_sat_vb', 1, 10_000);
      delay = field.int(e.body, 'to_self_delay', 1, 65_535);
      appHash = field.hex(e.body, 'app_hash', 32);
      firstPoint = field.point(e.body, 'first_point');
      nextPoint = field.point(e.body, 'next_point');
    } catch (err) {
      throw asRpc(err);
    }
    this.authentic(e, sig, theirs.funding);
    const fee = BigInt(feeRate) * COMMITMENT_VBYTES;
    // BOLT 2 open_channel: push_msat over the funding, a channel too small for its fee, dust balances fail it.
    if (capacity - fee - push < DUST_LIMIT || (push > 0n && push < DUST_LIMIT))
      throw rpcError('InvalidParams', 'the open message leaves a balance under the dust limit');
    checkTheirDelay(delay, this.policy.maxDelay);
    const mine = ownDelay ?? this.policy.acceptDelay;
    checkOwnDelay(mine, this.policy.minDelay);
    return this.locks.run(e.channel, async () => {
      if (await this.db.get(`c:${e.channel}`)) throw rpcError('Conflict', `channel ${e.channel} is known already (a replayed open)`);
      const { keys, ours } = await this.newKeys(e.channel);
      const rec = newRecord({
        id: e.channel,
        role: 'accepter',
        state: 'accepted',
        capacity_sat: capacity.toString(),
        fee_sat: fee.toString(),
        fee_rate_sat_vb: feeRate,
        to_self_delay: delay,
        their_to_self_delay: mine,
        keys,
        ours,
        theirs,
        utxos: [],
        current: stored({ number: 0, to_opener_sat: capacity - fee - push, to_accepter_sat: push, app_hash: appHash }),
        their_points: { 0: firstPoint, 1: nextPoint },
      });
      const message = await this.message(rec, 'accept', {
        keys: ours,
        to_self_delay: mine,
        first_point: hex(await this.ourPoint(rec, 0)),
        next_point: hex(await this.ourPoint(rec, 1)),
      });
      await this.save(rec, null);
      return { id: rec.id, message };
    });
  }

  /** Any message after open: answered with the next message to carry back, or null when the step needs none. */
  async receive(
    hexMsg: string,
    approval: { max_pay_sat?: number } = {},
  ): Promise<{ id: string; state: ChannelStateName; number: number; message: string | null; txid?: string; justice?: JusticeBlob }> {
    const { e, sig } = this.read(hexMsg);
    if (e.type === 'open') throw rpcError('InvalidParams', 'an open message is for sc.accept');
    return this.locks.run(e.channel, async () => {
      const known = (await this.db.get(`c:${e.channel}`)) as ChannelRecord | undefined;
      if (!known) throw rpcError('NotFound', `no channel ${e.channel} (a message for another channel)`);
      let rec = known;
      if (e.type === 'accept') {
        // The accepter's keys come in this message: it is checked with the key it names, which the rest then binds.
        const k = (e.body.keys ?? {}) as Record<string, unknown>;
        const funding = wrap(() => field.hex(k, 'funding', 33));
        this.authentic(e, sig, funding);
      } else {
        if (!rec.theirs) throw rpcError('Conflict', `channel ${rec.id} is ${rec.state}: a ${e.type} message does not fit it`);
        this.authentic(e, sig, rec.theirs.funding);
      }
      let reply: string | null = null;
      let txid: string | undefined;
      let justice: JusticeBlob | undefined;
      switch (e.type) {
        case 'accept':
          ({ rec, reply } = await this.onAccept(rec, e));
          break;
        case 'funding_created':
          ({ rec, reply } = await this.onFundingCreated(rec, e));
          break;
        case 'funding_signed':
          ({ rec, txid } = await this.onFundingSigned(rec, e));
          break;
        case 'update':
          ({ rec, reply } = await this.onUpdate(rec, e, approval.max_pay_sat));
          break;
        case 'ack':
          ({ rec, reply, justice } = await this.onAck(rec, e));
          break;
        case 'revoke':
          ({ rec, justice } = await this.onRevoke(rec, e));
          break;
        case 'close':
          ({ rec, txid } = await this.onClose(rec, e));
          break;
      }
      return { id: rec.id, state: rec.state, number: rec.current.number, message: reply, ...(txid ? { txid } : {}), ...(justice ? { justice } : {}) };
    });
  }

  private expect(rec: ChannelRecord, role: Role, state: ChannelStateName, type: MessageType): void {
    if (rec.role !== role || rec.state !== state)
      throw rpcError('Conflict', `channel ${rec.id} is ${rec.state} (${rec.role}): a ${type} message does not fit it (replayed?)`);
  }

  private async onAccept(rec: ChannelRecord, e: Envelope): Promise<{ rec: ChannelRecord; reply: string }> {
    this.expect(rec, 'opener', 'opening', 'accept');
    const theirs = wrap(() => partyKeys(e.body));
    const first = wrap(() => field.point(e.body, 'first_point'));
    const next = wrap(() => field.point(e.body, 'next_point'));
    // BOLT 2 accept_channel: the accepter's to_self_delay is what this side waits; refused when unreasonably large.
    const delay = wrap(() => field.int(e.body, 'to_self_delay', 1, 65_535));
    checkTheirDelay(delay, this.policy.maxDelay);
    if (theirs.funding === rec.ours.funding) throw rpcError('InvalidParams', "the accepter's funding key is ours");
    // The funding transaction: our coins to the 2-of-2 output, change to a keystore key; signed only later.
    const capacity = BigInt(rec.capacity_sat);
    const fundingAddress = bitcoin.address.fromOutputScript(p2wsh(fundingScript(rec.ours.funding, theirs.funding)), this.net);
    const inputs = await Promise.all(rec.utxos.map((u) => this.chain.node<{ value: number } | null>('gettxout', u.txid, u.vout, true)));
    let total = 0n;
    for (const [i, c] of inputs.entries()) {
      if (!c) throw rpcError('NotFound', `the funding coin ${rec.utxos[i]!.txid}:${rec.utxos[i]!.vout} is spent now`);
      total += BigInt(Math.round(c.value * 1e8));
    }
    const fundingFee = BigInt(rec.fee_rate_sat_vb) * BigInt(11 + 43 + 31 + 68 * rec.utxos.length);
    const change = total - capacity - fundingFee;
    if (change < 0n) throw rpcError('InvalidParams', `the funding coins hold ${total} sat: under the capacity ${capacity} and the funding fee ${fundingFee}`);
    const outputs = [{ address: fundingAddress, amount_sat: Number(capacity) }];
    if (change >= DUST_LIMIT) {
      const key = await this.hsm.generateKey(`sc ${rec.id.slice(0, 16)} change`, null, 'channel');
      outputs.push({
        address: bitcoin.payments.p2wpkh({ pubkey: Buffer.from(key.public_key, 'hex'), network: this.net }).address!,
        amount_sat: Number(change),
      });
    }
    const made = await this.chain.createPsbt({ inputs: rec.utxos, outputs, locktime: 0, replaceable: false });
    const tx = unsignedTx(bitcoin.Psbt.fromBase64(made.psbt, { network: this.net }));
    // The accepter checks this; so do we, before signing on it.
    checkFundingTx(tx.toHex(), tx.getId(), 0, capacity, p2wsh(fundingScript(rec.ours.funding, theirs.funding)));
    const next_ = {
      ...rec,
      to_self_delay: delay,
      theirs,
      funding_psbt: made.psbt,
      funding_txid: tx.getId(),
      funding_vout: 0,
      their_points: { 0: first, 1: next },
      scan_height: await this.chain.node<number>('getblockcount'),
    };
    const state = toState(rec.current);
    const sigTheirs = await this.signTheirs(next_, state, 0n);
    await this.chain.watchOutpoint(`${next_.funding_txid}:0`, `sc ${rec.id.slice(0, 16)} funding`, 'channels');
    const saved = await this.save({ ...next_, state: 'funding', their_signed: 0 }, rec.state);
    const reply = await this.message(saved, 'funding_created', {
      funding_txid: saved.funding_txid,
      funding_vout: 0,
      funding_tx: tx.toHex(),
      sig: sigTheirs,
    });
    return { rec: saved, reply };
  }

  private async onFundingCreated(rec: ChannelRecord, e: Envelope): Promise<{ rec: ChannelRecord; reply: string }> {
    this.expect(rec, 'accepter', 'accepted', 'funding_created');
    const txid = wrap(() => field.hex(e.body, 'funding_txid', 32));
    const vout = wrap(() => field.int(e.body, 'funding_vout', 0, 10_000));
    const fundingTx = wrap(() => field.bytes(e.body, 'funding_tx', 100_000));
    const sig = wrap(() => field.sig(e.body, 'sig'));
    // BOLT 2 funding_created: the outpoint must be the channel's funding output — the capacity, to the 2-of-2 of
    // both funding keys — before anything is signed on it (checked again on chain when it confirms). An opener
    // naming any other coin (someone else's) is refused here.
    checkFundingTx(fundingTx, txid, vout, BigInt(rec.capacity_sat), p2wsh(fundingScript(rec.ours.funding, rec.theirs!.funding)));
    const withFunding = { ...rec, funding_txid: txid, funding_vout: vout, scan_height: await this.chain.node<number>('getblockcount') };
    const state = toState(rec.current);
    await this.checkOurs(withFunding, state, sig);
    const ours = await this.signTheirs(withFunding, state, 0n);
    await this.chain.watchOutpoint(`${txid}:${vout}`, `sc ${rec.id.slice(0, 16)} funding`, 'channels');
    // Our commitment 0, signed by them, is durable before our signature on theirs leaves.
    const saved = await this.save({ ...withFunding, current_sig: sig, their_signed: 0, state: 'funding' }, rec.state);
    return { rec: saved, reply: await this.message(saved, 'funding_signed', { sig: ours }) };
  }

  private async onFundingSigned(rec: ChannelRecord, e: Envelope): Promise<{ rec: ChannelRecord; txid: string }> {
    this.expect(rec, 'opener', 'funding', 'funding_signed');
    if (rec.current_sig) throw rpcError('Conflict', `channel ${rec.id}'s funding was signed already (a replayed funding_signed)`);
    const sig = wrap(() => field.sig(e.body, 'sig'));
    await this.checkOurs(rec, toState(rec.current), sig);
    // Durable before the funding is signed and sent: from here we can always close.
    let saved = await this.save({ ...rec, current_sig: sig }, rec.state);
    const signed = await this.hsm.signPsbt(rec.funding_psbt!, 'sc', this.contract(rec, 'funding', BigInt(rec.capacity_sat)));
    const fin = await this.chain.finalizePsbt(signed.psbt);
    if (!fin.complete || !fin.hex) throw rpcError('PolicyDenied', `the HSM did not sign every funding input (incomplete: ${fin.incomplete_inputs.join(', ')})`);
    if (fin.txid !== rec.funding_txid) throw rpcError('InternalError', 'the signed funding transaction is not the one the commitments spend');
    // Kept before it is sent: a broadcast that fails (or times out while the node took it) is sent again at every
    // block, and sc.cancel looks at the chain rather than at what this call believed.
    saved = await this.save({ ...saved, funding_psbt: null, funding_hex: fin.hex }, saved.state);
    await this.chain.broadcast(fin.hex, 'the funding');
    this.log.info({ id: rec.id, txid: fin.txid }, 'channel funding broadcast');
    return { rec: saved, txid: fin.txid! };
  }

  // ---- updates ----

  /** Proposes the next state: our signature on their commitment of it goes in the update message. */
  async update(id: string, p: { to_opener_sat: number; to_accepter_sat: number; app_hash?: string }): Promise<{ id: string; number: number; message: string }> {
    return this.locks.run(id, async () => {
      const rec = await this.get(id);
      if (rec.state !== 'open') throw rpcError('Conflict', `channel ${id} is ${rec.state}: states are updated while it is open (its funding confirmed)`);
      if (rec.pending) throw rpcError('Conflict', `channel ${id} has state ${rec.pending.state.number} in flight; finish it first`);
      const next: ChannelState = {
        number: rec.current.number + 1,
        to_opener_sat: BigInt(p.to_opener_sat),
        to_accepter_sat: BigInt(p.to_accepter_sat),
        app_hash: (p.app_hash ?? rec.current.app_hash).toLowerCase(),
      };
      this.validate(rec, next);
      // Our own proposal: the payment it makes (if any) is what this call asked for.
      const sig = await this.signTheirs(rec, next, ownDecrease(rec.role, toState(rec.current), next));
      const saved = await this.save({ ...rec, pending: { state: stored(next), step: 'proposed' }, their_signed: next.number }, rec.state);
      const message = await this.message(saved, 'update', { ...stored(next), sig });
      return { id, number: next.number, message };
    });
  }

  private async onUpdate(rec: ChannelRecord, e: Envelope, maxPaySat?: number): Promise<{ rec: ChannelRecord; reply: string }> {
    if (rec.state !== 'open') throw rpcError('Conflict', `channel ${rec.id} is ${rec.state}: an update does not fit it`);
    if (rec.pending) throw rpcError('Conflict', `channel ${rec.id} has state ${rec.pending.state.number} in flight (both proposed at once: finish or retry)`);
    const next = wrap(() => ({
      number: field.int(e.body, 'number', 0, 2 ** 47),
      to_opener_sat: field.sat(e.body, 'to_opener_sat'),
      to_accepter_sat: field.sat(e.body, 'to_accepter_sat'),
      app_hash: field.hex(e.body, 'app_hash', 32),
    }));
    const sig = wrap(() => field.sig(e.body, 'sig'));
    this.validate(rec, next);
    // Consent: a state that lowers our balance is signed only as far as the local admin's standing allowance or
    // this very call's max_pay_sat approve it (never on the counterparty's word alone).
    const prev = toState(rec.current);
    const allowance = BigInt(maxPaySat ?? 0) > this.policy.autopayMaxSat ? BigInt(maxPaySat ?? 0) : this.policy.autopayMaxSat;
    checkConsent(rec.role, prev, next, allowance, rec.id);
    // Their signature on our new commitment is verified before our secret of the previous one leaves.
    await this.checkOurs(rec, next, sig);
    const prevNumber = rec.current.number;
    // Our new commitment, signed by them, is durable before we revoke the one before it.
    // One synced write before anything leaves: our new commitment with their signature (before our secret of the
    // previous one is revealed), and their_signed raised before we sign theirs (saying they may hold it is safe).
    // No sc.channel event for the new number yet: until their revoke comes, they can still broadcast their
    // commitment of the state before (it is not revoked), so a payment to us in this state is not final. The event
    // comes with the revoke (onRevoke), as it comes to the proposer with the ack that revokes the state before.
    const saved = await this.save(
      { ...rec, current: stored(next), current_sig: sig, their_signed: next.number, pending: { state: stored(next), step: 'acked', before: rec.current } },
      rec.state,
    );
    const theirSig = await this.signTheirs(saved, next, ownDecrease(rec.role, prev, next));
    const secret = await this.ourSecret(saved, prevNumber);
    const reply = await this.message(saved, 'ack', {
      number: next.number,
      sig: theirSig,
      secret: hex(secret),
      next_point: hex(await this.ourPoint(saved, next.number + 1)),
    });
    return { rec: saved, reply };
  }

  /**
   * Stores a revealed secret of theirs after checking it against the point they gave for that state and against the
   * secrets revealed before (opened for the check); what is kept is sealed (secrets.ts).
   */
  private async takeSecret(rec: ChannelRecord, n: number, secretHex: string): Promise<Pick<ChannelRecord, 'their_secrets' | 'their_revoked' | 'their_points'>> {
    const before = await openSecrets(this.hsm, rec.id, rec.their_secrets);
    const secrets = acceptRevealedSecret(before, n, rec.their_points[n], Buffer.from(secretHex, 'hex'));
    const points = { ...rec.their_points };
    delete points[n];
    return { their_secrets: await sealSecrets(this.hsm, rec.id, secrets, rec.their_secrets), their_revoked: n, their_points: points };
  }

  private async onAck(rec: ChannelRecord, e: Envelope): Promise<{ rec: ChannelRecord; reply: string; justice?: JusticeBlob }> {
    if (rec.state !== 'open' || rec.pending?.step !== 'proposed')
      throw rpcError('Conflict', `channel ${rec.id} has no proposed state to be acknowledged (replayed ack?)`);
    const next = toState(rec.pending.state);
    const number = wrap(() => field.int(e.body, 'number', 0, 2 ** 47));
    if (number !== next.number) throw rpcError('InvalidParams', `the ack is for state ${number}, not the proposed ${next.number}`);
    const sig = wrap(() => field.sig(e.body, 'sig'));
    const secret = wrap(() => field.hex(e.body, 'secret', 32));
    const nextPoint = wrap(() => field.point(e.body, 'next_point'));
    await this.checkOurs(rec, next, sig);
    const prevNumber = rec.current.number;
    const revoked = await this.takeSecret(rec, prevNumber, secret);
    // Their revocation of the previous state and our new commitment are durable before we revoke ours.
    const saved = await this.save(
      { ...rec, ...revoked, their_points: { ...revoked.their_points, [next.number + 1]: nextPoint }, current: stored(next), current_sig: sig, pending: null },
      rec.state,
      true,
    );
    const reply = await this.message(saved, 'revoke', {
      number: prevNumber,
      secret: hex(await this.ourSecret(saved, prevNumber)),
      next_point: hex(await this.ourPoint(saved, next.number + 1)),
    });
    const justice = this.policy.justice ? await this.justiceBlob(saved, toState(rec.current), Buffer.from(secret, 'hex')) : undefined;
    return { rec: saved, reply, justice };
  }

  private async onRevoke(rec: ChannelRecord, e: Envelope): Promise<{ rec: ChannelRecord; justice?: JusticeBlob }> {
    if (rec.pending?.step !== 'acked') throw rpcError('Conflict', `channel ${rec.id} waits for no revocation (replayed revoke?)`);
    const number = wrap(() => field.int(e.body, 'number', 0, 2 ** 47));
    if (number !== rec.current.number - 1) throw rpcError('InvalidParams', `the revocation is of state ${number}, not ${rec.current.number - 1}`);
    const secret = wrap(() => field.hex(e.body, 'secret', 32));
    const revoked = await this.takeSecret(rec, number, secret);
    const nextPoint = wrap(() => field.point(e.body, 'next_point'));
    const before = rec.pending.before;
    // Their previous state is revoked: the current one is final for this side, and told now (sc.channel).
    const saved = await this.save(
      { ...rec, ...revoked, their_points: { ...revoked.their_points, [rec.current.number + 1]: nextPoint }, pending: null },
      rec.state,
      true,
    );
    const justice = this.policy.justice && before ? await this.justiceBlob(saved, toState(before), Buffer.from(secret, 'hex')) : undefined;
    return { rec: saved, justice };
  }

  // ---- towers ----

  /**
   * The penalty for a revoked state of theirs, signed now and encrypted with its commitment's txid, for a tower
   * (another anyad's sc.towerwatch) to hold: the hint (the txid's first 16 bytes) tells the tower which
   * transaction to try it on, and until that commitment is on chain the tower cannot read it (BOLT 13 drafts' and
   * LND's towers work this way). Its fee is fixed: four times the channel's fee rate.
   */
  private async justiceBlob(rec: ChannelRecord, s: ChannelState, secret: Buffer): Promise<JusticeBlob | undefined> {
    const t = this.terms(rec);
    const point = perCommitmentPoint(secret);
    const commitment = commitmentTx(t, s, other(rec.role), point);
    const script = toLocalOf(t, other(rec.role), point);
    const vout = commitment.outs.findIndex((o) => Buffer.compare(Buffer.from(o.script), p2wsh(script)) === 0);
    if (vout < 0) return undefined; // they had nothing in that state: nothing to take
    const spend = toLocalSpend(commitment, vout, script, rec.ours.payment_basepoint, BigInt(rec.fee_rate_sat_vb * 4) * SWEEP_VBYTES, 'penalty');
    const sig = await this.revocationSign(rec, point, secret, spend.digest);
    spend.tx.setWitness(0, spend.witness(Buffer.concat([sig, SIGHASH_ALL])));
    return sealJustice(commitment.getId(), spend.tx.toHex());
  }

  /** ECDSA with the revocation key of a revoked state: R·SHA256(R || P) + secret·SHA256(P || R), R our revocation basepoint. */
  private revocationSign(rec: ChannelRecord, point: Uint8Array, secret: Uint8Array, digest: Buffer): Promise<Buffer> {
    const rb = Buffer.from(rec.ours.revocation_basepoint, 'hex');
    const a = big(sha256(Buffer.concat([rb, point]))) % N;
    const b = big(sha256(Buffer.concat([point, rb]))) % N;
    return this.hsm.tweakedSign(rec.keys.revocation, digest, { mul: b32(a), add: b32((big(secret) * b) % N) }, 'sc', this.contract(rec, 'penalty'));
  }

  /** Keeps a justice blob for a channel this anyad need not be party to; answered once it is durable. */
  async towerWatch(hint: string, blob: string): Promise<{ hint: string; watched: number }> {
    hint = hint.toLowerCase();
    const key = `w:${hint}:${createHash('sha256').update(blob, 'hex').digest('hex').slice(0, 16)}`;
    // Check, write and count are one critical section: concurrent callers never take the tower past its bound.
    return this.locks.run('tower', async () => {
      if ((await this.db.get(key)) !== undefined) return { hint, watched: this.towerHints.size }; // held already
      if (this.towerBlobs >= MAX_TOWER_BLOBS) throw rpcError('Busy', `the tower holds ${MAX_TOWER_BLOBS} blobs already`);
      await this.store.batch([{ type: 'put', sublevel: this.db, key, value: { blob: blob.toLowerCase(), added: new Date().toISOString() } }], { sync: true });
      this.towerHints.add(hint);
      this.towerBlobs++;
      return { hint, watched: this.towerHints.size };
    });
  }

  /** Transactions just seen (a block's, the mempool's): a hint that matches is tried, and its penalty sent. */
  private async towerLook(txids: string[]): Promise<void> {
    for (const txid of txids) {
      const hint = txid.slice(0, 32);
      if (!this.towerHints.has(hint)) continue;
      for await (const [key, v] of this.db.iterator({ gte: `w:${hint}:`, lt: `w:${hint};` })) {
        const penalty = openJustice(txid, (v as { blob: string }).blob);
        if (!penalty) continue; // another transaction with the same first 16 bytes, or not ours to read
        // A blob is whatever an app handed to sc.towerwatch: one that opens to bytes that are not a transaction is
        // logged and skipped, and the pass goes on with every other blob and transaction.
        let penaltyTxid: string;
        try {
          penaltyTxid = bitcoin.Transaction.fromHex(penalty).getId();
        } catch (err) {
          this.log.warn({ breach: txid, blob: key, reason: (err as Error).message }, 'tower: a blob opens to bytes that are not a transaction; skipped');
          continue;
        }
        await this.chain.broadcast(penalty, 'the penalty').then(
          () => {
            this.log.warn({ breach: txid, penalty: penaltyTxid }, 'tower: a revoked state on chain; penalty broadcast');
            this.bus.publish(SC_TOWER, { breach_txid: txid, penalty_txid: penaltyTxid });
          },
          (err: Error) => this.log.warn({ breach: txid, reason: err.message }, 'tower: penalty refused; next block retries'),
        );
      }
    }
  }

  /**
   * Drops a channel nothing was funded for (its coins free again). The opener's channel in 'funding' is judged by
   * the chain, not by what the funding call believed (a broadcast that timed out may have reached the node): refused
   * while its funding transaction is in the mempool or on chain, or while one of our funding coins is spent (by the
   * funding perhaps, which a node without txindex cannot tell) — a channel funded but cancelled would no longer be
   * followed, and our funds would depend on the counterparty closing it.
   */
  async cancel(id: string): Promise<{ id: string; state: ChannelStateName }> {
    return this.locks.run([id, 'utxos'], async () => {
      const rec = await this.get(id);
      const offered = rec.state === 'opening' || rec.state === 'accepted';
      const funding = rec.state === 'funding' && rec.role === 'opener';
      if (!offered && !funding)
        throw rpcError(
          'Conflict',
          `channel ${id} is ${rec.state}: only a channel whose funding was never signed, or never reached the mempool or the chain, can be cancelled (sc.close or sc.forceclose)`,
        );
      if (funding) {
        const seen = await this.fundingSeen(rec);
        if (seen)
          throw rpcError(
            'Conflict',
            `channel ${id}: its funding transaction ${rec.funding_txid} is ${seen}; it cannot be cancelled (it opens once confirmed)`,
            {
              txid: rec.funding_txid,
            },
          );
        for (const u of rec.utxos)
          if (!(await this.chain.node<unknown>('gettxout', u.txid, u.vout, true)))
            throw rpcError(
              'Conflict',
              `channel ${id}: our funding coin ${u.txid}:${u.vout} is spent (by the funding transaction, or elsewhere); it cannot be cancelled`,
              { txid: u.txid, vout: u.vout },
            );
      }
      const saved = await this.save({ ...rec, state: 'cancelled', utxos: [] }, rec.state);
      return { id, state: saved.state };
    });
  }

  /**
   * Whether the node knows the channel's funding transaction: 'in the mempool' or 'on chain' (its output unspent,
   * else by getrawtransaction: the mempool or a txindex), or undefined.
   */
  private async fundingSeen(rec: ChannelRecord): Promise<'in the mempool' | 'on chain' | undefined> {
    if (rec.funding_txid === null || rec.funding_vout === null) return undefined;
    const out = await this.chain.node<{ confirmations?: number } | null>('gettxout', rec.funding_txid, rec.funding_vout, true);
    if (out) return (out.confirmations ?? 0) >= 1 ? 'on chain' : 'in the mempool';
    const tx = await this.chain.node<{ confirmations?: number }>('getrawtransaction', rec.funding_txid, true).catch(() => undefined);
    if (tx) return (tx.confirmations ?? 0) >= 1 ? 'on chain' : 'in the mempool';
    return undefined;
  }

  /**
   * A cancelled channel of ours whose funding was signed (the counterparty signed our first commitment, so we may
   * have sent it, or a node may hold it): looked at every block, and followed again as 'funding' when its funding
   * transaction appears after all.
   */
  private async reviveCancelled(id: string): Promise<void> {
    const rec = await this.get(id);
    if (!revivable(rec)) return;
    const seen = await this.fundingSeen(rec);
    if (!seen) return;
    this.log.error({ id, txid: rec.funding_txid }, `a cancelled channel's funding transaction is ${seen}: the channel is followed again`);
    await this.save({ ...rec, state: 'funding' }, rec.state);
    await this.look(id);
  }

  // ---- closing ----

  /** Proposes the cooperative close of the current state; the counterparty's anyad signs and broadcasts it. */
  async closeChannel(id: string): Promise<{ id: string; message: string }> {
    return this.locks.run(id, async () => {
      const rec = await this.get(id);
      if (rec.state !== 'open') throw rpcError('Conflict', `channel ${id} is ${rec.state}: an open channel closes cooperatively`);
      if (rec.pending) throw rpcError('Conflict', `channel ${id} has state ${rec.pending.state.number} in flight; finish it first`);
      const t = this.terms(rec);
      const tx = closingTx(t, toState(rec.current));
      const sig = hex(await this.hsm.signDigest(rec.keys.funding, fundingSighash(tx, t), 'sc', this.contract(rec, 'close')));
      const saved = await this.save({ ...rec, state: 'closing', closing_txid: tx.getId() }, rec.state);
      return { id, message: await this.message(saved, 'close', { number: rec.current.number, sig }) };
    });
  }

  private async onClose(rec: ChannelRecord, e: Envelope): Promise<{ rec: ChannelRecord; txid: string }> {
    if (rec.state !== 'open' || rec.pending)
      throw rpcError('Conflict', `channel ${rec.id} is ${rec.state}${rec.pending ? ' with a state in flight' : ''}: a close does not fit it`);
    const number = wrap(() => field.int(e.body, 'number', 0, 2 ** 47));
    if (number !== rec.current.number) throw rpcError('InvalidParams', `the close is of state ${number}; the current state is ${rec.current.number}`);
    const theirSig = wrap(() => field.sig(e.body, 'sig'));
    const t = this.terms(rec);
    const tx = closingTx(t, toState(rec.current));
    const digest = fundingSighash(tx, t);
    checkCounterpartySig(theirSig, digest, rec.theirs!.funding, 'the closing transaction of the current state');
    const ours = await this.hsm.signDigest(rec.keys.funding, digest, 'sc', this.contract(rec, 'close'));
    const sigs = { [rec.role]: Buffer.concat([ours, SIGHASH_ALL]), [other(rec.role)]: Buffer.concat([Buffer.from(theirSig, 'hex'), SIGHASH_ALL]) } as {
      opener: Buffer;
      accepter: Buffer;
    };
    tx.setWitness(0, fundingWitness(t, sigs));
    const saved = await this.save({ ...rec, state: 'closing', closing_txid: tx.getId(), closing_hex: tx.toHex(), closed_by: 'cooperative' }, rec.state);
    await this.chain.broadcast(tx.toHex(), 'the closing');
    this.log.info({ id: rec.id, txid: tx.getId() }, 'channel closed cooperatively: closing transaction broadcast');
    return { rec: saved, txid: tx.getId() };
  }

  /** Our latest commitment, with both signatures, to the chain; to_local comes back to the keystore after the delay. */
  async forceClose(id: string): Promise<{ id: string; txid: string; number: number }> {
    return this.locks.run(id, async () => {
      const rec = await this.get(id);
      if (!['funding', 'open', 'closing'].includes(rec.state) || !rec.current_sig)
        throw rpcError('Conflict', `channel ${id} is ${rec.state}: there is no commitment of ours to broadcast`);
      const t = this.terms(rec);
      const s = toState(rec.current);
      const tx = commitmentTx(t, s, rec.role, await this.ourPoint(rec, s.number));
      const ours = await this.hsm.signDigest(rec.keys.funding, fundingSighash(tx, t), 'sc', this.contract(rec, 'commitment'));
      const sigs = {
        [rec.role]: Buffer.concat([ours, SIGHASH_ALL]),
        [other(rec.role)]: Buffer.concat([Buffer.from(rec.current_sig, 'hex'), SIGHASH_ALL]),
      } as { opener: Buffer; accepter: Buffer };
      tx.setWitness(0, fundingWitness(t, sigs));
      const saved = await this.save(
        { ...rec, state: 'force_closing', closing_txid: tx.getId(), closing_hex: tx.toHex(), closed_by: 'unilateral', pending: null },
        rec.state,
      );
      await this.chain.broadcast(tx.toHex(), 'the commitment');
      this.log.warn({ id, txid: tx.getId(), number: s.number }, 'channel force-closed: our commitment broadcast');
      return { id: saved.id, txid: tx.getId(), number: s.number };
    });
  }

  // ---- following the chain ----

  /** As a tower: the block's transactions and the mempool's. */
  private async towerBlock(hash: string): Promise<void> {
    await this.towerLook(await this.chain.blockTxids(hash));
    await this.towerLook(await this.chain.node<string[]>('getrawmempool'));
  }

  private async lookAll(): Promise<void> {
    for (const r of await this.list())
      if (WATCHED.includes(r.state))
        await this.locks.run(r.id, () => this.look(r.id)).catch((err: Error) => this.log.warn({ id: r.id, reason: err.message }, 'channel follow failed'));
      else if (revivable(r))
        await this.locks
          .run(r.id, () => this.reviveCancelled(r.id))
          .catch((err: Error) => this.log.warn({ id: r.id, reason: err.message }, 'cancelled channel look failed'));
  }

  /** A watched transaction spent a funding outpoint: look at that channel now (a breach in the mempool is punished at once). */
  private async lookSpends(txid: string, spends: string[]): Promise<void> {
    for (const r of await this.list()) {
      if (!WATCHED.includes(r.state) || !spends.includes(`${r.funding_txid}:${r.funding_vout}`)) continue;
      await this.locks.run(r.id, () => this.look(r.id, txid)).catch((err: Error) => this.log.warn({ id: r.id, reason: err.message }, 'channel follow failed'));
    }
  }

  /** What happened to one channel's funding output, and what to do about it. */
  private async look(id: string, spenderTxid?: string): Promise<void> {
    let rec = await this.get(id);
    if (!WATCHED.includes(rec.state) || rec.funding_txid === null) return;
    const tip = await this.chain.node<number>('getblockcount');
    const out = await this.chain.node<{ confirmations: number; value: number; scriptPubKey?: { hex?: string } } | null>(
      'gettxout',
      rec.funding_txid,
      rec.funding_vout,
      true,
    );
    if (out) {
      // BOLT 2 channel_ready: the coin on chain at the funding outpoint is checked again, as the chain has it
      // (capacity and 2-of-2 script), before the channel is reported open — and at every look while it is open,
      // so a channel an earlier anyad opened on the opener's word alone is caught too; a mismatch fails it.
      if ((rec.state === 'funding' && out.confirmations >= 1) || rec.state === 'open') {
        const failure = this.fundingMismatch(rec, out);
        if (failure) {
          this.log.error(
            { id: rec.id, outpoint: `${rec.funding_txid}:${rec.funding_vout}`, reason: failure },
            'channel failed: its funding output on chain is not this channel',
          );
          await this.save({ ...rec, state: 'failed', failure }, rec.state);
          return;
        }
      }
      if (rec.state === 'funding' && out.confirmations >= 1 && rec.current_sig) rec = await this.save({ ...rec, state: 'open' }, rec.state);
      // Unspent at the tip: no block up to it spends it, so a later scan may start after it. Written once a day of
      // blocks rather than at every block (a synced write per channel per block): a scan after downtime then
      // re-reads at most that many blocks.
      if (tip + 1 - rec.scan_height >= SCAN_MARK_EVERY) rec = await this.save({ ...rec, scan_height: tip + 1 }, rec.state);
      // A close we signed and sent that the node does not know (dropped from its mempool): sent again.
      if (rec.state === 'closing' && rec.closing_hex) await this.chain.broadcast(rec.closing_hex, 'the closing').catch(() => undefined);
      return;
    }
    if (rec.state === 'funding') {
      // Not in the mempool nor unspent on chain. Ours: sent again (dropped from the mempool, or a broadcast that
      // failed); refused when it is on chain already, or its coins are spent elsewhere (then sc.cancel says so).
      if (rec.role === 'opener' && rec.funding_hex) await this.chain.broadcast(rec.funding_hex, 'the funding').catch(() => undefined);
      // Confirmed and spent already (while nobody looked): the spend is settled below; otherwise not on chain yet.
      if ((await this.fundingSeen(rec)) !== 'on chain') return;
    }
    const spender = await this.findSpender(rec, tip, spenderTxid);
    if (!spender) return;
    await this.settle(rec, spender.tx, spender.height, tip);
  }

  /** Why the coin at the funding outpoint is not this channel's funding output, or undefined when it is. */
  private fundingMismatch(rec: ChannelRecord, out: { value: number; scriptPubKey?: { hex?: string } }): string | undefined {
    try {
      checkFundingOutput(
        { value: BigInt(Math.round(out.value * 1e8)), script: Buffer.from(out.scriptPubKey?.hex ?? '', 'hex') },
        BigInt(rec.capacity_sat),
        p2wsh(fundingScript(rec.ours.funding, rec.theirs!.funding)),
        'the transaction on chain',
      );
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** The transaction spending the funding output: the one a chain.tx event named, else a scan of the blocks since the last look, else the mempool. */
  private findSpender(rec: ChannelRecord, tip: number, hint?: string): Promise<{ tx: bitcoin.Transaction; height: number | null } | undefined> {
    return this.spenderOf(rec.funding_txid!, rec.funding_vout!, rec.scan_height, tip, [hint, rec.closing_txid]);
  }

  /** The transaction spending an output: one of the hinted ones, else in a block from `fromHeight` to the tip, else in the mempool. */
  private async spenderOf(
    txid: string,
    vout: number,
    fromHeight: number,
    tip: number,
    hints: Array<string | null | undefined>,
  ): Promise<{ tx: bitcoin.Transaction; height: number | null } | undefined> {
    const spends = (tx: bitcoin.Transaction): boolean => tx.ins.some((i) => Buffer.from(i.hash).reverse().toString('hex') === txid && i.index === vout);
    for (const h of hints.filter((x): x is string => !!x)) {
      const v = await this.chain.node<{ hex: string; confirmations?: number }>('getrawtransaction', h, true).catch(() => undefined);
      if (v) {
        const tx = bitcoin.Transaction.fromHex(v.hex);
        if (spends(tx)) return { tx, height: v.confirmations ? tip - v.confirmations + 1 : null };
      }
    }
    for (let h = Math.max(fromHeight, 1); h <= tip; h++) {
      const block = bitcoin.Block.fromHex(await this.chain.rawBlock(await this.chain.node<string>('getblockhash', h)));
      const tx = block.transactions?.find(spends);
      if (tx) return { tx, height: h };
    }
    for (const id of (await this.chain.node<string[]>('getrawmempool')).slice(0, 5000)) {
      const v = await this.chain.node<string>('getrawtransaction', id, false).catch(() => undefined);
      if (!v) continue;
      const tx = bitcoin.Transaction.fromHex(v);
      if (spends(tx)) return { tx, height: null };
    }
    return undefined;
  }

  /**
   * The funding output is spent by `tx`: matched to the cooperative close of the current state, a commitment of
   * ours, or a commitment of theirs (current or revoked). A spend that is none of them is never taken for a close:
   * it is reported loudly and the channel marked failed (closed_by 'unknown').
   */
  private async settle(rec: ChannelRecord, tx: bitcoin.Transaction, height: number | null, tip: number): Promise<void> {
    const t = this.terms(rec);
    const txid = tx.getId();
    const confs = height === null ? 0 : tip - height + 1;
    const n = commitmentNumberOf(tx, t);
    const cooperative = txid === closingTx(t, toState(rec.current)).getId() || (rec.closing_txid === txid && rec.closed_by === 'cooperative');
    if (cooperative) {
      if (rec.state !== 'closing' || rec.closing_txid !== txid)
        rec = await this.save({ ...rec, state: 'closing', closing_txid: txid, closed_by: 'cooperative' }, rec.state);
      if (confs >= 1) await this.save({ ...rec, state: 'closed' }, rec.state);
      return;
    }
    // A commitment of ours: any number up to the latest we may hold (a revoked one from an old backup included).
    const latestOurs = Math.max(rec.current.number, rec.pending?.state.number ?? 0);
    const ourPoint = n !== undefined && n <= latestOurs ? await this.ourPoint(rec, n) : undefined;
    const isOurs = ourPoint !== undefined && isCommitmentOf(tx, t, rec.role, ourPoint);
    // A commitment of theirs: revoked (its point from the secret they revealed) or one they may still hold.
    // The secrets are opened only for a number they revoked: the penalty's signature needs the keystore unlocked too.
    const theirSecret =
      n !== undefined && n <= rec.their_revoked
        ? new SecretStore(await openSecrets(this.hsm, rec.id, rec.their_secrets)).get(MAX_INDEX - BigInt(n))
        : undefined;
    const theirPoint = theirSecret
      ? perCommitmentPoint(theirSecret)
      : n !== undefined && rec.their_points[n]
        ? Buffer.from(rec.their_points[n], 'hex')
        : undefined;
    const isTheirs = !isOurs && theirPoint !== undefined && isCommitmentOf(tx, t, other(rec.role), theirPoint);
    if (n === undefined || (!isOurs && !isTheirs)) {
      if (rec.state !== 'failed' || rec.closing_txid !== txid) {
        const failure = `the funding output was spent by ${txid}, which is no close or commitment of this channel`;
        this.log.error({ id: rec.id, txid, outpoint: `${rec.funding_txid}:${rec.funding_vout}` }, `channel failed: ${failure}`);
        await this.save({ ...rec, state: 'failed', closing_txid: txid, closed_by: 'unknown', failure }, rec.state);
      }
      return;
    }
    if (isOurs) {
      const ourScript = p2wsh(toLocalOf(t, rec.role, ourPoint));
      const ourVout = tx.outs.findIndex((o) => Buffer.compare(Buffer.from(o.script), ourScript) === 0);
      if (rec.state !== 'force_closing') rec = await this.save({ ...rec, state: 'force_closing', closing_txid: txid, closed_by: 'unilateral' }, rec.state);
      if (n < rec.current.number)
        this.log.error(
          { id: rec.id, number: n, current: rec.current.number },
          'a revoked commitment of ours is on chain (an old backup?): the counterparty can take its funds',
        );
      if (ourVout < 0) {
        if (confs >= 1) await this.save({ ...rec, state: 'closed' }, rec.state);
        return;
      }
      // to_local after to_self_delay confirmations: swept to our payment key.
      if (confs < rec.to_self_delay) return;
      await this.claim(rec, tx, height!, ourVout, toLocalOf(t, rec.role, await this.ourPoint(rec, n)), { sweep: rec.to_self_delay }, async (digest) => {
        const point = await this.ourPoint(rec, n);
        const tweak = sha256(Buffer.concat([point, Buffer.from(rec.ours.delayed_payment_basepoint, 'hex')]));
        return this.hsm.tweakedSign(rec.keys.delayed, digest, { add: Buffer.from(tweak) }, 'sc', this.contract(rec, 'sweep'));
      });
      return;
    }
    // Theirs: revoked (we hold its secret) or one they may still use.
    const secret = theirSecret;
    if (!secret) {
      // The state that settles is the one of their commitment, which need not be our current one: the state before
      // it when they never revoked that (an update they proposed and we acknowledged), or the one we proposed and
      // signed for them (they never acknowledged it). Reported as it is on chain, never the balances of another.
      const onChain = [rec.current, rec.pending?.state, rec.pending?.before].find((x) => x?.number === n);
      if (rec.state !== 'remote_closing')
        rec = await this.save(
          { ...rec, state: 'remote_closing', closing_txid: txid, closed_by: 'remote_unilateral', ...(onChain ? { current: onChain, pending: null } : {}) },
          rec.state,
          onChain !== undefined && onChain.number !== rec.current.number,
        );
      // Our balance is in its to_remote output, paid to our payment key at once: nothing to claim.
      if (confs >= 1) await this.save({ ...rec, state: 'closed' }, rec.state);
      return;
    }
    const point = perCommitmentPoint(secret);
    const script = toLocalOf(t, other(rec.role), point);
    const vout = tx.outs.findIndex((o) => Buffer.compare(Buffer.from(o.script), p2wsh(script)) === 0);
    if (rec.state !== 'penalizing') {
      rec = await this.save({ ...rec, state: 'penalizing', closing_txid: txid, closed_by: 'penalty' }, rec.state);
      this.log.warn(
        { id: rec.id, txid, number: n, current: rec.current.number },
        'the counterparty broadcast a revoked state: taking its funds with the penalty',
      );
    }
    if (vout < 0) {
      if (confs >= 1) await this.save({ ...rec, state: 'closed' }, rec.state);
      return;
    }
    await this.claim(rec, tx, height ?? tip + 1, vout, script, 'penalty', (digest) => this.revocationSign(rec, point, secret, digest));
  }

  /**
   * Our sweep or penalty: sent once, then at every block until it confirms; a penalty's fee goes up by half each
   * block it waits (it must confirm before their delay ends), a sweep's stays.
   */
  private async claim(
    rec: ChannelRecord,
    commitment: bitcoin.Transaction,
    height: number,
    vout: number,
    script: Buffer,
    path: { sweep: number } | 'penalty',
    sign: (digest: Buffer) => Promise<Buffer>,
  ): Promise<void> {
    const kind = path === 'penalty' ? 'penalty' : 'sweep';
    const prev = rec.claim?.commitment === commitment.getId() && rec.claim.vout === vout ? rec.claim : null;
    if (!(await this.chain.node<unknown>('gettxout', commitment.getId(), vout, true))) {
      // Spent already: by a version of ours (any one sent may be the one that confirms: a node without replacement
      // keeps the first), by a tower's penalty for us (it pays our payment key too), or by them. Ours in the mempool:
      // a sweep waits for its block, a penalty is sent again with a higher fee below.
      const tip = await this.chain.node<number>('getblockcount');
      const spent = await this.spenderOf(commitment.getId(), vout, height, tip, prev?.sent ?? []);
      const mine = spent && prev?.sent.includes(spent.tx.getId());
      if (!spent || (spent.height === null && !(mine && kind === 'penalty'))) return; // in the mempool: wait for its block
      if (spent.height !== null) {
        const ours = spent.tx.outs.some((o) => Buffer.compare(Buffer.from(o.script), p2wpkh(rec.ours.payment_basepoint)) === 0);
        await this.save({ ...rec, state: 'closed', claim: null }, rec.state);
        if (ours) this.log.info({ id: rec.id, txid: spent.tx.getId(), kind }, `channel ${kind} confirmed (paying our payment key)`);
        else this.log.error({ id: rec.id, txid: spent.tx.getId(), kind }, `the ${kind} output was taken by another transaction: the counterparty's`);
        return;
      }
    }
    const value = commitment.outs[vout]!.value;
    let fee = BigInt(rec.fee_rate_sat_vb) * SWEEP_VBYTES;
    if (prev) fee = kind === 'penalty' ? (BigInt(prev.fee_sat) * 3n) / 2n : BigInt(prev.fee_sat);
    if (fee > value / 2n) fee = value / 2n;
    const spend = toLocalSpend(commitment, vout, script, rec.ours.payment_basepoint, fee, path);
    const sig = await sign(spend.digest);
    spend.tx.setWitness(0, spend.witness(Buffer.concat([sig, SIGHASH_ALL])));
    const txid = spend.tx.getId();
    try {
      await this.chain.broadcast(spend.tx.toHex(), `the ${kind}`);
    } catch (err) {
      // Kept as it was: the version already in the node's mempool (if any) stays the one to follow.
      this.log.warn({ id: rec.id, kind, reason: (err as Error).message }, `channel ${kind} refused; next block retries`);
      return;
    }
    await this.save(
      { ...rec, claim: { txid, fee_sat: fee.toString(), kind, vout, commitment: commitment.getId(), sent: [...(prev?.sent ?? []), txid].slice(-20) } },
      rec.state,
    );
    this.log.info({ id: rec.id, txid, kind, fee_sat: Number(fee) }, `channel ${kind} broadcast`);
  }
}

/** Blocks between two writes of a channel's scan mark (its funding output seen unspent up to there). */
const SCAN_MARK_EVERY = 144;
/** The most blobs one tower holds (each a few hundred bytes on disk, 16 bytes of hint in memory). */
const MAX_TOWER_BLOBS = 1_000_000;

/** A cancelled channel whose funding we signed (after funding_signed): its funding may still appear. */
const revivable = (r: ChannelRecord): boolean => r.state === 'cancelled' && r.role === 'opener' && r.funding_txid !== null && r.current_sig !== null;

/** A new channel's record: what the opening party knows, nothing signed or funded yet. */
function newRecord(
  r: Pick<
    ChannelRecord,
    | 'id'
    | 'role'
    | 'state'
    | 'capacity_sat'
    | 'fee_sat'
    | 'fee_rate_sat_vb'
    | 'to_self_delay'
    | 'their_to_self_delay'
    | 'keys'
    | 'ours'
    | 'theirs'
    | 'utxos'
    | 'current'
    | 'their_points'
  >,
): ChannelRecord {
  const now = new Date().toISOString();
  return {
    ...r,
    funding_psbt: null,
    funding_txid: null,
    funding_vout: null,
    current_sig: null,
    pending: null,
    their_secrets: [],
    their_revoked: -1,
    their_signed: -1,
    closing_txid: null,
    closing_hex: null,
    closed_by: null,
    claim: null,
    failure: null,
    scan_height: 0,
    created: now,
    updated: now,
  };
}

/** The unsigned transaction a PSBT describes (its txid is final: every input is segwit). */
function unsignedTx(psbt: bitcoin.Psbt): bitcoin.Transaction {
  const tx = new bitcoin.Transaction();
  tx.version = psbt.version;
  tx.locktime = psbt.locktime;
  for (const i of psbt.txInputs) tx.addInput(Buffer.from(i.hash), i.index, i.sequence);
  for (const o of psbt.txOutputs) tx.addOutput(Buffer.from(o.script), o.value);
  return tx;
}

/** A party's four keys as an open or accept message names them: each a valid compressed point (BOLT 2). */
function partyKeys(body: Record<string, unknown>): PartyKeys {
  const k = (body.keys ?? {}) as Record<string, unknown>;
  if (k === null || typeof k !== 'object' || Array.isArray(k)) throw new MessageError('keys must be an object');
  return {
    funding: field.point(k, 'funding'),
    revocation_basepoint: field.point(k, 'revocation_basepoint'),
    payment_basepoint: field.point(k, 'payment_basepoint'),
    delayed_payment_basepoint: field.point(k, 'delayed_payment_basepoint'),
  };
}

function asRpc(err: unknown): Error {
  if (err instanceof MessageError || err instanceof ShachainError) return rpcError('InvalidParams', err.message);
  return err as Error;
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw asRpc(err);
  }
}
