// pino JSON lines to stdout (journald picks them up) and optionally to a file that SIGHUP reopens (for logrotate).
// Secrets are redacted by key name wherever they appear in a log object, two levels deep.

import pino, { type DestinationStream, type Level, type Logger } from 'pino';

const SECRET_KEYS = [
  'password',
  'passphrase',
  'pin',
  'cookie',
  'macaroon',
  'seed',
  'mnemonic',
  'xprv',
  'secret',
  'token',
  'authorization',
  'rpcpassword',
  'privatekey',
  'private_key',
];
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LogHandle {
  root: Logger;
  /** Child loggers keep their own level in pino, so level changes go through here to reach all of them. */
  child(bindings: Record<string, unknown>): Logger;
  setLevel(level: Level): void;
  level(): Level;
  reopen(): void;
  flush(): void;
}

export function createLogging(opts: { level: Level; file?: string | undefined; console: boolean; stdout?: DestinationStream }): LogHandle {
  const streams: pino.StreamEntry[] = [];
  let file: (pino.DestinationStream & { reopen?: () => void; flushSync?: () => void }) | undefined;
  if (opts.console) streams.push({ level: 'trace', stream: opts.stdout ?? pino.destination({ dest: 1, sync: true }) });
  if (opts.file) {
    file = pino.destination({ dest: opts.file, mkdir: true, sync: false, mode: 0o640 } as Parameters<typeof pino.destination>[0]);
    streams.push({ level: 'trace', stream: file });
  }
  const root = pino(
    { level: opts.level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.multistream(streams),
  );
  const children: Logger[] = [];
  return {
    root,
    child(bindings) {
      const c = root.child(bindings);
      children.push(c);
      return c;
    },
    setLevel(level) {
      root.level = level;
      for (const c of children) c.level = level;
    },
    level: () => root.level as Level,
    reopen() {
      file?.reopen?.();
    },
    flush() {
      try {
        file?.flushSync?.();
      } catch {
        // nothing more can be done about a log that cannot be flushed at exit
      }
    },
  };
}
