// A second, independent BOLT 8 + BOLT 1 implementation for the interop test: LDK's PeerManager (Rust, compiled to
// wasm, from the `lightningdevkit` npm package) driven over real Node TCP sockets. It has no channel, gossip, onion
// or custom message logic (Erroring/Ignoring handlers): what it exercises is LDK's own transport, init and
// ping/pong. The wasm is read from node_modules; nothing is downloaded.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import * as ldk from 'lightningdevkit';

let wasmReady: Promise<void> | undefined;

/** Loads liblightningjs.wasm once per process (the bindings hold global state). */
function initWasm(): Promise<void> {
  if (!wasmReady) {
    const require = createRequire(import.meta.url);
    const pkg = dirname(require.resolve('lightningdevkit/package.json'));
    wasmReady = ldk.initializeWasmFromBinary(readFileSync(join(pkg, 'liblightningjs.wasm')));
  }
  return wasmReady;
}

export class LdkPeer {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private readonly ticker: NodeJS.Timeout;
  private nextId = 1n;

  private constructor(
    private readonly pm: ldk.PeerManager,
    readonly nodeId: Uint8Array,
    /** LDK's log lines, for a failing test's message. */
    readonly log: string[],
  ) {
    // LDK queues some sends (and its own pings) until process_events; a short tick keeps it moving.
    this.ticker = setInterval(() => this.pm.process_events(), 20);
  }

  static async start(seed: Uint8Array): Promise<LdkPeer> {
    await initWasm();
    const now = Date.now();
    const keys = ldk.KeysManager.constructor_new(seed, BigInt(Math.floor(now / 1000)), (now % 1000) * 1e6);
    const signer = keys.as_NodeSigner();
    const id = signer.get_node_id(ldk.Recipient.LDKRecipient_Node);
    if (!(id instanceof ldk.Result_PublicKeyNoneZ_OK)) throw new Error('LDK: no node id');
    const log: string[] = [];
    const logger = ldk.Logger.new_impl({
      log(record: ldk.Record): void {
        log.push(`${record.get_module_path()}: ${record.get_args()}`);
      },
    });
    const erroring = ldk.ErroringMessageHandler.constructor_new();
    const ignoring = ldk.IgnoringMessageHandler.constructor_new();
    const pm = ldk.PeerManager.constructor_new(
      erroring.as_ChannelMessageHandler(),
      ignoring.as_RoutingMessageHandler(),
      ignoring.as_OnionMessageHandler(),
      ignoring.as_CustomMessageHandler(),
      Math.floor(now / 1000),
      keys.as_EntropySource().get_secure_random_bytes(),
      logger,
      signer,
    );
    return new LdkPeer(pm, id.res, log);
  }

  /** LDK's view of its connected peers (after init): their node ids, hex. */
  peers(): string[] {
    return this.pm.list_peers().map((p) => Buffer.from(p.get_counterparty_node_id()).toString('hex'));
  }

  /** Accepts connections on 127.0.0.1 (one listener, started on first call); returns the port. */
  async listen(): Promise<number> {
    if (this.server) return (this.server.address() as net.AddressInfo).port;
    this.server = net.createServer((s) => {
      const d = this.descriptor(s);
      const r = this.pm.new_inbound_connection(d, ldk.Option_SocketAddressZ.constructor_none());
      if (!r.is_ok()) {
        s.destroy();
        return;
      }
      this.pump(s, d);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Dials a node as LDK's initiator (LDK writes act one). */
  async connect(port: number, theirNodeId: Uint8Array): Promise<void> {
    const s = net.connect(port, '127.0.0.1');
    await once(s, 'connect');
    const d = this.descriptor(s);
    const r = this.pm.new_outbound_connection(theirNodeId, d, ldk.Option_SocketAddressZ.constructor_none());
    if (!(r instanceof ldk.Result_CVec_u8ZPeerHandleErrorZ_OK)) throw new Error('LDK refused to start the connection');
    this.pump(s, d);
    s.write(r.res);
  }

  /** Sends a ping through LDK's own timer (it pings every peer on each tick). */
  tick(): void {
    this.pm.timer_tick_occurred();
    this.pm.process_events();
  }

  stop(): void {
    clearInterval(this.ticker);
    this.server?.close();
    for (const s of this.sockets) s.destroy();
  }

  /** A SocketDescriptor writing to `s`: LDK calls it synchronously from read_event/process_events. */
  private descriptor(s: net.Socket): ldk.SocketDescriptor {
    const id = this.nextId++;
    this.sockets.add(s);
    return ldk.SocketDescriptor.new_impl({
      send_data: (data: Uint8Array, resumeRead: boolean): number => {
        if (s.destroyed) return 0;
        s.write(Buffer.from(data)); // Node buffers the rest: everything counts as sent
        if (resumeRead) s.resume();
        return data.length;
      },
      disconnect_socket: (): void => {
        s.destroy();
      },
      eq: (other: ldk.SocketDescriptor): boolean => other.hash() === id,
      hash: (): bigint => id,
    });
  }

  /** Feeds the socket's bytes to LDK; an error from LDK (bad MAC, unknown even type…) closes the socket. */
  private pump(s: net.Socket, d: ldk.SocketDescriptor): void {
    s.on('data', (chunk: Buffer) => {
      const r = this.pm.read_event(d, chunk);
      if (!(r instanceof ldk.Result_boolPeerHandleErrorZ_OK)) {
        s.destroy();
        this.pm.socket_disconnected(d);
        return;
      }
      if (r.res) s.pause(); // LDK asks us to stop reading until its send buffer drains
      this.pm.process_events();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      this.sockets.delete(s);
      this.pm.socket_disconnected(d);
    });
  }
}
