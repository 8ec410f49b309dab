// Audit entries name the real caller (issue 35): an hsm.sign over the Unix socket is recorded with its connection
// ("unix#7 hsm.sign"), one over the WebSocket with the rpcauth user and its address ("alice@127.0.0.1:5123 hsm.sign"),
// not with the bare transport name; the start's own entries keep naming the passphrase file.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeRpcAuth } from '../../src/rpc/auth.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, unixChannel, wsChannel, type Channel } from '../helpers/channel.js';

interface Entry {
  seq: number;
  event: string;
  key: string | null;
  detail: { caller?: string; digest?: string };
}

describe('audit entries name the caller', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let d: RunningDaemon;
  let ch: Channel;
  let key = '';
  before(async () => {
    dir = await tempDir();
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'a passphrase for the callers\n', { mode: 0o600 });
    const args = [
      '-hsm.provider=software',
      '-hsm.kdfcost=12',
      `-hsm.passphrasefile=${pf}`,
      '-nobitcoind.enable',
      `-rpcauth=${makeRpcAuth('alice', 'a-pass', 'admin')}`,
    ];
    d = await startDaemon(join(dir.path, 'anya'), { args });
    ch = await unixChannel(d.socket);
    key = (await call<{ id: string }>(ch, 'hsm.generatekey', { label: 'callers' })).id;
  });
  after(async () => {
    ch?.close();
    await d?.kill();
    await dir.remove();
  });

  const entryOf = async (digest: string): Promise<Entry> => {
    const all = await call<Entry[]>(ch, 'hsm.audit', { from: 1, limit: 1000 });
    const e = all.find((x) => x.event === 'sign' && x.detail.digest === digest);
    assert.ok(e, `a sign entry for ${digest}`);
    return e;
  };

  it('an hsm.sign over the Unix socket names its connection', async () => {
    const digest = randomBytes(32).toString('hex');
    await call(ch, 'hsm.sign', { key, digest });
    assert.match((await entryOf(digest)).detail.caller ?? '', /^unix#\d+ hsm\.sign$/);
  });

  it('an hsm.sign over the WebSocket names the rpcauth user and its address', async () => {
    const ws = await wsChannel(d.wsUrl!, 'alice:a-pass');
    try {
      const digest = randomBytes(32).toString('hex');
      await call(ws, 'hsm.sign', { key, digest });
      assert.match((await entryOf(digest)).detail.caller ?? '', /^alice@127\.0\.0\.1:\d+ hsm\.sign$/);
    } finally {
      ws.close();
    }
  });

  it('hsm.lock and hsm.unlock name the connection; the start names the passphrase file', async () => {
    await call(ch, 'hsm.lock');
    await call(ch, 'hsm.unlock', { passphrase: 'a passphrase for the callers', timeout: 0 });
    const all = await call<Entry[]>(ch, 'hsm.audit', { from: 1, limit: 1000 });
    assert.equal(all.find((e) => e.event === 'unlock')?.detail.caller, 'startup (hsm.passphrasefile)');
    assert.match(all.findLast((e) => e.event === 'lock')?.detail.caller ?? '', /^unix#\d+ hsm\.lock$/);
    assert.match(all.findLast((e) => e.event === 'unlock')?.detail.caller ?? '', /^unix#\d+ hsm\.unlock$/);
  });
});
