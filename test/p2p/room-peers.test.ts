// The p2p room between real anyads (issue 28): two daemons with software keystores over the Unix socket. A
// peer.connects to B: both peer.list show each other by node key, a subscriber sees peer.connected; B restarts and
// A reconnects by itself (persistent); peer.disconnect ends it and forgets; a stranger holding many silent TCP
// connections does not keep a real peer out (pending pool); a wrong node key fails the handshake with a clear error;
// bad params are refused. A third daemon shows the node key waiting for a locked keystore, and that it is the
// seed's m/1017'/1'/6'/0/0.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HDKey } from '@scure/bip32';
import { mnemonicToSeedSync } from '@scure/bip39';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, nextEvent, unixChannel, wsChannel, type Channel } from '../helpers/channel.js';
import { until } from '../helpers/until.js';
import { BASE, freePort } from './daemons.js';
import { rawPeer } from './raw-peer.js';

interface Info {
  pubkey: string | null;
  listening: { host: string; port: number } | null;
  peers: number;
  pending_handshakes: number;
  health: { state: string; detail: string };
}
interface Peer {
  pubkey: string;
  address: string;
  direction: string | null;
  connected: boolean;
  persistent: boolean;
}

async function refusedWith(ch: Channel, method: string, params: unknown, code: number, message: RegExp): Promise<void> {
  const r = await ch.call(method, params);
  assert.ok(r.error, `${method} ${JSON.stringify(params)} should be refused`);
  assert.equal(r.error.code, code, r.error.message);
  assert.match(r.error.message, message);
}

