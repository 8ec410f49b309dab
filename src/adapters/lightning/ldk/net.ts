// LDK's PeerManager over Node TCP sockets: LDK does BOLT 8 and the messages, this file moves bytes. LDK calls the
// descriptor synchronously from read_event / process_events; Node buffers what the socket cannot take yet, so every
// byte counts as sent. An error from LDK (bad MAC, a message it cannot take) closes the socket.

import net from 'node:net';
import { once } from 'node:events';
import * as ldk from 'lightningdevkit';

export class LdkNet {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private nextId = 1n;
  /** Told after each read LDK took (node.ts runs a round: the messages may have raised events). */
  received: (() => void) | undefined;

  constructor(private readonly pm: ldk.PeerManager) {}

  /** Accepts peers on host:port (port 0: any free port); answers the port. */
  async listen(host: string, port: number): Promise<number> {
    this.server = net.createServer((s) => {
      const d = this.descriptor(s);
      const r = this.pm.new_inbound_connection(d, this.remote(s));
      if (!r.is_ok()) return void s.destroy();
      this.pump(s, d);
    });
    this.server.listen(port, host);
    try {
      await once(this.server, 'listening');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      const hint = code === 'EADDRINUSE' ? ': another program listens there; set ldk.port (0: any free port)' : '';
      throw new Error(`cannot accept Lightning peers on ${host}:${port} (${code})${hint}`);
    }
    return (this.server.address() as net.AddressInfo).port;
  }

  /**
   * Dials a node as BOLT 8's initiator; resolves once the socket is up and act one is written, with a check of
   * whether the socket closed since (LDK closes it when the handshake fails: another node at that address).
   */
  async connect(nodeId: Uint8Array, host: string, port: number, timeoutMs: number): Promise<{ closed: () => boolean }> {
    const s = net.connect(port, host);
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`no answer from ${host}:${port} in ${timeoutMs} ms`)));
    await once(s, 'connect');
    s.setTimeout(0);
    const d = this.descriptor(s);
    const r = this.pm.new_outbound_connection(nodeId, d, this.remote(s));
    if (!(r instanceof ldk.Result_CVec_u8ZPeerHandleErrorZ_OK)) {
      s.destroy();
      throw new Error('LDK refused to start the connection (already connected to that node?)');
    }
    this.pump(s, d);
    s.write(r.res);
    return { closed: () => s.destroyed };
  }

  /** Stops accepting, and closes every connection (LDK is told of each). */
  async close(): Promise<void> {
    const closed = this.server ? new Promise<void>((r) => this.server!.close(() => r())) : Promise.resolve();
    this.pm.disconnect_all_peers();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private remote(s: net.Socket): ldk.Option_SocketAddressZ {
    const a = s.remoteAddress && net.isIPv4(s.remoteAddress) ? s.remoteAddress.split('.').map(Number) : undefined;
    if (!a || s.remotePort === undefined) return ldk.Option_SocketAddressZ.constructor_none();
    return ldk.Option_SocketAddressZ.constructor_some(ldk.SocketAddress.constructor_tcp_ip_v4(Uint8Array.from(a), s.remotePort));
  }

  private descriptor(s: net.Socket): ldk.SocketDescriptor {
    const id = this.nextId++;
    this.sockets.add(s);
    return ldk.SocketDescriptor.new_impl({
      send_data: (data: Uint8Array, resumeRead: boolean): number => {
        if (s.destroyed) return 0;
        s.write(Buffer.from(data));
        if (resumeRead) s.resume();
        return data.length;
      },
      disconnect_socket: (): void => void s.destroy(),
      eq: (other: ldk.SocketDescriptor): boolean => other.hash() === id,
      hash: (): bigint => id,
    });
  }

  private pump(s: net.Socket, d: ldk.SocketDescriptor): void {
    let gone = false;
    const disconnected = (): void => {
      if (gone) return;
      gone = true;
      this.sockets.delete(s);
      this.pm.socket_disconnected(d);
    };
    s.on('data', (chunk: Buffer) => {
      const r = this.pm.read_event(d, chunk);
      if (!(r instanceof ldk.Result_boolPeerHandleErrorZ_OK)) {
        s.destroy();
        disconnected();
        return;
      }
      if (r.res) s.pause(); // LDK asks to stop reading until its send buffer drains (send_data's resumeRead)
      this.pm.process_events();
      this.received?.();
    });
    s.on('error', () => undefined);
    s.on('close', disconnected);
  }
}
