// WebSocket authentication (none, bad, cookie, rpcauth roles, browser subprotocol, auth call), the Origin
// allowlist, the non-loopback bind rule, and every configured limit answered with a clear JSON-RPC error.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AnyaClient } from '../../src/client/index.js';
import { makeRpcAuth } from '../../src/rpc/auth.js';
import { openWs, startDaemon, tempDir, unixExchange, type RunningDaemon } from '../helpers/daemon.js';
import { unixChannel, wsChannel } from '../helpers/channel.js';

const READER = makeRpcAuth('reader', 'r-pass', 'readonly');
const WRITER = makeRpcAuth('writer', 'w-pass', 'user');
const WRITER2 = makeRpcAuth('other', 'o-pass', 'user');

describe('WebSocket auth', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let d: RunningDaemon;
  before(async () => {
    dir = await tempDir();
    d = await startDaemon(dir.path, { args: [`-rpcauth=${READER}`, `-rpcauth=${WRITER}`, `-rpcauth=${WRITER2}`, '-rpcallowedorigin=http://localhost:3000'] });
  });
  after(async () => {
    await d.kill();
    await dir.remove();
  });

  it('40 concurrent chain.watch of one address from two apps: one watch, both owners, none lost', async () => {
    const conns = await Promise.all(Array.from({ length: 40 }, (_, i) => wsChannel(d.wsUrl!, i % 2 ? 'writer:w-pass' : 'other:o-pass')));
    const script = `0014${'11'.repeat(20)}`;
    const answers = await Promise.all(conns.map((c) => c.call('chain.watch', { script })));
    assert.deepEqual(
      answers.filter((a) => a.error),
      [],
      'every call answered',
    );
    const ids = new Set(answers.map((a) => (a.result as { id: string }).id));
    assert.equal(ids.size, 1, 'one watch');
    const admin = await unixChannel(d.socket);
    const list = (await admin.call('chain.listwatches')).result as Array<{ id: string; owners: string[] }>;
    assert.deepEqual(list.find((w) => ids.has(w.id))?.owners.sort(), ['other', 'writer']);
    assert.equal((await admin.call('chain.unwatch', [[...ids][0]])).result, true);
    for (const c of conns) c.close();
    admin.close();
  });

  it('watches have owners: another app cannot remove one; a shared watch stays until its last owner (or an admin) removes it', async () => {
    const a = await wsChannel(d.wsUrl!, 'writer:w-pass');
    const b = await wsChannel(d.wsUrl!, 'other:o-pass');
    const address = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080';
    const w = (await a.call('chain.watch', { address })).result as { id: string; owners: string[] };
    assert.deepEqual(w.owners, ['writer']);
    const refused = await b.call('chain.unwatch', [w.id]);
    assert.equal(refused.error?.code, -32002, 'not its watch');
    const shared = (await b.call('chain.watch', { address })).result as { id: string; owners: string[] };
    assert.equal(shared.id, w.id);
    assert.deepEqual(shared.owners, ['writer', 'other']);
    assert.equal((await a.call('chain.unwatch', [w.id])).result, true);
    const still = (await b.call('chain.listwatches')).result as Array<{ id: string; owners: string[] }>;
    assert.deepEqual(still.find((x) => x.id === w.id)?.owners, ['other'], 'kept for the other owner');
    const admin = await unixChannel(d.socket);
    assert.equal((await admin.call('chain.unwatch', [w.id])).result, true, 'an admin removes any watch');
    assert.equal(((await admin.call('chain.listwatches')).result as unknown[]).length, 0);
    a.close();
    b.close();
    admin.close();
  });

  it('the cookie file is 0600 and holds __cookie__:<64 hex>', async () => {
    const { stat } = await import('node:fs/promises');
    const st = await stat(`${d.netdir}/.cookie`);
    assert.equal(st.mode & 0o777, 0o600);
    assert.match(await d.cookie(), /^__cookie__:[0-9a-f]{64}$/);
  });

  it('no credentials: connected, but any call except auth is refused with -32001 and ends the connection', async () => {
    const ch = await wsChannel(d.wsUrl!, undefined);
    const r = await ch.call('uptime');
    assert.equal(r.error?.code, -32001);
    await ch.closed;
    const ch2 = await wsChannel(d.wsUrl!, undefined);
    const nf = await ch2.call('nosuchmethod');
    assert.equal(nf.error?.code, -32001, 'unauthenticated callers learn nothing about method names');
    await ch2.closed;
  });

  it('bad credentials are refused at the handshake with 401', async () => {
    await assert.rejects(openWs(d.wsUrl!, { token: '__cookie__:00' }), { status: 401 });
    await assert.rejects(openWs(d.wsUrl!, { token: 'reader:wrong' }), { status: 401 });
    await assert.rejects(openWs(d.wsUrl!, { token: 'nobody:x' }), { status: 401 });
    await assert.rejects(openWs(d.wsUrl!, { headers: { authorization: 'Digest abc' } }), { status: 401 });
  });

  it('a token in the URL is not accepted', async () => {
    const token = encodeURIComponent(await d.cookie());
    const ch = await wsChannel(`${d.wsUrl}?token=${token}`, undefined);
    assert.equal((await ch.call('uptime')).error?.code, -32001);
    ch.close();
  });

  it('Basic auth (bitcoin-cli habit) and Bearer work', async () => {
    const basic = `Basic ${Buffer.from('reader:r-pass').toString('base64')}`;
    const ch = await wsChannel(d.wsUrl!, undefined, { headers: { authorization: basic } });
    assert.equal(typeof (await ch.call('uptime')).result, 'number');
    ch.close();
  });

  it('roles: readonly may read but not call user or admin methods; admin (cookie) may', async () => {
    const ro = await wsChannel(d.wsUrl!, 'reader:r-pass');
    assert.equal(typeof (await ro.call('uptime')).result, 'number');
    const denied = await ro.call('test.useronly');
    assert.equal(denied.error?.code, -32002);
    assert.deepEqual(denied.error?.data, { required: 'user', role: 'readonly' });
    assert.equal((await ro.call('logging')).error?.code, -32002);
    ro.close();
    const user = await wsChannel(d.wsUrl!, 'writer:w-pass');
    assert.equal((await user.call('test.useronly')).result, true);
    assert.equal((await user.call('stop')).error?.code, -32002);
    user.close();
    const admin = await wsChannel(d.wsUrl!, await d.cookie());
    assert.deepEqual((await admin.call('logging')).result, { level: 'info' });
    admin.close();
  });

  it('browser path: token as a Sec-WebSocket-Protocol entry, echoing only anya-rpc', async () => {
    const tok = Buffer.from(await d.cookie()).toString('base64url');
    const ch = await wsChannel(d.wsUrl!, undefined, { protocols: ['anya-rpc', `anya-auth.${tok}`], headers: { origin: 'http://localhost:3000' } });
    assert.equal(ch.ws.protocol, 'anya-rpc');
    assert.equal(typeof (await ch.call('uptime')).result, 'number');
    ch.close();
    await assert.rejects(openWs(d.wsUrl!, { protocols: ['anya-rpc', `anya-auth.${Buffer.from('reader:bad').toString('base64url')}`] }), { status: 401 });
  });

  it('browser path: an auth call first', async () => {
    const ch = await wsChannel(d.wsUrl!, undefined, { headers: { origin: 'http://localhost:3000' } });
    const bad = await ch.call('auth', { token: 'reader:nope' });
    assert.equal(bad.error?.code, -32001);
    const ok = await ch.call('auth', { token: 'reader:r-pass' });
    assert.deepEqual(ok.result, { user: 'reader', role: 'readonly' });
    assert.equal(typeof (await ch.call('uptime')).result, 'number');
    ch.close();
  });

  it('an Origin that is not allowed is refused with 403, even with a valid token', async () => {
    await assert.rejects(openWs(d.wsUrl!, { token: await d.cookie(), headers: { origin: 'http://evil.example' } }), { status: 403 });
    await assert.rejects(openWs(d.wsUrl!, { headers: { origin: 'http://localhost:3001' } }), { status: 403 });
  });

  it('only path / is served', async () => {
    await assert.rejects(openWs(`${d.wsUrl}other`, { token: await d.cookie() }), { status: 404 });
  });
});

