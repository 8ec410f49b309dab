// The custom-message inbox: delivered messages of odd types no room takes (Core Lightning's `custommsg` hook, for
// apps that speak their own protocol between anyads through peer.sendcustommsg). Each is numbered (seq) and kept
// under c:<seq> IN THE BATCH that marks it taken (delivery.ts), so a message is in the inbox exactly when it was
// taken; then it is published as peer.custommsg. A subscriber that was away (or an anyad killed between the batch
// and the publication) catches up with peer.listcustommsgs since=<the last seq seen>. The newest KEEP are kept.

import { KeyedLock } from '../core/keyed-lock.js';
import type { RoomDb } from '../core/store.js';
import type { Delivered } from './delivery.js';

export const KEEP = 10_000;

export interface CustomMsg {
  seq: number;
  pubkey: string;
  peer_seq: number;
  type: number;
  payload: string;
}

const keyOf = (seq: number): string => `c:${String(seq).padStart(16, '0')}`;

export class CustomInbox {
  private last = 0;
  /** Peers are received in parallel (delivery.ts): numbering and committing are one step for all of them. */
  private readonly lock = new KeyedLock();

  constructor(
    private readonly db: RoomDb,
    private readonly publish: (m: CustomMsg) => void,
  ) {}

  async load(): Promise<void> {
    for await (const k of this.db.keys({ gte: 'c:', lt: 'c;', reverse: true, limit: 1 })) this.last = Number(k.slice(2));
  }

  /**
   * The delivery handler. Messages of several peers come at once, so a message is numbered and its batch committed
   * (m.commit) under the inbox's own lock: the seqs land and are published in the order they were given.
   */
  async take(m: Delivered): Promise<undefined> {
    await this.lock.run('inbox', async () => {
      const msg: CustomMsg = { seq: this.last + 1, pubkey: m.pubkey, peer_seq: m.seq, type: m.type, payload: m.payload.toString('hex') };
      await m.commit({
        ops: [
          { type: 'put', sublevel: this.db, key: keyOf(msg.seq), value: msg },
          { type: 'del', sublevel: this.db, key: keyOf(msg.seq - KEEP) },
        ],
        after: () => {
          this.last = msg.seq;
          this.publish(msg);
        },
      });
    });
    return undefined;
  }

  async list(since: number, limit: number): Promise<{ messages: CustomMsg[]; last_seq: number }> {
    const messages: CustomMsg[] = [];
    for await (const [, v] of this.db.iterator({ gt: keyOf(since), lt: 'c;', limit })) messages.push(v as CustomMsg);
    return { messages, last_seq: this.last };
  }
}
