// One LevelDB for the whole daemon. Each room gets its own sublevel with its own schema version and forward
// migrations; writes that belong together go in one batch. LevelDB's LOCK file doubles as the datadir lock: a
// second anyad on the same datadir fails to open it and stops at once.

import { Level } from 'level';
import type { AbstractSublevel } from 'abstract-level';

export type RoomDb = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, unknown>;
export type BatchOp = { type: 'put'; sublevel: RoomDb; key: string; value: unknown } | { type: 'del'; sublevel: RoomDb; key: string };

export interface Migration {
  /** The schema version this migration produces; versions start at 1 and have no gaps. */
  version: number;
  description: string;
  /** Returns the operations that upgrade the room's data; they are written with the version bump in one batch. */
  up(db: RoomDb): Promise<BatchOp[]>;
}

export class StoreLockedError extends Error {
  override name = 'StoreLockedError';
}
export class StoreError extends Error {
  override name = 'StoreError';
}

const META = 'meta';
/** The version of the store's own layout (the meta keys, the sublevel naming). */
export const STORE_FORMAT = 1;

export class Store {
  private readonly rooms = new Map<string, RoomDb>();
  private readonly meta: RoomDb;

  private constructor(
    readonly location: string,
    readonly db: Level<string, unknown>,
  ) {
    this.meta = db.sublevel<string, unknown>(META, { valueEncoding: 'json' });
  }

  /** Opens (creating if needed) the database. Throws StoreLockedError when another process holds it. */
  static async open(location: string): Promise<Store> {
    const db = new Level<string, unknown>(location, { valueEncoding: 'json' });
    try {
      await db.open({ createIfMissing: true });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new StoreLockedError(`cannot obtain a lock on ${location}: another anyad is probably using this data directory`);
      }
      throw new StoreError(`cannot open the state database at ${location}: ${(cause as Error | undefined)?.message ?? (err as Error).message}`);
    }
    const store = new Store(location, db);
    const format = (await store.meta.get('format')) as number | undefined;
    if (format === undefined) {
      await store.meta.put('format', STORE_FORMAT, { sync: true } as never);
    } else if (format > STORE_FORMAT) {
      await db.close();
      throw new StoreError(`the state at ${location} was written by a newer anyad (store format ${format}; this build knows ${STORE_FORMAT})`);
    }
    return store;
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

  /** The schema version of every room that has one. */
  async versions(): Promise<Record<string, number>> {
    const out: Record<string, number> = { store: STORE_FORMAT };
    for await (const [k, v] of this.meta.iterator({ gte: 'version:', lt: 'version;' })) out[k.slice('version:'.length)] = v as number;
    return out;
  }

  /**
   * Writes the operations atomically. Synced to disk by default: anyad's writes are few and precious (audit log,
   * policy counters), and an acknowledged write must survive a power cut, not only a crash.
   */
  async batch(ops: BatchOp[], opts: { sync?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return;
    await this.db.batch(
      ops.map((op) =>
        op.type === 'put' ? { type: 'put', sublevel: op.sublevel, key: op.key, value: op.value } : { type: 'del', sublevel: op.sublevel, key: op.key },
      ) as never,
      { sync: opts.sync ?? true },
    );
  }

  async close(): Promise<void> {
    if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close();
  }
}
