// Backup and restore of the whole state. A backup is read through one LevelDB iterator, which sees a single
// snapshot, so it is consistent even while rooms keep writing. The file is line-oriented JSON: a header, one
// [key, value] pair per line (base64), and a trailer with the entry count and the SHA-256 of everything before it,
// so a truncated or edited file is refused before anything is touched.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { publishNoClobber } from '../core/files.js';
import { createInterface } from 'node:readline';
import type { Store } from './store.js';

export const BACKUP_FORMAT = 'anya-backup';
export const BACKUP_VERSION = 1;
/** A line longer than this cannot come from anyad; refusing it bounds memory when reading a hostile file. */
const MAX_LINE = 16 * 1024 * 1024;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: number;
  network: string;
  created: string;
  anya_version: string;
}

export interface BackupSummary {
  path: string;
  entries: number;
  bytes: number;
  sha256: string;
}

export class BackupError extends Error {
  override name = 'BackupError';
}

/** Writes a consistent snapshot of the store to `dest` (created 0600, never overwriting an existing file). */
export async function writeBackup(store: Store, dest: string, meta: { network: string; version: string }): Promise<BackupSummary> {
  const tmp = `${dest}.tmp-${process.pid}`;
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
  } catch (err) {
    throw new BackupError(`cannot create ${tmp}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const file = fh;
  const hash = createHash('sha256');
  let bytes = 0;
  let entries = 0;
  let pending: string[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const chunk = pending.join('');
    pending = [];
    hash.update(chunk);
    bytes += Buffer.byteLength(chunk);
    await file.write(chunk);
  };
  try {
    const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, network: meta.network, created: new Date().toISOString(), anya_version: meta.version };
    pending.push(`${JSON.stringify(header)}\n`);
    for await (const [k, v] of store.db.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer' }) as AsyncIterable<[Buffer, Buffer]>) {
      pending.push(`${JSON.stringify([k.toString('base64'), v.toString('base64')])}\n`);
      entries++;
      if (pending.length >= 512) await flush();
    }
    await flush();
    const sha256 = hash.digest('hex');
    const trailer = `${JSON.stringify({ entries, sha256 })}\n`;
    await file.write(trailer);
    bytes += Buffer.byteLength(trailer);
    await file.sync();
    await file.close();
    fh = undefined;
    await publishNoClobber(tmp, dest).catch((err: Error) => {
      throw new BackupError(err.message);
    });
    return { path: dest, entries, bytes, sha256 };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export interface BackupContents {
  header: BackupHeader;
  entries: Array<[Buffer, Buffer]>;
}

/** Reads and fully verifies a backup file. Throws BackupError naming what is wrong. */
export async function readBackup(path: string, expectNetwork: string): Promise<BackupContents> {
  let stream;
  try {
    const fh = await open(path, 'r');
    await fh.close();
    stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 16 });
  } catch (err) {
    throw new BackupError(`cannot read backup ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const hash = createHash('sha256');
  let header: BackupHeader | undefined;
  let trailer: { entries: number; sha256: string } | undefined;
  const entries: Array<[Buffer, Buffer]> = [];
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.length > MAX_LINE) throw new BackupError(`${path}:${lineNo}: line too long; not an anyad backup`);
    if (trailer) throw new BackupError(`${path}:${lineNo}: data after the trailer; the file was changed`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new BackupError(`${path}:${lineNo}: not valid JSON; the file is damaged`);
    }
    if (!header) {
      const h = parsed as Partial<BackupHeader>;
      if (h?.format !== BACKUP_FORMAT) throw new BackupError(`${path}: not an anyad backup (no ${BACKUP_FORMAT} header)`);
      if (h.version !== BACKUP_VERSION) throw new BackupError(`${path}: backup format version ${h.version} is not supported (this anyad reads ${BACKUP_VERSION})`);
      if (h.network !== expectNetwork) throw new BackupError(`${path}: backup is of network '${h.network}', but anyad runs on '${expectNetwork}'`);
      header = h as BackupHeader;
      hash.update(`${line}\n`);
      continue;
    }
    if (Array.isArray(parsed)) {
      if (parsed.length !== 2 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') throw new BackupError(`${path}:${lineNo}: malformed entry`);
      entries.push([Buffer.from(parsed[0], 'base64'), Buffer.from(parsed[1], 'base64')]);
      hash.update(`${line}\n`);
      continue;
    }
    trailer = parsed as { entries: number; sha256: string };
  }
  if (!header) throw new BackupError(`${path}: empty file; not an anyad backup`);
  if (!trailer) throw new BackupError(`${path}: no trailer; the backup is truncated`);
  if (trailer.entries !== entries.length) throw new BackupError(`${path}: trailer says ${trailer.entries} entries but the file holds ${entries.length}; the backup is truncated or changed`);
  if (trailer.sha256 !== hash.digest('hex')) throw new BackupError(`${path}: checksum mismatch; the backup was changed or damaged`);
  return { header, entries };
}

/**
 * Replaces the store's contents with a verified backup in one atomic batch. The previous contents, if any, are
 * first written to `keepAs` so that a restore never destroys data.
 */
export async function restoreInto(store: Store, contents: BackupContents, keepAs: string, meta: { network: string; version: string }): Promise<{ entries: number; previous?: BackupSummary }> {
  let hasData = false;
  for await (const _ of store.db.keys({ limit: 1 })) hasData = true;
  const previous = hasData ? await writeBackup(store, keepAs, meta) : undefined;
  const ops: Array<{ type: 'put' | 'del'; key: Buffer; value?: Buffer }> = [];
  for await (const k of store.db.keys({ keyEncoding: 'buffer' }) as AsyncIterable<Buffer>) ops.push({ type: 'del', key: k });
  for (const [k, v] of contents.entries) ops.push({ type: 'put', key: k, value: v });
  await store.db.batch(ops as never, { keyEncoding: 'buffer', valueEncoding: 'buffer', sync: true } as never);
  return previous ? { entries: contents.entries.length, previous } : { entries: contents.entries.length };
}
