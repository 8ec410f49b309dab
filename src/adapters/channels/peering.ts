// State channels over the peer network (issue 28 item 3): two anyads run a channel with no message carried by a
// person. The p2p room's durable delivery carries each message exactly once, in order; this module makes every
// step atomic with it:
//  - a step that sends (sc.open peer=, sc.accept id=, sc.update, sc.close, sc.approve) writes the channel's record
//    and the message's outbox entry in ONE synced batch (deliver's commitWith), so a crash sends both or neither;
//  - a step taken from the peer (accept … close) runs the same code as sc.receive (takeStep), its record, the mark
//    "taken" and its answer committed in ONE batch (Delivered.commit), so a crash leaves all or none and the resend
//    of a message whose batch did not land is taken as the first time, never as a replay.
// An open from a peer is checked as sc.accept checks one and kept as an offer (sc.offered) until sc.accept id=; an
// update that pays more of this side's balance than sc.autopaymaxsat is kept unsigned (sc.approval) until
// sc.approve. A message from a peer that is not the channel's counterparty, or one refused by a rule, is logged,
// told (sc.refused) and taken without being processed; one that fails for a passing reason (a locked keystore, the
// chain backend away) is left unacknowledged and comes again on the next connection.
//
// Message types (inner types of the p2p room's envelope, odd: software that does not know them ignores them; in
// BOLT 1's custom range, clear of the envelope's 53111/53113 and of rust-dlc's 42772..42792 and 42900s): one per
// kind, the payload the same bytes as the hex apps carry (the signed JSON of messages.ts).
//
// Keys: offer:<channel> → Offer, held:<channel> → Held (in the room's sublevel, beside c:<channel>).

import { RpcError, rpcError } from '../../core/errors.js';
import { backgroundCaller } from '../../core/methods.js';
import type { BatchOp } from '../../core/store.js';
import type { Delivered, DeliveryWrite, P2pApi, Reply } from '../../p2p/api.js';
import { closeChannel } from './closing.js';
import { get, read, type ChannelContext, type Unit } from './context.js';
import { decodeMessage, type Envelope, type MessageType } from './messages.js';
import { accept, checkOpen, openChannel, type OpenParams } from './opening.js';
import { takeStep, type Received } from './receive.js';
import type { ChannelRecord } from './record.js';
import { SC_APPROVAL, SC_JUSTICE, SC_OFFERED, SC_REFUSED } from './topics.js';
import { update } from './updates.js';

export const SC_WIRE_TYPES: Readonly<Record<MessageType, number>> = {
  open: 53201,
  accept: 53203,
  funding_created: 53205,
  funding_signed: 53207,
  update: 53209,
  ack: 53211,
  revoke: 53213,
  close: 53215,
};
const KIND = new Map<number, MessageType>(Object.entries(SC_WIRE_TYPES).map(([k, v]) => [v, k as MessageType]));

/**
 * Offers one peer may have waiting at once, and all peers together: a node key costs nothing to make, so without
 * the total a stranger could fill the store with offers under ever new keys.
 */
const MAX_OFFERS_PER_PEER = 32;
const MAX_OFFERS = 256;

/** A channel a peer offered, waiting for sc.accept id=. */
export interface Offer {
  id: string;
  peer: string;
  message: string;
  capacity_sat: number;
  push_sat: number;
  fee_rate_sat_vb: number;
  to_self_delay: number;
  app_hash: string;
  received: string;
}

/** The counterparty's update over this side's allowance, unsigned, waiting for sc.approve. */
export interface Held {
  id: string;
  peer: string;
  message: string;
  number: number;
  pays_sat: number;
  to_opener_sat: number;
  to_accepter_sat: number;
  received: string;
}

const wire = (hexMsg: string): Reply => ({ type: SC_WIRE_TYPES[decodeMessage(hexMsg).envelope.type], payload: Buffer.from(hexMsg, 'hex') });

