// Durable delivery between anyads (issue 28 item 3): the layer DLC and state channels send through. A message given
// to deliver() is written to the sender's outbox (this room's LevelDB sublevel) before deliver() answers, numbered
// per peer, and sent inside an envelope on every connection, from the oldest unacknowledged, until the peer's ack
// removes it. The receiver takes seq N only when N is one past the last it took: the handler's writes and the mark
// "N taken" are ONE batch (the handler returns its ops, as a ChainListener does), and only then is N acked. So a
// message is taken exactly once across kills and reconnects of either side, and a duplicate (N at or below the
// mark) is acked again and not handed over.
//
// A sender's outbox carries an epoch (8 random bytes made once): a receiver that sees a new epoch from a peer
// starts that peer's numbering afresh, so a sender whose data was wiped (seq back at 1) is not taken for a
// replay and its messages are not dropped as duplicates.
//
// Keys: o:<pubkey>:<seq, 16 digits> → {type, payload hex}; n:<pubkey> → last seq given out; i:<pubkey> →
// {epoch, seq} last taken from that peer; epoch → ours.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { KeyedLock } from '../core/keyed-lock.js';
import { rpcError } from '../core/errors.js';
import type { BatchOp, RoomDb, Store } from '../core/store.js';

/**
 * The envelope and ack types: ours, odd (BOLT 1: "it's ok to be odd", software that does not know them ignores
 * them) and in the custom range 32768..65535 (BOLT 1), clear of rust-dlc's 42772..42792 and of LDK's and Core
 * Lightning's experimental types we know of.
 */
export const MSG_DELIVER = 53111;
export const MSG_DELIVERY_ACK = 53113;
/** The envelope's own bytes: the outer type (2), epoch (8), seq (8), the inner type (2). */
export const ENVELOPE_OVERHEAD = 20;
/**
 * Messages sent and not yet acknowledged, at most: the next waits for an ack. Keeps a resend of a long outbox from
 * passing the peer's message rate limit (p2p.maxmsgrate, a burst of ten seconds' worth) and from filling its socket.
 */
const WINDOW = 256;
/** The largest payload deliver() takes: BOLT 8's 65535 less the envelope. */
export const MAX_DELIVER_PAYLOAD = 65535 - ENVELOPE_OVERHEAD;

export interface Delivered {
  pubkey: string;
  type: number;
  payload: Buffer;
  /** The sender's sequence number for this peer. */
  seq: number;
  /**
   * Commits the handler's write now, in ONE batch with the mark "taken" and the replies' outbox entries, for a
   * handler that must know its step is durable before it goes on (a step that answers). At most once; a handler
   * that calls it returns nothing. A handler that does not call it returns its write, which is committed for it.
   */
  commit(w: DeliveryWrite): Promise<void>;
}

/** A message to the same peer, queued in the outbox in the batch that takes the message it answers. */
export interface Reply {
  type: number;
  payload: Uint8Array;
}

/** What a handler writes for a message (committed with the mark "taken"), and what it does once that is durable. */
export interface DeliveryWrite {
  ops: BatchOp[];
  /** Answers to the sender: durable exactly when the message is taken, so a crash can lose neither nor one of them. */
  replies?: Reply[];
  after?(): void;
}

/**
 * Commits the outbox entries (ops) of deliver() inside the caller's own synced batch, with the state change that
 * sends the message (a transactional outbox): the message is queued exactly when that change is durable. Must put
 * all of ops in one batch and resolve only once it landed; a throw queues nothing.
 */
export type CommitWith = (ops: BatchOp[]) => Promise<void>;

export type DeliveryHandler = (m: Delivered) => DeliveryWrite | undefined | Promise<DeliveryWrite | undefined>;

interface Pending {
  seq: number;
  type: number;
  payload: Buffer;
}

interface Outbox {
  last: number;
  pending: Pending[];
  bytes: number;
  /** The highest seq sent on the current connection (0: none yet; reset on every connection). */
  sentUpTo: number;
  /** Counts connections, so a send of an older one does not move sentUpTo of the newer. */
  gen: number;
  pumping: boolean;
  /** When the peer last showed progress on this outbox (an ack, a connection, the first message after none). */
  progressAt: number;
}

