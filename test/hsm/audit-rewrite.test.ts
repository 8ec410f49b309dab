// Issue 26 item 7: whoever can write anyad's LevelDB and its audit head file (anyad's own user) rewrites a suffix of
// the audit log with the MAC fields empty, recomputes the hash chain, the LevelDB head and the head file, and waits
// for anyad's next keyed entry; or cuts the tail and rewrites both heads to match. Done here to a stopped daemon's
// state (software keystore, whose key is in reach once unlocked), exactly as such a forger would; the daemon is then
// started, writes its next entry, and hsm.verifyaudit must answer ok:false naming the first forged entry (or the
// rewritten head file).

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Store, type RoomDb } from '../../src/store/store.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, unixChannel, type Channel } from '../helpers/channel.js';

type Verdict = { ok: boolean; entries: number; problem?: { seq: number; reason: string }; rollbacks: Array<{ from_seq: number; to_seq: number }> };
type Entry = {
  seq: number;
  time: string;
  event: string;
  key: string | null;
  detail: Record<string, unknown>;
  prev: string;
  hash: string;
  mac: string | null;
  from?: number;
};
const seqKey = (n: number): string => `a:${String(n).padStart(12, '0')}`;
/** The entry hash as anyad computes it (src/hsm/audit.ts), recomputed by the forger. */
const rehash = (e: Entry): string =>
  createHash('sha256')
    .update(JSON.stringify([e.seq, e.time, e.event, e.key, e.detail, e.prev]))
    .digest('hex');

