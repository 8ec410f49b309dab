// Test helper: a raw BOLT 8 peer of the test's own (a fresh node key, not any anyad's) that has done the init
// exchange with the anyad listening at a port, for tests that send what a stranger or a liar would.

import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { connectOutbound, type PeerTransport } from '../../src/p2p/transport.js';
import { CHAIN_HASH, encodeInit } from '../../src/p2p/wire.js';

export interface RawPeer {
  t: PeerTransport;
  /** Its node key, hex. */
  pubkey: string;
  /** Resolves with the reason once the connection closes. */
  closed: Promise<string>;
}

export async function rawPeer(theirPubkey: string, port: number): Promise<RawPeer> {
  const priv = secp256k1.utils.randomSecretKey();
  const ours = {
    publicKey: secp256k1.getPublicKey(priv, true),
    ecdh: async (theirs: Uint8Array) =>
      createHash('sha256')
        .update(secp256k1.getSharedSecret(priv, theirs, true))
        .digest(),
  };
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((r) => socket.once('connect', r));
  const t = await connectOutbound(socket, ours, Buffer.from(theirPubkey, 'hex'), { handshakeTimeoutMs: 5000 });
  const closed = new Promise<string>((r) => t.once('close', r));
  const init = new Promise((r) => t.once('message', r));
  await t.send(16, encodeInit({ globalfeatures: new Uint8Array(0), features: new Uint8Array(0), networks: [Buffer.from(CHAIN_HASH.regtest!, 'hex')] }));
  await init;
  return { t, pubkey: Buffer.from(ours.publicKey).toString('hex'), closed };
}

/** The p2p room's delivery envelope (type 53111): the sender's epoch (8), seq (8), then the inner type and payload. */
export function envelope(epoch: Uint8Array, seq: number, innerType: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(18 + payload.length);
  Buffer.from(epoch).copy(b, 0);
  b.writeBigUInt64BE(BigInt(seq), 8);
  b.writeUInt16BE(innerType, 16);
  Buffer.from(payload).copy(b, 18);
  return b;
}
