// One LevelDB for the whole daemon. Each room gets its own sublevel with its own schema version and forward
// migrations; writes that belong together go in one batch. LevelDB's LOCK file doubles as the datadir lock: a
// second anyad on the same datadir fails to open it and stops at once.
//
// The state knows itself (issue 34): every batch also writes, in the same atomic LevelDB batch, the state's
// generation and the record count of each room it touched, and after it is durable the same figures go to the
// state record beside LevelDB (record.ts). At open the three must agree — the record, the counts the state keeps
// of itself, and the records really there — or the start is refused with what was found, by room (verify.ts).
//
// A write the disk refuses (full, failing) fails with StorageFailure, and the store takes no further write on that
// LevelDB handle: after a failed synced write LevelDB's log holds a torn record, and a write appended behind it
// would be acknowledged and then lost at the next recovery (measured: it is). The store reopens LevelDB first
// (its recovery drops the torn record), checks that nothing acknowledged went missing, and only then writes again.

import { Level } from 'level';
import { spawn } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { StorageFailure, storageReason } from '../core/storage.js';
import type { BatchOp, Migration, RoomDb, Store as RoomStore } from '../core/store.js';
import { newStateId, writeRecord, type StateRecord, RECORD_FORMAT } from './record.js';

export type { BatchOp, Migration, RoomDb };

export class StoreLockedError extends Error {
  override name = 'StoreLockedError';
}
export class StoreError extends Error {
  override name = 'StoreError';
}

const META = 'meta';
/** The version of the store's own layout (the meta keys, the sublevel naming). */
export const STORE_FORMAT = 1;
/** A failed store retries its reopen at most this often, however many writes come in. */
const RECOVER_EVERY_MS = 1000;
/** The state record is rewritten at most this often (and at close). */
const RECORD_EVERY_MS = 100;

interface Pending {
  ops: BatchOp[];
  sync: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** What the state says of itself: identity, generation and the record count of each room. */
export interface StateFacts {
  id: string;
  generation: number;
  counts: Record<string, number>;
}

export interface StoreOptions {
  /** The state record beside LevelDB; undefined for a store without one (a copy read by a tool, a test). */
  recordFile?: string;
  /** The directory named in storage errors (the network directory): the operator's word for "where". */
  datadir?: string;
  /** Told when the record could not be written after a durable batch (it lags; the next batch tries again). */
  onRecordLag?: (err: unknown) => void;
}

export class Store implements RoomStore {
  private readonly rooms = new Map<string, RoomDb>();
  private readonly meta: RoomDb;
  private facts: StateFacts = { id: '', generation: 0, counts: {} };
  private queue: Pending[] = [];
  private flushing = false;
  /** Set when a write failed for the disk: no write goes to this handle until a reopen has checked the state. */
  private failed: StorageFailure | undefined;
  private lastRecover = 0;
  private recordJob: Promise<void> | undefined;
  private recordAgain = false;
  private lastRecordAt = 0;
  private closed = false;

  private constructor(
    readonly location: string,
    readonly db: Level<string, unknown>,
    private readonly opts: StoreOptions,
  ) {
    this.meta = db.sublevel<string, unknown>(META, { valueEncoding: 'json' });
  }

  /** Opens (creating if needed) the database. Throws StoreLockedError when another process holds it. */
  static async open(location: string, opts: StoreOptions = {}): Promise<Store> {
    const db = new Level<string, unknown>(location, { valueEncoding: 'json' });
    try {
      await db.open({ createIfMissing: true });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new StoreLockedError(`cannot obtain a lock on ${location}: another anyad is probably using this data directory`);
      }
      if (cause?.code === 'LEVEL_CORRUPTION' || /corrupt/i.test(cause?.message ?? '')) {
        throw new StoreCorruptError(`LevelDB reports the state at ${location} as corrupted: ${cause?.message ?? (err as Error).message}`);
      }
      throw new StoreError(`cannot open the state database at ${location}: ${cause?.message ?? (err as Error).message}`);
    }
    const store = new Store(location, db, opts);
    try {
      const format = await store.readMeta('format').catch((err: Error) => {
        throw new StoreCorruptError(`LevelDB cannot read the state at ${location}: ${err.message}`);
      });
      // A format record that is there but not a format is damage, never a new state: writing the format anew would
      // hide it (and pass a newer anyad's state as ours).
      if (format === DAMAGED || (format !== undefined && !isCount(format)))
        throw new StoreCorruptError(`the state at ${location} has a damaged format record (the table holding it is damaged)`);
      if (format === undefined) {
        await db.batch([{ type: 'put', sublevel: store.meta, key: 'format', value: STORE_FORMAT }] as never, { sync: true });
      } else if ((format as number) > STORE_FORMAT) {
        throw new StoreError(`the state at ${location} was written by a newer anyad (store format ${String(format)}; this build knows ${STORE_FORMAT})`);
      }
      store.facts = await store.readFacts().catch((err: Error) => {
        throw new StoreCorruptError(`LevelDB cannot read the state at ${location}: ${err.message}`);
      });
    } catch (err) {
      await db.close();
      throw err;
    }
    return store;
  }

