// The BOLT 8 transport over a TCP socket: runs the Noise XK handshake (noise.ts holds the pure state machine), then
// frames, encrypts and decrypts Lightning messages. This file is only the socket glue; the room (room.ts) owns the
// listener, the node key and the peers' lifecycle.
import { EventEmitter } from 'node:events';
import type net from 'node:net';

/** The node's static key, held by the HSM: only its public key and an ECDH leave it. */
export interface StaticKey {
  /** 33 bytes, compressed. */
  readonly publicKey: Uint8Array;
  /** sha256(compressed(k·P)) as BOLT 8's ECDH says. */
  ecdh(theirPublicKey: Uint8Array): Promise<Uint8Array>;
}

export interface TransportOptions {
  /** The whole handshake (three acts) must finish within this time, or the socket is closed. */
  handshakeTimeoutMs: number;
  /** Bytes that may wait in the socket's write buffer before send() refuses (default 4 MiB). */
  maxQueuedBytes?: number;
  /** Tests only: a fixed ephemeral private key (BOLT 8's vectors); production draws a fresh one. */
  ephemeralKey?: Uint8Array;
}

/** An established, encrypted connection. Events: 'message' (type: number, payload: Buffer), 'close' (reason). */
export class PeerTransport extends EventEmitter {
  readonly remotePublicKey: Uint8Array;

  constructor(remotePublicKey: Uint8Array) {
    super();
    this.remotePublicKey = remotePublicKey;
  }

  /** Encrypts and writes one message (u16 type + payload, at most 65535 bytes). */
  send(type: number, payload: Uint8Array): Promise<void> {
    void type;
    void payload;
    return Promise.reject(new Error('PeerTransport.send: not implemented yet'));
  }

  /** Closes the socket; 'close' is emitted once with the reason. */
  close(reason: string): void {
    this.emit('close', reason);
  }
}

/** Dials: we are the initiator and must know the responder's static key. */
export function connectOutbound(socket: net.Socket, ours: StaticKey, theirs: Uint8Array, o: TransportOptions): Promise<PeerTransport> {
  void socket;
  void ours;
  void theirs;
  void o;
  return Promise.reject(new Error('connectOutbound: not implemented yet'));
}

/** Answers: we are the responder and learn the initiator's static key in act three. */
export function acceptInbound(socket: net.Socket, ours: StaticKey, o: TransportOptions): Promise<PeerTransport> {
  void socket;
  void ours;
  void o;
  return Promise.reject(new Error('acceptInbound: not implemented yet'));
}