describe('bind safety', () => {
  it('a non-loopback rpcbind without TLS is refused unless rpcallowinsecure', async () => {
    const dir = await tempDir();
    try {
      const d = await startDaemon(dir.path, { args: ['-rpcbind=0.0.0.0'], waitFor: 'nothing' });
      assert.equal(await d.exited, 1);
      assert.match(d.stderr(), /rpcbind=0\.0\.0\.0 is not a loopback address: set rpctlscert and rpctlskey, or rpcallowinsecure=1/);
      const ok = await startDaemon(dir.path, { args: ['-rpcbind=0.0.0.0', '-rpcallowinsecure'] });
      assert.match(ok.wsUrl!, /^ws:\/\/0\.0\.0\.0:\d+\/$/);
      assert.equal(await ok.kill(), 0);
    } finally {
      await dir.remove();
    }
  });
});

describe('TLS', () => {
  it('with rpctlscert/rpctlskey the WebSocket is wss, allowed on a non-loopback bind; plain ws is refused', async () => {
    const dir = await tempDir();
    try {
      const key = join(dir.path, 'key.pem');
      const cert = join(dir.path, 'cert.pem');
      const r = spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      const d = await startDaemon(join(dir.path, 'a'), { args: ['-rpcbind=0.0.0.0', `-rpctlscert=${cert}`, `-rpctlskey=${key}`] });
      const port = /:(\d+)\/$/.exec(d.wsUrl!)![1];
      assert.match(d.wsUrl!, /^wss:\/\//);
      const c = await AnyaClient.connect({ url: `wss://127.0.0.1:${port}/`, token: await d.cookie(), wsOptions: { ca: await readFile(cert) } });
      assert.equal(typeof (await c.call('uptime')), 'number');
      const info = await c.call<{ endpoints: { ws: { tls: boolean } } }>('getinfo');
      assert.equal(info.endpoints.ws.tls, true);
      await c.close();
      await assert.rejects(AnyaClient.connect({ url: `ws://127.0.0.1:${port}/`, token: await d.cookie() }));
      await assert.rejects(
        AnyaClient.connect({ url: `wss://127.0.0.1:${port}/`, token: await d.cookie() }),
        /self-signed|SELF_SIGNED|unable to verify/i,
        'an unknown certificate is not trusted',
      );
      await d.kill();
      const half = await startDaemon(join(dir.path, 'b'), { args: [`-rpctlscert=${cert}`], waitFor: 'nothing' });
      assert.equal(await half.exited, 1);
      assert.match(half.stderr(), /rpctlscert and rpctlskey must be set together/);
    } finally {
      await dir.remove();
    }
  });
});

describe('limits', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let d: RunningDaemon;
  before(async () => {
    dir = await tempDir();
    d = await startDaemon(dir.path, { args: ['-rpcmaxmessagesize=2048', '-rpcmaxbatch=3', '-rpcratelimit=20', '-rpcmaxconnections=4'] });
  });
  after(async () => {
    await d.kill();
    await dir.remove();
  });

  const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'help', params: ['x'.repeat(3000)] });

  it('max message size on the Unix socket: a clear error, then the connection closes', async () => {
    const answers = (await unixExchange(d.socket, big, 1)) as Array<{ error: { code: number; message: string } }>;
    assert.equal(answers[0]!.error.code, -32005);
    assert.match(answers[0]!.error.message, /rpcmaxmessagesize=2048/);
  });

  it('max message size on the WebSocket: a clear error, the connection stays usable', async () => {
    const ch = await wsChannel(d.wsUrl!, await d.cookie());
    ch.send(big);
    const r = (await ch.next()) as { error: { code: number } };
    assert.equal(r.error.code, -32005);
    assert.equal(typeof (await ch.call('uptime')).result, 'number');
    ch.close();
  });

  it('max batch size', async () => {
    const batch = JSON.stringify([1, 2, 3, 4].map((i) => ({ jsonrpc: '2.0', id: i, method: 'uptime' })));
    const [r] = (await unixExchange(d.socket, batch, 1)) as Array<{ error: { code: number; message: string; data: unknown } }>;
    assert.equal(r!.error.code, -32004);
    assert.deepEqual(r!.error.data, { limit: 3 });
  });

  it('per-connection rate limit, with a retry hint, and other connections unaffected', async () => {
    const ch = await unixChannel(d.socket);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => ch.call('uptime', undefined, i)));
    const limited = results.filter((r) => r.error?.code === -32003);
    assert.ok(limited.length >= 15, `expected most of 40 instant calls over a 20/s limit refused, got ${limited.length}`);
    assert.ok((limited[0]!.error!.data as { retry_after_ms: number }).retry_after_ms > 0);
    const other = await unixChannel(d.socket);
    assert.equal(typeof (await other.call('uptime')).result, 'number');
    ch.close();
    other.close();
  });

  it('max connections: the next one is told why, on both transports', async () => {
    // Earlier tests' connections may still be closing on the daemon's side: wait until this is the only one.
    const first = await unixChannel(d.socket);
    for (let i = 0; ; i++) {
      const info = (await first.call('getinfo')).result as { connections: number };
      if (info.connections === 1) break;
      assert.ok(i < 200, 'earlier connections never closed');
      await new Promise((r) => setTimeout(r, 10));
    }
    const open = [first, ...(await Promise.all([1, 2, 3].map(() => unixChannel(d.socket))))];
    for (const c of open) assert.equal(typeof (await c.call('uptime')).result, 'number');
    const [r] = (await unixExchange(d.socket, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'uptime' }), 1)) as Array<{ error: { code: number } }>;
    assert.equal(r!.error.code, -32007);
    await assert.rejects(openWs(d.wsUrl!, { token: await d.cookie() }), { status: 503 });
    for (const c of open) c.close();
    await Promise.all(open.map((c) => c.closed));
    // Slots come back once the daemon has seen the connections close (which it learns a moment after us).
    for (let i = 0; ; i++) {
      const [a] = (await unixExchange(d.socket, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'uptime' }), 1)) as Array<{
        result?: number;
        error?: { code: number };
      }>;
      if (typeof a!.result === 'number') break;
      assert.equal(a!.error!.code, -32007);
      assert.ok(i < 200, 'connection slots never came back');
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});
