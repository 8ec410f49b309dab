// anyad as a real process: signals (SIGTERM with requests in flight, SIGHUP), the datadir lock, stale and live
// sockets, files removed at stop, backup then -restore, and secrets kept out of the log.

import assert from 'node:assert/strict';
import { lstat, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { unixChannel, wsChannel } from '../helpers/channel.js';

const exists = (p: string): Promise<boolean> =>
  lstat(p).then(
    () => true,
    () => false,
  );

describe('anyad process', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());
  let n = 0;
  const datadir = (): string => join(dir.path, `d${++n}`);

  it('SIGTERM with requests in flight: every one is answered, subscribers told, files removed, exit 0', async () => {
    const d = await startDaemon(datadir());
    const unix = await unixChannel(d.socket);
    const ws = await wsChannel(d.wsUrl!, await d.cookie());
    await ws.call('subscribe', { topics: ['daemon.stopping'] });
    const calls = [
      ...Array.from({ length: 5 }, (_, i) => unix.call('test.sleep', { ms: 300 + i * 20 })),
      ...Array.from({ length: 5 }, (_, i) => ws.call('test.sleep', [300 + i * 20])),
    ];
    // Requests on one connection are dispatched in arrival order: once these answer, the sleeps are running.
    await Promise.all([unix.call('uptime'), ws.call('uptime')]);
    process.kill(d.pid, 'SIGTERM');
    const answers = await Promise.all(calls);
    answers.forEach((a, i) => assert.equal(a.result, 300 + (i % 5) * 20, `call ${i}: ${JSON.stringify(a)}`));
    const stopping = (await ws.next()) as { method: string; params: { topic: string; data: { reason: string } } };
    assert.equal(stopping.params.topic, 'daemon.stopping');
    assert.equal(await d.exited, 0);
    assert.equal(await exists(d.socket), false, 'socket removed');
    assert.equal(await exists(join(d.netdir, '.cookie')), false, 'cookie removed');
    assert.ok(d.logs.some((l) => l.msg === 'anyad stopped'));
  });

  it('SIGINT stops cleanly too', async () => {
    const d = await startDaemon(datadir());
    assert.equal(await d.kill('SIGINT'), 0);
  });

  it('a second anyad on the same datadir exits at once with a clear message; the first is untouched', async () => {
    const dd = datadir();
    const first = await startDaemon(dd);
    const second = await startDaemon(dd, { waitFor: 'nothing' });
    assert.equal(await second.exited, 1);
    assert.match(second.stderr(), /Error: cannot obtain a lock on .*regtest\/state: another anyad is probably using this data directory/);
    const ch = await unixChannel(first.socket);
    assert.equal(typeof (await ch.call('uptime')).result, 'number');
    ch.close();
    assert.equal(await first.kill(), 0);
  });

  it('a stale socket left by a crash is replaced; a live one is never stolen; a non-socket is refused', async () => {
    const dd = datadir();
    const crashed = await startDaemon(dd);
    assert.equal(await crashed.kill('SIGKILL'), 'SIGKILL');
    assert.equal((await lstat(crashed.socket)).isSocket(), true, 'the crash left its socket behind');
    const again = await startDaemon(dd);
    const ch = await unixChannel(again.socket);
    assert.equal(typeof (await ch.call('uptime')).result, 'number');
    ch.close();

    const thief = await startDaemon(datadir(), { args: [`-rpcsocket=${again.socket}`], waitFor: 'nothing' });
    assert.equal(await thief.exited, 1);
    assert.match(thief.stderr(), /another process is already listening on .*anya\.sock/);
    const ch2 = await unixChannel(again.socket);
    assert.equal(typeof (await ch2.call('uptime')).result, 'number', 'the live daemon still answers');
    ch2.close();
    await again.kill();

    const plain = join(dir.path, 'not-a-socket');
    await writeFile(plain, 'x');
    const refused = await startDaemon(datadir(), { args: [`-rpcsocket=${plain}`], waitFor: 'nothing' });
    assert.equal(await refused.exited, 1);
    assert.match(refused.stderr(), /not-a-socket exists and is not a socket; refusing to replace it/);
    assert.equal(await readFile(plain, 'utf8'), 'x');
  });

  it('the socket is 0660, the state directory 0700', async () => {
    const d = await startDaemon(datadir());
    assert.equal((await stat(d.socket)).mode & 0o777, 0o660);
    assert.equal((await stat(join(d.netdir, 'state'))).mode & 0o777, 0o700);
    await d.kill();
  });

  it('SIGHUP reopens the log file (logrotate) and keeps serving', async () => {
    const d = await startDaemon(datadir(), { args: ['-logfile=anyad.log'] });
    const logfile = join(d.netdir, 'anyad.log');
    await rename(logfile, `${logfile}.1`);
    process.kill(d.pid, 'SIGHUP');
    await d.waitForLog((l) => l.msg === 'SIGHUP: log reopened, services reloading');
    const ch = await unixChannel(d.socket);
    assert.equal(typeof (await ch.call('uptime')).result, 'number');
    ch.close();
    await d.kill();
    const fresh = await readFile(logfile, 'utf8');
    assert.match(fresh, /SIGHUP: log reopened/);
    assert.match(fresh, /anyad stopped/);
    // Lines written around the rotation land in one file or the other, never lost or doubled.
    const both = (await readFile(`${logfile}.1`, 'utf8')) + fresh;
    for (const msg of ['anyad serving RPC', 'anyad ready', 'SIGHUP: log reopened', 'anyad stopped']) assert.equal(both.split(msg).length - 1, 1, msg);
  });

  it('backup over RPC, then -restore: the state comes back and the replaced state is kept', async () => {
    const dd = datadir();
    let d = await startDaemon(dd);
    let ch = await unixChannel(d.socket);
    for (let i = 0; i < 20; i++) assert.equal((await ch.call('test.put', { key: `k${i}`, value: i })).result, true);
    const b = (await ch.call('backup', ['state.backup'])).result as { path: string; entries: number; hmac: string };
    const file = join(d.netdir, 'backups', 'state.backup');
    assert.equal(b.path, file, 'written in backupdir');
    assert.ok(b.entries >= 20);
    assert.equal((await stat(join(d.netdir, 'backup.key'))).mode & 0o777, 0o600, 'the backup key is made 0600');
    assert.equal((await ch.call('backup', ['state.backup'])).error?.code, -32014, 'never overwrites');
    for (const outside of ['../escape.backup', join(dir.path, 'elsewhere.backup'), '/etc/cron.d/x', 'sub/dir.backup', '.hidden']) {
      const r = await ch.call('backup', [outside]);
      assert.equal(r.error?.code, -32602, outside);
      assert.match(r.error!.message, /must be a file name in backupdir/);
    }
    await ch.call('test.put', { key: 'k0', value: 999 });
    ch.close();
    await d.kill();

    d = await startDaemon(dd, { args: [`-restore=${file}`] });
    ch = await unixChannel(d.socket);
    assert.equal((await ch.call('test.get', ['k0'])).result, 0, 'value from the backup, not the later write');
    assert.equal((await ch.call('test.get', ['k19'])).result, 19);
    ch.close();
    await d.kill();
    const kept = (await readdir(d.netdir)).filter((f) => f.startsWith('state-before-restore-'));
    assert.equal(kept.length, 1, 'the replaced state was written aside');

    const bad = join(dir.path, 'bad.backup');
    await writeFile(bad, (await readFile(file, 'utf8')).replace(/"entries":\d+/, '"entries":1'));
    const refused = await startDaemon(dd, { args: [`-restore=${bad}`], waitFor: 'nothing' });
    assert.equal(await refused.exited, 1);
    assert.match(refused.stderr(), /-restore: .*bad\.backup: trailer says 1 entries/);
    // Without the backup key, nothing can be checked: refused, naming the key file.
    await rename(join(d.netdir, 'backup.key'), join(dir.path, 'backup.key.moved'));
    const nokey = await startDaemon(dd, { args: [`-restore=${file}`], waitFor: 'nothing' });
    assert.equal(await nokey.exited, 1);
    assert.match(nokey.stderr(), /the backup key .*backup\.key is missing/);
  });

  it('admin calls are logged with caller and method; no secret reaches the log', async () => {
    const d: RunningDaemon = await startDaemon(datadir());
    const cookie = await d.cookie();
    const ws = await wsChannel(d.wsUrl!, cookie);
    await ws.call('logging', { level: 'debug' });
    await ws.call('auth', { token: cookie });
    ws.close();
    await d.kill();
    const adminLine = d.logs.find((l) => l.msg === 'admin call' && l.method === 'logging');
    assert.ok(adminLine, 'admin call logged');
    assert.match(String(adminLine.caller), /^cookie@127\.0\.0\.1:\d+$/);
    const all = JSON.stringify(d.logs) + d.stderr();
    assert.ok(!all.includes(cookie.split(':')[1]!), 'the cookie secret is not in the log');
  });

  it('a required service failing to open ends the start with exit 1 and the reason', async () => {
    const d = await startDaemon(datadir(), { args: ['-test.failopen'], waitFor: 'nothing' });
    assert.equal(await d.exited, 1);
    assert.match(d.stderr(), /Error: service 'test' failed to open: test refused to open \(as configured\)/);
    assert.equal(await exists(join(d.netdir, 'anya.sock')), false, 'nothing left listening');
  });

  it('serves Prometheus metrics on -metricsport, the same counters as the metrics RPC', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const d = await startDaemon(datadir(), { args: [`-metricsport=${port}`] });
    const ch = await unixChannel(d.socket);
    await ch.call('uptime');
    await ch.call('nosuch');
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /anyad_rpc_calls_total\{method="uptime",transport="unix",outcome="ok"\} 1/);
    assert.match(text, /anyad_rpc_connections\{transport="unix"\} 1/);
    assert.match(text, /anyad_process_resident_memory_bytes/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    const json = (await ch.call('metrics')).result as Array<{ name: string }>;
    assert.ok(json.some((m) => m.name === 'anyad_rpc_call_seconds'));
    ch.close();
    await d.kill();
  });

  it('refuses to start when the WebSocket port is taken, with the reason', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const d = await startDaemon(datadir(), { args: [`-rpcport=${port}`], waitFor: 'nothing' });
    assert.equal(await d.exited, 1);
    assert.match(d.stderr(), /EADDRINUSE/);
    blocker.close();
  });
});
