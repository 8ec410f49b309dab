// anya-cli against a running anyad: positional, -named and -stdin params, output and error formats, exit codes,
// -rpcwait through start-up, -getinfo, the WebSocket with the cookie, subscribe streaming, and stop.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ANYA_CLI, runCli, startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';

describe('anya-cli', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let d: RunningDaemon;
  let base: string[];
  before(async () => {
    dir = await tempDir();
    d = await startDaemon(join(dir.path, 'main'));
    base = ['-regtest', `-datadir=${d.datadir}`];
  });
  after(async () => {
    await d.kill();
    await dir.remove();
  });

  it('positional params are read as JSON when they parse, results printed as JSON or raw strings', async () => {
    const r = await runCli([...base, 'subtract', '42', '23']);
    assert.deepEqual([r.code, r.stdout], [0, '19\n']);
    const h = await runCli([...base, 'help', 'uptime']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^uptime\n\nSeconds since anyad started\./);
    const g = await runCli([...base, 'get_data']);
    assert.deepEqual(JSON.parse(g.stdout), ['hello', 5]);
  });

  it('-named key=value params', async () => {
    const r = await runCli([...base, '-named', 'subtract', 'subtrahend=2', 'minuend=5']);
    assert.deepEqual([r.code, r.stdout], [0, '3\n']);
    const bad = await runCli([...base, '-named', 'subtract', 'five']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /-named argument 'five' is not key=value/);
  });

  it('-stdin reads more params, one per line', async () => {
    const r = await runCli([...base, '-stdin', 'subtract'], { stdin: '10\n4\n' });
    assert.deepEqual([r.code, r.stdout], [0, '6\n']);
  });

  it('an RPC error is printed as bitcoin-cli does, exit 1', async () => {
    const r = await runCli([...base, 'nosuch']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error code: -32601\nerror message:\nMethod not found: nosuch\n');
    const p = await runCli([...base, 'subtract', '"a"']);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /^error code: -32602\n/);
  });

  it('bad usage exits 2', async () => {
    for (const args of [
      [...base],
      [...base, '-bogus', 'uptime'],
      [...base, '-rpcwaittimeout=x', 'uptime'],
      ['-regtest', `-datadir=${d.datadir}`, '-rpcport=x', 'uptime'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^error: /);
    }
  });

  it('no daemon: exit 3 with the socket named', async () => {
    const r = await runCli(['-regtest', `-datadir=${join(dir.path, 'nothing-here')}`, 'uptime']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /error: Could not connect to the server .*nothing-here\/regtest\/anya\.sock/);
  });

  it('-getinfo prints a summary for people', async () => {
    const r = await runCli([...base, '-getinfo']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^anyad \d+\.\d+\.\d+ on regtest\nUptime: /);
    assert.match(r.stdout, /\n {2}test\s+ok\s+open\n/);
  });

  it('over the WebSocket with the cookie, or refused with a clear message', async () => {
    const r = await runCli([...base, `-rpcconnect=${d.wsUrl}`, 'uptime']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^\d+\n$/);
    const bad = await runCli([...base, `-rpcconnect=${d.wsUrl}`, '-rpcuser=x', '-rpcpassword=y', 'uptime']);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /Authorization failed/);
  });

  it('subscribe streams events as JSON lines until Ctrl-C, then exits 0', async () => {
    const p = spawn(process.execPath, [ANYA_CLI, ...base, 'subscribe', 'test.tick'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    // The CLI prints nothing until it is subscribed and an event comes; emit until one arrives.
    for (let i = 0; !out.includes('\n'); i++) {
      assert.ok(i < 500, 'no event reached the CLI');
      await runCli([...base, 'test.emit', '1']);
    }
    const first = JSON.parse(out.split('\n')[0]!) as { topic: string; data: { n: number } };
    assert.equal(first.topic, 'test.tick');
    assert.equal(first.data.n, 0);
    p.kill('SIGINT');
    const code = await new Promise((r) => p.once('exit', r));
    assert.equal(code, 0);
  });

  it('subscribe ends cleanly (exit 0) when the daemon stops; an option bitcoin-cli does not have is refused', async () => {
    const dd = join(dir.path, 'stopping');
    const late = await startDaemon(dd);
    const args = ['-regtest', `-datadir=${dd}`];
    const p = spawn(process.execPath, [ANYA_CLI, ...args, 'subscribe', 'test.tick'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errText = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (errText += c));
    for (let i = 0; !out.includes('\n'); i++) {
      assert.ok(i < 500, 'no event reached the CLI');
      await runCli([...args, 'test.emit', '1']);
    }
    const exited = new Promise((r) => p.once('exit', r));
    await runCli([...args, 'stop']);
    const code = await exited;
    assert.equal(code, 0, errText);
    assert.match(errText, /anyad is stopping/);
    assert.equal(await late.exited, 0);
    const r = await runCli([...base, '-rpcauthmethod=x', 'uptime']);
    assert.equal(r.code, 2, 'a usage error');
    assert.match(r.stderr, /unknown option -rpcauthmethod/);
  });

  it('-rpcwait waits through a daemon that is not up yet and then warming up', async () => {
    const dd = join(dir.path, 'late');
    const cli = runCli(['-regtest', `-datadir=${dd}`, '-rpcwait', '-rpcwaittimeout=60', 'getinfo'], { timeoutMs: 60000 });
    const late = await startDaemon(dd, { args: ['-test.opendelay=1500'], waitFor: 'serving' });
    const r = await cli;
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { network: string }).network, 'regtest');
    assert.ok(
      late.logs.some((l) => l.msg === 'anyad ready'),
      'getinfo answered only after warm-up',
    );
    const timeout = await runCli(['-regtest', `-datadir=${join(dir.path, 'never')}`, '-rpcwait', '-rpcwaittimeout=1', 'uptime']);
    assert.equal(timeout.code, 3);
    const stop = await runCli(['-regtest', `-datadir=${dd}`, 'stop']);
    assert.deepEqual([stop.code, stop.stdout], [0, 'anyad stopping\n']);
    assert.equal(await late.exited, 0);
  });
});
