// The state store on a real LevelDB: sublevels per room, migrations, refusing newer state, the lock, atomic
// batches surviving SIGKILL, and backup/restore with damaged files refused.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackupError, readBackup, restoreInto, writeBackup } from '../../src/store/backup.js';
import { Store, StoreError, StoreLockedError, type Migration } from '../../src/store/store.js';
import { ROOT, tempDir } from '../helpers/daemon.js';

/** A backup key as backupkeyfile holds one. */
const KEY = randomBytes(32);

describe('store', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());
  let n = 0;
  const loc = (): string => join(dir.path, `db${++n}`);

  it('gives each room its own sublevel; keys do not collide', async () => {
    const s = await Store.open(loc());
    const a = await s.room('alpha');
    const b = await s.room('beta');
    await s.batch([
      { type: 'put', sublevel: a, key: 'k', value: 1 },
      { type: 'put', sublevel: b, key: 'k', value: 2 },
    ]);
    assert.equal(await a.get('k'), 1);
    assert.equal(await b.get('k'), 2);
    await assert.rejects(s.room('alpha'), /opened twice/);
    await s.close();
  });

  it('runs migrations forward once, in order, and records the version', async () => {
    const where = loc();
    const ran: number[] = [];
    const migrations: Migration[] = [
      { version: 1, description: 'seed', up: async (db) => (ran.push(1), [{ type: 'put', sublevel: db, key: 'v', value: 'one' }]) },
      {
        version: 2,
        description: 'rename',
        up: async (db) => (
          ran.push(2),
          [
            { type: 'del', sublevel: db, key: 'v' },
            { type: 'put', sublevel: db, key: 'value', value: `${await db.get('v')}!` },
          ]
        ),
      },
    ];
    let s = await Store.open(where);
    let db = await s.room('alpha', migrations);
    assert.equal(await db.get('value'), 'one!');
    assert.deepEqual(await s.versions(), { store: 1, alpha: 2 });
    await s.close();
    s = await Store.open(where);
    db = await s.room('alpha', migrations);
    assert.deepEqual(ran, [1, 2], 'migrations do not run twice');
    await s.close();
    // an older build (knowing only v1) refuses state written by the newer one
    s = await Store.open(where);
    await assert.rejects(
      s.room('alpha', migrations.slice(0, 1)),
      (e: unknown) => e instanceof StoreError && /schema version 2 .* knows only up to 1: it was written by a newer anyad/.test(e.message),
    );
    await s.close();
  });

  it('a second open of the same database is refused with a clear lock error', async () => {
    const where = loc();
    const s = await Store.open(where);
    await assert.rejects(
      Store.open(where),
      (e: unknown) => e instanceof StoreLockedError && /another anyad is probably using this data directory/.test(e.message),
    );
    await s.close();
  });

  it('SIGKILL during a stream of acknowledged writes: nothing acknowledged is lost, the database opens', async () => {
    const where = loc();
    const child = spawn(process.execPath, [join(ROOT, 'dist/test/fixtures/store-writer.js'), where], { stdio: ['ignore', 'pipe', 'inherit'] });
    let acked = -1;
    let buf = '';
    await new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        buf += c;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) acked = Number(l);
        if (acked >= 300 && child.exitCode === null && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    const s = await Store.open(where);
    const db = await s.room('crash');
    const last = (await db.get('last')) as number;
    assert.ok(last >= acked, `last written ${last} must be at least the last acknowledged ${acked}`);
    for (let i = 0; i <= acked; i++) {
      const v = (await db.get(`k${String(i).padStart(8, '0')}`)) as { i: number } | undefined;
      assert.equal(v?.i, i, `acknowledged write ${i} is missing`);
    }
    // the batch is atomic: `last` never points past a key that is not there
    assert.ok(await db.get(`k${String(last).padStart(8, '0')}`));
    await s.close();
  });

  it('backup writes a consistent 0600 snapshot; restore replaces the state and keeps the old one', async () => {
    const src = await Store.open(loc());
    const a = await src.room('alpha');
    await src.batch(Array.from({ length: 1000 }, (_, i) => ({ type: 'put' as const, sublevel: a, key: `k${i}`, value: { i } })));
    const file = join(dir.path, 'snap.backup');
    // writes that land while the backup runs are not in it (one snapshot), and the backup is still whole
    const [summary] = await Promise.all([
      writeBackup(src, file, { network: 'regtest', version: 't', key: KEY }),
      src.batch([{ type: 'put', sublevel: a, key: 'late', value: 1 }]),
    ]);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.ok(summary.entries >= 1001, `entries ${summary.entries}`);
    await assert.rejects(writeBackup(src, file, { network: 'regtest', version: 't', key: KEY }), /already exists; anyad does not overwrite files/);
    await src.close();

    const dst = await Store.open(loc());
    const b = await dst.room('alpha');
    await dst.batch([{ type: 'put', sublevel: b, key: 'old', value: 'keep me' }]);
    const contents = await readBackup(file, 'regtest', KEY);
    const keep = join(dir.path, 'before-restore.backup');
    const r = await restoreInto(dst, contents, keep, { network: 'regtest', version: 't', key: KEY });
    assert.equal(r.entries, summary.entries);
    assert.equal(await b.get('k999').then((v) => (v as { i: number }).i), 999);
    assert.equal(await b.get('old'), undefined, 'restore replaces, it does not merge');
    const kept = await readBackup(keep, 'regtest', KEY);
    assert.ok(
      kept.entries.some(([k]) => k.toString().endsWith('old')),
      'the replaced state was saved first',
    );
    await dst.close();
  });

  it('refuses a backup that is truncated, edited, of another network, or not a backup', async () => {
    const s = await Store.open(loc());
    const a = await s.room('alpha');
    await s.batch([
      { type: 'put', sublevel: a, key: 'k', value: 'v' },
      { type: 'put', sublevel: a, key: 'j', value: 'w' },
    ]);
    const file = join(dir.path, `good${n}.backup`);
    await writeBackup(s, file, { network: 'regtest', version: 't', key: KEY });
    await s.close();
    const text = await readFile(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    const variants: Array<[string, string, RegExp]> = [
      ['truncated', lines.slice(0, -1).join('\n') + '\n', /no trailer; the backup is truncated/],
      ['entry removed', [lines[0], lines[2], lines[lines.length - 1]].join('\n') + '\n', /trailer says \d+ entries but the file holds \d+/],
      ['edited', text.replace(lines[1]!, JSON.stringify([Buffer.from('x').toString('base64'), Buffer.from('"y"').toString('base64')])), /HMAC mismatch/],
      [
        'edited, checksum recomputed without the key',
        (() => {
          const body =
            [lines[0], JSON.stringify([Buffer.from('x').toString('base64'), Buffer.from('"y"').toString('base64')]), ...lines.slice(2, -1)].join('\n') + '\n';
          const forged = createHash('sha256').update(body).digest('hex');
          return `${body}${JSON.stringify({ entries: lines.length - 2, files: 0, hmac: forged })}\n`;
        })(),
        /HMAC mismatch/,
      ],
      [
        'sha256 trailer of the old format',
        `${lines.slice(0, -1).join('\n')}\n${JSON.stringify({
          entries: lines.length - 2,
          sha256: createHash('sha256')
            .update(lines.slice(0, -1).join('\n') + '\n')
            .digest('hex'),
        })}\n`,
        /carries no HMAC/,
      ],
      ['cut mid-line', text.slice(0, text.length - 20), /not valid JSON|no trailer/],
      ['not a backup', 'hello\n', /not valid JSON/],
      ['empty', '', /empty file/],
    ];
    for (const [name, body, re] of variants) {
      const p = join(dir.path, `bad-${name.replace(/\W/g, '')}.backup`);
      await writeFile(p, body);
      await assert.rejects(readBackup(p, 'regtest', KEY), (e: unknown) => e instanceof BackupError && re.test(e.message), name);
    }
    await assert.rejects(readBackup(file, 'main', KEY), /backup is of network 'regtest', but anyad runs on 'main'/);
    await assert.rejects(readBackup(file, 'regtest', randomBytes(32)), /made with another backup key/);
  });
});
