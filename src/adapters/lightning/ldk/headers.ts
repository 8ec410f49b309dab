// The headers of the blocks the embedded node followed, so a reorg can be followed back without the chain node's copy
// of the stale blocks: LDK disconnects a block only given its exact header, and bcoin forgets a block it reorganised
// away (`getblock` answers "Block not found"; Core keeps them unless pruned). Kept in the lightning room's LevelDB for
// the last KEEP heights, unsynced: LevelDB's log holds them in order before the manager and monitors written after,
// so whatever best block a restart reads back, its header was written before it.

import type { Logger } from 'pino';
import type { BatchOp, RoomDb, Store } from '../../../core/store.js';

const HEADER = 'ldk-node:header:';
/** Two days of blocks: deeper reorgs than that are not followed back by anyone. */
const KEEP = 288;
/** How often (in blocks) the headers below the kept window are removed. */
const PRUNE_EVERY = 144;

const keyOf = (height: number, hash: string): string => `${HEADER}${String(height).padStart(10, '0')}:${hash}`;

export class HeaderLog {
  /** The window in memory too, by key: a disconnect during a reorg reads no LevelDB. */
  private readonly recent = new Map<string, Buffer>();
  private prunedAt = 0;

  constructor(private readonly o: { db: RoomDb; store: Store; log: Logger }) {}

  /** The 80-byte header of the block `hash` at `height`, if it was kept. */
  async header(height: number, hash: string): Promise<Buffer | undefined> {
    const key = keyOf(height, hash);
    const known = this.recent.get(key);
    if (known) return known;
    const v = (await this.o.db.get(key)) as string | undefined;
    return v === undefined ? undefined : Buffer.from(v, 'hex');
  }

  /** Keeps a followed block's header (once per block; written in order behind the writes before it). */
  keep(height: number, hash: string, header: Uint8Array): void {
    const key = keyOf(height, hash);
    if (this.recent.has(key)) return;
    const bytes = Buffer.from(header.subarray(0, 80));
    this.recent.set(key, bytes);
    const ops: BatchOp[] = [{ type: 'put', sublevel: this.o.db, key, value: bytes.toString('hex') }];
    void this.o.store.batch(ops, { sync: false }).catch((err: Error) => this.o.log.warn({ height, reason: err.message }, 'LDK block header not kept'));
    if (height - this.prunedAt >= PRUNE_EVERY) {
      this.prunedAt = height;
      void this.prune(height - KEEP).catch((err: Error) => this.o.log.warn({ reason: err.message }, 'old LDK block headers not removed'));
    }
  }

  private async prune(below: number): Promise<void> {
    const bound = keyOf(below, '');
    for (const k of this.recent.keys()) if (k < bound) this.recent.delete(k);
    const ops: BatchOp[] = [];
    for await (const k of this.o.db.keys({ gte: HEADER, lt: bound })) ops.push({ type: 'del', sublevel: this.o.db, key: k });
    if (ops.length > 0) await this.o.store.batch(ops, { sync: false });
  }
}
