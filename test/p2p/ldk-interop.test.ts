// Interop with an independent implementation (issue 28's "Done when"): LDK's PeerManager, in process over real TCP
// sockets on 127.0.0.1. Our transport dials LDK and LDK dials us; each time the BOLT 8 handshake completes, both
// sides exchange init (LDK lists us as a peer only after our init), and our ping gets LDK's pong.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { localStaticKey } from '../../src/p2p/noise.js';
import { type WireSession, startWireSession } from '../../src/p2p/wire-session.js';
import { acceptInbound, connectOutbound, type PeerTransport } from '../../src/p2p/transport.js';
import { MSG_INIT, MSG_PING, encodeInit, featureBits } from '../../src/p2p/wire.js';
import { LdkPeer } from '../peers/ldk-peer.js';

const ours = localStaticKey(secp256k1.utils.randomSecretKey());
const ourHex = Buffer.from(ours.publicKey).toString('hex');
const SESSION = {
  init: { globalfeatures: new Uint8Array(0), features: new Uint8Array(0) },
  initTimeoutMs: 5000,
  // LDK's optional (odd) bits are ignored by the odd/even rule; it must not require an even one we lack.
  knownFeature: (): boolean => false,
};

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('interop with LDK PeerManager', () => {
  let peer: LdkPeer;
  before(async () => {
    peer = await LdkPeer.start(secp256k1.utils.randomSecretKey());
  });
  after(() => peer?.stop());

  async function checkSession(s: WireSession): Promise<void> {
    assert.deepEqual(Buffer.from(s.remotePublicKey), Buffer.from(peer.nodeId));
    await until(() => peer.peers().includes(ourHex), 'LDK to list us after our init');
    const rtt = await s.ping(16, 5000);
    assert.ok(rtt >= 0);
  }

  it('our initiator ↔ LDK responder: handshake, init both ways, ping/pong', async () => {
    const port = await peer.listen();
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    const t = await connectOutbound(sock, ours, peer.nodeId, { handshakeTimeoutMs: 5000 });
    const s = await startWireSession(t, SESSION);
    await checkSession(s);
    s.close('test done');
    await until(() => !peer.peers().includes(ourHex), 'LDK to drop us');
  });

  it('LDK initiator ↔ our responder: handshake, init both ways, ping/pong, and LDK pings us', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    await peer.connect((server.address() as net.AddressInfo).port, ours.publicKey);
    const [sock] = await accepted;
    server.close();
    const t = await acceptInbound(sock, ours, { handshakeTimeoutMs: 5000 });
    const s = await startWireSession(t, SESSION);
    await checkSession(s);
    // LDK's own keepalive: its timer pings, our session answers, and LDK keeps us (it drops a peer that does not
    // answer within these ticks: the next test is the control).
    let pings = 0;
    t.on('message', (type: number) => {
      if (type === MSG_PING) pings++;
    });
    for (let i = 0; i < 6; i++) {
      peer.tick();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(peer.peers().includes(ourHex), `LDK dropped us after its pings:\n${peer.log.slice(-10).join('\n')}`);
    assert.ok(!t.isClosed);
    assert.ok(pings >= 1, 'LDK pinged us');
    s.close('test done');
  });

  async function dialLdk(): Promise<PeerTransport> {
    const port = await peer.listen();
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    return connectOutbound(sock, ours, peer.nodeId, { handshakeTimeoutMs: 5000 });
  }

  it("LDK's pings are real: a peer that never answers them is dropped by LDK (control for the test above)", async () => {
    const t = await dialLdk();
    let pings = 0;
    t.on('message', (type: number) => {
      if (type === MSG_PING) pings++;
    });
    await t.send(MSG_INIT, encodeInit(SESSION.init));
    await until(() => peer.peers().includes(ourHex), 'LDK to list us after our init');
    const closed = once(t, 'close');
    for (let i = 0; i < 6 && !t.isClosed; i++) {
      peer.tick();
      await new Promise((r) => setTimeout(r, 100));
    }
    await closed;
    assert.ok(pings >= 1, 'LDK sent at least one ping');
    assert.ok(!peer.peers().includes(ourHex));
  });

  it('odd/even with LDK: an unknown odd type is ignored by LDK, an unknown even type makes LDK disconnect', async () => {
    const s = await startWireSession(await dialLdk(), SESSION);
    await until(() => peer.peers().includes(ourHex), 'LDK to list us');
    // We know no feature bit, so every bit LDK set must be odd (optional), or startWireSession would have refused.
    assert.ok(featureBits(s.remoteFeatures).every((b) => b % 2 === 1));
    await s.send(32769, Buffer.from('odd: ignored'));
    assert.ok((await s.ping(0, 5000)) >= 0, 'still connected after an unknown odd type');
    const closed = once(s, 'close');
    await s.send(32768, Buffer.from('even: fatal'));
    const [reason] = (await closed) as [string];
    assert.match(reason, /closed the connection/);
  });
});
