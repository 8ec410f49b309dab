// Issue 34: the HSM room when a LevelDB write fails (a full disk, an I/O error). The room is made through its entry
// (hsmRoom.create) over a real LevelDB and a real keystore; the store it is given is the real store wrapped by this
// test so that its batch throws ENOSPC while `fault` is set (the way a full disk fails LevelDB's synced write). A
// refused hsm.generatekey / hsm.sign answers that very error (for the store layer to mark), the audit head file is
// never ahead of the log, the chain continues when space is back and after a restart, and the keystore file, which
// runs ahead of LevelDB by a key index, is reconciled at the restart (the index registered disabled).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig, type Config } from '../../src/daemon/config.js';
import { optionGroups } from '../../src/daemon/options.js';
import { hsmRoom } from '../../src/hsm/room.js';
import type { HsmApi } from '../../src/hsm/api.js';
import type { HsmService } from '../../src/hsm/service.js';
import { SoftwareProvider } from '../../src/hsm/software.js';
import { EventBus } from '../../src/core/events.js';
import { Store, type BatchOp } from '../../src/store/store.js';
import { ROOT, startDaemon, tempDir } from '../helpers/daemon.js';
import { call, unixChannel } from '../helpers/channel.js';

describe('HSM room when LevelDB writes fail (disk full)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let config: Config;
  before(async () => {
    dir = await tempDir();
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'a passphrase for a full disk\n', { mode: 0o600 });
    config = loadConfig({
      argv: ['-regtest', `-datadir=${dir.path}`, '-hsm.provider=software', '-hsm.kdfcost=12', `-hsm.passphrasefile=${pf}`],
      groups: optionGroups([hsmRoom]),
    });
    await mkdir(config.netdir, { recursive: true });
  });
  after(async () => dir.remove());

  const fault: { err: Error | undefined } = { err: undefined };
  const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });

  /** The room over the real store, whose batch the test can make fail. */
  async function openRoom(): Promise<{ store: Store; service: HsmService; api: HsmApi }> {
    const store = await Store.open(join(config.netdir, 'state'));
    const failing = {
      room: (name: string) => store.room(name),
      notes: () => store.notes(),
      batch: async (ops: BatchOp[], opts?: { sync?: boolean }) => {
        if (fault.err) throw fault.err;
        return store.batch(ops, opts);
      },
    };
    const parts = await hsmRoom.create({
      config,
      log: pino({ level: 'silent' }),
      store: failing as unknown as Store,
      bus: new EventBus(),
      metrics: new Registry(),
      version: 'test',
      use: () => undefined,
      packageDir: ROOT,
    });
    const service = parts.service as HsmService;
    await service.open();
    return { store, service, api: parts.api as HsmApi };
  }

  const headFile = (): Promise<{ seq: number }> => readFile(join(config.netdir, 'hsm-audit.head'), 'utf8').then((t) => JSON.parse(t) as { seq: number });

  it('refusals carry the store error itself; the head file never leads; the chain continues now and after a restart', async () => {
    let { store, service, api } = await openRoom();
    const k = await api.generateKey('funding', null);
    for (let i = 0; i < 3; i++) await api.signDigest(k.id, randomBytes(32), 'test');
    const before = service.audit.count();
    // The disk is full.
    const err = enospc();
    fault.err = err;
    const refused = await Promise.allSettled([
      api.signDigest(k.id, randomBytes(32), 'test'),
      api.signDigest(k.id, randomBytes(32), 'test'),
      api.generateKey('during', null),
    ]);
    for (const r of refused) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason, err, 'the original error, for the store layer to mark (not an internal error)');
    }
    assert.equal(service.audit.count(), before, 'no sequence number ran ahead of the durable log');
    await service.close(); // (the head file's writes settled)
    assert.ok((await headFile()).seq <= before, 'the head file is not ahead of the log');
    assert.deepEqual(
      (await readdir(config.netdir)).filter((f) => f.includes('.tmp')),
      [],
      'no temp file left beside the keystore or the head',
    );
    // 'Restart' with the disk still full, then with space back.
    await store.close();
    fault.err = undefined;
    ({ store, service, api } = await openRoom());
    const v = await service.audit.verify();
    assert.equal(v.ok, true, JSON.stringify(v.problem));
    assert.deepEqual(v.rollbacks, []);
    // The keystore file had consumed the index of the refused key (it runs ahead by design): found and disabled.
    const keys = await service.keys();
    assert.deepEqual(
      keys.map((x) => [x.label, x.state]),
      [
        ['funding', 'active'],
        ['orphan', 'disabled'],
      ],
    );
    const sig = await api.signDigest(k.id, randomBytes(32), 'test');
    assert.ok(sig.length > 60);
    const page = await service.audit.page(1, 1000);
    assert.deepEqual(
      page.map((e) => e.seq),
      Array.from({ length: page.length }, (_, i) => i + 1),
      'one chain, no gap',
    );
    assert.equal((await service.audit.verify()).ok, true);
    await service.close();
    assert.equal((await headFile()).seq, service.audit.count());
    await store.close();
  });
});