/** Errors that pass (the keystore locked, a backend away, a full outbox): the message is left to come again. */
const PASSING = new Set([-32010, -32012, -32015, -32018, -32603]);
const passing = (err: unknown): boolean => !(err instanceof RpcError) || PASSING.has(err.code);
const isConsent = (err: unknown): err is RpcError =>
  err instanceof RpcError && err.code === -32013 && (err.data as { rule?: string } | undefined)?.rule === 'sc.consent';

export class ChannelPeering {
  constructor(
    private readonly room: ChannelContext,
    private readonly p2p: P2pApi | undefined,
    private readonly ready: Promise<void>,
  ) {}

  /** Takes the room's message types from the p2p room (at the room's creation: before any peer connects). */
  listen(): void {
    this.p2p?.onDelivered([...KIND.keys()], (m) => this.take(m));
  }

  private net(): P2pApi {
    if (!this.p2p)
      throw rpcError('Unsupported', 'the peer network is off: a channel reaches its peer through the p2p room (p2p.enable=1, a keystore with a node key)', {
        service: 'p2p',
      });
    return this.p2p;
  }

  /** The room's context for a step that sends: its writes and the message's outbox entry in one batch. */
  private sending(peer: string, extra: BatchOp[] = []): ChannelContext {
    const p2p = this.net();
    const unit: Unit = {
      ops: [...extra],
      after: [],
      commit: async (message) => {
        const write = (out: BatchOp[]): Promise<void> => this.room.store.batch([...unit.ops, ...out], { sync: true });
        if (message) {
          const w = wire(message);
          await p2p.deliver(peer, w.type, w.payload, write);
        } else await write([]);
        for (const f of unit.after) f();
      },
    };
    return { ...this.room, unit };
  }

  /** The room's context for a message taken from a peer: its writes, the mark "taken" and its answer in one batch. */
  private taking(m: Delivered, extra: BatchOp[] = []): { room: ChannelContext; committing: () => boolean } {
    let started = false;
    const unit: Unit = {
      ops: [...extra],
      after: [],
      commit: (message) => {
        started = true;
        return m.commit({ ops: unit.ops, replies: message ? [wire(message)] : [], after: () => unit.after.forEach((f) => f()) });
      },
    };
    return { room: { ...this.room, unit }, committing: () => started };
  }

  private checkPeer(peer: string): void {
    if (peer === this.net().nodeId()) throw rpcError('InvalidParams', `peer ${peer} is this anyad's own node key`);
  }

  // ---- what this side decides (the RPC) ----

  open(p: OpenParams & { peer: string }, caller: string): Promise<{ id: string; message: string }> {
    this.checkPeer(p.peer);
    return openChannel(this.sending(p.peer), p, caller);
  }

  /** sc.cancel of an offer waiting for sc.accept id=: dropped (nothing was made or signed for it). */
  async decline(id: string): Promise<boolean> {
    return this.room.locks.run(id, async () => {
      const offer = (await this.room.db.get(`offer:${id}`)) as Offer | undefined;
      if (!offer || (await this.room.db.get(`c:${id}`))) return false;
      await this.room.store.batch([{ type: 'del', sublevel: this.room.db, key: `offer:${id}` }], { sync: true });
      this.room.log.info({ id, peer: offer.peer }, 'channel offer declined');
      return true;
    });
  }

  async acceptOffer(id: string, ownDelay: number | undefined, caller: string): Promise<{ id: string; message: string }> {
    this.net();
    const offer = (await this.room.db.get(`offer:${id}`)) as Offer | undefined;
    if (!offer) throw rpcError('NotFound', `no channel offer ${id} from a peer (sc.inbox lists them)`);
    // The offer goes in the batch that makes the channel and queues the accept.
    return accept(this.sending(offer.peer, [{ type: 'del', sublevel: this.room.db, key: `offer:${id}` }]), offer.message, ownDelay, caller, offer.peer);
  }

  async update(rec: ChannelRecord, p: { to_opener_sat: number; to_accepter_sat: number; app_hash?: string }, caller: string) {
    // Proposing while their update waits would be both proposing at once: neither side could go on.
    if (await this.room.db.get(`held:${rec.id}`))
      throw rpcError('Conflict', `channel ${rec.id} has the counterparty's update waiting for sc.approve; take it first`);
    return update(this.sending(rec.peer!), rec.id, p, caller);
  }

