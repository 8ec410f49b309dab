// The RPC surface under clients nobody on the project wrote (issue 12): a WebSocket client that never reads its
// answers leaves anyad's memory bounded (reading stops, then the client is cut off); strangers without
// credentials have a small pool of their own and never take a slot from the Unix socket or authenticated clients;
// `echo ... | socat` style half-close gets every answer; auth must come first, one attempt at a time, and three
// failures close the connection.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { useDaemon } from '../helpers/daemon.js';
import { call, unixChannel, wsChannel } from '../helpers/channel.js';

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('RPC hardening', () => {
  const ctx = useDaemon({ args: ['-rpcmaxpending=1048576', '-rpcmaxunauthenticated=8', '-rpcratelimit=100000'] });

  it("a WebSocket client that never reads its answers: anyad's memory stays bounded", async () => {
    const token = await ctx.d.cookie();
    const ws = new WebSocket(ctx.d.wsUrl!, ['anya-rpc'], { headers: { authorization: `Bearer ${token}` } });
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    // Never read: the client's socket stops taking data, so every answer queues in anyad.
    (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const before = rssMb(ctx.d.pid);
    const until = Date.now() + 6000;
    let sent = 0;
    while (Date.now() < until && ws.readyState === ws.OPEN) {
      // rpc.discover answers the whole OpenRPC document (well over 100 kB) each time.
      for (let i = 0; i < 20; i++) ws.send(JSON.stringify({ jsonrpc: '2.0', id: sent++, method: 'rpc.discover' }));
      await sleep(20);
    }
    const grew = rssMb(ctx.d.pid) - before;
    assert.ok(grew < 80, `anyad grew ${grew.toFixed(1)} MB while a client left ${sent} answers unread`);
    ws.terminate();
    // And anyad still answers others.
    const ch = await unixChannel(ctx.d.socket);
    assert.equal(typeof (await call(ch, 'uptime')), 'number');
    ch.close();
  });

  it('64 connections without credentials never take the slots of the Unix socket or an authenticated client', async () => {
    const strangers: WebSocket[] = [];
    let refused = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        const s = new WebSocket(ctx.d.wsUrl!, ['anya-rpc']);
        s.on('error', () => undefined);
        const ok = await new Promise<boolean>((r) =>
          s
            .once('open', () => r(true))
            .once('unexpected-response', () => r(false))
            .once('error', () => r(false)),
        );
        if (ok) strangers.push(s);
        else refused++;
      }),
    );
    assert.equal(strangers.length, 8, 'the unauthenticated pool holds rpcmaxunauthenticated');
    assert.equal(refused, 56);
    const ch = await unixChannel(ctx.d.socket);
    const answers = await Promise.all(Array.from({ length: 29 }, () => ch.call('getinfo')));
    assert.ok(
      answers.every((a) => a.result),
      'every admin call over the Unix socket answered',
    );
    const authed = await wsChannel(ctx.d.wsUrl!, await ctx.d.cookie());
    assert.equal(typeof (await call(authed, 'uptime')), 'number', 'an authenticated WebSocket still gets in');
    authed.close();
    ch.close();
    for (const s of strangers) s.terminate();
  });

  it('half-close (echo ... | socat): every request sent before the FIN is answered', async () => {
    const sock = connect(ctx.d.socket);
    await new Promise((r) => sock.once('connect', r));
    let text = '';
    sock.setEncoding('utf8').on('data', (c: string) => (text += c));
    const closed = new Promise((r) => sock.once('close', r));
    const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ jsonrpc: '2.0', id: i, method: 'test.sleep', params: { ms: 50 + i * 10 } }));
    // The last one has no newline, as `printf` would send it.
    sock.end(lines.join('\n'));
    await closed;
    const ids = text
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: number }).id)
      .sort((a, b) => a - b);
    assert.deepEqual(
      ids,
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it('auth: one attempt at a time, slower after each failure, closed after three; and it must come first', async () => {
    const ws = await wsChannel(ctx.d.wsUrl!, undefined);
    const [a, b] = await Promise.all([ws.call('auth', { token: 'x:1' }), ws.call('auth', { token: 'x:2' })]);
    assert.deepEqual([a.error?.code, b.error?.code], [-32001, -32001]);
    assert.ok(
      [a, b].some((r) => /one auth call at a time/.test(r.error!.message)),
      'the pipelined guess was not even checked',
    );
    const t = Date.now();
    assert.equal((await ws.call('auth', { token: 'x:3' })).error?.code, -32001);
    assert.ok(Date.now() - t >= 450, 'the second failure waits longer');
    assert.equal((await ws.call('auth', { token: 'x:4' })).error?.code, -32001);
    await ws.closed;
    const line = await ctx.d.waitForLog((l) => l.msg === 'closing a connection after repeated failed authentication');
    assert.match(String(line.peer), /127\.0\.0\.1/);
    // A call before auth ends the connection: the right token afterwards is too late.
    const w2 = await wsChannel(ctx.d.wsUrl!, undefined);
    assert.equal((await w2.call('uptime')).error?.code, -32001);
    await w2.closed;
  });
});
