// Durable delivery between two real anyads (issue 28 item 3), through peer.sendcustommsg / peer.custommsg (Core
// Lightning's sendcustommsg and custommsg hook) over the outbox: messages arrive in order exactly once; the receiver
// killed (SIGKILL) mid-stream and restarted still takes every message once (the event stream before the kill plus
// the durable inbox, peer.listcustommsgs); the sender killed after peer.sendcustommsg answered, before the peer could
// have it, delivers it after its restart; the outbox limit and the CLN rules (odd types only, none anyad speaks) are
// refusals that say why.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, unixChannel, wsChannel, type Channel } from '../helpers/channel.js';
import { until } from '../helpers/until.js';
import { BASE, freePort } from './daemons.js';

interface Peer {
  pubkey: string;
  connected: boolean;
  outbox_messages: number;
  outbox_bytes: number;
  sent_seq: number;
  taken_seq: number;
}
interface Msg {
  seq: number;
  pubkey: string;
  peer_seq: number;
  type: number;
  payload: string;
}

/** Collects peer.custommsg events on a channel, in the order they come. */
function collect(ch: Channel): Msg[] {
  const seen: Msg[] = [];
  let open = true;
  void ch.closed.then(() => (open = false));
  void (async () => {
    // Short waits: a pending long one would keep the test process alive after the channel closed.
    while (open) {
      const e = (await ch.next(250).catch(() => undefined)) as { method: string; params: { topic: string; data: Msg } } | undefined;
      if (e?.method === 'event' && e.params.topic === 'peer.custommsg') seen.push(e.params.data);
    }
  })();
  return seen;
}

async function inbox(ch: Channel): Promise<Msg[]> {
  const all: Msg[] = [];
  for (let since = 0; ;) {
    const r = await call<{ messages: Msg[] }>(ch, 'peer.listcustommsgs', { since, limit: 1000 });
    all.push(...r.messages);
    if (r.messages.length < 1000) return all;
    since = r.messages.at(-1)!.seq;
  }
}

const hexOf = (s: string): string => Buffer.from(s).toString('hex');

