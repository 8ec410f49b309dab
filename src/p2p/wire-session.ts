// BOLT 1 on an established transport: `init` first (nothing else is sent or accepted before it), the feature and
// message-type odd/even rules, pings answered, and a keepalive that closes a peer which stops answering. The room
// gets a WireSession and sees only the messages it declared it knows.
import { EventEmitter } from 'node:events';
import type { PeerTransport } from './transport.js';
import {
  type InitMessage,
  MSG_ERROR,
  MSG_INIT,
  MSG_PING,
  MSG_PONG,
  MSG_WARNING,
  PING_NO_REPLY_THRESHOLD,
  decodeError,
  decodeInit,
  decodePing,
  decodePong,
  describeErrorData,
  encodeInit,
  encodePing,
  encodePong,
  orFeatures,
  unknownRequiredFeatures,
} from './wire.js';

export interface WireSessionOptions {
  /** Our init (features, networks, and remote_addr when we accepted the connection). */
  init: InitMessage;
  /** The peer's init must arrive within this time after the handshake. */
  initTimeoutMs: number;
  /** Feature bits we understand; an even bit of the peer's outside this set closes the connection. */
  knownFeature?: (bit: number) => boolean;
  /** Message types the owner handles (beyond BOLT 1's own); unknown even types close the connection. */
  knownMessage?: (type: number) => boolean;
  /** Send a ping this often when > 0 (keepalive); a ping unanswered after pingTimeoutMs closes the connection. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** If the peer sent networks and none is ours, close (BOLT 1: MAY). Our chain hash, 32 bytes. */
  chainHash?: Uint8Array;
}

interface PendingPing {
  bytes: number;
  resolve: (ms: number) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  sentAt: number;
}

/**
 * A peer after the init exchange. Events: 'message' (type, payload) for types the owner knows; 'warning' (text)
 * for a peer's warning; 'channelError' (channelId, text) for an error about one channel; 'close' (reason) once.
 */
export class WireSession extends EventEmitter {
  /** The peer's globalfeatures OR features (BOLT 1 combines them). */
  readonly remoteFeatures: Uint8Array;
  private readonly pings: PendingPing[] = [];
  private keepalive: NodeJS.Timeout | undefined;
  private closeReason: string | undefined;

  constructor(
    readonly transport: PeerTransport,
    readonly remoteInit: InitMessage,
    private readonly o: WireSessionOptions,
  ) {
    super();
    this.remoteFeatures = orFeatures(remoteInit.globalfeatures, remoteInit.features);
    transport.on('message', (type: number, payload: Buffer) => this.onMessage(type, payload));
    transport.on('close', (reason: string) => this.onClose(reason));
    if ((o.pingIntervalMs ?? 0) > 0) {
      this.keepalive = setInterval(() => {
        // A rejection already closed the connection with its reason.
        this.ping().catch(() => undefined);
      }, o.pingIntervalMs);
      this.keepalive.unref();
    }
  }

  get remotePublicKey(): Uint8Array {
    return this.transport.remotePublicKey;
  }

  send(type: number, payload: Uint8Array): Promise<void> {
    return this.transport.send(type, payload);
  }

