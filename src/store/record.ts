// The state record: a small file beside LevelDB (`state.record`) that says which state anyad last wrote — its
// identity (made once, also kept inside LevelDB), its generation (bumped by every write) and how many records each
// room held. LevelDB skips what it cannot read and makes a missing folder anew; this file is how a damaged,
// missing, emptied or older state is told apart from the one anyad left (as Core Lightning refuses a database that
// does not belong to its hsm_secret, and Bitcoin Core names a corrupted chainstate rather than rebuilding it).
//
// Written whole to a temp file, synced, renamed over the old one and the directory synced: a failed write (disk
// full, I/O error) leaves the previous record, which is never ahead of LevelDB (it is written after the batch it
// describes is durable), so a full disk can never look like a rollback.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { replaceFileDurably } from '../core/files.js';

export const RECORD_FORMAT = 1;

export interface StateRecord {
  format: number;
  /** The state's identity: 16 random bytes in hex, made when the state was. */
  id: string;
  /** The number of synced batches the state has taken; it only grows. */
  generation: number;
  /** Records per room (sublevel) after that batch. */
  counts: Record<string, number>;
  written: string;
}

export class RecordError extends Error {
  override name = 'RecordError';
}

/** The record, or undefined when there is none. Throws RecordError when the file is there but unreadable. */
export async function readRecord(path: string): Promise<StateRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RecordError(`cannot read the state record ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let r: Partial<StateRecord>;
  try {
    r = JSON.parse(text) as Partial<StateRecord>;
  } catch {
    throw new RecordError(`the state record ${path} is damaged (not JSON)`);
  }
  if (
    r.format !== RECORD_FORMAT ||
    typeof r.id !== 'string' ||
    !/^[0-9a-f]{32}$/.test(r.id) ||
    !Number.isSafeInteger(r.generation) ||
    typeof r.counts !== 'object' ||
    r.counts === null ||
    Object.values(r.counts).some((n) => !Number.isSafeInteger(n) || n < 0)
  ) {
    throw new RecordError(`the state record ${path} is damaged (format ${String(r.format)}, fields missing or wrong)`);
  }
  return r as StateRecord;
}

/** Writes the record durably (temp, fsync, rename, fsync of the directory). */
export async function writeRecord(path: string, record: StateRecord): Promise<void> {
  await replaceFileDurably(path, `${JSON.stringify(record)}\n`);
}

export function newStateId(): string {
  return randomBytes(16).toString('hex');
}