/** A small tmpfs a test can fill (root only; ENVIRONMENT.md), or why not. */
function mountSmallDisk(at: string, size = '1m'): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`;
  }
}

describe('keystore file on a disk that fills up (real ENOSPC on a 1 MB tmpfs)', () => {
  it('a key added on a full disk: the error as it is, the old keystore whole, no temp file, nothing ahead in memory', async (t) => {
    const dir = await tempDir();
    const disk = join(dir.path, 'disk');
    await mkdir(disk);
    const why = mountSmallDisk(disk);
    if (why) {
      t.skip(why);
      await dir.remove();
      return;
    }
    try {
      const file = join(disk, 'keystore.json');
      const p = new SoftwareProvider({ file, logN: 10 });
      await p.create('a passphrase for a full disk');
      await p.generateKey('a', 'secp256k1');
      await p.generateKey('b', 'secp256k1');
      const whole = await readFile(file);
      await writeFile(join(disk, 'filler'), Buffer.alloc(2 * 1024 * 1024)).catch((err: NodeJS.ErrnoException) => assert.equal(err.code, 'ENOSPC'));
      await assert.rejects(p.generateKey('c', 'secp256k1'), (err: NodeJS.ErrnoException) => err.code === 'ENOSPC');
      assert.deepEqual(await readFile(file), whole, 'the keystore is the one before the failed write');
      assert.deepEqual((await readdir(disk)).sort(), ['filler', 'keystore.json'], 'no temp file left');
      assert.equal((await p.listKeys()).length, 2, 'the next index did not move in memory');
      await rm(join(disk, 'filler'));
      assert.equal((await p.generateKey('c', 'secp256k1')).handle, '2');
      const again = new SoftwareProvider({ file, logN: 10 });
      await again.unlock('a passphrase for a full disk', 0);
      assert.equal((await again.listKeys()).length, 3);
      await again.close();
      await p.close();
    } finally {
      execFileSync('umount', [disk]);
      await dir.remove();
    }
  });
});

describe('anyad on a disk that fills up (issue 34 as reported; real ENOSPC on a 24 MB tmpfs)', () => {
  it('signatures refused while the disk is full; after space is back and a restart the audit log verifies and goes on', async (t) => {
    const dir = await tempDir();
    const disk = join(dir.path, 'disk');
    await mkdir(disk);
    const why = mountSmallDisk(disk, '24m');
    if (why) {
      t.skip(why);
      await dir.remove();
      return;
    }
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'a passphrase for a full disk\n', { mode: 0o600 });
    const args = ['-hsm.provider=software', '-hsm.kdfcost=12', `-hsm.passphrasefile=${pf}`, '-nobitcoind.enable', '-noml.enable'];
    let d = await startDaemon(join(disk, 'anya'), { args });
    try {
      let ch = await unixChannel(d.socket);
      const keys: string[] = [];
      for (let i = 0; i < 5; i++) keys.push((await call<{ id: string }>(ch, 'hsm.generatekey', { label: `k${i}` })).id);
      await writeFile(join(disk, 'filler'), Buffer.alloc(64 * 1024 * 1024)).catch((err: NodeJS.ErrnoException) => assert.equal(err.code, 'ENOSPC'));
      // Sign until a synced batch no longer fits (the log's last page may still hold a few).
      let refusal: { code: number; message: string } | undefined;
      for (let i = 0; i < 2000 && !refusal; i++) {
        const a = await ch.call('hsm.sign', { key: keys[i % keys.length], digest: randomBytes(32).toString('hex') });
        if (a.error) refusal = a.error;
      }
      assert.ok(refusal, 'a signature was refused on the full disk');
      const refusedGen = await ch.call('hsm.generatekey', { label: 'on a full disk' });
      assert.ok(refusedGen.error, 'a key generation was refused on the full disk');
      ch.close();
      await d.kill();
      await rm(join(disk, 'filler'));
      d = await startDaemon(join(disk, 'anya'), { args });
      ch = await unixChannel(d.socket);
      const v = await call<{ ok: boolean; problem?: unknown; rollbacks: unknown[] }>(ch, 'hsm.verifyaudit');
      assert.equal(v.ok, true, JSON.stringify(v.problem));
      assert.deepEqual(v.rollbacks, []);
      await call(ch, 'hsm.sign', { key: keys[0], digest: randomBytes(32).toString('hex') });
      assert.equal((await call<{ ok: boolean }>(ch, 'hsm.verifyaudit')).ok, true, 'the chain goes on');
      ch.close();
    } finally {
      await d.kill();
      execFileSync('umount', [disk]);
      await dir.remove();
    }
  });
});
