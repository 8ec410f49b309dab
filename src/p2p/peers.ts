// The persistent peers (peer.connect marks, peer.disconnect unmarks) in the room's LevelDB sublevel: whom to
// reconnect to by ourselves, and where. Each change is one read-check-write under the peer's lock, answered once
// the batch is durable.

import type { BatchOp, RoomDb, Store } from '../core/store.js';
import { KeyedLock } from '../core/keyed-lock.js';

export interface KnownPeer {
  pubkey: string;
  host: string;
  port: number;
  /** When peer.connect first marked it. */
  added: string;
}

export class PeerBook {
  private readonly locks = new KeyedLock();
  private readonly cache = new Map<string, KnownPeer>();

  constructor(
    private readonly db: RoomDb,
    private readonly store: Pick<Store, 'batch'>,
  ) {}

  async load(): Promise<KnownPeer[]> {
    for await (const [, v] of this.db.iterator({ gte: 'peer:', lt: 'peer;' })) {
      const p = v as KnownPeer;
      this.cache.set(p.pubkey, p);
    }
    return this.all();
  }

  all(): KnownPeer[] {
    return [...this.cache.values()];
  }

  get(pubkey: string): KnownPeer | undefined {
    return this.cache.get(pubkey);
  }

  /** Marks the peer persistent at this address (kept if unchanged); resolves once durable. */
  async mark(pubkey: string, host: string, port: number): Promise<KnownPeer> {
    return this.locks.run(pubkey, async () => {
      const was = (await this.db.get(`peer:${pubkey}`)) as KnownPeer | undefined;
      if (was && was.host === host && was.port === port) return was;
      const next: KnownPeer = { pubkey, host, port, added: was?.added ?? new Date().toISOString() };
      await this.store.batch([{ type: 'put', sublevel: this.db, key: `peer:${pubkey}`, value: next } satisfies BatchOp]);
      this.cache.set(pubkey, next);
      return next;
    });
  }

  /** Forgets the peer; answers whether it was marked. */
  async unmark(pubkey: string): Promise<boolean> {
    return this.locks.run(pubkey, async () => {
      const was = (await this.db.get(`peer:${pubkey}`)) !== undefined;
      if (was) await this.store.batch([{ type: 'del', sublevel: this.db, key: `peer:${pubkey}` }]);
      this.cache.delete(pubkey);
      return was;
    });
  }
}
