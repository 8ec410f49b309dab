// The bitcoind RPC client: the `bitcoin-core` package behind a request timeout, bounded concurrency with a bounded
// queue, cookie re-reading, and a circuit breaker that turns an outage into a fast, clear error instead of a pile
// of hanging requests. Bitcoin Core's own warm-up (-28) is reported as such.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Backoff } from '../../core/backoff.js';
import { rpcError, RpcError } from '../../core/errors.js';

const require = createRequire(import.meta.url);
type BitcoinCoreCtor = new (opts: Record<string, unknown>) => { command(method: string, ...params: unknown[]): Promise<unknown> };
let bitcoinCore: BitcoinCoreCtor | undefined;
/** bitcoin-core (CommonJS, with the `request` stack: ~30 MB, ~0.15 s) is loaded on the first connection only. */
const BitcoinCore = (): BitcoinCoreCtor => (bitcoinCore ??= require('bitcoin-core') as BitcoinCoreCtor);

export interface BitcoindClientOptions {
  host: string;
  port: number;
  timeoutMs: number;
  maxConcurrency: number;
  cookieFile?: string | undefined;
  user?: string | undefined;
  passwordFile?: string | undefined;
}

/** bitcoind answered with an error: its own code and message. */
export class BitcoindError extends Error {
  override name = 'BitcoindError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** bitcoind could not be reached (refused, timed out, auth failed): the caller gets BackendUnavailable. */
export class BitcoindUnreachable extends Error {
  override name = 'BitcoindUnreachable';
}

const silentLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silentLogger };
const MAX_QUEUE = 256;

export class BitcoindClient {
  private client: { command(method: string, ...params: unknown[]): Promise<unknown> } | undefined;
  private active = 0;
  private readonly queue: Array<() => void> = [];
  private breakerUntil = 0;
  /** 0.5 s doubling to 30 s. */
  private readonly breaker = new Backoff(500, 30_000);
  lastError: string | undefined;

  constructor(private readonly opts: BitcoindClientOptions) {}

  /** Calls one RPC method. Throws BitcoindError (bitcoind said no) or BitcoindUnreachable. */
  async call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    const now = Date.now();
    if (now < this.breakerUntil)
      throw new BitcoindUnreachable(`${this.lastError ?? 'unreachable'}; next attempt in ${Math.ceil((this.breakerUntil - now) / 1000)} s`);
    if (this.active >= this.opts.maxConcurrency) {
      if (this.queue.length >= MAX_QUEUE) throw rpcError('Busy', `${MAX_QUEUE} requests to bitcoind are already waiting`);
      await new Promise<void>((r) => this.queue.push(r));
    }
    this.active++;
    try {
      return (await this.attempt(method, params, true)) as T;
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }

  /** Whether calls are currently refused without trying (the breaker is open). */
  breakerOpen(): boolean {
    return Date.now() < this.breakerUntil;
  }

  /** Lets the next call through at once (used by the reconnect loop when it decides to probe). */
  resetBreaker(): void {
    this.breakerUntil = 0;
  }

  private async attempt(method: string, params: unknown[], retryAuth: boolean): Promise<unknown> {
    const client = this.client ?? (this.client = await this.makeClient());
    try {
      const result = await client.command(method, ...params);
      this.breaker.reset();
      return result;
    } catch (err) {
      const e = err as { code?: number | string; message?: string; name?: string };
      if (e.name === 'RpcError' && typeof e.code === 'number') {
        if (e.code === 401 && retryAuth) {
          // bitcoind restarted and wrote a new cookie: read it again, once.
          this.client = undefined;
          return this.attempt(method, params, false);
        }
        if (e.code === 401 || e.code === 403) return this.tripBreaker(`bitcoind refused the credentials (HTTP ${e.code})`);
        if (e.code >= 400 && e.code < 600 && e.code !== 500) return this.tripBreaker(`bitcoind answered HTTP ${e.code}`);
        throw new BitcoindError(e.code, e.message ?? 'error');
      }
      const code = typeof e.code === 'string' ? e.code : undefined;
      return this.tripBreaker(
        code === 'ESOCKETTIMEDOUT' || code === 'ETIMEDOUT'
          ? `no answer within ${this.opts.timeoutMs} ms`
          : `cannot reach bitcoind at ${this.opts.host}:${this.opts.port} (${code ?? e.message ?? 'error'})`,
      );
    }
  }

  /** Opens the breaker with exponential backoff and jitter (0.5 s doubling to 30 s) and throws. */
  private tripBreaker(reason: string): never {
    this.lastError = reason;
    this.breakerUntil = Date.now() + this.breaker.next();
    this.client = undefined;
    throw new BitcoindUnreachable(reason);
  }

  private async makeClient(): Promise<{ command(method: string, ...params: unknown[]): Promise<unknown> }> {
    let username: string;
    let password: string;
    if (this.opts.user) {
      if (!this.opts.passwordFile) throw new BitcoindUnreachable('bitcoind.rpcuser is set but bitcoind.rpcpasswordfile is not');
      username = this.opts.user;
      password = (await readSecret(this.opts.passwordFile, 'bitcoind.rpcpasswordfile')).trim();
    } else {
      const cookie = (await readSecret(this.opts.cookieFile!, 'bitcoind.rpccookiefile')).trim();
      const colon = cookie.indexOf(':');
      if (colon < 0) throw new BitcoindUnreachable(`${this.opts.cookieFile} is not a bitcoind cookie file`);
      username = cookie.slice(0, colon);
      password = cookie.slice(colon + 1);
    }
    return new (BitcoinCore())({ host: `http://${this.opts.host}:${this.opts.port}`, username, password, timeout: this.opts.timeoutMs, logger: silentLogger });
  }
}

async function readSecret(path: string, key: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new BitcoindUnreachable(`${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** Maps a client failure to the RPC error an anyad caller sees. */
export function toRpcError(err: unknown): unknown {
  if (err instanceof RpcError) return err;
  if (err instanceof BitcoindUnreachable)
    return rpcError('BackendUnavailable', `bitcoind is not reachable: ${err.message}`, { service: 'bitcoind', reason: err.message });
  if (err instanceof BitcoindError) {
    if (err.code === -28)
      return rpcError('BackendUnavailable', `bitcoind is warming up: ${err.message}`, { service: 'bitcoind', reason: err.message, bitcoind_code: -28 });
    if (err.code === -5 || (err.code === -8 && /not found/i.test(err.message))) return rpcError('NotFound', err.message, { bitcoind_code: err.code });
    return rpcError('InvalidParams', `bitcoind: ${err.message}`, { bitcoind_code: err.code });
  }
  return err;
}
