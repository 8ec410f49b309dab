// The wallet.tx event log (issue 27 item 6). A subscriber disconnected for a while, or an anyad killed between a
// step's batch and its publication, would otherwise lose events for good. Each event is numbered (seq, 'm:seq') and
// kept under e:<seq> IN THE BATCH of the step that made it, so an event exists iff its step is durable; the newest
// `keep` are kept, older ones deleted in the same batches. wallet.listevents reads the log after a seq, exclusive
// (NBXplorer's events?lastEventId=, Core Lightning's waitanyinvoice lastpay_index), and refuses a since whose
// successors were pruned: a client always learns that it missed something (Syncthing's since= drops them silently).
//
// Steps are built under the wallet lock, but made durable by different writers (the watcher's batch for a block, a
// send's own batch), so a later step's batch may land first. Events are therefore published and listed in seq order
// only, up to the watermark: the highest seq below which every step is durable. A step whose batch never lands (the
// disk refused it, another room's listener failed the watcher's step) is given up LOST_MS after it was built, once a
// later step is durable: its numbers stay unused, and the events after it go out.

import type { Logger } from 'pino';
import { rpcError } from '../core/errors.js';
import type { TopicData } from '../core/events.js';
import type { BatchOp, RoomDb } from '../core/store.js';
import type { WALLET_TX } from './topics.js';

export type WalletEvent = TopicData<typeof WALLET_TX>;

const LOST_MS = 30_000;
const PRUNE_PER_STEP = 10_000;
const keyOf = (seq: number): string => `e:${String(seq).padStart(16, '0')}`;

interface Step {
  to: number;
  events: WalletEvent[];
  durable: boolean;
  builtAt: number;
}

export interface EventLogSettings {
  db: RoomDb;
  /** How many events are kept (wallet.eventlog). */
  keep: number;
  /** Called once per event, in seq order, when it is durable. */
  publish: (e: WalletEvent) => void;
  log: Logger;
  /** How long a step may stay unwritten while a later one is durable before it is given up (LOST_MS). */
  lostMs?: number;
}

export class EventLog {
  /** The last seq handed out (its step may not be durable yet). */
  private last = 0;
  /** The oldest seq not yet deleted by a durable step. */
  private oldest = 1;
  /** Every event up to here is durable (or its step was given up): what is published and listed. */
  private watermark = 0;
  /** Steps built and not yet released, in seq order. */
  private readonly steps: Step[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly s: EventLogSettings) {}

  async load(): Promise<void> {
    // The newest event kept is the last seq handed out by a durable step: 'm:seq' alone may be older, written by an
    // earlier step whose batch landed after a later one's. 'm:seq' counts the events numbered before the log existed.
    this.last = ((await this.s.db.get('m:seq')) as number | undefined) ?? 0;
    for await (const k of this.s.db.keys({ gte: 'e:', lt: 'e;', reverse: true, limit: 1 })) this.last = Math.max(this.last, Number(k.slice(2)));
    this.watermark = this.last;
    this.oldest = await this.oldestKept();
  }

  close(): void {
    clearTimeout(this.timer);
  }

  /**
   * Numbers a step's events and adds them, the seq and the pruning to the step's `ops`; returns what to call once
   * that batch is durable.
   */
  append(changes: Array<Omit<WalletEvent, 'seq'>>, ops: BatchOp[]): () => void {
    const { db, keep } = this.s;
    const events = changes.map((c) => ({ seq: ++this.last, ...c }) as WalletEvent);
    for (const e of events) ops.push({ type: 'put', sublevel: db, key: keyOf(e.seq), value: e });
    ops.push({ type: 'put', sublevel: db, key: 'm:seq', value: this.last });
    // From the oldest still kept, so a log made smaller by the config shrinks from its next step on (by at most
    // PRUNE_PER_STEP a step: one block's batch stays small; what is listed is what is still in LevelDB).
    // `oldest` moves only when a step's deletions are durable: a step that never lands leaves its deletions to the
    // next one, so the log never holds an older event above a deleted one (which would hide the gap from list()).
    const floor = Math.min(this.last - keep + 1, this.oldest + PRUNE_PER_STEP);
    for (let q = this.oldest; q < floor; q++) ops.push({ type: 'del', sublevel: db, key: keyOf(q) });
    const step: Step = { to: this.last, events, durable: false, builtAt: Date.now() };
    this.steps.push(step);
    return () => {
      step.durable = true;
      this.oldest = Math.max(this.oldest, floor);
      // A step given up as lost that landed after all: its events are in the log; late on the bus, but not lost.
      if (!this.steps.includes(step)) events.forEach((e) => this.s.publish(e));
      else this.release();
    };
  }

  /** Publishes the durable steps at the head, in order; gives up a head that never landed (see the header). */
  private release(): void {
    for (let head = this.steps[0]; head; head = this.steps[0]) {
      if (!head.durable) {
        if (!this.steps.some((s) => s.durable)) return;
        const wait = head.builtAt + (this.s.lostMs ?? LOST_MS) - Date.now();
        if (wait > 0) {
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.release(), wait).unref();
          return;
        }
        this.s.log.warn({ first_seq: head.events[0]!.seq, last_seq: head.to }, 'a wallet step was never written: its event numbers stay unused');
      }
      this.steps.shift();
      this.watermark = head.to;
      if (head.durable) head.events.forEach((e) => this.s.publish(e));
    }
  }

  /** The oldest event in the log, or `last + 1` when it holds none (e.g. events numbered before the log existed). */
  private async oldestKept(last = this.last): Promise<number> {
    for await (const k of this.s.db.keys({ gte: 'e:', lt: 'e;', limit: 1 })) return Math.min(Number(k.slice(2)), last + 1);
    return last + 1;
  }

  /**
   * wallet.listevents: the events after `since` (from the oldest kept when absent), oldest first, up to `limit`.
   * Refused when events after `since` were pruned: the caller must catch up from the ledger instead.
   */
  async list(since: number | undefined, limit: number): Promise<{ events: WalletEvent[]; first_seq: number; last_seq: number }> {
    const last = this.watermark;
    let first = await this.oldestKept(last);
    const after = since ?? first - 1;
    const refuse = (oldest: number): Error =>
      rpcError(
        'Conflict',
        `events after seq ${after} are no longer kept: the oldest kept is ${oldest} (wallet.eventlog keeps the last ${this.s.keep}); catch up with wallet.listtransactions, then call again with since=${last}`,
        { since: after, first_seq: oldest, last_seq: last },
      );
    if (after < first - 1) throw refuse(first);
    if (after >= last) return { events: [], first_seq: first, last_seq: last };
    const events: WalletEvent[] = [];
    for await (const v of this.s.db.values({ gt: keyOf(after), lte: keyOf(last), limit })) events.push(v as WalletEvent);
    // A step that landed meanwhile may have pruned what followed `since` after the first look: look again.
    if (events[0]?.seq !== after + 1) {
      first = await this.oldestKept(last);
      if (after < first - 1) throw refuse(first);
    }
    return { events, first_seq: first, last_seq: last };
  }
}