  /** Sends a ping; resolves with the round trip in ms when the matching pong comes, closes the connection if none. */
  ping(numPongBytes = 0, timeoutMs = this.o.pingTimeoutMs ?? 30_000): Promise<number> {
    if (numPongBytes >= PING_NO_REPLY_THRESHOLD) {
      return Promise.reject(new RangeError(`num_pong_bytes ${numPongBytes} asks for no pong (>= 65532)`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const reason = `no pong within ${timeoutMs} ms`;
        reject(new Error(reason));
        this.close(reason);
      }, timeoutMs);
      this.pings.push({ bytes: numPongBytes, resolve, reject, timer, sentAt: Date.now() });
      this.send(MSG_PING, encodePing(numPongBytes)).catch((e: Error) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  close(reason: string): void {
    this.transport.close(reason);
  }

  private onMessage(type: number, payload: Buffer): void {
    try {
      switch (type) {
        case MSG_PING: {
          const { numPongBytes } = decodePing(payload);
          if (numPongBytes < PING_NO_REPLY_THRESHOLD) {
            this.send(MSG_PONG, encodePong(numPongBytes)).catch(() => undefined);
          }
          return;
        }
        case MSG_PONG: {
          const len = decodePong(payload);
          // Pongs come back in order; one of a length we never asked for is ignored (BOLT 1: MAY close).
          const i = this.pings.findIndex((p) => p.bytes === len);
          if (i < 0) return;
          const [p] = this.pings.splice(i, 1);
          clearTimeout(p!.timer);
          p!.resolve(Date.now() - p!.sentAt);
          return;
        }
        case MSG_WARNING:
          this.emit('warning', describeErrorData(decodeError(payload).data));
          return;
        case MSG_ERROR: {
          const e = decodeError(payload);
          const text = describeErrorData(e.data);
          // All-zero channel_id: the peer failed everything with us, so the connection is over. Otherwise the
          // owner of that channel (if any: BOLT 1 says ignore it when none) decides.
          if (e.channelId.every((b) => b === 0)) this.close(`the peer sent error: ${text}`);
          else this.emit('channelError', e.channelId, text);
          return;
        }
        case MSG_INIT:
          this.close('the peer sent init twice');
          return;
        default:
          if (this.o.knownMessage?.(type)) this.emit('message', type, payload);
          else if (type % 2 === 0) this.close(`unknown even message type ${type} (BOLT 1: it's ok to be odd, not even)`);
        // An unknown odd type is ignored, as BOLT 1 says.
      }
    } catch (e) {
      this.close(`malformed message type ${type}: ${(e as Error).message}`);
    }
  }

  private onClose(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    if (this.keepalive) clearInterval(this.keepalive);
    for (const p of this.pings.splice(0)) {
      clearTimeout(p.timer);
      p.reject(new Error(`connection closed before the pong: ${reason}`));
    }
    this.emit('close', reason);
  }
}

/** Why a peer's init is unacceptable, or undefined. */
function refuseInit(init: InitMessage, o: WireSessionOptions): string | undefined {
  const unknown = unknownRequiredFeatures(orFeatures(init.globalfeatures, init.features), o.knownFeature ?? (() => false));
  if (unknown.length > 0) return `the peer requires feature bits we do not know: ${unknown.join(', ')}`;
  if (o.chainHash && init.networks && !init.networks.some((c) => Buffer.from(c).equals(Buffer.from(o.chainHash!)))) {
    return `the peer's networks do not include our chain (${init.networks.length} offered)`;
  }
  return undefined;
}

/**
 * Sends our init and waits for the peer's, which must be its first message. Resolves with the session; on a
 * refusal the transport is closed with the reason, and the promise rejects with it.
 */
export function startWireSession(t: PeerTransport, o: WireSessionOptions): Promise<WireSession> {
  return new Promise((resolve, reject) => {
    const done = (err?: string, init?: InitMessage): void => {
      clearTimeout(timer);
      t.off('message', first);
      t.off('close', closed);
      if (err !== undefined) {
        t.close(err);
        reject(new Error(err));
      } else resolve(new WireSession(t, init!, o));
    };
    const first = (type: number, payload: Buffer): void => {
      if (type !== MSG_INIT) return done(`expected init as the first message, got type ${type}`);
      let init: InitMessage;
      try {
        init = decodeInit(payload);
      } catch (e) {
        return done(`malformed init: ${(e as Error).message}`);
      }
      const refusal = refuseInit(init, o);
      done(refusal, init);
    };
    const closed = (reason: string): void => done(`closed before init: ${reason}`);
    const timer = setTimeout(() => done(`no init from the peer within ${o.initTimeoutMs} ms`), o.initTimeoutMs);
    t.on('message', first);
    t.on('close', closed);
    t.send(MSG_INIT, encodeInit(o.init)).catch((e: Error) => done(`could not send init: ${e.message}`));
  });
}
