// The custom-message inbox: delivered messages of odd types no room takes (Core Lightning's `custommsg` hook, for
// apps that speak their own protocol between anyads through peer.sendcustommsg). Each is numbered (seq) and kept
// under c:<seq> IN THE BATCH that marks it taken (delivery.ts), so a message is in the inbox exactly when it was
// taken; then it is published as peer.custommsg. A subscriber that was away (or an anyad killed between the batch
// and the publication) catches up with peer.listcustommsgs since=<the last seq seen>. The newest KEEP are kept.

import type { RoomDb } from '../core/store.js';
import type { Delivered, DeliveryWrite } from './delivery.js';

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

  constructor(
    private readonly db: RoomDb,
    private readonly publish: (m: CustomMsg) => void,
  ) {}

  async load(): Promise<void> {
    for await (const k of this.db.keys({ gte: 'c:', lt: 'c;', reverse: true, limit: 1 })) this.last = Number(k.slice(2));
  }

  /** The delivery handler: called one message at a time (delivery.ts receives under one lock). */
  take(m: Delivered): DeliveryWrite {
    const msg: CustomMsg = { seq: this.last + 1, pubkey: m.pubkey, peer_seq: m.seq, type: m.type, payload: m.payload.toString('hex') };
    return {
      ops: [
        { type: 'put', sublevel: this.db, key: keyOf(msg.seq), value: msg },
        { type: 'del', sublevel: this.db, key: keyOf(msg.seq - KEEP) },
      ],
      after: () => {
        this.last = msg.seq;
        this.publish(msg);
      },
    };
  }

  async list(since: number, limit: number): Promise<{ messages: CustomMsg[]; last_seq: number }> {
    const messages: CustomMsg[] = [];
    for await (const [, v] of this.db.iterator({ gt: keyOf(since), lt: 'c;', limit })) messages.push(v as CustomMsg);
    return { messages, last_seq: this.last };
  }
}
