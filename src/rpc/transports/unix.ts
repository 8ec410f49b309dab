// JSON-RPC over a Unix stream socket, one JSON message per line. The socket file's mode (and its directory) is the
// access control, as for Core Lightning's lightning-rpc: whoever may open it is admin. A stale socket left by a crash
// is replaced; a live one (another daemon answering) is never stolen.

import { lstat, unlink, chmod } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ConnectionTracker } from '../connections.js';
import type { Dispatcher } from '../dispatcher.js';
import { tooLargeAnswer, transportError } from '../../core/errors.js';
import type { Connection } from '../../core/methods.js';
import { PendingBound } from './backpressure.js';
import { LineSplitter } from '../../core/lines.js';
import { TickCork } from '../../core/tick-cork.js';

export interface UnixTransportOptions {
  path: string;
  mode: number;
  maxMessageBytes: number;
  /** Unread answer bytes past which the client's requests stop being read (rpcmaxpending); see PendingBound. */
  maxPendingBytes: number;
  /** How long a client may stay over maxPendingBytes before it is cut off (rpcpendingtimeout). */
  pendingTimeoutMs: number;
}

export class UnixTransport {
  private server: Server | undefined;
  /** Only a socket file this transport created is removed at close; never one found in place. */
  private created = false;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly opts: UnixTransportOptions,
    private readonly tracker: ConnectionTracker,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<void> {
    await clearStaleSocket(this.opts.path);
    // Half-open aware: a client that sends its requests and then shuts its side (echo ... | socat) still gets every
    // answer; the socket is ended once they are written.
    const server = createServer({ allowHalfOpen: true }, (s) => this.accept(s));
    // Create the socket with no access for others, then widen to the configured mode: no window where the
    // socket is more open than asked.
    const oldUmask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.opts.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldUmask);
    }
    this.created = true;
    await chmod(this.opts.path, this.opts.mode);
    server.on('error', (err) => this.log.error({ err }, 'unix socket error'));
    this.server = server;
  }

  /** Stops accepting new connections; open ones go on. */
  stopAccepting(): void {
    this.server?.close();
  }

  /** Ends every connection after what is queued for it has been written. */
  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.sockets].map(
        (s) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              s.destroy();
              resolve();
            }, 2000);
            s.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            s.end();
          }),
      ),
    );
  }

  async removeSocket(): Promise<void> {
    if (!this.created) return;
    await unlink(this.opts.path).catch(() => undefined);
  }

  private accept(socket: Socket): void {
    if (!this.tracker.hasRoom()) {
      socket.end(`${transportError('TooManyConnections', 'too many connections (rpcmaxconnections)')}\n`);
      return;
    }
    this.sockets.add(socket);
    // A peer that does not read its answers stops being read from, then is cut off (there is no way to give a final
    // notice on a stream it does not read): its queue cannot grow without bound.
    const bound = new PendingBound({
      limit: this.opts.maxPendingBytes,
      maxHeldBytes: Math.max(this.opts.maxPendingBytes, this.opts.maxMessageBytes),
      stallMs: this.opts.pendingTimeoutMs,
      queued: () => socket.writableLength,
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      cut: (queued, why) => {
        this.log.warn(
          { peer: this.opts.path, transport: 'unix', queued, limit: this.opts.maxPendingBytes },
          `client does not read its answers; cut off: ${why}`,
        );
        socket.destroy();
      },
    });
    const conn: Connection = {
      id: this.tracker.newId(),
      transport: 'unix',
      peer: this.opts.path,
      role: 'admin',
      user: 'unix',
      send: (text) => {
        if (!socket.writable) return;
        const before = socket.writableLength;
        socket.write(`${text}\n`);
        bound.wrote(before);
      },
      bufferedBytes: () => socket.writableLength,
      close: () => socket.end(),
    };
    this.tracker.add(conn);
    socket.on('drain', () => bound.drained());
    const lines = new LineSplitter();
    const cork = new TickCork(socket);
    let tooLarge = false;
    let inflight = 0;
    let ended = false;
    const reply = (answer: string | null): void => {
      if (answer !== null) conn.send(answer);
      if (--inflight === 0 && ended) socket.end();
    };
    // Answers that arrive later (asynchronous handlers) are held to the end of the turn: those that complete
    // together, as when a backend's reply settles several calls, share one write.
    const replyLater = (answer: string | null): void => {
      if (answer !== null) cork.hold();
      reply(answer);
    };
    const onLine = (line: string): void => {
      if (tooLarge || line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === '')) return;
      // (A UTF-16 unit is at most 3 UTF-8 bytes: short lines need no counting.)
      if (line.length * 3 > this.opts.maxMessageBytes && Buffer.byteLength(line) > this.opts.maxMessageBytes) {
        this.refuseTooLarge(socket, conn);
        tooLarge = true;
        return;
      }
      inflight++;
      bound.admit(line.length, () => {
        const answer = this.dispatcher.handle(line, conn);
        if (typeof answer === 'string' || answer === null) reply(answer);
        else void answer.then(replyLater);
      });
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (tooLarge) return;
      // Several requests in one read (a pipelining client): their synchronous answers share one write. A read
      // holding one request, the usual case, is answered with a plain write.
      if (chunk.indexOf('\n') !== chunk.lastIndexOf('\n')) cork.hold();
      lines.push(chunk, onLine);
      // An unfinished line with more characters than the byte limit is too large whatever its encoding; one with
      // fewer is measured in bytes once complete, so memory stays within a few times the limit.
      if (!tooLarge && lines.pending > this.opts.maxMessageBytes) {
        this.refuseTooLarge(socket, conn);
        tooLarge = true;
      }
    });
    // The client's FIN (echo ... | socat): a last line without its newline is still a request, and every answer to
    // what came before the FIN is written before the socket is ended.
    socket.on('end', () => {
      ended = true;
      if (!tooLarge) lines.push('\n', onLine);
      if (inflight === 0) socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      bound.close();
      this.sockets.delete(socket);
      this.tracker.remove(conn);
    });
  }

  /** The framing cannot be trusted after an oversized message, so answer once and close. */
  private refuseTooLarge(socket: Socket, conn: Connection): void {
    conn.send(tooLargeAnswer(this.opts.maxMessageBytes));
    socket.end();
  }
}

/** Removes a socket file nobody answers on; refuses when something does, or when the path is not a socket. */
export async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new Error(`another process is already listening on ${path}`);
  await unlink(path);
}