export interface DeliverySettings {
  db: RoomDb;
  store: Pick<Store, 'batch'>;
  /** Bytes of payload one peer's outbox may hold (p2p.maxoutboxbytes). */
  maxOutboxBytes: number;
  /** Peers that may have messages waiting at once (p2p.maxoutboxpeers): the outboxes are kept in memory too. */
  maxOutboxPeers: number;
  /** Sends on the peer's current connection; rejects when none. */
  send(pubkey: string, type: number, payload: Uint8Array): Promise<void>;
  /** The handler for an inner type, if a room (or the custom-message inbox) takes it. */
  handlerFor(type: number): DeliveryHandler | undefined;
  log: Logger;
}

const outKey = (pubkey: string, seq: number): string => `o:${pubkey}:${String(seq).padStart(16, '0')}`;

export class Delivery {
  private readonly locks = new KeyedLock();
  private readonly outboxes = new Map<string, Outbox>();
  private readonly taken = new Map<string, { epoch: string; seq: number }>();
  private epoch = Buffer.alloc(8);

  constructor(private readonly s: DeliverySettings) {}

  async load(): Promise<void> {
    const e = (await this.s.db.get('epoch')) as string | undefined;
    if (e) this.epoch = Buffer.from(e, 'hex');
    else {
      this.epoch = randomBytes(8);
      await this.s.store.batch([{ type: 'put', sublevel: this.s.db, key: 'epoch', value: this.epoch.toString('hex') }]);
    }
    for await (const [k, v] of this.s.db.iterator({ gte: 'n:', lt: 'n;' })) this.box(k.slice(2)).last = v as number;
    for await (const [k, v] of this.s.db.iterator({ gte: 'o:', lt: 'o;' })) {
      const [, pubkey, seq] = k.split(':');
      const m = v as { type: number; payload: string };
      const box = this.box(pubkey!);
      box.pending.push({ seq: Number(seq), type: m.type, payload: Buffer.from(m.payload, 'hex') });
      box.bytes += m.payload.length / 2;
    }
    for await (const [k, v] of this.s.db.iterator({ gte: 'i:', lt: 'i;' })) this.taken.set(k.slice(2), v as { epoch: string; seq: number });
  }

  /**
   * Queues a message durably; resolves with its id once it is in the outbox (not once sent). With `commitWith`,
   * the outbox entry goes into the caller's batch (see CommitWith) instead of a batch of its own.
   */
  async deliver(pubkey: string, type: number, payload: Uint8Array, commitWith?: CommitWith): Promise<{ id: string; seq: number }> {
    const [seq] = await this.locks.run(`o:${pubkey}`, () =>
      this.queue(pubkey, [{ type, payload }], commitWith ?? ((ops) => this.s.store.batch(ops, { sync: true }))),
    );
    void this.pump(pubkey);
    return { id: `${pubkey}:${seq!}`, seq: seq! };
  }