describe('p2p room: two anyads', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let a: RunningDaemon;
  let b: RunningDaemon;
  let ca: Channel;
  let cb: Channel;
  let events: Channel;
  let bArgs: string[];
  let ia: Info;
  let ib: Info;

  before(async () => {
    dir = await tempDir();
    const pass = join(dir.path, 'pass');
    await writeFile(pass, 'a passphrase for tests\n', { mode: 0o600 });
    bArgs = [...BASE, `-hsm.passphrasefile=${pass}`, `-p2p.peerport=${await freePort()}`];
    [a, b] = await Promise.all([
      startDaemon(join(dir.path, 'a'), { args: [...BASE, `-hsm.passphrasefile=${pass}`, '-p2p.maxpending=4'] }),
      startDaemon(join(dir.path, 'b'), { args: bArgs }),
    ]);
    [ca, cb] = await Promise.all([unixChannel(a.socket), unixChannel(b.socket)]);
    events = await wsChannel(a.wsUrl!, await a.cookie());
    await call(events, 'subscribe', { topics: ['peer.*'] });
    ia = await until('A listening with its node key', async () => {
      const i = await call<Info>(ca, 'peer.getinfo');
      return i.listening && i.pubkey ? i : undefined;
    });
    ib = await until('B listening with its node key', async () => {
      const i = await call<Info>(cb, 'peer.getinfo');
      return i.listening && i.pubkey ? i : undefined;
    });
  });
  after(async () => {
    for (const c of [ca, cb, events]) c?.close();
    await Promise.all([a?.kill(), b?.kill()]);
    await dir?.remove();
  });

  it('peer.getinfo: each node its own key, listening on loopback', () => {
    assert.match(ia.pubkey!, /^0[23][0-9a-f]{64}$/);
    assert.match(ib.pubkey!, /^0[23][0-9a-f]{64}$/);
    assert.notEqual(ia.pubkey, ib.pubkey);
    assert.equal(ia.listening!.host, '127.0.0.1');
    assert.equal(ia.health.state, 'ok');
  });

  it('getinfo shows the node key under rooms.p2p', async () => {
    const g = await call<{ rooms: Record<string, { node_id: string; listening: { port: number } }> }>(ca, 'getinfo');
    assert.equal(g.rooms.p2p!.node_id, ia.pubkey);
    assert.equal(g.rooms.p2p!.listening.port, ia.listening!.port);
  });

  it('bad params are refused by name', async () => {
    const port = ib.listening!.port;
    await refusedWith(ca, 'peer.connect', { address: `${ib.pubkey}127.0.0.1:${port}` }, -32602, /no '@'/);
    await refusedWith(ca, 'peer.connect', { address: `02abc@127.0.0.1:${port}` }, -32602, /not a node key: expected 66 hex/);
    await refusedWith(ca, 'peer.connect', { address: `${ib.pubkey}@127.0.0.1:70000` }, -32602, /port 70000 is out of range/);
    await refusedWith(ca, 'peer.connect', { address: `${ib.pubkey}@127.0.0.1` }, -32602, /not <host>:<port>/);
    await refusedWith(ca, 'peer.connect', { address: `${ib.pubkey}@bad_host!:${port}` }, -32602, /not an IP address or host name/);
    await refusedWith(ca, 'peer.connect', { address: `02${'f'.repeat(64)}@127.0.0.1:${port}` }, -32602, /not a point of secp256k1/);
    await refusedWith(ca, 'peer.connect', { address: `${ia.pubkey}@127.0.0.1:${port}` }, -32602, /this node's own key/);
    await refusedWith(ca, 'peer.connect', { address: `${ib.pubkey}@127.0.0.1:${port}`, extra: 1 }, -32602, /.+/);
    await refusedWith(ca, 'peer.disconnect', { pubkey: 'zz' }, -32602, /.+/);
    await refusedWith(ca, 'peer.disconnect', { pubkey: ib.pubkey }, -32011, /neither connected nor marked persistent/);
  });

  it('a wrong node key fails the handshake with a clear error, and nothing is marked', async () => {
    const wrong = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');
    await refusedWith(ca, 'peer.connect', { address: `${wrong}@127.0.0.1:${ib.listening!.port}` }, -32016, /handshake .* failed/);
    assert.deepEqual(await call<Peer[]>(ca, 'peer.list'), []);
    await refusedWith(ca, 'peer.connect', { address: `${ib.pubkey}@127.0.0.1:1` }, -32010, /cannot reach 127\.0\.0\.1:1/);
  });

  it('A connects to B: both list each other, a subscriber sees peer.connected', async () => {
    const p = await call<Peer>(ca, 'peer.connect', { address: `${ib.pubkey}@127.0.0.1:${ib.listening!.port}` });
    assert.equal(p.pubkey, ib.pubkey);
    assert.equal(p.connected, true);
    assert.equal(p.persistent, true);
    assert.equal(p.direction, 'outbound');
    const e = await nextEvent(events, 'peer.connected', (d) => d.pubkey === ib.pubkey);
    assert.equal(e.direction, 'outbound');
    const onB = await until("A in B's peer.list", async () => (await call<Peer[]>(cb, 'peer.list')).find((x) => x.pubkey === ia.pubkey && x.connected));
    assert.equal(onB.direction, 'inbound');
    assert.equal(onB.persistent, false);
    const onA = await call<Peer[]>(ca, 'peer.list');
    assert.deepEqual(
      onA.map((x) => [x.pubkey, x.connected]),
      [[ib.pubkey, true]],
    );
    // Connecting again only marks it: still one connection.
    await call<Peer>(ca, 'peer.connect', { address: `${ib.pubkey}@127.0.0.1:${ib.listening!.port}` });
    assert.equal((await call<Info>(ca, 'peer.getinfo')).peers, 1);
  });

  it('B restarts: A sees it go and reconnects by itself (persistent)', async () => {
    cb.close();
    await b.kill();
    const gone = await nextEvent(events, 'peer.disconnected', (d) => d.pubkey === ib.pubkey);
    assert.ok(typeof gone.reason === 'string' && gone.reason.length > 0);
    const listed = (await call<Peer[]>(ca, 'peer.list')).find((x) => x.pubkey === ib.pubkey);
    assert.equal(listed?.connected, false);
    assert.equal(listed?.persistent, true);
    b = await startDaemon(b.datadir, { args: bArgs });
    cb = await unixChannel(b.socket);
    await nextEvent(events, 'peer.connected', (d) => d.pubkey === ib.pubkey, 30_000);
    const onB = await until("A in B's peer.list", async () => (await call<Peer[]>(cb, 'peer.list')).find((x) => x.pubkey === ia.pubkey && x.connected));
    assert.equal(onB.connected, true);
    assert.equal((await call<Info>(cb, 'peer.getinfo')).pubkey, ib.pubkey, 'the same node key after a restart (from the seed)');
  });

  it('peer.disconnect ends the connection and forgets the peer (no reconnect)', async () => {
    const r = await call<{ was_connected: boolean; was_persistent: boolean }>(ca, 'peer.disconnect', { pubkey: ib.pubkey });
    assert.deepEqual(r, { pubkey: ib.pubkey, was_connected: true, was_persistent: true });
    const e = await nextEvent(events, 'peer.disconnected', (d) => d.pubkey === ib.pubkey);
    assert.equal(e.reason, 'peer.disconnect');
    await until("A gone from B's peer.list", async () => ((await call<Peer[]>(cb, 'peer.list')).length === 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await call<Peer[]>(ca, 'peer.list'), [], 'not reconnected');
  });

  it('a stranger holding many silent connections does not keep a real peer out', async () => {
    const strangers: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const s = connect({ host: '127.0.0.1', port: ia.listening!.port });
      s.on('error', () => undefined);
      strangers.push(s);
    }
    await Promise.all(strangers.map((s) => new Promise((r) => (s.readyState === 'open' ? r(undefined) : s.once('connect', r)))));
    await until('the pending pool full', async () => ((await call<Info>(ca, 'peer.getinfo')).pending_handshakes === 4 ? true : undefined));
    const p = await call<Peer>(cb, 'peer.connect', { address: `${ia.pubkey}@127.0.0.1:${ia.listening!.port}` });
    assert.equal(p.connected, true);
    assert.ok(a.logs.some((l) => /pending handshakes full/.test(l.msg)));
    for (const s of strangers) s.destroy();
    await call(cb, 'peer.disconnect', { pubkey: ia.pubkey });
  });

  it('a peer that breaks the odd/even rule is disconnected with the reason logged; an unknown odd type is ignored', async () => {
    const { t, closed } = await rawPeer(ia.pubkey!, ia.listening!.port);
    await t.send(32769, Buffer.from('odd: ignored'));
    const pong = new Promise((r) => t.on('message', (type: number) => type === 19 && r(type)));
    await t.send(18, Buffer.from([0, 4, 0, 0]));
    assert.equal(await pong, 19, 'still connected after the odd type: the ping is answered');
    await t.send(32768, Buffer.from('even: must be understood'));
    await closed;
    await a.waitForLog((l) => l.msg === 'peer disconnected' && /unknown even message type 32768/.test(String(l.reason)));
  });

  it('a stranger that sends garbage instead of act one is dropped, with the reason logged', async () => {
    const s = connect({ host: '127.0.0.1', port: ia.listening!.port });
    s.on('error', () => undefined);
    s.write(Buffer.alloc(50, 7));
    await new Promise((r) => s.once('close', r));
    await a.waitForLog((l) => l.msg === 'inbound connection refused: handshake or init failed');
  });
});

