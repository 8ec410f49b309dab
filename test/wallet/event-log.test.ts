// The wallet's event log (src/wallet/event-log.ts) on a real LevelDB store, for what a daemon test cannot time: a
// later step's batch landing before an earlier one's (events published and listed in seq order only), a step whose
// batch never lands (given up, its numbers unused, the events after it going out), a reopen going on from the last
// durable seq, and a log made smaller pruned at its next step.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import pino from 'pino';
import type { BatchOp, RoomDb } from '../../src/core/store.js';
import { Store } from '../../src/store/store.js';
import { EventLog, type WalletEvent } from '../../src/wallet/event-log.js';
import { tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

const change = (txid: string): Omit<WalletEvent, 'seq'> => ({ txid, status: 'received', height: null, amount_sat: 1000, fee_sat: null });

describe('wallet event log: seq order, lost steps, reopen, pruning', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let store: Store;
  let db: RoomDb;
  const published: number[] = [];
  const open = async (keep: number, lostMs?: number): Promise<EventLog> => {
    const log = new EventLog({ db, keep, lostMs, log: pino({ level: 'silent' }), publish: (e) => published.push(e.seq) });
    await log.load();
    return log;
  };
  /** One step: its events numbered into a batch, and the batch's write and `after` left to the caller. */
  const step = (log: EventLog, txids: string[]): { ops: BatchOp[]; after: () => void } => {
    const ops: BatchOp[] = [];
    const after = log.append(txids.map(change), ops);
    return { ops, after };
  };
  const seqs = async (log: EventLog, since?: number): Promise<{ seqs: number[]; first_seq: number; last_seq: number }> => {
    const r = await log.list(since, 1000);
    return { seqs: r.events.map((e) => e.seq), first_seq: r.first_seq, last_seq: r.last_seq };
  };

  before(async () => {
    dir = await tempDir('anya-eventlog-');
    store = await Store.open(join(dir.path, 'state'));
    db = await store.room('wallet');
  });
  after(async () => {
    await store?.close();
    await dir?.remove();
  });

  it('a later step written first: nothing of it goes out or is listed until the earlier one is durable', async () => {
    const log = await open(100);
    const a = step(log, ['a1', 'a2', 'a3']);
    const b = step(log, ['b1', 'b2']);
    await store.batch(b.ops);
    b.after();
    assert.deepEqual(published, []);
    assert.deepEqual(await seqs(log, 0), { seqs: [], first_seq: 1, last_seq: 0 });
    await store.batch(a.ops);
    a.after();
    assert.deepEqual(published, [1, 2, 3, 4, 5]);
    assert.deepEqual(await seqs(log, 0), { seqs: [1, 2, 3, 4, 5], first_seq: 1, last_seq: 5 });
    assert.deepEqual((await log.list(2, 2)).events, [
      { seq: 3, ...change('a3') },
      { seq: 4, ...change('b1') },
    ]);
    log.close();
  });

  it('a step never written is given up once a later one is durable: its numbers stay unused, the later events go out', async () => {
    const log = await open(100, 150);
    const lost = step(log, ['lost1', 'lost2']); // seqs 6, 7: the batch never reaches the store
    const c = step(log, ['c1']); // seq 8
    await store.batch(c.ops);
    c.after();
    assert.deepEqual(published.slice(5), []);
    await until('the lost step given up', async () => (published.includes(8) ? true : undefined));
    assert.deepEqual(published.slice(5), [8]);
    assert.deepEqual(await seqs(log, 5), { seqs: [8], first_seq: 1, last_seq: 8 });
    // Landing after all: in the log, and published then (late, but not lost).
    await store.batch(lost.ops);
    lost.after();
    assert.deepEqual(published.slice(5), [8, 6, 7]);
    assert.deepEqual((await seqs(log, 5)).seqs, [6, 7, 8]);
    log.close();
  });

  it('a reopen goes on from the last durable seq: an unwritten last step leaves its numbers to the next', async () => {
    const log = await open(100);
    step(log, ['never']); // seq 9, never written: nobody saw it
    log.close();
    const again = await open(100);
    assert.equal((await again.list(undefined, 1000)).last_seq, 8);
    const d = step(again, ['d1']);
    await store.batch(d.ops);
    d.after();
    assert.deepEqual(await seqs(again, 7), { seqs: [8, 9], first_seq: 1, last_seq: 9 });
    assert.equal((await again.list(8, 10)).events[0]!.txid, 'd1');
    again.close();
  });

  it('a log made smaller is cut at its next step; a since before it is refused, naming the oldest kept', async () => {
    const log = await open(3);
    const e = step(log, ['e1', 'e2']); // seqs 10, 11: the log keeps 9..11
    await store.batch(e.ops);
    e.after();
    assert.deepEqual(await seqs(log), { seqs: [9, 10, 11], first_seq: 9, last_seq: 11 });
    assert.deepEqual((await seqs(log, 8)).seqs, [9, 10, 11]);
    await assert.rejects(log.list(7, 10), (err: Error & { code?: number; data?: unknown }) => {
      assert.match(err.message, /events after seq 7 are no longer kept: the oldest kept is 9/);
      assert.deepEqual(err.data, { since: 7, first_seq: 9, last_seq: 11 });
      return true;
    });
    let kept = 0;
    for await (const _ of db.keys({ gte: 'e:', lt: 'e;' })) kept++;
    assert.equal(kept, 3, 'the older events are deleted from LevelDB');
    log.close();
  });

  it('a pruning step that never lands leaves its deletions to the next: a since before a deleted event is refused, never skipped', async () => {
    const log = await open(3, 100); // holds 9, 10, 11
    const lost = step(log, ['f1']); // seq 12: would delete 9; never written
    const g = step(log, ['g1']); // seq 13: deletes 9 and 10 (9 again, as its deletion never landed)
    await store.batch(g.ops);
    g.after();
    void lost;
    await until('the lost step given up', async () => ((await log.list(undefined, 10)).last_seq === 13 ? true : undefined));
    // Event 10 is gone: a client at 9 must hear so, rather than get 11, 13 as if nothing were missing.
    await assert.rejects(log.list(9, 10), /events after seq 9 are no longer kept: the oldest kept is 11/);
    assert.deepEqual((await seqs(log, 10)).seqs, [11, 13]);
    log.close();
  });
});