describe('p2p durable delivery: two anyads', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let a: RunningDaemon;
  let b: RunningDaemon;
  let ca: Channel;
  let cb: Channel;
  let evb: Channel;
  let aArgs: string[];
  let bArgs: string[];
  let pa: string;
  let pb: string;
  let seenB: Msg[];

  const startB = async (): Promise<void> => {
    b = await startDaemon(join(dir.path, 'b'), { args: bArgs });
    cb = await unixChannel(b.socket);
    evb = await wsChannel(b.wsUrl!, await b.cookie());
    await call(evb, 'subscribe', { topics: ['peer.custommsg'] });
    seenB = collect(evb);
  };
  const startA = async (): Promise<void> => {
    a = await startDaemon(join(dir.path, 'a'), { args: aArgs });
    ca = await unixChannel(a.socket);
  };
  const peerOn = async (ch: Channel, pubkey: string): Promise<Peer | undefined> => (await call<Peer[]>(ch, 'peer.list')).find((p) => p.pubkey === pubkey);
  const send = (payload: string, type = 32769): Promise<{ id: string; seq: number }> =>
    call(ca, 'peer.sendcustommsg', { pubkey: pb, type, payload: hexOf(payload) });

  before(async () => {
    dir = await tempDir();
    const pass = join(dir.path, 'pass');
    await writeFile(pass, 'a passphrase for tests\n', { mode: 0o600 });
    aArgs = [...BASE, `-hsm.passphrasefile=${pass}`, '-p2p.maxoutboxbytes=65536'];
    bArgs = [...BASE, `-hsm.passphrasefile=${pass}`, `-p2p.peerport=${await freePort()}`];
    await Promise.all([startA(), startB()]);
    pa = await until('A has its node key', async () => (await call<{ pubkey: string | null }>(ca, 'peer.getinfo')).pubkey ?? undefined);
    const ib = await until('B listening', async () => {
      const i = await call<{ pubkey: string | null; listening: { port: number } | null }>(cb, 'peer.getinfo');
      return i.pubkey && i.listening ? i : undefined;
    });
    pb = ib.pubkey!;
    await call(ca, 'peer.connect', { address: `${pb}@127.0.0.1:${ib.listening!.port}` });
  });
  after(async () => {
    for (const c of [ca, cb, evb]) c?.close();
    await Promise.all([a?.kill(), b?.kill()]);
    await dir?.remove();
  });

  it('messages arrive in order, each once; acknowledged ones leave the outbox', async () => {
    for (let i = 1; i <= 20; i++) assert.deepEqual(await send(`m${i}`), { id: `${pb}:${i}`, seq: i });
    await until('20 events on B', async () => (seenB.length >= 20 ? true : undefined));
    assert.deepEqual(
      seenB.map((m) => [m.pubkey, m.peer_seq, m.type, Buffer.from(m.payload, 'hex').toString()]),
      Array.from({ length: 20 }, (_, i) => [pa, i + 1, 32769, `m${i + 1}`]),
    );
    assert.deepEqual(
      seenB.map((m) => m.seq),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const onA = await until('the outbox empty', async () => {
      const p = await peerOn(ca, pb);
      return p?.outbox_messages === 0 ? p : undefined;
    });
    assert.deepEqual([onA.sent_seq, onA.outbox_bytes], [20, 0]);
    assert.equal((await peerOn(cb, pa))?.taken_seq, 20);
    assert.deepEqual(
      (await inbox(cb)).map((m) => m.peer_seq),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  it('the receiver killed (SIGKILL) mid-stream and restarted: every message is taken once', async () => {
    const N = 300;
    const sending = (async () => {
      for (let i = 21; i <= 20 + N; i++) await send(`k${i}`);
    })();
    await until('B taking the stream', async () => (seenB.some((m) => m.peer_seq >= 40) ? true : undefined));
    const before = [...seenB];
    evb.close();
    cb.close();
    await b.kill('SIGKILL');
    await sending;
    await startB();
    await until(`B took all ${20 + N}`, async () => ((await peerOn(cb, pa))?.taken_seq === 20 + N ? true : undefined), 2400);
    const listed = await inbox(cb);
    assert.deepEqual(
      listed.map((m) => m.peer_seq),
      Array.from({ length: 20 + N }, (_, i) => i + 1),
      'the durable inbox: each message once, in order',
    );
    assert.deepEqual(
      listed.map((m) => Buffer.from(m.payload, 'hex').toString()),
      Array.from({ length: 20 + N }, (_, i) => `${i < 20 ? 'm' : 'k'}${i + 1}`),
    );
    // Every event seen before the kill is the inbox entry of the same seq: nothing published that was not durable.
    for (const e of before) assert.deepEqual(listed[e.seq - 1], e);
    const all = [...before, ...seenB];
    assert.equal(new Set(all.map((m) => m.seq)).size, all.length, 'no event twice');
    await until('the outbox empty', async () => ((await peerOn(ca, pb))?.outbox_messages === 0 ? true : undefined));
  });

  it('the sender killed right after peer.sendcustommsg answered: the message arrives after its restart', async () => {
    cb.close();
    evb.close();
    await b.kill();
    const r = await send('after a crash');
    assert.equal(r.seq, 321);
    assert.equal((await peerOn(ca, pb))?.outbox_messages, 1);
    ca.close();
    await a.kill('SIGKILL');
    await startB();
    await startA();
    await until('the message on B', async () => (seenB.some((m) => m.peer_seq === 321) ? true : undefined), 2400);
    assert.deepEqual(
      seenB.map((m) => Buffer.from(m.payload, 'hex').toString()),
      ['after a crash'],
    );
    await until('the outbox empty', async () => ((await peerOn(ca, pb))?.outbox_messages === 0 ? true : undefined));
  });

  it('refusals: an even type, a type anyad speaks, too large a payload, a full outbox', async () => {
    const refused = async (params: unknown, code: number, message: RegExp): Promise<void> => {
      const r = await ca.call('peer.sendcustommsg', params);
      assert.ok(r.error, `${JSON.stringify(params).slice(0, 80)} should be refused`);
      assert.equal(r.error.code, code, r.error.message);
      assert.match(r.error.message, message);
    };
    await refused({ pubkey: pb, type: 32768, payload: '00' }, -32602, /type 32768 is even/);
    await refused({ pubkey: pb, type: 53111, payload: '00' }, -32602, /one anyad speaks itself/);
    await refused({ pubkey: pb, type: 19, payload: '00' }, -32602, /one anyad speaks itself/);
    await refused({ pubkey: pb, type: 32769, payload: '00'.repeat(65_516) }, -32602, /65516 bytes is over 65515/);
    await refused({ pubkey: pb, type: 32769, payload: '0' }, -32602, /.+/);
    // A peer never connected: the messages wait in its outbox, up to p2p.maxoutboxbytes (65536 here).
    const stranger = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');
    const big = '11'.repeat(30_000);
    assert.equal((await call<{ seq: number }>(ca, 'peer.sendcustommsg', { pubkey: stranger, type: 32771, payload: big })).seq, 1);
    assert.equal((await call<{ seq: number }>(ca, 'peer.sendcustommsg', { pubkey: stranger, type: 32771, payload: big })).seq, 2);
    await refused({ pubkey: stranger, type: 32771, payload: big }, -32015, /holds 60000 bytes in 2 unacknowledged messages.*p2p\.maxoutboxbytes=65536/);
    await refused({ pubkey: pa, type: 32771, payload: '00' }, -32602, /this node's own key/);
  });
});
