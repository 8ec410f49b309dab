// The HSM audit log when writes fail (issue 34) and while its key is out of reach (issue 26 item 7), on a real
// LevelDB. A failed batch is injected by the test's own write function (the store's batch, wrapped to throw ENOSPC
// once), the way a full disk fails LevelDB's synced write: the callers get that very error, the head file stays
// where the durable log is, nothing in memory runs ahead, and the chain continues after it, also across a restart.
// While the key is out of reach, events go to a journal and are chained (marked) by the first commit with the key.

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditLog } from '../../src/hsm/audit.js';
import { Store, type BatchOp } from '../../src/store/store.js';
import { tempDir } from '../helpers/daemon.js';

const KEY = randomBytes(32);

describe('audit log: failed writes and an out-of-reach key', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());
  let n = 0;

  async function open(opts: { keyed?: () => boolean } = {}) {
    const loc = join(dir.path, `db${++n}`);
    const headFile = join(dir.path, `head${n}`);
    const store = await Store.open(loc);
    const db = await store.room('hsm');
    const fault: { next: Error | undefined } = { next: undefined };
    const mac = async (data: Uint8Array): Promise<Buffer | undefined> =>
      (opts.keyed?.() ?? true) ? createHmac('sha256', KEY).update(data).digest() : undefined;
    const make = (): AuditLog =>
      new AuditLog({
        db,
        headFile,
        mac,
        write: async (ops: BatchOp[]) => {
          const err = fault.next;
          fault.next = undefined;
          if (err) throw err;
          await store.batch(ops);
        },
      });
    const headOnDisk = async (): Promise<{ seq: number; mac?: string }> => JSON.parse(await readFile(headFile, 'utf8')) as { seq: number; mac?: string };
    return { store, db, make, fault, headOnDisk };
  }

  const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });

  it('a failed batch: its callers get the store error itself, the head file stays behind, the chain continues, and after a restart verifies', async () => {
    const { store, make, fault, headOnDisk } = await open();
    const log = make();
    assert.equal(await log.load(), undefined);
    for (let i = 0; i < 3; i++) await log.append('sign', 'k', { i });
    await log.close(); // (waits for the head file's write too)
    assert.equal((await headOnDisk()).seq, 3);
    // The disk fills: a group of concurrent entries fails together, each caller with the very error.
    const err = enospc();
    fault.next = err;
    const failed = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => log.append('sign', 'k', { during: i })));
    for (const r of failed) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason, err, 'the original error, not a generic one');
    }
    await log.close();
    assert.equal((await headOnDisk()).seq, 3, 'the head file is never ahead of the durable log');
    assert.equal(log.count(), 3, 'nothing in memory ran ahead either');
    // Space is back: the next entry is 4 and follows 3.
    const next = (await log.append('sign', 'k', { after: true }))!;
    assert.equal(next.seq, 4);
    assert.equal((await log.verify()).ok, true);
    // Fail once more, then 'restart' (a new log over the same database and head file) before any other write.
    fault.next = enospc();
    await assert.rejects(log.append('sign', 'k', { lost: true }), /ENOSPC/);
    await log.close();
    const again = make();
    assert.equal(await again.load(), undefined, 'no rollback: the head file is at or behind the log');
    const v = await again.verify();
    assert.deepEqual([v.ok, v.entries, v.unkeyed_tail], [true, 4, 0]);
    assert.equal((await again.append('sign', 'k', { restarted: true }))!.seq, 5);
    assert.equal((await again.verify()).ok, true);
    await again.close();
    assert.equal((await headOnDisk()).seq, 5);
    await store.close();
  });

  it('a head file behind the log (its write did not finish) is no rollback; one ahead of it is', async () => {
    const { store, db, make, headOnDisk } = await open();
    const log = make();
    await log.load();
    for (let i = 0; i < 4; i++) await log.append('sign', 'k', { i });
    await log.close();
    const at4 = await headOnDisk();
    // Two more commits reach LevelDB but the process dies before the head file follows: simulated by putting the
    // file at 4 back after them.
    await log.append('sign', 'k', { i: 5 });
    await log.append('sign', 'k', { i: 6 });
    await log.close();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir.path, `head${n}`), `${JSON.stringify(at4)}\n`);
    const lagging = make();
    assert.equal(await lagging.load(), undefined);
    assert.equal((await lagging.verify()).ok, true);
    await lagging.close();
    assert.equal((await headOnDisk()).seq, 6, 'brought up to the log at start');
    // Cut the last two entries (and the LevelDB head) but leave the head file: that is a rollback, named.
    const e4 = (await db.get('a:000000000004')) as { seq: number; hash: string };
    await db.batch([
      { type: 'del', key: 'a:000000000005' },
      { type: 'del', key: 'a:000000000006' },
      { type: 'put', key: 'a:head', value: { seq: 4, hash: e4.hash } },
    ]);
    const cut = make();
    const finding = await cut.load();
    assert.ok(finding);
    assert.match(finding.reason, /the log ends at 4 but the head file says 6/);
    await cut.close();
    await store.close();
  });

  it('while the key is out of reach events are journaled, then chained (marked) by the first commit with the key; the log verifies', async () => {
    let keyed = false;
    const { store, db, make } = await open({ keyed: () => keyed });
    const log = make();
    assert.equal(await log.load(), undefined);
    assert.equal(await log.append('deny', null, { rule: 'unlock_failed' }), undefined, 'journaled, not chained');
    assert.equal(
      await log.append('policy', null, { subject: 'group:x' }, [{ type: 'put', sublevel: db, key: 'p:group:x', value: { max_amount_sat: 1 } }]),
      undefined,
    );
    assert.deepEqual(await db.get('p:group:x'), { max_amount_sat: 1 }, "the event's own writes are durable");
    assert.equal(log.count(), 0);
    keyed = true;
    const unlock = (await log.append('unlock', null, {}))!;
    assert.equal(unlock.seq, 3);
    const page = await log.page(1, 10);
    assert.deepEqual(
      page.map((e) => [e.seq, e.event, e.detail.journaled ?? false]),
      [
        [1, 'deny', true],
        [2, 'policy', true],
        [3, 'unlock', false],
      ],
    );
    for await (const _ of db.keys({ gte: 'u:', lt: 'u;' })) assert.fail('the journal is emptied in the same batch');
    const v = await log.verify();
    assert.deepEqual([v.ok, v.entries, v.keyed, v.unkeyed_tail], [true, 3, 1, 0]);
    await log.close();
    await store.close();
  });
});
