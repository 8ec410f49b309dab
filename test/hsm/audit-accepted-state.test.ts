// Issue 34: a start with -acceptstate takes a state that does not match its record, and the acceptance must be in
// the audit log. A real anyad (embedded keystore) makes a key and is stopped; one record of its hsm sublevel is
// deleted with LevelDB directly (as a lost write would leave it). A plain start is refused; -acceptstate starts and
// hsm.audit shows one state_accepted entry naming the problem; plain restarts keep it at exactly one, and the log
// verifies.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Level } from 'level';
import { call, unixChannel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';

const OPTS = { embeddedKeystore: true };

interface Entry {
  seq: number;
  event: string;
  key: string | null;
  detail: Record<string, unknown>;
}

async function stop(d: RunningDaemon): Promise<void> {
  assert.equal(await d.kill('SIGTERM'), 0);
}

/** The state_accepted entries of a running anyad's audit log, and whether the log verifies. */
async function accepted(d: RunningDaemon): Promise<{ entries: Entry[]; ok: boolean }> {
  const ch = await unixChannel(d.socket);
  try {
    const all = await call<Entry[]>(ch, 'hsm.audit', { limit: 1000 });
    const verified = await call<{ ok: boolean }>(ch, 'hsm.verifyaudit');
    return { entries: all.filter((e) => e.event === 'state_accepted'), ok: verified.ok };
  } finally {
    ch.close();
  }
}

describe('HSM audit: a state accepted with -acceptstate is recorded (issue 34)', () => {
  let tmp: { path: string; remove: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('anya-accepted-');
  });
  after(async () => tmp?.remove());

  it('one state_accepted entry naming the problem, exactly once across restarts', async () => {
    const dir = join(tmp.path, 'd');
    let d = await startDaemon(dir, OPTS);
    const ch = await unixChannel(d.socket);
    const key = await call<{ id: string }>(ch, 'hsm.generatekey', { label: 'to lose' });
    ch.close();
    assert.deepEqual((await accepted(d)).entries, [], 'nothing accepted yet');
    await stop(d);

    // The key's record goes missing from the hsm sublevel.
    const db = new Level<string, unknown>(join(dir, 'regtest', 'state'));
    await db.open();
    const hsm = db.sublevel('hsm');
    assert.notEqual(await hsm.get(`k:${key.id}`), undefined);
    await hsm.del(`k:${key.id}`);
    await db.close();

    // Refused without the flag (nothing recorded, nothing started).
    const refused = await startDaemon(dir, { ...OPTS, waitFor: 'nothing' });
    assert.equal(await refused.exited, 1);
    assert.match(refused.stderr(), /room 'hsm'/);

    d = await startDaemon(dir, { ...OPTS, args: ['-acceptstate'] });
    const first = await accepted(d);
    assert.equal(first.entries.length, 1, JSON.stringify(first.entries));
    const entry = first.entries[0]!;
    assert.equal(entry.key, null);
    assert.match(String(entry.detail.time), /^\d{4}-\d\d-\d\dT/);
    const problems = entry.detail.problems as string[];
    assert.ok(Array.isArray(problems) && problems.some((p) => /room 'hsm'.*1 missing/.test(p)), JSON.stringify(problems));
    assert.equal(typeof (entry.detail.counts as Record<string, number>).hsm, 'number');
    assert.equal(first.ok, true);
    await stop(d);

    // Plain restarts: the note is still in the state, its entry is not written again.
    for (let i = 0; i < 2; i++) {
      d = await startDaemon(dir, OPTS);
      const again = await accepted(d);
      assert.deepEqual(
        again.entries.map((e) => e.seq),
        [entry.seq],
      );
      assert.equal(again.ok, true);
      await stop(d);
    }
  });
});
