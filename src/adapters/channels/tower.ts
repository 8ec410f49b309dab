// The watchtower for others: justice blobs handed over by any app (sc.towerwatch) for channels this anyad need not
// be party to, kept under w:<hint>:<blob hash>, and tried on every transaction the bitcoin room's watcher sees (a
// block's, and each mempool transaction as it arrives: the tower is one of its chain listeners) whose txid starts
// with a hint; a blob that opens is the penalty, sent at once (again at every block holding the breach, should the
// node refuse it). Signs nothing itself.

import { createHash } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../core/errors.js';
import type { ChainListener, ListenerWrite } from '../bitcoin/api.js';
import type { ChannelContext } from './context.js';
import { openJustice } from './justice.js';
import { SC_TOWER } from './topics.js';

/** The most blobs one tower holds (each a few hundred bytes on disk, 16 bytes of hint in memory). */
const MAX_TOWER_BLOBS = 1_000_000;

export class Tower {
  private readonly room: ChannelContext;
  /** The hints of the blobs held, to look up every transaction seen. */
  private readonly hints = new Set<string>();
  /** How many blobs are held (several may share a hint): what MAX_TOWER_BLOBS bounds. */
  private blobs = 0;

  constructor(settings: { room: ChannelContext }) {
    this.room = settings.room;
  }

  /** Reads the hints of the blobs held (at start). */
  async load(): Promise<void> {
    for await (const key of this.room.db.keys({ gte: 'w:', lt: 'w;' })) {
      this.hints.add(key.slice(2, 34));
      this.blobs++;
    }
  }

  get watching(): boolean {
    return this.hints.size > 0;
  }

  /** Keeps a justice blob for a channel this anyad need not be party to; answered once it is durable. */
  async watch(hint: string, blob: string): Promise<{ hint: string; watched: number }> {
    hint = hint.toLowerCase();
    const key = `w:${hint}:${createHash('sha256').update(blob, 'hex').digest('hex').slice(0, 16)}`;
    // Check, write and count are one critical section: concurrent callers never take the tower past its bound.
    return this.room.locks.run('tower', async () => {
      if ((await this.room.db.get(key)) !== undefined) return { hint, watched: this.hints.size }; // held already
      if (this.blobs >= MAX_TOWER_BLOBS) throw rpcError('Busy', `the tower holds ${MAX_TOWER_BLOBS} blobs already`);
      await this.room.store.batch([{ type: 'put', sublevel: this.room.db, key, value: { blob: blob.toLowerCase(), added: new Date().toISOString() } }], {
        sync: true,
      });
      this.hints.add(hint);
      this.blobs++;
      return { hint, watched: this.hints.size };
    });
  }

  /**
   * The tower follows the chain as a listener of the watcher, needing full blocks only while it holds a blob; it
   * writes nothing in the watcher's batch, and looks once the step is durable. `queue` runs the looks in order.
   */
  listener(queue: (f: () => Promise<void>) => void): ChainListener {
    const after = (txids: string[]): ListenerWrite | undefined =>
      txids.some((t) => this.hints.has(t.slice(0, 32))) ? { ops: [], after: () => queue(() => this.look(txids)) } : undefined;
    return {
      active: () => this.watching,
      connected: (block) => after(block.tx.map((t) => t.txid)),
      rewound: () => undefined,
      mempool: (tx) => after([tx.txid]),
    };
  }

  /** Transactions just seen: a hint that matches is tried, and its penalty sent. */
  private async look(txids: string[]): Promise<void> {
    const { db, chain, log, bus } = this.room;
    for (const txid of txids) {
      const hint = txid.slice(0, 32);
      if (!this.hints.has(hint)) continue;
      for await (const [key, v] of db.iterator({ gte: `w:${hint}:`, lt: `w:${hint};` })) {
        const penalty = openJustice(txid, (v as { blob: string }).blob);
        if (!penalty) continue; // another transaction with the same first 16 bytes, or not ours to read
        // A blob is whatever an app handed to sc.towerwatch: one that opens to bytes that are not a transaction is
        // logged and skipped, and the pass goes on with every other blob and transaction.
        let penaltyTxid: string;
        try {
          penaltyTxid = bitcoin.Transaction.fromHex(penalty).getId();
        } catch (err) {
          log.warn({ breach: txid, blob: key, reason: (err as Error).message }, 'tower: a blob opens to bytes that are not a transaction; skipped');
          continue;
        }
        await chain.broadcast(penalty, 'the penalty').then(
          () => {
            log.warn({ breach: txid, penalty: penaltyTxid }, 'tower: a revoked state on chain; penalty broadcast');
            bus.publish(SC_TOWER, { breach_txid: txid, penalty_txid: penaltyTxid });
          },
          (err: Error) => log.warn({ breach: txid, reason: err.message }, 'tower: penalty refused; next block retries'),
        );
      }
    }
  }
}
