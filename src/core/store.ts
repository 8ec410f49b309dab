// The store as a room sees it: its own sublevel, batches that are atomic across rooms, and the few store-wide acts a
// room may ask for. store/store.ts is the LevelDB implementation the daemon opens; rooms code against this.

import type { Level } from 'level';
import type { AbstractSublevel } from 'abstract-level';
import type { StorageFailure } from './storage.js';

export type RoomDb = AbstractSublevel<Level<string, unknown>, string | Buffer | Uint8Array, string, unknown>;
export type BatchOp = { type: 'put'; sublevel: RoomDb; key: string; value: unknown } | { type: 'del'; sublevel: RoomDb; key: string };

export interface Migration {
  /** The schema version this migration produces; versions start at 1 and have no gaps. */
  version: number;
  description: string;
  /** Returns the operations that upgrade the room's data; they are written with the version bump in one batch. */
  up(db: RoomDb): Promise<BatchOp[]>;
}

/** A file a room keeps beside LevelDB (e.g. the keystore), by a stable name: a backup carries it. */
export interface StateFile {
  name: string;
  path: string;
}

export interface Store {
  /** The room's sublevel, its schema brought up to date by `migrations` first. */
  room(name: string, migrations?: readonly Migration[]): Promise<RoomDb>;
  /**
   * Writes the operations in one atomic batch (synced unless `sync: false`); resolves once durable. Rejects with
   * StorageFailure when the disk refuses, and the store then takes no write until it has recovered.
   */
  batch(ops: BatchOp[], opts?: { sync?: boolean }): Promise<void>;
  /** Rewrites a room's LevelDB files so that deleted values (e.g. secrets sealed since) leave the disk. */
  compact(sub: RoomDb): Promise<void>;
  /** The notes the daemon left for rooms about this state (e.g. that a damaged state was accepted). */
  notes(): Promise<Array<{ key: string; value: unknown }>>;
  /** Why the store takes no writes now, or undefined. */
  storageFailure(): StorageFailure | undefined;
}