  /** Reads the state's view of itself again (after a restore replaced the state under this handle). */
  async reloadFacts(): Promise<void> {
    this.facts = await this.readFacts();
  }

  /** What the state says of itself (identity, generation, counts); empty id when it has none yet. */
  stateFacts(): StateFacts {
    return { id: this.facts.id, generation: this.facts.generation, counts: { ...this.facts.counts } };
  }

  /**
   * A damaged table can hand back a fact that still parses but is no identity, generation or count: such a fact is
   * taken as absent, so the check against the record names the disagreement and an accepted state is written whole.
   */
  private async readFacts(): Promise<StateFacts> {
    // DAMAGED is neither a string id nor a count: such a fact is taken as absent below.
    const id = await this.readMeta('id');
    const generation = await this.readMeta('generation');
    const counts: Record<string, number> = {};
    const raw = this.meta.iterator({ gte: 'count:', lt: 'count;', valueEncoding: 'utf8' } as never) as AsyncIterable<[string, string]>;
    for await (const [k, v] of raw) {
      const n = parsed(v);
      if (isCount(n)) counts[k.slice('count:'.length)] = n;
    }
    return { id: typeof id === 'string' && STATE_ID.test(id) ? id : '', generation: isCount(generation) ? generation : 0, counts };
  }

  /**
   * One record of the state's own facts, read as text and parsed here: damage inside a value comes back from LevelDB
   * as bytes, and a fact that does not parse is absent (countRecords lists it as damaged), not an error that stops
   * the start before the check can name what is wrong.
   */
  private async readMeta(key: string): Promise<unknown> {
    const text = (await this.meta.get(key, { valueEncoding: 'utf8' } as never)) as unknown as string | undefined;
    if (text === undefined) return undefined;
    const v = parsed(text);
    return v === undefined ? DAMAGED : v;
  }

  /**
   * Counts the records really in the state, per room, reading every key and value (so LevelDB reads every block of
   * every table and a damaged one shows as an error here, not later). Throws StoreCorruptError on a read error.
   * LevelDB reads blocks without checking their checksums, so a damaged block can come back as bytes: every value is
   * JSON, and one that does not parse is a damaged record, listed (not counted) so the caller can refuse or drop it.
   */
  async countRecords(): Promise<{ counts: Record<string, number>; keys: number; damaged: DamagedRecord[] }> {
    const counts: Record<string, number> = {};
    const damaged: DamagedRecord[] = [];
    let keys = 0;
    try {
      const all = this.db.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer', fillCache: false } as never) as AsyncIterable<[Buffer, Buffer]>;
      for await (const [key, value] of all) {
        keys++;
        const k = key.toString('latin1');
        const end = k.startsWith('!') ? k.indexOf('!', 1) : -1;
        const room = end > 0 ? k.slice(1, end) : '(outside any room)';
        if (!parses(value.toString('utf8'))) {
          damaged.push({ room, key, value });
          continue;
        }
        if (room === META) continue;
        counts[room] = (counts[room] ?? 0) + 1;
      }
    } catch (err) {
      throw new StoreCorruptError(`LevelDB cannot read the state at ${this.location}: ${(err as Error).message}`);
    }
    return { counts, keys, damaged };
  }

  /** Removes records that countRecords found damaged (only for a state the operator accepted as it is). */
  async dropDamaged(damaged: readonly DamagedRecord[]): Promise<void> {
    if (damaged.length === 0) return;
    const ops = damaged.map((d) => ({ type: 'del' as const, key: d.key }));
    await this.db.batch(ops as never, { keyEncoding: 'buffer', sync: true } as never);
  }

