// Backup and restore of the whole state. A backup is read through one LevelDB iterator, which sees a single
// snapshot, so it is consistent even while rooms keep writing. The file is line-oriented JSON: a header, one
// [key, value] pair per line (base64), the state files rooms keep beside LevelDB ({"file", "data"}: the encrypted
// keystore), and a trailer with the entry count and an HMAC-SHA256 of everything before it. The HMAC key is not in
// the backup (backupkeyfile, 0600 beside the state), so a truncated file, or an edited one with its checksum
// recomputed, is refused before anything is touched.

import { createHmac, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { FileExistsError, publishNoClobber } from '../core/files.js';
import { createInterface } from 'node:readline';
import type { Store } from './store.js';
import type { StateFile } from '../core/store.js';

export type { StateFile };

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
  /** HMAC-SHA256 (with the backup key) of everything before the trailer. */
  hmac: string;
  files: string[];
}

export class BackupError extends Error {
  override name = 'BackupError';
}

/** Writes a consistent snapshot of the store to `dest` (created 0600, never overwriting an existing file). */
export async function writeBackup(
  store: Store,
  dest: string,
  meta: { network: string; version: string; key: Buffer; files?: StateFile[] },
): Promise<BackupSummary> {
  const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
  } catch (err) {
    throw new BackupError(`cannot create ${tmp}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const file = fh;
  const hash = createHmac('sha256', meta.key);
  let bytes = 0;
  let entries = 0;
  const included: string[] = [];
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
    const header: BackupHeader = {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      network: meta.network,
      created: new Date().toISOString(),
      anya_version: meta.version,
    };
    pending.push(`${JSON.stringify(header)}\n`);
    for await (const [k, v] of store.db.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer' }) as AsyncIterable<[Buffer, Buffer]>) {
      pending.push(`${JSON.stringify([k.toString('base64'), v.toString('base64')])}\n`);
      entries++;
      if (pending.length >= 512) await flush();
    }
    for (const f of meta.files ?? []) {
      const data = await readFile(f.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw new BackupError(`cannot read ${f.name} (${f.path}): ${err.code ?? err.message}`);
      });
      if (data === undefined) continue;
      pending.push(`${JSON.stringify({ file: f.name, data: data.toString('base64') })}\n`);
      included.push(f.name);
    }
    await flush();
    const hmac = hash.digest('hex');
    const trailer = `${JSON.stringify({ entries, files: included.length, hmac })}\n`;
    await file.write(trailer);
    bytes += Buffer.byteLength(trailer);
    await file.sync();
    await file.close();
    fh = undefined;
    await publishNoClobber(tmp, dest).catch((err: Error) => {
      throw new BackupError(err.message);
    });
    return { path: dest, entries, bytes, hmac, files: included };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export interface BackupContents {
  header: BackupHeader;
  entries: Array<[Buffer, Buffer]>;
  files: Array<{ name: string; data: Buffer }>;
}

/** Reads and fully verifies a backup file against the backup key. Throws BackupError naming what is wrong. */
export async function readBackup(path: string, expectNetwork: string, key: Buffer): Promise<BackupContents> {
  let stream;
  try {
    const fh = await open(path, 'r');
    await fh.close();
    stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 16 });
  } catch (err) {
    throw new BackupError(`cannot read backup ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const hash = createHmac('sha256', key);
  let header: BackupHeader | undefined;
  let trailer: { entries: number; files?: number; hmac?: string; sha256?: string } | undefined;
  const entries: Array<[Buffer, Buffer]> = [];
  const files: BackupContents['files'] = [];
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
      if (h.version !== BACKUP_VERSION)
        throw new BackupError(`${path}: backup format version ${h.version} is not supported (this anyad reads ${BACKUP_VERSION})`);
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
    const obj = parsed as { file?: unknown; data?: unknown };
    if (obj && typeof obj.file === 'string' && typeof obj.data === 'string') {
      files.push({ name: obj.file, data: Buffer.from(obj.data, 'base64') });
      hash.update(`${line}\n`);
      continue;
    }
    trailer = parsed as NonNullable<typeof trailer>;
  }
  if (!header) throw new BackupError(`${path}: empty file; not an anyad backup`);
  if (!trailer) throw new BackupError(`${path}: no trailer; the backup is truncated`);
  if (trailer.entries !== entries.length)
    throw new BackupError(`${path}: trailer says ${trailer.entries} entries but the file holds ${entries.length}; the backup is truncated or changed`);
  if (trailer.hmac === undefined)
    throw new BackupError(`${path}: the backup carries no HMAC (written before backups were keyed); it cannot be checked, so it is refused`);
  if ((trailer.files ?? 0) !== files.length)
    throw new BackupError(`${path}: trailer says ${trailer.files} files but the backup holds ${files.length}; it was changed`);
  if (trailer.hmac !== hash.digest('hex')) throw new BackupError(`${path}: HMAC mismatch: the backup was changed or damaged, or made with another backup key`);
  return { header, entries, files };
}