  /**
   * Checks and numbers messages for one peer's outbox and commits them through `commit` (with the ops it is given);
   * only then are they in memory. Called under the peer's outbox lock. Answers their seqs.
   */
  private async queue(pubkey: string, msgs: Reply[], commit: CommitWith): Promise<number[]> {
    if (!this.outboxes.get(pubkey)?.pending.length) {
      let waiting = 0;
      for (const b of this.outboxes.values()) if (b.pending.length > 0) waiting++;
      if (waiting >= this.s.maxOutboxPeers)
        throw rpcError(
          'Busy',
          `${waiting} peers have unacknowledged messages waiting (p2p.maxoutboxpeers=${this.s.maxOutboxPeers}); a message to one more waits until one of them takes its own`,
          { service: 'p2p' },
        );
    }
    const box = this.box(pubkey);
    let bytes = 0;
    for (const { type, payload } of msgs) {
      if (!Number.isInteger(type) || type < 0 || type > 65535) throw rpcError('InvalidParams', `message type ${type} is not a u16 (0..65535)`);
      if (payload.length > MAX_DELIVER_PAYLOAD)
        throw rpcError(
          'InvalidParams',
          `a payload of ${payload.length} bytes is over ${MAX_DELIVER_PAYLOAD} (65535 less the ${ENVELOPE_OVERHEAD}-byte envelope)`,
        );
      bytes += payload.length;
    }
    if (box.bytes + bytes > this.s.maxOutboxBytes)
      throw rpcError(
        'Busy',
        `the outbox to ${pubkey} holds ${box.bytes} bytes in ${box.pending.length} unacknowledged messages; ${bytes} more would pass p2p.maxoutboxbytes=${this.s.maxOutboxBytes}`,
        { service: 'p2p' },
      );
    const added: Pending[] = msgs.map((m, i) => ({ seq: box.last + 1 + i, type: m.type, payload: Buffer.from(m.payload) }));
    const ops: BatchOp[] = added.map((p) => ({
      type: 'put',
      sublevel: this.s.db,
      key: outKey(pubkey, p.seq),
      value: { type: p.type, payload: p.payload.toString('hex') },
    }));
    if (added.length > 0) ops.push({ type: 'put', sublevel: this.s.db, key: `n:${pubkey}`, value: box.last + added.length });
    await commit(ops);
    if (box.pending.length === 0) box.progressAt = Date.now();
    if (added.length > 0) box.last += added.length;
    box.pending.push(...added);
    box.bytes += bytes;
    return added.map((p) => p.seq);
  }

  /** A connection to the peer is up: everything unacknowledged goes out again, oldest first. */
  connected(pubkey: string): void {
    const box = this.outboxes.get(pubkey);
    if (!box) return;
    box.sentUpTo = 0;
    box.gen++;
    box.progressAt = Date.now();
    void this.pump(pubkey);
  }

  /**
   * Sends again, from the oldest, what a connected peer has not acknowledged for `afterMs` (p2p.resendinterval): a
   * message whose handler failed on the peer (a room not ready, a transient error) is retried on the same
   * connection, not only on the next one. The peer acks what it took already, so a resend is never taken twice.
   */
  resendStale(isConnected: (pubkey: string) => boolean, afterMs: number, now = Date.now()): void {
    for (const [pubkey, box] of this.outboxes) {
      if (box.pending.length === 0 || box.sentUpTo < box.pending[0]!.seq || now - box.progressAt < afterMs || !isConnected(pubkey)) continue;
      this.s.log.info(
        { peer: pubkey, waiting: box.pending.length, oldest: box.pending[0]!.seq },
        'messages unacknowledged on this connection: sending them again',
      );
      this.connected(pubkey);
    }
  }

  /** The outbox and the receiving mark of a peer, for peer.list. */
  state(pubkey: string): { outbox_messages: number; outbox_bytes: number; sent_seq: number; taken_seq: number } {
    const box = this.outboxes.get(pubkey);
    return { outbox_messages: box?.pending.length ?? 0, outbox_bytes: box?.bytes ?? 0, sent_seq: box?.last ?? 0, taken_seq: this.taken.get(pubkey)?.seq ?? 0 };
  }