  /**
   * Makes the state's view of itself what is really there: a new identity when it has none (a new state, or one
   * written before states knew themselves), the counts as counted, the generation past both the state's and the
   * record's. Used for a new state, after a restore, and when the operator accepts a state as it is.
   */
  async adopt(counted: Record<string, number>, atLeastGeneration = 0): Promise<void> {
    const id = this.facts.id || newStateId();
    const generation = Math.max(this.facts.generation, atLeastGeneration) + 1;
    const ops: Array<{ type: 'put' | 'del'; sublevel: RoomDb; key: string; value?: unknown }> = [
      { type: 'put', sublevel: this.meta, key: 'id', value: id },
      { type: 'put', sublevel: this.meta, key: 'generation', value: generation },
    ];
    for (const room of Object.keys(this.facts.counts)) if (!(room in counted)) ops.push({ type: 'del', sublevel: this.meta, key: `count:${room}` });
    for (const [room, n] of Object.entries(counted)) ops.push({ type: 'put', sublevel: this.meta, key: `count:${room}`, value: n });
    await this.db.batch(ops as never, { sync: true });
    this.facts = { id, generation, counts: { ...counted } };
    await this.writeRecordNow();
  }

  /** Keeps a note in the state (e.g. what an accepted state had lost) for the rooms that report such things. */
  async note(key: string, value: unknown): Promise<void> {
    await this.batch([{ type: 'put', sublevel: this.meta, key: `note:${key}`, value }]);
  }

  /** The notes kept with note(), oldest first. */
  async notes(): Promise<Array<{ key: string; value: unknown }>> {
    const out: Array<{ key: string; value: unknown }> = [];
    for await (const [k, v] of this.meta.iterator({ gte: 'note:', lt: 'note;' })) out.push({ key: k.slice('note:'.length), value: v });
    return out;
  }

  /**
   * The sublevel a room owns, after running its pending migrations. Each migration and its version bump are one
   * atomic batch, so a crash mid-way resumes from the last finished step.
   */
  async room(name: string, migrations: readonly Migration[] = []): Promise<RoomDb> {
    if (!/^[a-z][a-z0-9_-]*$/.test(name) || name === META) throw new Error(`invalid room name for the store: '${name}'`);
    if (this.rooms.has(name)) throw new Error(`store room '${name}' is opened twice`);
    const sub = this.db.sublevel<string, unknown>(name, { valueEncoding: 'json' });
    const known = migrations.length;
    migrations.forEach((m, i) => {
      if (m.version !== i + 1) throw new Error(`room '${name}': migration ${i} has version ${m.version}, expected ${i + 1}`);
    });
    const versionKey = `version:${name}`;
    let current = ((await this.meta.get(versionKey)) as number | undefined) ?? 0;
    if (current > known) {
      throw new StoreError(
        `room '${name}' has schema version ${current} in the state, but this anyad knows only up to ${known}: it was written by a newer anyad`,
      );
    }
    for (const m of migrations.slice(current)) {
      const ops = await m.up(sub);
      await this.batch([...ops, { type: 'put', sublevel: this.meta, key: versionKey, value: m.version }]);
      current = m.version;
    }
    this.rooms.set(name, sub);
    return sub;
  }