describe('p2p room: the node key and a locked keystore', () => {
  it("waits for the keystore, then has the key m/1017'/1'/6'/0/0 of its seed", async () => {
    const dir = await tempDir();
    try {
      const d = await startDaemon(join(dir.path, 'c'), { args: BASE });
      const ch = await unixChannel(d.socket);
      const before = await call<Info>(ch, 'peer.getinfo');
      assert.equal(before.pubkey, null);
      assert.equal(before.listening, null);
      assert.equal(before.health.state, 'degraded');
      assert.match(before.health.detail, /waiting for the HSM's node key: .*locked/);
      const health = await call<{ services: Record<string, { state: string; detail: string }> }>(ch, 'health');
      assert.match(health.services.p2p!.detail, /locked/);
      await refusedWith(
        ch,
        'peer.connect',
        { address: `${Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex')}@127.0.0.1:9` },
        -32010,
        /no node key yet/,
      );
      const mnemonic = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about';
      await call(ch, 'hsm.restorekeystore', { mnemonic, passphrase: 'a passphrase for tests' });
      const after = await until('the node key after the restore', async () => {
        const i = await call<Info>(ch, 'peer.getinfo');
        return i.pubkey && i.listening ? i : undefined;
      });
      const expected = HDKey.fromMasterSeed(mnemonicToSeedSync(mnemonic)).derive("m/1017'/1'/6'/0/0").publicKey!;
      assert.equal(after.pubkey, Buffer.from(expected).toString('hex'));
      assert.equal(after.health.state, 'ok');
      ch.close();
      await d.kill();
      assert.ok(!JSON.stringify(d.logs).includes('a passphrase for tests'));
    } finally {
      await dir.remove();
    }
  });
});