/**
 * Replaces the store's contents with a verified backup in one atomic batch. The previous contents, if any, are
 * first written to `keepAs` so that a restore never destroys data.
 */
export async function restoreInto(
  store: Store,
  contents: BackupContents,
  keepAs: string,
  meta: { network: string; version: string; key: Buffer; files?: StateFile[] },
): Promise<{ entries: number; previous?: BackupSummary; files: string[] }> {
  let hasData = false;
  for await (const _ of store.db.keys({ limit: 1 })) hasData = true;
  const previous = hasData ? await writeBackup(store, keepAs, meta) : undefined;
  // State files: one that differs is moved aside (never deleted), then the backup's is written 0600.
  const restored: string[] = [];
  for (const f of contents.files) {
    const target = meta.files?.find((x) => x.name === f.name);
    if (!target) throw new BackupError(`the backup holds ${f.name}, which this anyad's configuration does not use; refusing to guess where it goes`);
    const current = await readFile(target.path).catch(() => undefined);
    if (current?.equals(f.data)) continue;
    if (current) await rename(target.path, `${target.path}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    const fh = await open(target.path, 'wx', 0o600);
    try {
      await fh.writeFile(f.data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    restored.push(f.name);
  }
  const ops: Array<{ type: 'put' | 'del'; key: Buffer; value?: Buffer }> = [];
  for await (const k of store.db.keys({ keyEncoding: 'buffer' }) as AsyncIterable<Buffer>) ops.push({ type: 'del', key: k });
  for (const [k, v] of contents.entries) ops.push({ type: 'put', key: k, value: v });
  await store.db.batch(ops as never, { keyEncoding: 'buffer', valueEncoding: 'buffer', sync: true } as never);
  return previous ? { entries: contents.entries.length, previous, files: restored } : { entries: contents.entries.length, files: restored };
}

/**
 * The backup key (backupkeyfile): 32 random bytes made 0600 on first use. It never goes into a backup: keep a copy
 * apart from the backups (a restore on another machine needs it).
 */
export async function backupKey(path: string, create: boolean): Promise<Buffer> {
  try {
    const key = await readFile(path);
    if (key.length !== 32) throw new BackupError(`the backup key ${path} is not 32 bytes; refusing to use it`);
    return key;
  } catch (err) {
    if (err instanceof BackupError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new BackupError(`cannot read the backup key ${path}: ${(err as NodeJS.ErrnoException).code}`);
    if (!create)
      throw new BackupError(
        `the backup key ${path} is missing: put the backupkeyfile that was beside the state when the backup was made there (it is never inside a backup)`,
      );
  }
  // Written whole to a temp file, then published with link(2): two first backups at once agree on one key.
  const key = randomBytes(32);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(key);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await publishNoClobber(tmp, path);
  } catch (err) {
    if (err instanceof FileExistsError) return backupKey(path, false);
    throw new BackupError((err as Error).message);
  }
  return key;
}