  close(rec: ChannelRecord, caller: string): Promise<{ id: string; message: string }> {
    return closeChannel(this.sending(rec.peer!), rec.id, caller);
  }

  /** sc.approve: the held update signed with this allowance, its ack sent; still held when the allowance is short. */
  approve(id: string, maxPaySat: number, caller: string): Promise<Received> {
    return this.room.locks.run(id, async () => {
      const held = (await this.room.db.get(`held:${id}`)) as Held | undefined;
      if (!held) throw rpcError('NotFound', `channel ${id} has no update waiting for approval`);
      const rec = await get(this.room, id);
      const { e, sig } = read(this.room, held.message);
      const drop: BatchOp = { type: 'del', sublevel: this.room.db, key: `held:${id}` };
      try {
        return await takeStep(this.sending(held.peer, [drop]), rec, e, sig, { max_pay_sat: maxPaySat }, caller);
      } catch (err) {
        // Refused for good (the channel moved on: closed, force-closed): no longer waiting. Short: still held.
        if (!isConsent(err) && !passing(err)) await this.room.store.batch([drop], { sync: true });
        throw err;
      }
    });
  }

  async inbox(): Promise<{ offers: Offer[]; approvals: Held[] }> {
    const offers: Offer[] = [];
    const approvals: Held[] = [];
    for await (const [, v] of this.room.db.iterator({ gte: 'offer:', lt: 'offer;' })) offers.push(v as Offer);
    for await (const [, v] of this.room.db.iterator({ gte: 'held:', lt: 'held;' })) approvals.push(v as Held);
    const byTime = (a: { received: string }, b: { received: string }): number => a.received.localeCompare(b.received);
    return { offers: offers.sort(byTime), approvals: approvals.sort(byTime) };
  }

  // ---- what the peer sends ----

  private async take(m: Delivered): Promise<DeliveryWrite | undefined> {
    await this.ready;
    const kind = KIND.get(m.type)!;
    const hexMsg = m.payload.toString('hex');
    let e: Envelope, sig: string;
    try {
      ({ e, sig } = read(this.room, hexMsg));
      if (e.type !== kind) throw rpcError('InvalidParams', `a ${e.type} message under the type of ${kind} (${m.type})`);
    } catch (err) {
      return this.refuse(m, null, kind, err);
    }
    if (e.type === 'open') return this.offered(m, hexMsg, e, sig);
    return this.room.locks.run(e.channel, async () => {
      const rec = (await this.room.db.get(`c:${e.channel}`)) as ChannelRecord | undefined;
      if (!rec) return this.refuse(m, e.channel, kind, rpcError('NotFound', `no channel ${e.channel}`));
      if (rec.peer !== m.pubkey)
        return this.refuse(
          m,
          e.channel,
          kind,
          rpcError(
            'PolicyDenied',
            rec.peer
              ? `channel ${rec.id}'s counterparty is ${rec.peer}, not this peer`
              : `channel ${rec.id} does not run over the peer network (apps carry its messages)`,
          ),
        );
      const t = this.taking(m);
      try {
        const done = await takeStep(t.room, rec, e, sig, {}, backgroundCaller('sc', `peer ${m.pubkey}`));
        // (Committed by the step.) No app is on the line to take the penalty for a tower: it goes out as an event.
        if (done.justice) this.room.bus.publish(SC_JUSTICE, { id: done.id, number: done.number, ...done.justice });
        return undefined;
      } catch (err) {
        if (t.committing()) throw err; // its batch failed: comes again
        if (isConsent(err)) return this.hold(m, rec, hexMsg, err);
        return this.refuse(m, e.channel, kind, err);
      }
    });
  }

