// BOLT 1 on real TCP connections: the init exchange, ping/pong, the odd/even rule for message types and features,
// and the keepalive that closes a peer which stops answering. A raw PeerTransport plays the misbehaving peer.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { localStaticKey } from '../../src/p2p/noise.js';
import { type WireSession, type WireSessionOptions, startWireSession } from '../../src/p2p/wire-session.js';
import { acceptInbound, connectOutbound, type PeerTransport } from '../../src/p2p/transport.js';
import { MSG_ERROR, MSG_INIT, MSG_WARNING, buildFeatures, encodeError, encodeInit, featureBits } from '../../src/p2p/wire.js';
import { socketPair } from './pair.js';

const alice = localStaticKey(secp256k1.utils.randomSecretKey());
const bob = localStaticKey(secp256k1.utils.randomSecretKey());
const REGTEST = Buffer.from('06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f', 'hex');
const DLC_OFFER = 42778; // an even custom type our side declares it knows

function options(extra: Partial<WireSessionOptions> = {}): WireSessionOptions {
  return {
    init: { globalfeatures: new Uint8Array(0), features: buildFeatures([1]), networks: [REGTEST] },
    initTimeoutMs: 1000,
    knownMessage: (t) => t === DLC_OFFER,
    chainHash: REGTEST,
    ...extra,
  };
}

async function transports(): Promise<{ a: PeerTransport; b: PeerTransport; close(): void }> {
  const p = await socketPair();
  const o = { handshakeTimeoutMs: 2000 };
  const [a, b] = await Promise.all([connectOutbound(p.client, alice, bob.publicKey, o), acceptInbound(p.server, bob, o)]);
  return { a, b, close: () => p.close() };
}

async function sessions(oa = options(), ob = options()): Promise<{ a: WireSession; b: WireSession; close(): void }> {
  const t = await transports();
  const [a, b] = await Promise.all([startWireSession(t.a, oa), startWireSession(t.b, ob)]);
  return { a, b, close: t.close };
}

describe('BOLT 1 session over TCP', () => {
  it('exchanges init: each side sees the other features and networks', async () => {
    const { a, b, close } = await sessions(options({ init: { ...options().init, features: buildFeatures([1, 9]) } }));
    assert.deepEqual(featureBits(b.remoteFeatures), [1, 9]);
    assert.deepEqual(featureBits(a.remoteFeatures), [1]);
    assert.deepEqual(
      b.remoteInit.networks?.map((n) => Buffer.from(n).toString('hex')),
      [REGTEST.toString('hex')],
    );
    close();
  });

  it('ping gets a pong (both directions, with requested bytes), and known messages are delivered', async () => {
    const { a, b, close } = await sessions();
    assert.ok((await a.ping(10)) >= 0);
    assert.ok((await b.ping(0)) >= 0);
    const got = once(b, 'message');
    await a.send(DLC_OFFER, Buffer.from('offer'));
    const [type, payload] = (await got) as [number, Buffer];
    assert.equal(type, DLC_OFFER);
    assert.equal(payload.toString(), 'offer');
    await assert.rejects(a.ping(65532), /asks for no pong/);
    close();
  });

  it('an unknown odd message type is ignored, an unknown even one closes the connection with the reason', async () => {
    const { a, b, close } = await sessions();
    b.on('message', (t: number) => assert.fail(`type ${t} must not be delivered`));
    await a.send(32769, Buffer.from('odd: ignored'));
    assert.ok((await a.ping()) >= 0); // still connected after the odd type
    const closed = once(b, 'close');
    await a.send(32768, Buffer.from('even: fatal'));
    const [reason] = (await closed) as [string];
    assert.match(reason, /unknown even message type 32768/);
    close();
  });

  it('a peer requiring a feature bit we do not know is refused', async () => {
    const t = await transports();
    const [ra, rb] = await Promise.allSettled([
      startWireSession(t.a, options({ init: { globalfeatures: new Uint8Array(0), features: buildFeatures([1, 100]) } })),
      startWireSession(t.b, options()),
    ]);
    assert.equal(rb.status, 'rejected');
    assert.match(String(rb.reason), /requires feature bits we do not know: 100/);
    // a had b's init before b refused a's: a's session opens, then sees the connection close.
    if (ra.status === 'fulfilled' && !ra.value.transport.isClosed) await once(ra.value, 'close');
    t.close();
  });

  it('a peer whose networks lack our chain is refused', async () => {
    const t = await transports();
    const other = new Uint8Array(32).fill(1);
    const [, rb] = await Promise.allSettled([
      startWireSession(t.a, options({ init: { globalfeatures: new Uint8Array(0), features: new Uint8Array(0), networks: [other] } })),
      startWireSession(t.b, options()),
    ]);
    assert.equal(rb.status, 'rejected');
    assert.match(String(rb.reason), /networks do not include our chain/);
    t.close();
  });

  it('a first message other than init closes the connection', async () => {
    const t = await transports();
    const session = startWireSession(t.b, options());
    await t.a.send(DLC_OFFER, Buffer.from('too early'));
    await assert.rejects(session, /expected init as the first message, got type 42778/);
    t.close();
  });

  it('no init within the timeout closes the connection', async () => {
    const t = await transports();
    t.a.on('message', () => undefined); // reads, sends nothing
    await assert.rejects(startWireSession(t.b, options({ initTimeoutMs: 150 })), /no init from the peer within 150 ms/);
    t.close();
  });

  it('the keepalive closes a peer that stops answering pings', async () => {
    const t = await transports();
    // b speaks init but never answers a ping.
    t.b.on('message', () => undefined);
    await t.b.send(MSG_INIT, encodeInit(options().init));
    const a = await startWireSession(t.a, options({ pingIntervalMs: 50, pingTimeoutMs: 150 }));
    const [reason] = (await once(a, 'close')) as [string];
    assert.match(reason, /no pong within 150 ms/);
    t.close();
  });

  it('warning and a channel error are reported; an error for all channels closes the connection', async () => {
    const { a, b, close } = await sessions();
    const warned = once(b, 'warning');
    await a.send(MSG_WARNING, encodeError({ channelId: new Uint8Array(32), data: Buffer.from('slow down') }));
    assert.deepEqual(await warned, ['slow down']);
    const chanErr = once(b, 'channelError');
    await a.send(MSG_ERROR, encodeError({ channelId: new Uint8Array(32).fill(9), data: Uint8Array.of(0, 1) }));
    const [id, text] = (await chanErr) as [Uint8Array, string];
    assert.equal(id[0], 9);
    assert.equal(text, '0x0001'); // not printable ASCII: shown as hex, never verbatim
    const closed = once(b, 'close');
    await a.send(MSG_ERROR, encodeError({ channelId: new Uint8Array(32), data: Buffer.from('bye') }));
    assert.deepEqual(await closed, ['the peer sent error: bye']);
    close();
  });

  it('a malformed known message closes the connection naming the field', async () => {
    const { a, b, close } = await sessions();
    const closed = once(b, 'close');
    await a.transport.send(18, Uint8Array.of(0)); // a ping of one byte
    const [reason] = (await closed) as [string];
    assert.match(reason, /malformed message type 18: ping num_pong_bytes: needs 2 bytes, 1 left/);
    close();
  });
});
