// A write that the disk refused (full, out of quota, read-only, failing card). Every layer lets it through as it is,
// so the caller gets one answer naming the data directory and the free space (the StorageFailure code in the RPC
// error table), never a generic internal error; nothing was acknowledged, and the state is as it was before.

/** errno codes that mean "the disk refused the write", not "anyad has a bug". */
const STORAGE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EFBIG']);

export class StorageFailure extends Error {
  override name = 'StorageFailure';
  constructor(
    /** The directory whose disk refused the write (the network directory holding the state). */
    readonly datadir: string,
    /** Bytes free for anyad's user on that disk when the failure was seen (null: unknown). */
    readonly freeBytes: number | null,
    /** What the disk or LevelDB said, in its words (an errno code and message; never data). */
    readonly reason: string,
  ) {
    super(
      `cannot write the state in ${datadir}: ${reason}${freeBytes === null ? '' : ` (${formatBytes(freeBytes)} free)`}; nothing was changed; free some space (or replace a failing disk) and retry`,
    );
  }
}

export function isStorageFailure(err: unknown): err is StorageFailure {
  return err instanceof StorageFailure;
}

/**
 * The disk's reason when err is a refused write: an errno from the file system (ENOSPC, EIO, ...) or LevelDB's I/O
 * error (LEVEL_IO_ERROR, or its message "IO error: ... No space left on device"); undefined for any other error.
 */
export function storageReason(err: unknown): string | undefined {
  if (err instanceof StorageFailure) return err.reason;
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = String((e as { message?: unknown }).message ?? '');
    if (typeof code === 'string' && STORAGE_CODES.has(code)) return `${code}${message ? ` (${message.replace(/^[A-Z]+: /, '').split(',')[0]})` : ''}`;
    if (code === 'LEVEL_IO_ERROR' || /^IO error\b/.test(message) || /No space left on device|Input\/output error|Read-only file system/.test(message)) {
      return message || 'LevelDB I/O error';
    }
  }
  return undefined;
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
