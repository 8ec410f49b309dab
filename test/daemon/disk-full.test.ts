// A full disk is a clear error that breaks nothing (issue 34): anyad's data directory on a small tmpfs (root only;
// skipped with a printed reason otherwise), 20 keys and 10 audited signatures, then the disk filled. Every refused
// write answers StorageFailure naming the data directory, `health` is degraded, reads go on, writes resume once
// space is freed (no restart), and after a restart — also after a kill -9 while the disk was full — every
// acknowledged key, signature and audit entry is there and hsm.verifyaudit is ok.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, unixChannel, type Channel } from '../helpers/channel.js';

const digest = (s: string): string => createHash('sha256').update(s).digest('hex');

function canMount(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: a tmpfs cannot be mounted';
  return undefined;
}

/** Writes a filler file until the disk refuses (ENOSPC). */
async function fill(path: string): Promise<void> {
  const fh = await open(path, 'w');
  const chunk = Buffer.alloc(256 * 1024, 1);
  try {
    for (;;) await fh.write(chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    await fh.close().catch(() => undefined);
  }
  // the last pages too
  const small = await open(`${path}.2`, 'w');
  try {
    for (;;) await small.write(Buffer.alloc(512, 1));
  } catch {
    // full
  } finally {
    await small.close().catch(() => undefined);
  }
}

async function healthOf(ch: Channel): Promise<{ status: string; services: Record<string, { state: string; detail: string }> }> {
  return call(ch, 'health');
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const skip = canMount();
if (skip) process.stdout.write(`# disk-full tests skipped: ${skip}\n`);

describe('a full disk', { skip }, () => {
  let tmp: { path: string; remove: () => Promise<void> };
  let mnt = '';
  let d: RunningDaemon | undefined;
  const keys: string[] = [];
  const signed: Array<{ key: string; digest: string; signature: string }> = [];

  before(async () => {
    tmp = await tempDir('anya-full-');
    mnt = join(tmp.path, 'small');
    await mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt]);
  });
  after(async () => {
    await d?.kill('SIGKILL');
    try {
      execFileSync('umount', [mnt]);
    } catch {
      // not mounted
    }
    await tmp?.remove();
  });

  it('refuses writes with StorageFailure naming the disk, stays readable, resumes when space is back', async () => {
    const datadir = join(mnt, 'anya');
    d = await startDaemon(datadir, { embeddedKeystore: true, args: ['-minfreespace=1'] });
    const ch = await unixChannel(d.socket);
    for (let i = 0; i < 20; i++) keys.push((await call<{ id: string }>(ch, 'hsm.generatekey', { label: `k${i}` })).id);
    for (let i = 0; i < 10; i++) {
      const dg = digest(`m${i}`);
      signed.push({ key: keys[i]!, digest: dg, ...(await call<{ signature: string }>(ch, 'hsm.sign', { key: keys[i], digest: dg })) });
    }
    assert.equal((await healthOf(ch)).services.state?.state, 'ok');

    await fill(join(mnt, 'filler'));
    // The last partly used pages of LevelDB's log may still take a few small writes; the first refusal comes soon.
    type Refusal = { code: number; message: string; data?: { datadir: string | null; free_bytes: number | null; reason: string } };
    let refused: Refusal | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const dg = digest(`full${i}`);
      const r = await ch.call('hsm.sign', { key: keys[i % 20], digest: dg });
      if (r.error) refused = r.error as unknown as Refusal;
      else signed.push({ key: keys[i % 20]!, digest: dg, signature: (r.result as { signature: string }).signature });
    }
    assert.ok(refused, 'a write was refused');
    assert.equal(refused.code, -32018, JSON.stringify(refused));
    assert.match(refused.message, new RegExp(`cannot write the state in ${d.netdir.replace(/[/.]/g, '\\$&')}`));
    assert.equal(refused.data?.datadir, d.netdir);
    assert.match(refused.data?.reason ?? '', /No space left on device|ENOSPC/);
    // Every write now says the same, whatever room asks: a key, a signature.
    for (const r of [await ch.call('hsm.generatekey', { label: 'more' }), await ch.call('hsm.sign', { key: keys[0], digest: digest('x') })]) {
      assert.equal(r.error?.code, -32018, JSON.stringify(r));
      assert.match(r.error!.message, /No space left on device|ENOSPC|cannot write the state/);
    }
    const h = await healthOf(ch);
    assert.equal(h.status, 'degraded');
    assert.equal(h.services.state?.state, 'degraded');
    assert.match(h.services.state!.detail, new RegExp(d.netdir.replace(/[/.]/g, '\\$&')));
    // Reads keep working.
    assert.equal((await call<unknown[]>(ch, 'hsm.listkeys')).length, 20);

    // Space back: writes resume by themselves, health ok again, no restart.
    await rm(join(mnt, 'filler'));
    await rm(join(mnt, 'filler.2'));
    await until('health ok after freeing space', async () => ((await healthOf(ch)).services.state?.state === 'ok' ? true : undefined));
    keys.push((await call<{ id: string }>(ch, 'hsm.generatekey', { label: 'after' })).id);
    const dg = digest('after');
    signed.push({ key: keys[0]!, digest: dg, ...(await call<{ signature: string }>(ch, 'hsm.sign', { key: keys[0], digest: dg })) });
    assert.equal((await call<{ ok: boolean }>(ch, 'hsm.verifyaudit')).ok, true);
    ch.close();
    assert.equal(await d.kill('SIGTERM'), 0);

    // After a restart everything acknowledged is there and the audit log verifies.
    d = await startDaemon(datadir, { embeddedKeystore: true, args: ['-minfreespace=1'] });
    const ch2 = await unixChannel(d.socket);
    const listed = await call<Array<{ id: string }>>(ch2, 'hsm.listkeys');
    for (const k of keys)
      assert.ok(
        listed.some((x) => x.id === k),
        `key ${k} kept`,
      );
    const audit = await call<{ ok: boolean; entries: number; problems?: unknown }>(ch2, 'hsm.verifyaudit');
    assert.equal(audit.ok, true, JSON.stringify(audit));
    const log = await call<Array<{ event: string; detail?: { digest?: string } }>>(ch2, 'hsm.audit', { limit: 1000 });
    for (const s of signed)
      assert.ok(
        log.some((e) => e.event === 'sign' && e.detail?.digest === s.digest),
        `audit entry for ${s.digest}`,
      );
    ch2.close();
  });

  it('loses nothing acknowledged to a kill -9 while the disk is full', async () => {
    const datadir = join(mnt, 'anya');
    const ch = await unixChannel(d!.socket);
    const acked: string[] = [];
    await fill(join(mnt, 'filler'));
    let refusedCode: number | undefined;
    for (let i = 0; i < 200 && refusedCode === undefined; i++) {
      const r = await ch.call('hsm.generatekey', { label: `late${i}` });
      if (r.error) refusedCode = r.error.code;
      else acked.push((r.result as { id: string }).id);
    }
    assert.equal(refusedCode, -32018);
    ch.close();
    await d!.kill('SIGKILL');
    await rm(join(mnt, 'filler'));
    await rm(join(mnt, 'filler.2'));
    d = await startDaemon(datadir, { embeddedKeystore: true, args: ['-minfreespace=1'] });
    const ch2 = await unixChannel(d.socket);
    const listed = await call<Array<{ id: string }>>(ch2, 'hsm.listkeys');
    for (const k of [...keys, ...acked])
      assert.ok(
        listed.some((x) => x.id === k),
        `acknowledged key ${k} kept`,
      );
    assert.equal((await call<{ ok: boolean }>(ch2, 'hsm.verifyaudit')).ok, true);
    ch2.close();
    assert.equal(await d.kill('SIGTERM'), 0);
    d = undefined;
  });
});
