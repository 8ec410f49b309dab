// The watch-only descriptors the wallet follows (watchonly.ts checks and derives them): each one's outputs in the
// wallet's script book up to the gap limit past its last index used or handed out (within its range), the outputs
// derived so far, the next index of an internal one for a watch-only PSBT's change, and their listing. The service
// owns the book and the lock; this module keeps the watched descriptors' share of them.

import type * as bitcoin from 'bitcoinjs-lib';
import type { BatchOp, RoomDb } from '../core/store.js';
import type { KeyPlace } from './keys.js';
import { deriveWatched, watchPlace, type WatchDerived, type WatchDescriptor } from './watchonly.js';

export interface WatchBookSettings {
  db: RoomDb;
  network: bitcoin.Network;
  gapLimit: number;
  /** The wallet's script book (script hex → where it comes from), shared with the seed's accounts. */
  book: Map<string, KeyPlace>;
  /** The ledger's highest used index per chain key ("w:<id>" for a watched descriptor). */
  used: Map<string, number>;
  /** The next index to hand out per chain key (the service's, loaded from n: records). */
  next: Map<string, number>;
}

export class WatchBook {
  /** The imported descriptors by id. */
  readonly descriptors = new Map<string, WatchDescriptor>();
  /** "id:index" → its derived output. */
  private readonly outputs = new Map<string, WatchDerived>();
  /** Per descriptor id: the last index in the book. */
  private readonly reach = new Map<string, number>();

  constructor(private readonly s: WatchBookSettings) {}

  /** Follows a descriptor (imported now, or kept from before): its outputs join the book. */
  add(w: WatchDescriptor): void {
    this.descriptors.set(w.id, w);
    this.extend(w.id);
  }

  private usedOf(w: WatchDescriptor): number {
    return this.s.used.get(`w:${w.id}`) ?? w.range[0] - 1;
  }
  private nextOf(w: WatchDescriptor): number {
    return Math.max(this.s.next.get(`w:${w.id}`) ?? w.range[0], this.usedOf(w) + 1);
  }

  /** The book reaches `gap` past the last index used or handed out, within the descriptor's range. */
  extend(id: string): void {
    const w = this.descriptors.get(id);
    if (!w) return;
    const want = Math.min(w.range[1], this.nextOf(w) - 1 + this.s.gapLimit);
    for (let i = Math.max(w.range[0], (this.reach.get(id) ?? -1) + 1); i <= want; i++) {
      const d = deriveWatched(w, i, this.s.network);
      const script = d.script.toString('hex');
      // A script of the seed's own accounts stays theirs (the HSM signs for it), whatever descriptor also names it.
      if (this.s.book.get(script)?.watch === undefined && this.s.book.has(script)) continue;
      this.s.book.set(script, watchPlace(w, i));
      this.outputs.set(`${id}:${i}`, d);
    }
    this.reach.set(id, Math.max(want, this.reach.get(id) ?? -1));
  }

  /** A watched coin's output, derived again if the book does not hold it. */
  output(c: KeyPlace): WatchDerived {
    const k = `${c.watch}:${c.index}`;
    let d = this.outputs.get(k);
    if (!d) this.outputs.set(k, (d = deriveWatched(this.descriptors.get(c.watch!)!, c.index, this.s.network)));
    return d;
  }

  /** A watched coin's address, and its "path": the descriptor's label (or id) and index. */
  place(c: KeyPlace): { address: string; path: string } {
    return { address: this.output(c).address, path: `${this.descriptors.get(c.watch!)?.label || c.watch}/${c.index}` };
  }

  /**
   * A watch-only PSBT's change: the next unused index of the change chain of the keys that spend (an imported
   * internal descriptor that is an input's own descriptor with /1/* for /0/*, as a hardware wallet exports its pair),
   * taken (`ops` make it durable with the caller's batch); undefined when none was imported. Never another key
   * holder's chain: change of a multisig must not land in a single-key wallet.
   */
  takeChange(inputs: KeyPlace[], ops: BatchOp[]): WatchDerived | undefined {
    const bodies = new Set(
      inputs
        .map((c) => this.descriptors.get(c.watch ?? '')?.desc.split('#')[0])
        .filter((d): d is string => d !== undefined)
        .map((d) => d.replaceAll('/0/*', '/1/*')),
    );
    const w = [...this.descriptors.values()].find((x) => x.internal && x.ranged && bodies.has(x.desc.split('#')[0]!) && this.nextOf(x) <= x.range[1]);
    if (!w) return undefined;
    const index = this.nextOf(w);
    this.s.next.set(`w:${w.id}`, index + 1);
    ops.push({ type: 'put', sublevel: this.s.db, key: `n:w:${w.id}`, value: index + 1 });
    this.extend(w.id);
    return this.output(watchPlace(w, index));
  }

  list(): Array<{ desc: string; type: string; internal: boolean; next_index: number; range_end: number; watch_only: boolean; label: string | null }> {
    return [...this.descriptors.values()].map((w) => ({
      desc: w.desc,
      type: w.type,
      internal: w.internal,
      next_index: this.nextOf(w),
      range_end: this.reach.get(w.id) ?? 0,
      watch_only: true,
      label: w.label,
    }));
  }
}
