// The HSM audit log's group commit on a real LevelDB: entries asked for together are written together (fewer
// synced batches and MACs than entries) yet each caller is answered only once its entry is durable and the chain
// verifies; a MAC-less tail where the key is always in reach is a forgery; a crash between the LevelDB batch and the
// head-file write is told apart from a rollback.

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditLog } from '../../src/hsm/audit.js';
import { Store, type BatchOp } from '../../src/store/store.js';
import { tempDir } from '../helpers/daemon.js';

const KEY = randomBytes(32);
const mac = async (data: Uint8Array): Promise<Buffer> => createHmac('sha256', KEY).update(data).digest();

describe('audit log group commit', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());
  let n = 0;

  async function open(): Promise<{ store: Store; log: AuditLog; batches: BatchOp[][]; headFile: string; reopen: () => Promise<AuditLog> }> {
    const loc = join(dir.path, `db${++n}`);
    const headFile = join(dir.path, `head${n}`);
    const store = await Store.open(loc);
    const db = await store.room('hsm');
    const batches: BatchOp[][] = [];
    const make = (): AuditLog =>
      new AuditLog({
        db,
        headFile,
        mac,
        write: async (ops) => {
          batches.push(ops);
          await store.batch(ops);
        },
      });
    const log = make();
    return { store, log, batches, headFile, reopen: async () => make() };
  }

  it('60 concurrent entries: contiguous, each answered after its write, in fewer synced batches, and the chain verifies', async () => {
    const { store, log, batches } = await open();
    assert.equal(await log.load(), undefined);
    const entries = (await Promise.all(Array.from({ length: 60 }, (_, i) => log.append('sign', `k${i % 7}`, { i })))).map((e) => e!);
    assert.deepEqual(
      entries.map((e) => e.seq).sort((a, b) => a - b),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    // Each caller's entry is in the database by the time the caller is answered.
    for (const e of entries) assert.ok(batches.some((b) => b.some((op) => op.type === 'put' && (op.value as { hash?: string }).hash === e.hash)));
    assert.ok(batches.length < 60, `grouped: ${batches.length} batches for 60 entries`);
    // One MAC per commit, on its last entry; the chain covers the rest, and the log never ends unkeyed.
    const v = await log.verify();
    assert.deepEqual([v.ok, v.entries, v.keyed, v.unkeyed_tail], [true, 60, batches.length, 0]);
    // Entries asked for after a group was answered (the callers' next step) still get committed.
    const later = (await log.append('sign', 'k0', { after: true }))!;
    assert.equal(later.seq, 61);
    // Someone who rewrites the last entry cannot make its MAC: dropping it leaves an unkeyed tail, named.
    const lastKey = `a:${String(61).padStart(12, '0')}`;
    const hsmDb = store.db.sublevel<string, unknown>('hsm', { valueEncoding: 'json' });
    const stored = (await hsmDb.get(lastKey)) as { mac: string | null };
    await hsmDb.put(lastKey, { ...stored, mac: null });
    const forged = await log.verify();
    assert.equal(forged.ok, false);
    assert.match(forged.problem!.reason, /entry 61 carries no MAC and no MAC of its commit covers it/);
    await log.close();
    await store.close();
  });

  it('a crash between the batch and the head file is no rollback; a database behind the commit in flight is one', async () => {
    const { store, log, headFile, reopen } = await open();
    await log.load();
    for (let i = 0; i < 3; i++) await log.append('sign', 'k', { i });
    await log.close();
    const at3 = JSON.parse(await readFile(headFile, 'utf8')) as { seq: number; hash: string };
    assert.equal(at3.seq, 3);
    // The head file names a commit of entries 4..5 in flight that never reached LevelDB (crash before the batch).
    const inFlight = Buffer.alloc(256, 0x20);
    inFlight.write(JSON.stringify({ seq: 5, hash: 'f'.repeat(64), from: { seq: at3.seq, hash: at3.hash } }));
    await writeFile(headFile, inFlight);
    const again = await reopen();
    assert.equal(await again.load(), undefined, 'nothing of that commit was answered: no rollback');
    assert.equal((await again.verify()).ok, true);
    await again.close();
    // The same file when LevelDB ends before the commit's start: entries that were answered are gone.
    const behind = Buffer.alloc(256, 0x20);
    behind.write(JSON.stringify({ seq: 6, hash: 'f'.repeat(64), from: { seq: 4, hash: 'e'.repeat(64) } }));
    await writeFile(headFile, behind);
    const third = await reopen();
    const finding = await third.load();
    assert.ok(finding, 'a rollback is found');
    // Everything up to the file's head is named as possibly lost.
    assert.deepEqual([finding.from_seq, finding.to_seq], [6, 3]);
    await third.close();
    await store.close();
  });
});
