// The BOLT 8 transport over a TCP socket: runs the Noise XK handshake (noise.ts holds the pure state machine), then
// frames, encrypts and decrypts Lightning messages. This file is only the socket glue; the room owns the listener,
// the node key and the peers' lifecycle, and wire-session.ts adds BOLT 1's init, ping/pong and odd/even rule on top.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import {
  ACT_ONE_SIZE,
  ACT_THREE_SIZE,
  ACT_TWO_SIZE,
  LENGTH_HEADER_SIZE,
  MAC_SIZE,
  MAX_MESSAGE_SIZE,
  type MessageCipher,
  type StaticKey,
  freshEphemeral,
  initiatorActOne,
  initiatorActThree,
  initiatorActTwo,
  responderActOne,
  responderActThree,
  responderActTwo,
} from './noise.js';
import { SocketReader } from './socket-reader.js';

export interface TransportOptions {
  /** The whole handshake (three acts) must finish within this time, or the socket is closed. */
  handshakeTimeoutMs: number;
  /** Bytes that may wait in the socket's write buffer before send() refuses (default 4 MiB). */
  maxQueuedBytes?: number;
  /** Tests only: a fixed ephemeral private key (BOLT 8's vectors); production draws a fresh one. */
  ephemeralKey?: Uint8Array;
}

const DEFAULT_MAX_QUEUED = 4 * 1024 * 1024;

/**
 * An established, encrypted connection. Events: 'message' (type: number, payload: Buffer), 'close' (reason: string).
 * Reading starts when the first 'message' listener is attached, so a message that arrived with act three (a peer's
 * `init` often does) waits for its reader instead of being emitted to nobody.
 */
export class PeerTransport extends EventEmitter {
  readonly remotePublicKey: Uint8Array;
  private closed = false;
  private reading = false;
  private readonly maxQueued: number;

  /** @internal built by connectOutbound/acceptInbound once the handshake completed. */
  constructor(
    private readonly socket: net.Socket,
    private readonly reader: SocketReader,
    private readonly cipher: MessageCipher,
    remotePublicKey: Uint8Array,
    maxQueuedBytes: number,
  ) {
    super();
    this.remotePublicKey = remotePublicKey;
    this.maxQueued = maxQueuedBytes;
    socket.on('error', (e: Error) => this.close(`socket error: ${e.message}`));
    socket.on('close', () => this.close('the peer closed the connection'));
    // A peer that hung up right after act three did so before these listeners: report it all the same.
    if (socket.destroyed) setImmediate(() => this.close('the peer closed the connection'));
    this.on('newListener', (event: string) => {
      if (event === 'message' && !this.reading) {
        this.reading = true;
        setImmediate(() => void this.readLoop());
      }
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Encrypts and writes one message (u16 type + payload, at most 65535 bytes); resolves once the socket took it. */
  send(type: number, payload: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error('cannot send: the peer connection is closed'));
    if (!Number.isInteger(type) || type < 0 || type > 0xffff) {
      return Promise.reject(new RangeError(`message type ${type} is not a u16`));
    }
    if (payload.length + 2 > MAX_MESSAGE_SIZE) {
      return Promise.reject(new RangeError(`message type ${type} of ${payload.length + 2} bytes exceeds BOLT 8's maximum of ${MAX_MESSAGE_SIZE}`));
    }
    const queued = this.socket.writableLength;
    if (queued + payload.length > this.maxQueued) {
      // A peer that does not read must not grow our memory without bound; the caller may retry or disconnect.
      return Promise.reject(new Error(`the peer's send queue is full (${queued} bytes waiting, limit ${this.maxQueued})`));
    }
    const m = Buffer.allocUnsafe(2 + payload.length);
    m.writeUInt16BE(type, 0);
    m.set(payload, 2);
    // Encrypted now, in call order: the nonces must follow the order the bytes go out.
    const frame = this.cipher.encrypt(m);
    return new Promise((resolve, reject) => {
      this.socket.write(frame, (err) => (err ? reject(new Error(`send failed: ${err.message}`)) : resolve()));
    });
  }

  /** Closes the socket; 'close' is emitted once, with the first reason given. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.fail(reason);
    this.socket.destroy();
    this.emit('close', reason);
  }

  private async readLoop(): Promise<void> {
    try {
      while (!this.closed) {
        const len = this.cipher.decryptLength(await this.reader.read(LENGTH_HEADER_SIZE));
        const m = this.cipher.decryptBody(await this.reader.read(len + MAC_SIZE));
        if (m.length < 2) throw new Error(`a message of ${m.length} bytes has no type`);
        const buf = Buffer.from(m.buffer, m.byteOffset, m.byteLength);
        this.emit('message', buf.readUInt16BE(0), buf.subarray(2));
      }
    } catch (e) {
      this.close((e as Error).message);
    }
  }
}

/**
 * Runs `steps` under one deadline for the whole handshake, including the static key's ECDH (an HSM that hangs must
 * not hold the connection slot forever). On failure or timeout the socket is destroyed.
 */
async function handshake<T>(socket: net.Socket, o: TransportOptions, role: string, steps: (reader: SocketReader) => Promise<T>): Promise<T> {
  const reader = new SocketReader(socket);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // The reason names the act being read, if one is; the deadline also covers a step waiting on the ECDH.
      reject(new Error(reader.fail(`BOLT 8 handshake (${role}) timed out after ${o.handshakeTimeoutMs} ms`)));
    }, o.handshakeTimeoutMs);
  });
  const work = steps(reader);
  try {
    return await Promise.race([work, deadline]);
  } catch (e) {
    socket.destroy();
    work.catch(() => undefined); // a step finishing after the deadline is discarded
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

function write(socket: net.Socket, bytes: Uint8Array): void {
  socket.write(bytes);
}

/** Dials: we are the initiator and must know the responder's static key. */
export function connectOutbound(socket: net.Socket, ours: StaticKey, theirs: Uint8Array, o: TransportOptions): Promise<PeerTransport> {
  return handshake(socket, o, 'initiator', async (reader) => {
    const { state, act1 } = initiatorActOne(theirs, o.ephemeralKey ?? freshEphemeral());
    write(socket, act1);
    initiatorActTwo(state, await reader.read(ACT_TWO_SIZE, 'act two'));
    const { act3, cipher } = await initiatorActThree(state, ours);
    write(socket, act3);
    return new PeerTransport(socket, reader, cipher, theirs, o.maxQueuedBytes ?? DEFAULT_MAX_QUEUED);
  });
}

/** Answers: we are the responder and learn the initiator's static key in act three. */
export function acceptInbound(socket: net.Socket, ours: StaticKey, o: TransportOptions): Promise<PeerTransport> {
  return handshake(socket, o, 'responder', async (reader) => {
    const state = await responderActOne(ours, await reader.read(ACT_ONE_SIZE, 'act one'), o.ephemeralKey ?? freshEphemeral());
    write(socket, responderActTwo(state));
    const { remoteStatic, cipher } = responderActThree(state, await reader.read(ACT_THREE_SIZE, 'act three'));
    return new PeerTransport(socket, reader, cipher, remoteStatic, o.maxQueuedBytes ?? DEFAULT_MAX_QUEUED);
  });
}
