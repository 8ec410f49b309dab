// The peers of the node's channels, dialed again when they are not connected: after a restart, or when a peer went
// away, so a channel becomes usable again without an ln.connect. Each peer is dialed at the address it was last
// reached on by ln.connect (kept in LevelDB under 'ldk-node:peer:'); a peer that only ever dialed us has no address
// here and is waited for. Failed dials back off per peer (doubling, with jitter so that two nodes dialing each other
// do not keep meeting halfway, up to MAX_MS), and start over once the peer is connected. The jitter is ±50%, wider
// than core/backoff.ts's ±25% for reconnecting to a server, so two anyads redialing each other after a crash do not
// stay in step.

import type { Logger } from 'pino';
import type { RoomDb, Store } from '../../../core/store.js';
import type { LdkNode } from './node.js';
import { hex } from './wasm.js';

const PEER = 'ldk-node:peer:';
const TICK_MS = 1000;
const FIRST_MS = 1000;
const MAX_MS = 60_000;

export interface PeerAddress {
  host: string;
  port: number;
}

interface Backoff {
  at: number;
  delay: number;
  attempts: number;
  address: PeerAddress;
}

export class LdkRedial {
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff = new Map<string, Backoff>();
  private ticking = false;

  constructor(
    private readonly o: {
      db: RoomDb;
      store: Store;
      log: Logger;
      /** Dials and waits for the handshake (the backend's connect); rejects saying why not. */
      dial: (id: string, host: string, port: number) => Promise<void>;
    },
  ) {}

  /** Keeps the address a peer was reached on (durably: it is what a restart dials). */
  async remember(id: string, a: PeerAddress): Promise<void> {
    const known = (await this.o.db.get(PEER + id)) as PeerAddress | undefined;
    if (known?.host === a.host && known.port === a.port) return;
    await this.o.store.batch([{ type: 'put', sublevel: this.o.db, key: PEER + id, value: { host: a.host, port: a.port } }]);
  }

  /** The address kept for a peer, if any. */
  async address(id: string): Promise<PeerAddress | undefined> {
    return (await this.o.db.get(PEER + id)) as PeerAddress | undefined;
  }

  /** How the redialing of a peer stands, in words for health: where, and the attempts failed so far. */
  state(id: string): string | undefined {
    const b = this.backoff.get(id);
    if (!b || b.attempts === 0) return undefined;
    return `redialing ${b.address.host}:${b.address.port}, ${b.attempts} attempt${b.attempts === 1 ? '' : 's'} failed`;
  }

  /** Looks at once (a restart: the channels' peers are all away), then every TICK_MS. */
  start(node: LdkNode): void {
    this.stop();
    void this.tick(node);
    this.timer = setInterval(() => void this.tick(node), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(node: LdkNode): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const connected = new Set(node.pm.list_peers().map((p) => hex(p.get_counterparty_node_id())));
      const wanted = new Set(node.cm.list_channels().map((c) => hex(c.get_counterparty().get_node_id())));
      for (const id of this.backoff.keys()) if (connected.has(id) || !wanted.has(id)) this.backoff.delete(id);
      const now = Date.now();
      const due = [...wanted].filter((id) => !connected.has(id) && (this.backoff.get(id)?.at ?? 0) <= now);
      for (const id of due) {
        const a = await this.address(id);
        if (!a || this.timer === undefined) continue;
        const b = this.backoff.get(id) ?? { at: 0, delay: FIRST_MS, attempts: 0, address: a };
        b.address = a;
        // Marked before the dial: the next tick does not dial it again while this one is under way.
        b.at = Number.POSITIVE_INFINITY;
        this.backoff.set(id, b);
        void this.o.dial(id, a.host, a.port).then(
          () => {
            this.backoff.delete(id);
            this.o.log.info({ peer: id, host: a.host, port: a.port, attempts: b.attempts + 1 }, 'LDK peer of a channel redialed');
          },
          (err: Error) => {
            b.attempts += 1;
            b.at = Date.now() + b.delay * (0.5 + Math.random());
            b.delay = Math.min(b.delay * 2, MAX_MS);
            this.o.log.debug(
              { peer: id, host: a.host, port: a.port, attempts: b.attempts, reason: err.message },
              'LDK peer of a channel not reached; retrying',
            );
          },
        );
      }
    } finally {
      this.ticking = false;
    }
  }
}
