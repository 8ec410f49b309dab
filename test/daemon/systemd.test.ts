// The systemd side: the unit file passes `systemd-analyze verify` and keeps its offline security exposure at or
// below 2.0, and anyad speaks the notify protocol (READY, STATUS, WATCHDOG, STOPPING) on a real datagram socket.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, startDaemon, tempDir } from '../helpers/daemon.js';

const UNIT = join(ROOT, 'systemd/anyad.service');
const hasSystemdAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' }).status === 0;
if (!hasSystemdAnalyze) console.log('# systemd-analyze is not installed: the unit checks are skipped (npm test installs it through apt as root)');

describe('systemd unit', { skip: hasSystemdAnalyze ? false : 'systemd-analyze not installed' }, () => {
  it('systemd-analyze verify passes', () => {
    const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warnings');
  });

  it('offline security exposure is at most 2.0', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', UNIT], { encoding: 'utf8' });
    const m = /Overall exposure level for anyad\.service: (\d+\.\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    console.log(`# anyad.service exposure: ${m[1]}`);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}`);
  });

  it('is Type=notify, has no MemoryDenyWriteExecute (V8 JIT), and restarts on failure', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(UNIT, 'utf8');
    assert.match(text, /^Type=notify$/m);
    assert.doesNotMatch(text, /^MemoryDenyWriteExecute/m);
    assert.match(text, /^Restart=on-failure$/m);
    assert.match(text, /^TimeoutStopSec=/m);
  });
});

describe('sd_notify protocol', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());

  it('sends STATUS while starting, READY=1 when serving, WATCHDOG=1, and STOPPING=1', async () => {
    const require = createRequire(import.meta.url);
    const dgram = require('unix-dgram') as { createSocket(t: 'unix_dgram', cb: (buf: Buffer) => void): { bind(p: string): void; close(): void } };
    const messages: string[] = [];
    let wake: (() => void) | undefined;
    const sock = dgram.createSocket('unix_dgram', (buf) => {
      messages.push(buf.toString());
      wake?.();
    });
    const path = join(dir.path, 'notify.sock');
    sock.bind(path);
    const until = async (pred: () => boolean): Promise<void> => {
      while (!pred()) await new Promise<void>((r) => (wake = r));
    };
    try {
      const d = await startDaemon(join(dir.path, 'dd'), { env: { NOTIFY_SOCKET: path, WATCHDOG_USEC: '1000000' } });
      await until(() => messages.some((m) => m.startsWith('READY=1')));
      const ready = messages.find((m) => m.startsWith('READY=1'))!;
      assert.match(ready, new RegExp(`MAINPID=${d.pid}`));
      assert.match(ready, /STATUS=serving on .*anya\.sock ws:\/\/127\.0\.0\.1:\d+/);
      assert.ok(messages.indexOf(ready) > messages.findIndex((m) => m === 'STATUS=opening test'), 'status during start-up came first');
      await until(() => messages.includes('WATCHDOG=1'));
      await d.kill();
      await until(() => messages.some((m) => m.startsWith('STOPPING=1')));
      assert.match(
        messages.find((m) => m.startsWith('STOPPING=1'))!,
        /STATUS=SIGTERM/,
      );
    } finally {
      sock.close();
    }
  });
});
