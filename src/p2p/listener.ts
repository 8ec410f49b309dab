// The peer listener: TCP on p2p.peerbind:p2p.peerport, each connection in a pool of pending handshakes until its
// BOLT 8 handshake and init exchange are over. The pool is bounded (p2p.maxpending) and, when full, drops its oldest
// connection for the newest: a stranger who opens sockets and says nothing holds slots only until someone else
// comes, and every slot only for p2p.handshaketimeout. Connected peers are counted apart (p2p.maxpeers).

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';

export interface ListenerOptions {
  host: string;
  port: number;
  maxPending: number;
  log: Logger;
  /** Runs the handshake and init exchange of an inbound connection; resolves when it is over either way. */
  handshake(socket: Socket): Promise<void>;
}

export class PeerListener {
  private server: Server | undefined;
  /** Inbound connections in their handshake, oldest first (a Map keeps insertion order). */
  private readonly pending = new Map<Socket, number>();
  dropped = 0;

  constructor(private readonly o: ListenerOptions) {}

  async listen(): Promise<AddressInfo> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.o.log.warn({ reason: err.message }, 'peer listener error'));
    this.server = server;
    return server.address() as AddressInfo;
  }

  pendingCount(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    for (const s of this.pending.keys()) s.destroy();
    this.pending.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.pending.size >= this.o.maxPending) {
      const oldest = this.pending.keys().next().value!;
      this.pending.delete(oldest);
      oldest.destroy();
      this.dropped++;
      this.o.log.info(
        { peer: `${oldest.remoteAddress}:${oldest.remotePort}`, pending: this.o.maxPending },
        'pending handshakes full (p2p.maxpending): the oldest dropped for a new connection',
      );
    }
    this.pending.set(socket, Date.now());
    void this.o.handshake(socket).finally(() => this.pending.delete(socket));
  }
}
