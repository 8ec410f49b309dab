// LDK's state in the lightning room's LevelDB sublevel, under 'ldk-node:' (apart from the ldk backend's records, 'ldk:'). The persistence contract: a ChannelMonitor
// (what lets a channel's funds be claimed, and an old state be punished) must be durable before LDK sends anything
// that depends on it. LevelDB writes are asynchronous and LDK's Persist callbacks are not, so each callback
// serialises the monitor at once, answers InProgress, and tells the ChainMonitor the update completed only once the
// write is on disk (channel_monitor_updated). Writes go in order through one queue, so an older monitor never
// overwrites a newer one. The ChannelManager is written after the events it raised are handled (node.ts), and with
// each monitor that a channel update (or a new channel) changed, in one synced batch, ahead of it: written then, it
// holds that update as in flight, so
// after a crash at any point the manager is never behind its monitors (LDK would force-close the channel: "a
// ChannelManager is stale compared to the current ChannelMonitor"); a monitor behind gets the update replayed.

import type { Logger } from 'pino';
import * as ldk from 'lightningdevkit';
import type { BatchOp, RoomDb, Store } from '../../../core/store.js';
import { hashHex } from './wasm.js';

const MONITOR = 'ldk-node:monitor:';
const ARCHIVED = 'ldk-node:archived:';
export const MANAGER_KEY = 'ldk-node:manager';
export const GRAPH_KEY = 'ldk-node:graph';
export const SCORER_KEY = 'ldk-node:scorer';

const outpointKey = (o: ldk.OutPoint): string => `${hashHex(o.get_txid())}:${o.get_index()}`;

export class LdkPersister {
  private queue: Promise<void> = Promise.resolve();
  /** Set once the ChainMonitor exists (it is built with this persister, so it comes after). */
  chainMonitor: ldk.ChainMonitor | undefined;
  /** A monitor write failed: the channel stays paused (LDK was not told) and health says so. */
  failed: string | undefined;
  readonly impl: ldk.Persist;
  /** Writes the ChannelManager as it is now (node.ts); set once the manager exists. */
  writeManager: ((ops: BatchOp[]) => Promise<void>) | undefined;
  /** Told after LDK learnt a monitor update is durable (node.ts: the messages it held are sent then). */
  completed: (() => void) | undefined;

  constructor(
    private readonly db: RoomDb,
    /** Writes go through the store (synced, and counted in the state's own record count). */
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    this.impl = ldk.Persist.new_impl({
      persist_new_channel: (outpoint: ldk.OutPoint, monitor: ldk.ChannelMonitor) => this.persist(outpoint, monitor, true),
      // No update: a write of the monitor's own chain state, not a change the manager made.
      update_persisted_channel: (outpoint: ldk.OutPoint, update: ldk.ChannelMonitorUpdate | null, monitor: ldk.ChannelMonitor) =>
        this.persist(outpoint, monitor, update !== null),
      archive_persisted_channel: (outpoint: ldk.OutPoint) => this.archive(outpoint),
    });
  }

  /** Serialises now (the objects LDK lends the callback are only valid during it), writes later, then tells LDK. */
  private persist(outpoint: ldk.OutPoint, monitor: ldk.ChannelMonitor, managerFirst: boolean): ldk.ChannelMonitorUpdateStatus {
    const key = outpointKey(outpoint);
    const bytes = Buffer.from(monitor.write()).toString('hex');
    const updateId = monitor.get_latest_update_id();
    const txo = outpoint.clone();
    this.enqueue(async () => {
      const op: BatchOp = { type: 'put', sublevel: this.db, key: MONITOR + key, value: bytes };
      // With the manager that holds this update, in one synced batch; a chain-sync write needs no manager.
      if (managerFirst && this.writeManager) await this.writeManager([op]);
      else await this.store.batch([op]);
      const r = this.chainMonitor?.channel_monitor_updated(txo, updateId);
      // Err: LDK had no update of this id outstanding (a chain-sync write, or one already superseded): harmless.
      if (r && !r.is_ok()) this.log.debug({ channel: key, update: String(updateId) }, 'LDK had no pending monitor update of this id');
      else this.completed?.();
    }, key);
    return ldk.ChannelMonitorUpdateStatus.LDKChannelMonitorUpdateStatus_InProgress;
  }

  /** A channel closed and its outputs claimed long ago: its monitor is kept aside, not deleted (a late dispute). */
  private archive(outpoint: ldk.OutPoint): void {
    const key = outpointKey(outpoint);
    this.enqueue(async () => {
      const v = await this.db.get(MONITOR + key);
      if (v === undefined) return;
      await this.store.batch([
        { type: 'put', sublevel: this.db, key: ARCHIVED + key, value: v },
        { type: 'del', sublevel: this.db, key: MONITOR + key },
      ]);
    }, key);
  }

  private enqueue(job: () => Promise<void>, channel: string): void {
    this.queue = this.queue.then(job).catch((err: Error) => {
      this.failed = `writing the monitor of ${channel} failed: ${err.message}; the channel stays paused`;
      this.log.error({ channel, reason: err.message }, 'LDK monitor write failed: LDK is not told, the channel stays paused');
    });
  }

  /** Every write queued so far is done (at close, and before the manager is written after a monitor change). */
  drained(): Promise<void> {
    return this.queue;
  }

  async monitors(): Promise<Array<{ key: string; bytes: Uint8Array }>> {
    const out: Array<{ key: string; bytes: Uint8Array }> = [];
    for await (const [k, v] of this.db.iterator({ gte: MONITOR, lt: MONITOR + '\xff' }))
      out.push({ key: k.slice(MONITOR.length), bytes: Buffer.from(v as string, 'hex') });
    return out;
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    const v = (await this.db.get(key)) as string | undefined;
    return v === undefined ? undefined : Buffer.from(v, 'hex');
  }

  /**
   * Writes `bytes` under `key`, and `also` after it in the same batch. `sync: false` leaves it in LevelDB's log in
   * order, durable with the next synced write: for what a crash may lose (node.ts says when).
   */
  async write(key: string, bytes: Uint8Array, o: { sync: boolean; also?: BatchOp[] }): Promise<void> {
    const put: BatchOp = { type: 'put', sublevel: this.db, key, value: Buffer.from(bytes).toString('hex') };
    await this.store.batch([put, ...(o.also ?? [])], { sync: o.sync });
  }
}
