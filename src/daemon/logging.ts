// pino JSON lines to stdout (journald picks them up) and optionally to a file that SIGHUP reopens (for logrotate).
// Secrets are redacted by key name (any case) wherever they appear in a log object, down to REDACT_DEPTH levels.

import { format } from 'node:util';
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
const SECRET = new Set(SECRET_KEYS);
const CENSOR = '[redacted]';
/** Levels of nesting searched for secret keys: deeper than any object anyad logs. */
const REDACT_DEPTH = 6;

/**
 * The log object with every value under a secret key replaced by '[redacted]', copying only the objects on the
 * way to one; the object itself when it holds none, the usual case, which costs one walk and no allocation.
 * (pino's own redact paths parse every path on every line: 40 kB of garbage per line with the 42 paths this
 * needed, which made an admin call's log line cost as much as the call.)
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > REDACT_DEPTH || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const r = redactSecrets(value[i], depth + 1);
      if (r !== value[i]) (out ??= value.slice())[i] = r;
    }
    return out ?? value;
  }
  const o = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(o)) {
    const r = SECRET.has(k.toLowerCase()) ? CENSOR : redactSecrets(o[k], depth + 1);
    if (r === o[k]) continue;
    out ??= copyOf(o);
    Object.defineProperty(out, k, { value: r, enumerable: true, writable: true, configurable: true });
  }
  return out ?? o;
}

/**
 * A copy with the same prototype and own properties. An Error's message and stack become plain values on the copy
 * (V8 keeps an error's stack behind an accessor that answers for the original object only), so pino's err
 * serializer still writes them.
 */
function copyOf(o: Record<string, unknown>): Record<string, unknown> {
  const descriptors = Object.getOwnPropertyDescriptors(o) as Record<string, PropertyDescriptor>;
  const isError = o instanceof Error;
  if (isError) {
    delete descriptors.message;
    delete descriptors.stack;
  }
  const copy = Object.defineProperties(Object.create(Object.getPrototypeOf(o) as object | null) as Record<string, unknown>, descriptors);
  if (isError) {
    const err = o as unknown as Error;
    for (const [k, v] of [
      ['message', err.message],
      ['stack', err.stack],
    ] as const)
      Object.defineProperty(copy, k, { value: v, enumerable: false, writable: true, configurable: true });
  }
  return copy;
}

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
    {
      level: opts.level,
      base: { pid: process.pid },
      formatters: { log: (o) => redactSecrets(o) as Record<string, unknown>, bindings: (b) => redactSecrets(b) as pino.Bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
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

/**
 * Routes console.log/info/debug/warn/error into the log (redacted like every line), so a library that prints
 * cannot break the one-JSON-object-per-line stdout: log at info, errors and warnings at warn.
 */
export function captureConsole(log: Logger): void {
  const to =
    (level: 'info' | 'warn') =>
    (...args: unknown[]) =>
      log[level]({ source: 'console' }, format(...args));
  console.log = to('info');
  console.info = to('info');
  console.debug = to('info');
  console.warn = to('warn');
  console.error = to('warn');
}
