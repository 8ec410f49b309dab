// Writing files that must never replace what is already there (backups, exported datasets): the content goes to a
// temporary file first, then link(2) gives it its final name, which fails atomically when that name exists.

import { link, unlink } from 'node:fs/promises';

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