describe('audit log against a forger who can write LevelDB and the head file', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let d: RunningDaemon;
  let ch: Channel;
  let args: string[];
  let key = '';
  before(async () => {
    dir = await tempDir();
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'a passphrase for the audit\n', { mode: 0o600 });
    args = ['-hsm.provider=software', '-hsm.kdfcost=12', `-hsm.passphrasefile=${pf}`, '-nobitcoind.enable'];
    d = await startDaemon(join(dir.path, 'anya'), { args });
    ch = await unixChannel(d.socket);
    key = (await call<{ id: string }>(ch, 'hsm.generatekey', { label: 'hot' })).id;
    for (let i = 0; i < 6; i++) await call(ch, 'hsm.sign', { key, digest: randomBytes(32).toString('hex') });
    assert.equal((await call<Verdict>(ch, 'hsm.verifyaudit')).ok, true);
    ch.close();
    await d.kill();
  });
  after(async () => {
    ch?.close();
    await d?.kill();
    await dir.remove();
  });

  /** Tampers with the stopped daemon's state, starts it, lets it write one keyed entry, and answers verifyaudit; then puts everything back. */
  async function afterTampering(f: (db: RoomDb, headFile: string) => Promise<void>): Promise<Verdict> {
    const state = join(d.netdir, 'state');
    const headFile = join(d.netdir, 'hsm-audit.head');
    const s = await Store.open(state);
    const db = s.db.sublevel<string, unknown>('hsm', { valueEncoding: 'json' }) as unknown as RoomDb;
    const snapshot: Array<[string, unknown]> = [];
    for await (const kv of db.iterator({ gte: 'a:', lt: 'a;' })) snapshot.push(kv);
    const head = await readFile(headFile);
    await f(db, headFile);
    await s.close();
    // The state was edited behind anyad's back (its counts and record no longer match): taken with -acceptstate, as an
    // operator would, to see what the audit log itself finds.
    d = await startDaemon(d.datadir, { args: [...args, '-acceptstate'] });
    ch = await unixChannel(d.socket);
    // anyad's next keyed entry: under the old rule it vouched for every unkeyed entry before it.
    await call(ch, 'hsm.sign', { key, digest: randomBytes(32).toString('hex') });
    const r = await call<Verdict>(ch, 'hsm.verifyaudit');
    ch.close();
    await d.kill();
    const s2 = await Store.open(state);
    const db2 = s2.db.sublevel<string, unknown>('hsm', { valueEncoding: 'json' });
    for await (const [k] of db2.iterator({ gte: 'a:', lt: 'a;' })) await db2.del(k);
    for (const [k, v] of snapshot) await db2.put(k, v);
    await s2.close();
    await writeFile(headFile, head);
    return r;
  }

  async function entries(db: RoomDb): Promise<Entry[]> {
    const all: Entry[] = [];
    for await (const [, v] of db.iterator({ gte: 'a:000000000000', lt: 'a:999999999999~' })) all.push(v as Entry);
    return all;
  }

  it('a suffix rewritten with empty MACs, chain and both heads recomputed: the first rewritten entry is named after anyad writes again', async () => {
    const v = await afterTampering(async (db, headFile) => {
      const all = await entries(db);
      const from = 4;
      let prev = all[from - 2]!.hash;
      for (const e of all.slice(from - 1)) {
        if (e.seq === from) e.detail = { ...e.detail, caller: 'someone else' };
        e.prev = prev;
        e.mac = null;
        delete e.from;
        e.hash = rehash(e);
        prev = e.hash;
        await db.put(seqKey(e.seq), e);
      }
      const last = all.at(-1)!;
      await db.put('a:head', { seq: last.seq, hash: prev });
      // The head file as the forger can make it: the new head, and the old file's MAC (the only one at hand).
      const old = JSON.parse(await readFile(headFile, 'utf8')) as { mac?: string };
      await writeFile(headFile, `${JSON.stringify({ seq: last.seq, hash: prev, mac: old.mac })}\n`);
    });
    assert.equal(v.ok, false);
    assert.equal(v.problem?.seq, 4);
    assert.match(v.problem!.reason, /entry 4 carries no MAC and no MAC of its commit covers it: the log was rewritten/);
  });

  it('the same rewrite with the head file removed: entry 4 is named too', async () => {
    const v = await afterTampering(async (db, headFile) => {
      const all = await entries(db);
      let prev = all[2]!.hash;
      for (const e of all.slice(3)) {
        e.prev = prev;
        e.mac = null;
        delete e.from;
        e.hash = rehash(e);
        prev = e.hash;
        await db.put(seqKey(e.seq), e);
      }
      await db.put('a:head', { seq: all.at(-1)!.seq, hash: prev });
      await writeFile(headFile, '');
    });
    assert.deepEqual([v.ok, v.problem?.seq], [false, 4]);
  });

  it('a cut tail with the LevelDB head and the head file rewritten to the new end: the forged head file is found and recorded', async () => {
    const v = await afterTampering(async (db, headFile) => {
      const all = await entries(db);
      const end = all.at(-3)!;
      for (const e of all.slice(-2)) await db.del(seqKey(e.seq));
      await db.put('a:head', { seq: end.seq, hash: end.hash });
      const old = JSON.parse(await readFile(headFile, 'utf8')) as { mac?: string };
      await writeFile(headFile, `${JSON.stringify({ seq: end.seq, hash: end.hash, mac: old.mac })}\n`);
    });
    assert.equal(v.ok, false);
    assert.equal(v.rollbacks.length, 1, 'recorded in the log at start');
    assert.match(v.problem!.reason, /rollback recorded at entry \d+: the head file \(entry \d+\) carries a MAC the provider's audit key did not make/);
  });

  it('the same cut with a head file in the older format (no MAC): found and recorded as well', async () => {
    const v = await afterTampering(async (db, headFile) => {
      const all = await entries(db);
      const end = all.at(-2)!;
      await db.del(seqKey(all.at(-1)!.seq));
      await db.put('a:head', { seq: end.seq, hash: end.hash });
      await writeFile(headFile, `${JSON.stringify({ seq: end.seq, hash: end.hash })}\n`);
    });
    assert.equal(v.ok, false);
    assert.match(v.problem!.reason, /rollback recorded at entry \d+: the head file \(entry \d+\) carries no MAC although the log's commits do/);
  });

  it('the state put back verifies again', async () => {
    d = await startDaemon(d.datadir, { args: [...args, '-acceptstate'] });
    ch = await unixChannel(d.socket);
    const v = await call<Verdict>(ch, 'hsm.verifyaudit');
    assert.equal(v.ok, true, JSON.stringify(v.problem));
    ch.close();
    await d.kill();
  });

  it('a keystore locked since start: what happens before the unlock (even across a restart) is journaled, then chained and verifies', async () => {
    const locked = ['-hsm.provider=software', '-hsm.kdfcost=12', '-nobitcoind.enable', '-hsm.policydelay=0', '-acceptstate'];
    d = await startDaemon(d.datadir, { args: locked });
    ch = await unixChannel(d.socket);
    const wrong = await ch.call('hsm.unlock', { passphrase: 'not the passphrase', timeout: 0 });
    assert.equal(wrong.error?.code, -32012);
    await call(ch, 'hsm.setpolicy', { subject: 'group:later', policy: { max_amount_sat: 1 } });
    ch.close();
    await d.kill();
    d = await startDaemon(d.datadir, { args: locked });
    ch = await unixChannel(d.socket);
    assert.equal((await ch.call('hsm.unlock', { passphrase: 'still not it', timeout: 0 })).error?.code, -32012);
    await call(ch, 'hsm.unlock', { passphrase: 'a passphrase for the audit', timeout: 0 });
    const v = await call<Verdict>(ch, 'hsm.verifyaudit');
    assert.equal(v.ok, true, JSON.stringify(v.problem));
    const log = await call<Entry[]>(ch, 'hsm.audit', { from: Math.max(1, v.entries - 5), limit: 10 });
    assert.deepEqual(
      log.slice(-4).map((e) => [e.event, e.detail.rule ?? e.detail.subject ?? null, e.detail.journaled ?? false]),
      [
        ['deny', 'unlock_failed', true],
        ['policy', 'group:later', true],
        ['deny', 'unlock_failed', true],
        ['unlock', null, false],
      ],
    );
  });
});
