// Writing files safely. Files that must never replace what is already there (backups, exported datasets): the
// content goes to a temporary file first, then link(2) gives it its final name, which fails atomically when that
// name exists. Files kept beside the state that are replaced as a whole (the keystore, the audit head, the state
// record): written to a temp file, synced, renamed over the old one, the directory synced — a failure at any step
// (disk full, I/O error) leaves the previous file whole and no temp file behind.

import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

export class FileExistsError extends Error {
  override name = 'FileExistsError';
}

/** Gives the finished temp file its final name, or fails with FileExistsError; the temp file is removed either way. */
export async function publishNoClobber(tmp: string, to: string): Promise<void> {
  try {
    await link(tmp, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw code === 'EEXIST'
      ? new FileExistsError(`${to} already exists; anyad does not overwrite files`)
      : new Error(`cannot create ${to}: ${code ?? (err as Error).message}`);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Replaces `path` with `data` durably (temp, fsync, rename, fsync of the directory); the file is made with `mode`. */
export async function replaceFileDurably(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // The rename is durable once the directory is: until then a crash could bring back the old file.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
