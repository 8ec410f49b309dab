// The one coin service: a coin of the wallet is promised to one holder at a time (a funded PSBT, a send under way,
// a DLC, a channel's funding), until the holder releases it, spends it, or the promise expires. Promises are
// records (r:<txid>:<vout> → holder, expiry), written before the caller hears of the coins, so a restart (or a
// kill -9) keeps them. A coin another room hand-picked is promised here too (reserveOutpoints), the wallet's or a
// foreign one: a foreign coin's spend is never seen here, so its promise ends when its holder gives it back or at
// its expiry. Callers take and give back coins inside the wallet's critical section (service.ts).

import type { BatchOp, RoomDb } from '../core/store.js';

export interface Reservation {
  holder: string;
  /** Unix milliseconds after which the coin is free again. */
  expires_at: number;
  created_at: number;
}

export class Reservations {
  private readonly byOutpoint = new Map<string, Reservation>();

  constructor(private readonly db: RoomDb) {}

  async load(): Promise<void> {
    for await (const [k, v] of this.db.iterator({ gte: 'r:', lt: 'r;' })) this.byOutpoint.set(k.slice(2), v as Reservation);
  }

  /** The live promise of a coin, or undefined (an expired one counts as none). */
  of(outpoint: string, now = Date.now()): Reservation | undefined {
    const r = this.byOutpoint.get(outpoint);
    return r && r.expires_at > now ? r : undefined;
  }

  /** Whether the coin is free for `holder` (not promised, or promised to that holder already). */
  freeFor(outpoint: string, holder: string, now = Date.now()): boolean {
    const r = this.of(outpoint, now);
    return r === undefined || r.holder === holder;
  }

  take(outpoints: string[], holder: string, ttlMs: number, ops: BatchOp[], now = Date.now()): Reservation {
    this.dropExpired(ops, now);
    const r: Reservation = { holder, expires_at: now + ttlMs, created_at: now };
    for (const o of outpoints) {
      this.byOutpoint.set(o, r);
      ops.push({ type: 'put', sublevel: this.db, key: `r:${o}`, value: r });
    }
    return r;
  }

  /** Gives back coins (those of `holder` only, when named); answers the outpoints released. */
  release(outpoints: string[] | undefined, holder: string | undefined, ops: BatchOp[]): string[] {
    const out: string[] = [];
    for (const [o, r] of this.byOutpoint) {
      if (outpoints && !outpoints.includes(o)) continue;
      if (holder !== undefined && r.holder !== holder) continue;
      this.byOutpoint.delete(o);
      ops.push({ type: 'del', sublevel: this.db, key: `r:${o}` });
      out.push(o);
    }
    return out;
  }

  /**
   * Expired promises are dropped with the next promise made: a coin the wallet never sees spent (a foreign coin
   * promised through reserveOutpoints, whose holder did not give it back) leaves no record behind for ever.
   */
  private dropExpired(ops: BatchOp[], now: number): void {
    for (const [o, r] of this.byOutpoint)
      if (r.expires_at <= now) {
        this.byOutpoint.delete(o);
        ops.push({ type: 'del', sublevel: this.db, key: `r:${o}` });
      }
  }

  /** A coin that was spent or went away keeps no promise. */
  forget(outpoint: string, ops: BatchOp[]): void {
    if (this.byOutpoint.delete(outpoint)) ops.push({ type: 'del', sublevel: this.db, key: `r:${outpoint}` });
  }

  list(now = Date.now()): Array<Reservation & { outpoint: string }> {
    return [...this.byOutpoint].filter(([, r]) => r.expires_at > now).map(([outpoint, r]) => ({ outpoint, ...r }));
  }
}