  /**
   * Compacts a room's key range, so values it replaced or deleted (a secret rewritten sealed) leave the LevelDB
   * files rather than linger in older tables until LevelDB gets round to them.
   */
  async compact(sub: RoomDb): Promise<void> {
    const prefix = (sub as unknown as { prefix: string }).prefix;
    await (this.db as unknown as { compactRange(start: string, end: string): Promise<void> }).compactRange(
      prefix,
      prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1),
    );
  }

  /** The schema version of every room that has one. */
  async versions(): Promise<Record<string, number>> {
    const out: Record<string, number> = { store: STORE_FORMAT };
    for await (const [k, v] of this.meta.iterator({ gte: 'version:', lt: 'version;' })) out[k.slice('version:'.length)] = v as number;
    return out;
  }

  /** The write that failed for the disk and has not been recovered from, if any. */
  storageFailure(): StorageFailure | undefined {
    return this.failed;
  }

  /**
   * Writes the operations atomically. Synced to disk by default: anyad's writes are few and precious (audit log,
   * policy counters), and an acknowledged write must survive a power cut, not only a crash.
   *
   * Batches that arrive while one is being written are written together, in order, as one LevelDB batch (one
   * fsync), with the generation and the counts of the rooms they touch. Rejects with StorageFailure when the disk
   * refuses the write; nothing of the batch is then in the state.
   */
  batch(ops: BatchOp[], opts: { sync?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, sync: opts.sync ?? true, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue;
        this.queue = [];
        if (this.failed && !(await this.recover())) {
          for (const p of group) p.reject(this.failed);
          continue;
        }
        try {
          await this.writeGroup(group);
          for (const p of group) p.resolve();
        } catch (err) {
          const failure = await this.asStorageFailure(err);
          if (failure) {
            this.failed = failure;
            this.lastRecover = Date.now();
            for (const p of group) p.reject(failure);
          } else if (group.length > 1) {
            // Not the disk: one batch of the group is at fault (a value that cannot be encoded). Write each on its
            // own so the others are not refused for it.
            for (const p of group) {
              try {
                await this.writeGroup([p]);
                p.resolve();
              } catch (e) {
                const f = await this.asStorageFailure(e);
                if (f) this.failed = f;
                p.reject(f ?? e);
              }
            }
          } else {
            group[0]!.reject(err);
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** One LevelDB batch for the group, with the counts of the rooms it touches and the next generation. */
  private async writeGroup(group: Pending[]): Promise<void> {
    // Which keys exist before the group: asked of LevelDB once per room, then followed op by op.
    const exists = new Map<RoomDb, Map<string, boolean>>();
    for (const p of group)
      for (const op of p.ops) {
        if (op.sublevel === this.meta) continue;
        let m = exists.get(op.sublevel);
        if (!m) exists.set(op.sublevel, (m = new Map()));
        m.set(op.key, false);
      }
    for (const [sub, m] of exists) {
      const keys = [...m.keys()];
      const has = await sub.hasMany(keys);
      keys.forEach((k, i) => m.set(k, has[i]!));
    }
    const counts = { ...this.facts.counts };
    const touched = new Set<string>();
    const ops: Array<{ type: 'put' | 'del'; sublevel: RoomDb; key: string; value?: unknown }> = [];
    let sync = false;
    for (const p of group) {
      sync ||= p.sync;
      for (const op of p.ops) {
        ops.push(op);
        if (op.sublevel === this.meta) continue;
        const room = roomOf(op.sublevel);
        const m = exists.get(op.sublevel)!;
        const had = m.get(op.key)!;
        if (op.type === 'put' && !had) {
          counts[room] = (counts[room] ?? 0) + 1;
          m.set(op.key, true);
          touched.add(room);
        } else if (op.type === 'del' && had) {
          counts[room] = (counts[room] ?? 1) - 1;
          m.set(op.key, false);
          touched.add(room);
        }
      }
    }
    const generation = this.facts.generation + 1;
    for (const room of touched) ops.push({ type: 'put', sublevel: this.meta, key: `count:${room}`, value: counts[room] });
    ops.push({ type: 'put', sublevel: this.meta, key: 'generation', value: generation });
    await this.db.batch(ops as never, { sync });
    this.facts = { id: this.facts.id, generation, counts };
    this.scheduleRecord();
  }

  /** After a refused write: reopen LevelDB (its recovery drops the torn log record) and check nothing acknowledged is gone. */
  private async recover(): Promise<boolean> {
    if (this.closed || Date.now() - this.lastRecover < RECOVER_EVERY_MS) return false;
    this.lastRecover = Date.now();
    try {
      await this.db.close();
      await this.db.open({ createIfMissing: false });
      await this.meta.open();
      for (const sub of this.rooms.values()) await sub.open();
      const now = await this.readFacts();
      if (now.id !== this.facts.id || now.generation !== this.facts.generation) {
        // Not expected from LevelDB: an acknowledged batch is gone. Stay failed and say so; never write on top.
        this.failed = new StorageFailure(
          this.opts.datadir ?? this.location,
          await freeBytes(this.location),
          `after the disk error the state is at generation ${now.generation}, not ${this.facts.generation}: acknowledged writes are missing; stop anyad and check the disk`,
        );
        return false;
      }
      // A synced write of the generation as it is: proves the disk takes writes again.
      await this.db.batch([{ type: 'put', sublevel: this.meta, key: 'generation', value: this.facts.generation }] as never, { sync: true });
      this.failed = undefined;
      this.scheduleRecord();
      return true;
    } catch (err) {
      this.failed =
        (await this.asStorageFailure(err)) ?? new StorageFailure(this.opts.datadir ?? this.location, await freeBytes(this.location), (err as Error).message);
      return false;
    }
  }

  /** Retries the reopen now (the daemon's disk watch calls it once space is back); true when writes work again. */
  async retryAfterFailure(): Promise<boolean> {
    if (!this.failed) return true;
    if (this.flushing) return false;
    this.flushing = true;
    try {
      this.lastRecover = 0;
      return await this.recover();
    } finally {
      this.flushing = false;
      if (this.queue.length > 0) void this.flush();
    }
  }

  private async asStorageFailure(err: unknown): Promise<StorageFailure | undefined> {
    if (err instanceof StorageFailure) return err;
    const reason = storageReason(err);
    return reason === undefined ? undefined : new StorageFailure(this.opts.datadir ?? this.location, await freeBytes(this.location), reason);
  }

  private scheduleRecord(): void {
    if (!this.opts.recordFile) return;
    if (this.recordJob) {
      this.recordAgain = true;
      return;
    }
    this.recordJob = (async () => {
      do {
        this.recordAgain = false;
        // At most one record write every RECORD_EVERY_MS, however many batches: the record may lag (never lead), and
        // its four synced file operations stay off the thread pool that signatures and batches share.
        const wait = this.lastRecordAt + RECORD_EVERY_MS - Date.now();
        if (wait > 0 && !this.closed) await new Promise((r) => setTimeout(r, wait));
        this.lastRecordAt = Date.now();
        try {
          await this.writeRecordNow();
        } catch (err) {
          // The record lags LevelDB, which is allowed (it is never ahead); the next batch tries again.
          this.opts.onRecordLag?.(err);
          break;
        }
      } while (this.recordAgain);
    })().finally(() => {
      this.recordJob = undefined;
    });
  }

  private async writeRecordNow(): Promise<void> {
    if (!this.opts.recordFile) return;
    const r: StateRecord = { format: RECORD_FORMAT, ...this.stateFacts(), written: new Date().toISOString() };
    await writeRecord(this.opts.recordFile, r);
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setImmediate(r));
    await this.recordJob;
    if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close();
  }
}

/** A record whose value LevelDB returned but which does not decode: its room, its raw key and value. */
export interface DamagedRecord {
  room: string;
  key: Buffer;
  value: Buffer;
}

const STATE_ID = /^[0-9a-f]{32}$/;

/** What readMeta answers for a record that is there but does not parse. */
const DAMAGED = Symbol('damaged');

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function parses(value: string): boolean {
  return parsed(value) !== undefined;
}

/** The JSON value of a record's text, or undefined when it does not parse (no record is stored as JSON undefined). */
function parsed(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

export class StoreCorruptError extends StoreError {
  override name = 'StoreCorruptError';
}

/** The room name of a sublevel made by Store.room (its prefix is `!name!`). */
function roomOf(sub: RoomDb): string {
  const prefix = (sub as unknown as { prefix: string }).prefix;
  return prefix.slice(1, -1);
}

/** Bytes free for an unprivileged writer on the disk holding path, or null when it cannot be read. */
export async function freeBytes(path: string): Promise<number | null> {
  try {
    const s = await statfs(path);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

/**
 * LevelDB's repair: rebuilds the tables from what can still be read (records it cannot read are dropped). Run in a
 * child process: on some damaged tables LevelDB's repair trips one of its own assertions and aborts the process
 * (seen: TableBuilder::Add on keys out of order), which must not take anyad down without a word.
 */
export async function repairState(location: string): Promise<void> {
  const level = createRequire(import.meta.url).resolve('level');
  const script = `require(${JSON.stringify(level)}).Level.repair(${JSON.stringify(location)}).then(() => process.exit(0), (e) => { process.stderr.write(String(e && e.message)); process.exit(2); })`;
  const r = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c.slice(0, 4096)));
    child.on('close', (code, signal) => resolve({ code, signal, err }));
  });
  if (r.code !== 0)
    throw new StoreCorruptError(
      `LevelDB's repair could not rebuild the state at ${location} (${r.signal ? `it stopped with ${r.signal}` : `exit ${r.code}`}${r.err ? `: ${r.err.split('\n')[0]}` : ''})`,
    );
}