  /** An envelope or an ack from the peer (called one message at a time per connection). */
  async onMessage(pubkey: string, type: number, payload: Buffer): Promise<void> {
    if (payload.length < 16 || (type === MSG_DELIVER && payload.length < 18)) throw new Error(`a truncated ${type === MSG_DELIVER ? 'envelope' : 'ack'}`);
    const epoch = payload.subarray(0, 8).toString('hex');
    const seq = Number(payload.readBigUInt64BE(8));
    if (type === MSG_DELIVERY_ACK) return this.acked(pubkey, epoch, seq);
    // One message at a time per peer (its order); peers in parallel. A handler that numbers what it takes across
    // peers (the custom-message inbox) keeps its own order by committing under its own lock (m.commit).
    await this.locks.run(`i:${pubkey}`, async () => {
      const was = this.taken.get(pubkey);
      const last = was?.epoch === epoch ? was.seq : 0;
      if (seq <= last) return this.ack(pubkey, epoch, last);
      // Later than the next: a message of a replaced connection overtaking; it comes again from the oldest.
      if (seq !== last + 1) return this.s.log.debug({ peer: pubkey, seq, last }, 'an envelope out of order: left for the resend');
      const mark = { epoch, seq };
      let committed = false;
      const commit = async (w: DeliveryWrite): Promise<void> => {
        if (committed) throw new Error('a delivered message is committed once');
        committed = true;
        const taken: BatchOp = { type: 'put', sublevel: this.s.db, key: `i:${pubkey}`, value: mark };
        const write = (ops: BatchOp[]): Promise<void> => this.s.store.batch([...w.ops, ...ops, taken], { sync: true });
        if (w.replies?.length) await this.locks.run(`o:${pubkey}`, () => this.queue(pubkey, w.replies!, write));
        else await write([]);
        this.taken.set(pubkey, mark);
        w.after?.();
        if (w.replies?.length) void this.pump(pubkey);
      };
      const m: Delivered = { pubkey, type: payload.readUInt16BE(16), payload: payload.subarray(18), seq, commit };
      const handler = this.s.handlerFor(m.type);
      if (!handler) throw new Error(`no room takes delivered messages of type ${m.type}: left unacknowledged`);
      const w = await handler(m);
      if (!committed) await commit(w ?? { ops: [] });
      this.ack(pubkey, epoch, seq);
    });
  }

  private ack(pubkey: string, epoch: string, seq: number): void {
    const b = Buffer.alloc(16);
    Buffer.from(epoch, 'hex').copy(b, 0);
    b.writeBigUInt64BE(BigInt(seq), 8);
    this.s.send(pubkey, MSG_DELIVERY_ACK, b).catch(() => undefined); // lost: the resend on the next connection asks again
  }

  private async acked(pubkey: string, epoch: string, seq: number): Promise<void> {
    if (epoch !== this.epoch.toString('hex')) return; // an ack of an outbox this node no longer has
    await this.locks.run(`o:${pubkey}`, async () => {
      const box = this.outboxes.get(pubkey);
      if (!box || seq > box.last) throw new Error(`an ack of seq ${seq}, never sent (last ${box?.last ?? 0})`);
      const done = box.pending.filter((p) => p.seq <= seq);
      if (done.length === 0) return;
      await this.s.store.batch(done.map((p) => ({ type: 'del' as const, sublevel: this.s.db, key: outKey(pubkey, p.seq) })));
      box.pending.splice(0, done.length);
      box.progressAt = Date.now();
      for (const p of done) box.bytes -= p.payload.length;
    });
    void this.pump(pubkey);
  }

  /** Sends what this connection has not carried yet, in order, one write at a time (the socket's backpressure). */
  private async pump(pubkey: string): Promise<void> {
    const box = this.outboxes.get(pubkey);
    if (!box || box.pumping) return;
    box.pumping = true;
    try {
      for (;;) {
        const p = box.pending.find((x) => x.seq > box.sentUpTo);
        if (!p || p.seq - box.pending[0]!.seq >= WINDOW) return; // the ack that opens the window pumps again
        const gen = box.gen;
        const env = Buffer.alloc(18 + p.payload.length);
        this.epoch.copy(env, 0);
        env.writeBigUInt64BE(BigInt(p.seq), 8);
        env.writeUInt16BE(p.type, 16);
        p.payload.copy(env, 18);
        try {
          await this.s.send(pubkey, MSG_DELIVER, env);
          if (gen === box.gen) box.sentUpTo = Math.max(box.sentUpTo, p.seq);
        } catch {
          // Not connected, or the connection went: connected() starts again from the oldest (at once, when a new
          // connection came while this send was failing).
          if (gen === box.gen) return;
        }
      }
    } finally {
      box.pumping = false;
    }
  }

  private box(pubkey: string): Outbox {
    let b = this.outboxes.get(pubkey);
    if (!b) this.outboxes.set(pubkey, (b = { last: 0, pending: [], bytes: 0, sentUpTo: 0, gen: 0, pumping: false, progressAt: 0 }));
    return b;
  }
}
