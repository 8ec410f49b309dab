// JSON-RPC over WebSocket. A client authenticates at the handshake (Authorization: Bearer/Basic, or for browsers,
// which cannot set headers, a `Sec-WebSocket-Protocol` entry `anya-auth.<base64url token>` next to `anya-rpc`),
// or with an `auth` call that must come first. Tokens are never read from the URL, which ends up in logs. The Origin
// allowlist keeps other web pages out: a page the user merely visits must not be able to drive the daemon.

import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Authenticator, Identity } from '../auth.js';
import type { ConnectionTracker } from '../connections.js';
import type { Dispatcher } from '../dispatcher.js';
import { tooLargeAnswer } from '../../core/errors.js';
import type { Connection } from '../../core/methods.js';
import { PendingBound } from './backpressure.js';

export const WS_PROTOCOL = 'anya-rpc';
export const WS_AUTH_PROTOCOL_PREFIX = 'anya-auth.';
/** How long a connection that has not authenticated may stay open waiting for its `auth` call. */
const AUTH_GRACE_MS = 10_000;
/** After a failed authentication, wait before answering, as bitcoind does, to slow down guessing. */
const AUTH_FAIL_DELAY_MS = 250;
/** A client cut off for not reading gets its close frame; if the closing handshake has not ended by then, terminate. */
const CUT_CLOSE_GRACE_MS = 1000;

export interface WsTransportOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  /** Unread answer bytes past which the client's requests stop being read (rpcmaxpending); see PendingBound. */
  maxPendingBytes: number;
  /** How long a client may stay over maxPendingBytes before it is cut off (rpcpendingtimeout). */
  pendingTimeoutMs: number;
  allowedOrigins: readonly string[];
  tls?: { cert: Buffer; key: Buffer };
}

export class WsTransport {
  private http: Server | undefined;
  private wss: WebSocketServer | undefined;
  private readonly sockets = new Set<WebSocket>();
  private accepting = true;

  constructor(
    private readonly opts: WsTransportOptions,
    private readonly auth: Authenticator,
    private readonly tracker: ConnectionTracker,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<AddressInfo> {
    const handler = (_req: IncomingMessage, res: import('node:http').ServerResponse): void => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' }).end('anyad speaks JSON-RPC over WebSocket here\n');
    };
    const http = this.opts.tls ? createHttpsServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, handler) : createHttpServer(handler);
    // Frames up to twice the limit are read so they can be answered with a JSON-RPC error; larger ones make ws
    // close the connection (1009) without buffering them.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.opts.maxMessageBytes * 2,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
    });
    http.on('upgrade', (req, socket, head) => void this.upgrade(req, socket, head));
    http.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.opts.port, this.opts.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.http = http;
    return http.address() as AddressInfo;
  }

  stopAccepting(): void {
    this.accepting = false;
    this.http?.close();
  }

  async closeAll(code = 1001, reason = 'anyad stopping'): Promise<void> {
    await Promise.all(
      [...this.sockets].map(
        (ws) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              ws.terminate();
              resolve();
            }, 2000);
            ws.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            ws.close(code, reason);
          }),
      ),
    );
    this.http?.closeAllConnections();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const reject = (status: number, text: string): void => {
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text) + 1}\r\n\r\n${text}\n`,
      );
    };
    socket.on('error', () => undefined);
    if (!this.accepting) return reject(503, 'Service Unavailable');
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/') return reject(404, 'Not Found');
    const origin = req.headers.origin;
    if (origin !== undefined && !this.opts.allowedOrigins.includes(origin)) {
      this.log.warn({ origin, peer: req.socket.remoteAddress }, 'WebSocket refused: origin not in rpcallowedorigin');
      return reject(403, 'Forbidden');
    }
    let identity: Identity | undefined;
    let presented = false;
    const fromHeader = this.auth.fromHeader(req.headers.authorization);
    if (fromHeader.presented) {
      presented = true;
      identity = fromHeader.identity;
    } else {
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      const tokenProto = offered.find((p) => p.startsWith(WS_AUTH_PROTOCOL_PREFIX));
      if (tokenProto) {
        presented = true;
        if (!offered.includes(WS_PROTOCOL)) return reject(400, `Bad Request: offer ${WS_PROTOCOL} with ${WS_AUTH_PROTOCOL_PREFIX}<token>`);
        identity = this.auth.check(Buffer.from(tokenProto.slice(WS_AUTH_PROTOCOL_PREFIX.length), 'base64url').toString('utf8'));
      }
    }
    if (presented && !identity) {
      this.log.warn({ peer: req.socket.remoteAddress }, 'WebSocket refused: bad credentials');
      await new Promise((r) => setTimeout(r, AUTH_FAIL_DELAY_MS));
      return reject(401, 'Unauthorized');
    }
    // Without credentials a connection waits for its auth call in a small pool of its own (rpcmaxunauthenticated).
    if (!this.tracker.hasRoom(identity !== undefined)) return reject(503, 'Service Unavailable');
    this.wss!.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, identity, socket));
  }

  private accept(ws: WebSocket, req: IncomingMessage, identity: Identity | undefined, raw: Duplex): void {
    this.sockets.add(ws);
    const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    // A client that does not read its answers: its requests stop being read (TCP pushes back on it) until it has
    // taken them; one that stays over the bound is closed with 1008 and a reason, which it sees if it reads at all,
    // and terminated shortly after if it does not complete the closing handshake.
    const bound = new PendingBound({
      limit: this.opts.maxPendingBytes,
      maxHeldBytes: Math.max(this.opts.maxPendingBytes, 2 * this.opts.maxMessageBytes),
      stallMs: this.opts.pendingTimeoutMs,
      queued: () => ws.bufferedAmount,
      pause: () => ws.pause(),
      resume: () => ws.resume(),
      cut: (queued, why) => {
        this.log.warn({ peer, transport: 'ws', queued, limit: this.opts.maxPendingBytes }, `client does not read its answers; cut off: ${why}`);
        ws.close(1008, 'answers left unread past rpcmaxpending');
        setTimeout(() => ws.terminate(), CUT_CLOSE_GRACE_MS).unref();
      },
    });
    raw.on('drain', () => bound.drained());
    const conn: Connection = {
      id: this.tracker.newId(),
      transport: 'ws',
      peer,
      role: identity?.role,
      user: identity?.user,
      send: (text) => {
        if (ws.readyState !== ws.OPEN) return;
        const before = ws.bufferedAmount;
        ws.send(text);
        bound.wrote(before);
      },
      bufferedBytes: () => ws.bufferedAmount,
      close: (reason) => ws.close(1000, reason.slice(0, 120)),
    };
    this.tracker.add(conn);
    const grace = identity
      ? undefined
      : setTimeout(() => {
          if (conn.role === undefined) ws.close(4401, 'authentication timeout');
        }, AUTH_GRACE_MS);
    ws.on('message', (data, isBinary) => {
      const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength;
      if (size > this.opts.maxMessageBytes) {
        conn.send(tooLargeAnswer(this.opts.maxMessageBytes));
        return;
      }
      const text = isBinary ? Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data as ArrayBuffer)]).toString('utf8') : data.toString();
      // ws goes on parsing what it had read before the pause: such messages wait here for the client to read.
      bound.admit(size, () => {
        const answer = this.dispatcher.handle(text, conn);
        if (typeof answer === 'string') conn.send(answer);
        else if (answer !== null) void answer.then((a) => a !== null && conn.send(a));
      });
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      bound.close();
      if (grace) clearTimeout(grace);
      this.sockets.delete(ws);
      this.tracker.remove(conn);
    });
  }
}