  /** An open from a peer: checked as sc.accept does (nothing made or signed), kept as an offer, told. */
  private async offered(m: Delivered, hexMsg: string, e: Envelope, sig: string): Promise<DeliveryWrite | undefined> {
    let t: ReturnType<typeof checkOpen>;
    try {
      t = checkOpen(this.room, e, sig);
    } catch (err) {
      return this.refuse(m, e.channel, 'open', err);
    }
    return this.room.locks.run(e.channel, async () => {
      if ((await this.room.db.get(`c:${e.channel}`)) || (await this.room.db.get(`offer:${e.channel}`)))
        return this.refuse(m, e.channel, 'open', rpcError('Conflict', `channel ${e.channel} is known already (a replayed open)`));
      const offers = (await this.inbox()).offers;
      if (offers.length >= MAX_OFFERS)
        return this.refuse(
          m,
          e.channel,
          'open',
          rpcError('PolicyDenied', `${offers.length} channel offers from peers are waiting already (at most ${MAX_OFFERS}): sc.accept or sc.cancel them first`),
        );
      const waiting = offers.filter((o) => o.peer === m.pubkey).length;
      if (waiting >= MAX_OFFERS_PER_PEER)
        return this.refuse(
          m,
          e.channel,
          'open',
          rpcError('PolicyDenied', `peer ${m.pubkey} has ${waiting} channel offers waiting already (at most ${MAX_OFFERS_PER_PEER})`),
        );
      const offer: Offer = {
        id: e.channel,
        peer: m.pubkey,
        message: hexMsg,
        capacity_sat: Number(t.capacity),
        push_sat: Number(t.push),
        fee_rate_sat_vb: t.feeRate,
        to_self_delay: t.delay,
        app_hash: t.appHash,
        received: new Date().toISOString(),
      };
      await m.commit({
        ops: [{ type: 'put', sublevel: this.room.db, key: `offer:${offer.id}`, value: offer }],
        after: () => {
          this.room.log.info({ id: offer.id, peer: offer.peer, capacity_sat: offer.capacity_sat }, 'channel offered by a peer');
          const { id, peer, capacity_sat, push_sat, fee_rate_sat_vb, to_self_delay, app_hash } = offer;
          this.room.bus.publish(SC_OFFERED, { id, peer, capacity_sat, push_sat, fee_rate_sat_vb, to_self_delay, app_hash });
        },
      });
      return undefined;
    });
  }

  /** An update over this side's allowance: kept unsigned with the mark "taken", until sc.approve. */
  private async hold(m: Delivered, rec: ChannelRecord, hexMsg: string, err: RpcError): Promise<undefined> {
    const d = err.data as { number: number; pays_sat: number; to_opener_sat: number; to_accepter_sat: number };
    const held: Held = { id: rec.id, peer: m.pubkey, message: hexMsg, ...pick(d), received: new Date().toISOString() };
    await m.commit({
      ops: [{ type: 'put', sublevel: this.room.db, key: `held:${rec.id}`, value: held }],
      after: () => {
        this.room.log.info({ id: rec.id, number: held.number, pays_sat: held.pays_sat }, 'channel update waits for approval (over sc.autopaymaxsat)');
        this.room.bus.publish(SC_APPROVAL, { id: rec.id, peer: m.pubkey, ...pick(d) });
      },
    });
    return undefined;
  }

  /**
   * A message that is not processed: for good (a rule, another peer, a replay) it is taken with nothing written,
   * logged and told; for a passing reason it is left unacknowledged (thrown) and comes again.
   */
  private refuse(m: Delivered, channel: string | null, type: string, err: unknown): DeliveryWrite {
    const reason = (err as Error).message;
    if (passing(err)) throw err;
    return {
      ops: [],
      after: () => {
        this.room.log.warn({ peer: m.pubkey, channel, type, reason }, 'state channel message from a peer refused');
        this.room.bus.publish(SC_REFUSED, { peer: m.pubkey, channel, type, reason });
      },
    };
  }
}

const pick = (d: { number: number; pays_sat: number; to_opener_sat: number; to_accepter_sat: number }) => ({
  number: d.number,
  pays_sat: d.pays_sat,
  to_opener_sat: d.to_opener_sat,
  to_accepter_sat: d.to_accepter_sat,
});
