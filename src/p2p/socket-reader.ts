// Exact-length reads over a socket's 'data' chunks: BOLT 8 reads fixed-size acts and frames ("read exactly 50
// bytes", "read exactly l+16 bytes"). The socket is paused while more than one maximal frame waits unread, so a
// peer that floods cannot grow our memory beyond that.
import type net from 'node:net';

/** 2 + 16 + 65535 + 16: BOLT 8's largest packet. */
const MAX_PACKET = 65569;

interface Pending {
  n: number;
  what: string;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending: Pending | undefined;
  private failure: string | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered > 2 * MAX_PACKET) socket.pause();
      this.serve();
    });
    socket.on('error', (e: Error) => this.fail(`socket error: ${e.message}`));
    socket.on('close', () => this.fail('the peer closed the connection'));
  }

  /** Resolves with exactly n bytes; rejects when the socket closes first or fail() is called. */
  read(n: number, what = 'a message'): Promise<Buffer> {
    if (this.pending) return Promise.reject(new Error('SocketReader: one read at a time'));
    if (this.failure !== undefined) return Promise.reject(new Error(this.failure));
    return new Promise((resolve, reject) => {
      this.pending = { n, what, resolve, reject };
      this.serve();
    });
  }

  /** Fails the pending and every later read with `reason` (timeout, close, protocol error). */
  fail(reason: string): void {
    if (this.failure !== undefined) return;
    const p = this.pending;
    this.pending = undefined;
    // A read cut short says where: "closed during act two (20 of 50 bytes received)" tells a truncated act apart.
    this.failure =
      p && this.buffered > 0 ? `${reason} during ${p.what} (${this.buffered} of ${p.n} bytes received)` : p ? `${reason} while waiting for ${p.what}` : reason;
    p?.reject(new Error(this.failure));
  }

  private serve(): void {
    const p = this.pending;
    if (!p || this.buffered < p.n) return;
    this.pending = undefined;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, p.n);
    const rest = all.subarray(p.n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    if (this.buffered <= 2 * MAX_PACKET && this.socket.isPaused()) this.socket.resume();
    p.resolve(out);
  }
}
