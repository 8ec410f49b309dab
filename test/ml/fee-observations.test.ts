// FeeObservations' listener hooks on a real LevelDB store, called as the bitcoin room's watcher calls them, for what
// the regtest node cannot do: bcoin 1.0.2 refuses every double spend (no RBF replacement) and never evicts from a
// mempool this small. The node is represented by what the bitcoin room answers the ml room: its tip and its mempool
// entries (fee and vsize). What it does not prove: the watcher's own timing (fee-market.test.ts runs the real one).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { ListenerWrite, VerboseTx } from '../../src/adapters/bitcoin/api.js';
import { FeeObservations, type Observation } from '../../src/ml/fee-observations.js';
import { Store } from '../../src/store/store.js';

const hex = (n: number): string => n.toString(16).padStart(64, '0');

describe('fee observations', () => {
  it('tells replaced from evicted, lets a late block win, undoes a reorg, and keeps it all across a reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anya-feeobs-'));
    try {
      let store = await Store.open(join(dir, 'state'));
      let tip = { height: 100, hash: 'h100' };
      const node = new Map<string, { vsize: number; fee_sat: number }>();
      const chain = {
        tip: () => tip,
        mempoolEntry: (txid: string) => Promise.resolve(node.get(txid) ?? null),
        nodeKind: () => 'bcoin' as const,
        coreEstimate: () => Promise.resolve(null),
      };
      const open = async (): Promise<FeeObservations> => {
        const o = new FeeObservations({ db: await store.room('ml'), chain, max: 1000, maxAgeDays: 30, log: pino({ level: 'silent' }) });
        await o.open();
        return o;
      };
      let obs = await open();
      const apply = async (w: ListenerWrite | undefined): Promise<void> => {
        if (!w) return;
        await store.batch(w.ops);
        w.after?.();
      };
      const arrive = async (id: number, coin: number, feeSat: number, parent?: number): Promise<string> => {
        const txid = hex(id);
        node.set(txid, { vsize: 100, fee_sat: feeSat });
        const tx: VerboseTx = { txid, vin: [{ txid: parent !== undefined ? hex(parent) : hex(1e6 + coin), vout: 0 }], vout: [] };
        await apply(await obs.mempool(tx));
        return txid;
      };
      const block = async (height: number, txids: string[]): Promise<void> => {
        tip = { height, hash: `h${height}` };
        for (const t of txids) node.delete(t);
        await apply(await obs.connected({ hash: tip.hash, height, time: 0, tx: txids.map((txid) => ({ txid, vin: [], vout: [] })) }));
      };
      const rec = async (): Promise<Map<string, Observation>> => {
        const m = new Map<string, Observation>();
        for await (const o of obs.records()) m.set(o.t, o);
        return m;
      };

      const a = await arrive(1, 1, 500); // 5 sat/vB
      const b = await arrive(2, 2, 1000);
      const c = await arrive(3, 3, 200, 2); // child of b
      // an unknown fee (not in the node's mempool any more) is not recorded
      await apply(await obs.mempool({ txid: hex(9), vin: [{ txid: hex(77), vout: 0 }], vout: [] }));
      assert.equal(obs.stats().stored, 3);
      assert.deepEqual((await rec()).get(c)!.p, [b], 'the in-mempool parent is kept for ancestor-aware projection');
      // a spends coin 1; a2 spends it too: a was replaced
      const a2 = await arrive(4, 1, 900);
      assert.equal((await rec()).get(a)!.x, 'replaced');
      // c leaves the node's mempool with no block: evicted …
      node.delete(c);
      await apply(obs.mempoolLeft([c]));
      assert.equal((await rec()).get(c)!.x, 'evicted');
      assert.equal(obs.stats().waiting, 2, 'b and a2 wait');
      // … but the block the watcher connects next holds it after all: the block wins
      await block(101, [b, c]);
      let r = await rec();
      assert.equal(r.get(c)!.c, 101);
      assert.equal(r.get(c)!.x, undefined);
      assert.equal(r.get(b)!.c, 101);
      assert.equal(r.get(b)!.i, undefined, 'the spent outpoints go once it is resolved');
      assert.equal(obs.tracker.tracked, 2);
      // a reorg back to 100: b and c wait again
      await apply(await obs.rewound({ height: 100, hash: 'h100' }));
      r = await rec();
      assert.equal(r.get(b)!.c, undefined);
      assert.equal(obs.stats().waiting, 3);
      assert.equal(obs.tracker.tracked, 0, 'the tracker is rebuilt from the records, without the removed block');
      await block(101, [a2]);
      // reopened: the same records, the same waiting set, the tracker replayed
      await store.close();
      store = await Store.open(join(dir, 'state'));
      obs = await open();
      assert.equal(obs.stats().stored, 4);
      assert.equal(obs.stats().waiting, 2);
      assert.equal(obs.tracker.tracked, 1);
      // waiting when it stopped and gone from the node meanwhile: found at the next block, counted as evicted
      node.delete(b);
      await block(102, []);
      assert.equal((await rec()).get(b)!.x, 'evicted');
      assert.equal((await rec()).get(c)!.c, undefined);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
