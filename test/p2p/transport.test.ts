// Two PeerTransports over a real TCP socket on 127.0.0.1: the handshake, thousands of messages across key rotations,
// and the refusals the issue names (a wrong static key, a truncated act, a tampered MAC, an oversize message).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { localStaticKey } from '../../src/p2p/noise.js';
import { acceptInbound, connectOutbound, type PeerTransport } from '../../src/p2p/transport.js';
import { socketPair } from './pair.js';

const OPTS = { handshakeTimeoutMs: 2000 };
const alice = localStaticKey(secp256k1.utils.randomSecretKey());
const bob = localStaticKey(secp256k1.utils.randomSecretKey());

async function connected(): Promise<{ a: PeerTransport; b: PeerTransport; close(): void }> {
  const p = await socketPair();
  const [a, b] = await Promise.all([connectOutbound(p.client, alice, bob.publicKey, OPTS), acceptInbound(p.server, bob, OPTS)]);
  return { a, b, close: () => p.close() };
}

describe('PeerTransport over TCP', () => {
  it('completes the handshake: each side learns the other static key', async () => {
    const { a, b, close } = await connected();
    assert.deepEqual(a.remotePublicKey, bob.publicKey);
    assert.deepEqual(b.remotePublicKey, alice.publicKey);
    close();
  });

  it('carries 3000 messages each way in order, across key rotations', async () => {
    const { a, b, close } = await connected();
    const N = 3000;
    const got: number[] = [];
    const done = new Promise<void>((resolve) => {
      b.on('message', (type: number, payload: Buffer) => {
        assert.equal(type, 32769);
        got.push(payload.readUInt32BE(0));
        if (got.length === N) resolve();
      });
    });
    const back: number[] = [];
    const doneBack = new Promise<void>((resolve) => {
      a.on('message', (_t: number, payload: Buffer) => {
        back.push(payload.length);
        if (back.length === N) resolve();
      });
    });
    const sends: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      const p = Buffer.alloc(4 + (i % 300));
      p.writeUInt32BE(i, 0);
      sends.push(a.send(32769, p));
      sends.push(b.send(32771, Buffer.alloc(i % 50)));
    }
    await Promise.all([...sends, done, doneBack]);
    assert.deepEqual(
      got,
      Array.from({ length: N }, (_, i) => i),
    );
    assert.deepEqual(
      back,
      Array.from({ length: N }, (_, i) => i % 50),
    );
    close();
  });

  it('a message over 65535 bytes is refused on send, and the connection stays usable', async () => {
    const { a, b, close } = await connected();
    await assert.rejects(a.send(32769, new Uint8Array(65534)), /65536 bytes exceeds BOLT 8's maximum of 65535/);
    const got = once(b, 'message');
    await a.send(32769, new Uint8Array(65533)); // exactly 65535 with the type
    const [type, payload] = (await got) as [number, Buffer];
    assert.equal(type, 32769);
    assert.equal(payload.length, 65533);
    close();
  });

  it('the initiator dialling the wrong static key is refused by the responder (act one MAC)', async () => {
    const p = await socketPair();
    const stranger = localStaticKey(secp256k1.utils.randomSecretKey());
    const [out, inn] = await Promise.allSettled([connectOutbound(p.client, alice, stranger.publicKey, OPTS), acceptInbound(p.server, bob, OPTS)]);
    assert.equal(inn.status, 'rejected');
    assert.match(String(inn.reason), /ACT1_BAD_TAG.*does not know our static key/);
    assert.equal(out.status, 'rejected');
    assert.match(String(out.reason), /closed the connection while waiting for act two/);
    p.close();
  });

  it('a truncated act (socket closed mid-act) rejects naming the act and the bytes received', async () => {
    const p = await socketPair();
    const inbound = acceptInbound(p.server, bob, OPTS);
    p.client.end(Buffer.alloc(20)); // 20 of act one's 50 bytes, then FIN
    await assert.rejects(inbound, /closed the connection during act one \(20 of 50 bytes received\)/);
    p.close();
  });

  it('a stalled act times out with the handshake deadline', async () => {
    const p = await socketPair();
    const inbound = acceptInbound(p.server, bob, { handshakeTimeoutMs: 200 });
    p.client.write(Buffer.alloc(20)); // and then nothing
    await assert.rejects(inbound, /handshake \(responder\) timed out after 200 ms during act one \(20 of 50/);
    p.close();
  });

  it('a tampered MAC byte on the wire closes the connection with the reason', async () => {
    const p = await socketPair();
    // A relay that flips one bit of the first post-handshake frame's body MAC.
    const [a, b] = await Promise.all([connectOutbound(p.client, alice, bob.publicKey, OPTS), acceptInbound(p.server, bob, OPTS)]);
    const closed = once(b, 'close');
    b.on('message', () => assert.fail('a tampered message must not be delivered'));
    // Write a frame ourselves through a's cipher, then corrupt its last byte before it reaches the socket.
    const realWrite = p.client.write.bind(p.client);
    p.client.write = ((chunk: Uint8Array, cb?: (e?: Error | null) => void) => {
      const c = Buffer.from(chunk);
      c[c.length - 1]! ^= 0x01;
      return realWrite(c, cb);
    }) as typeof p.client.write;
    await a.send(32769, Buffer.from('hello'));
    const [reason] = (await closed) as [string];
    assert.match(reason, /MAC of the message body does not verify/);
    p.close();
  });
});
