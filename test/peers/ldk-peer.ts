// A second, independent BOLT 8 + BOLT 1 implementation for the interop test: LDK's PeerManager (Rust, compiled to
// wasm, from the `lightningdevkit` npm package) driven over real Node TCP sockets by the same glue anyad's embedded
// LDK node uses (src/adapters/lightning/ldk/net.ts: it moves bytes, LDK does the protocol). It has no channel,
// gossip, onion or custom message logic (Erroring/Ignoring handlers): what it exercises is LDK's own transport, init
// and ping/pong. The wasm is read from node_modules; nothing is downloaded.
import * as ldk from 'lightningdevkit';
import { LdkNet } from '../../src/adapters/lightning/ldk/net.js';
import { initLdk } from '../../src/adapters/lightning/ldk/wasm.js';

export class LdkPeer {
  private readonly ticker: NodeJS.Timeout;
  private readonly net: LdkNet;
  private port: number | undefined;

  private constructor(
    private readonly pm: ldk.PeerManager,
    readonly nodeId: Uint8Array,
    /** LDK's log lines, for a failing test's message. */
    readonly log: string[],
  ) {
    this.net = new LdkNet(pm);
    // LDK queues some sends (and its own pings) until process_events; a short tick keeps it moving.
    this.ticker = setInterval(() => this.pm.process_events(), 20);
  }

  static async start(seed: Uint8Array): Promise<LdkPeer> {
    await initLdk();
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
    this.port ??= await this.net.listen('127.0.0.1', 0);
    return this.port;
  }

  /** Dials a node as LDK's initiator (LDK writes act one). */
  async connect(port: number, theirNodeId: Uint8Array): Promise<void> {
    await this.net.connect(theirNodeId, '127.0.0.1', port, 5000);
  }

  /** Sends a ping through LDK's own timer (it pings every peer on each tick). */
  tick(): void {
    this.pm.timer_tick_occurred();
    this.pm.process_events();
  }

  stop(): Promise<void> {
    clearInterval(this.ticker);
    return this.net.close();
  }
}
