// The connection to LND and its health: loading ln-service (once, on the first connect), reading the credentials
// and opening the gRPC channels, checking the network and the wallet state on connect (a locked wallet, a refused
// macaroon and a certificate that does not match are each named in health), running every ln-service call with a
// timeout, and mapping LND's failures to the caller's error codes. It also keeps what health says once the invoice
// stream is attached (lnd-invoices.ts attaches it, lnd.ts drives the reconnects). The macaroon is a secret: it is
// read from lnd.macaroonpath into memory and never logged or put in an error.

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type * as Ln from 'ln-service';
import type { Logger } from 'pino';
import { HealthCell, type HealthState } from '../../core/service.js';
import type { Network } from '../../core/options.js';
import { rpcError, RpcError } from '../../core/errors.js';
import { PaymentInFlight, type RefusalKind } from './backend.js';

/** Genesis block hashes as block explorers show them; LND reports its chain as the byte-reversed form (BOLT 2). */
const GENESIS: Record<Network, string> = {
  main: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f',
  test: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943',
  signet: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6',
  regtest: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
};
export const CHAIN_HASH = Object.fromEntries(Object.entries(GENESIS).map(([n, h]) => [n, Buffer.from(h, 'hex').reverse().toString('hex')])) as Record<
  Network,
  string
>;

export interface LndSettings {
  socket: string;
  tlscertpath: string | undefined;
  macaroonpath: string;
  timeoutMs: number;
}

/** A failed connect check; health already says why. */
export class ProbeFailed extends Error {
  override name = 'ProbeFailed';
}

/** Why LND cannot be used, sorted so health can tell an operator what to fix. */
type Trouble = { state: HealthState; reason: string };

/** ln-service rejects with [status, message, {err}], err being gRPC's ServiceError. */
export function errorParts(err: unknown): { status: number | undefined; message: string; details: string; grpcCode: number | undefined } {
  if (Array.isArray(err)) {
    const inner = (err[2] as { err?: { details?: string; code?: number; message?: string } } | undefined)?.err;
    return { status: Number(err[0]), message: String(err[1]), details: inner?.details ?? inner?.message ?? '', grpcCode: inner?.code };
  }
  const e = err as { details?: string; code?: number; message?: string };
  return { status: undefined, message: e?.message ?? String(err), details: e?.details ?? '', grpcCode: typeof e?.code === 'number' ? e.code : undefined };
}

const UNREACHABLE = /No connection established|failed to connect to all addresses|Connect Failed|TRANSIENT_FAILURE|ECONNREFUSED|FailedToConnectToDaemon/i;
const TLS = /certificate|self.signed|SSL|TLS|handshake/i;

/** Sorts an ln-service failure into unreachable / locked / refused credentials / anything else. */
export function classify(err: unknown, s: LndSettings): Trouble | undefined {
  const p = errorParts(err);
  const text = `${p.message} ${p.details}`;
  if (p.message === 'LndLocked' || p.details === 'unknown service lnrpc.Lightning')
    return { state: 'unavailable', reason: `LND's wallet is locked (unlock it with lncli unlock); retrying` };
  if (/verification failed|macaroon/i.test(p.details)) return { state: 'failed', reason: `LND refused the macaroon at ${s.macaroonpath}: ${p.details}` };
  if (TLS.test(text))
    return {
      state: 'failed',
      reason: `TLS with LND at ${s.socket} failed; is ${s.tlscertpath ?? 'the certificate'} LND's current tls.cert? (${p.details || p.message})`,
    };
  if (p.grpcCode === 14 || p.grpcCode === 4 || UNREACHABLE.test(text))
    return { state: 'unavailable', reason: `LND is not reachable at ${s.socket}: ${p.details || p.message}` };
  return undefined;
}

/** ln-service's names for LND's refusals, as node-independent kinds (LND reports a fee cap it cannot meet as no route). */
const LND_KIND: Record<string, RefusalKind> = {
  PaymentPathfindingFailedToFindPossibleRoute: 'no_route',
  FailedToFindPayableRouteToDestination: 'no_route',
  PaymentRejectedByDestination: 'rejected_by_destination',
  InsufficientBalanceToAttemptPayment: 'insufficient_funds',
  InsufficientFundsToCreateChannel: 'insufficient_funds',
  UnexpectedErrorAddingPeer: 'peer_unreachable',
  FailedToSuccessfullyConnectToRemotePeer: 'peer_unreachable',
  PaymentAttemptsTimedOut: 'timeout',
};

/** ln-service and its gRPC stack, loaded on the first connect (in the background of the start), once. */
let loaded: typeof Ln | undefined;
export async function loadLnService(): Promise<void> {
  loaded ??= await import('ln-service');
}
/** ln-service, once loadLnService has run (every call goes through a connection, which is made after it). */
export function ln(): typeof Ln {
  if (!loaded) throw new Error('ln-service is not loaded yet');
  return loaded;
}

/** Closes the gRPC clients of an authenticated LND object (one per LND service). */
function closeGrpc(lnd: Ln.AuthenticatedLnd | undefined): void {
  for (const client of Object.values((lnd ?? {}) as Record<string, { close?: () => void }>)) client.close?.();
}

/** ln-service's amounts come as decimal strings (absent: 0); its times as ISO strings (as Unix seconds). */
export const num = (s: string | undefined): number => (s ? Number(s) : 0);
export const epoch = (iso: string | undefined): number => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);

export class LndConnection {
  readonly cell = new HealthCell('starting', 'connecting to LND');
  readonly settings: LndSettings;
  private readonly network: Network;
  private readonly log: Logger;
  lnd: Ln.AuthenticatedLnd | undefined;
  private credentialsKey = '';
  private warnedMode = false;
  connected = false;
  /** What the first attach is doing, while it runs; undefined once attached or once the first attempt failed. */
  stage: string | undefined = 'loading ln-service';
  /** Ends the attached invoice stream (set by it while it runs): a lost LND ends it, and the follower reconnects. */
  stopStream: (() => void) | undefined;
  streaming = false;
  private who = '';
  private synced = false;

  constructor(opts: { settings: LndSettings; network: Network; log: Logger }) {
    this.settings = opts.settings;
    this.network = opts.network;
    this.log = opts.log;
  }

  /** Reads the credentials (again: they may have been replaced), connects, and checks network and wallet state. */
  async probe(): Promise<void> {
    this.connected = false;
    let cert: string | undefined;
    let macaroon: string;
    try {
      cert = this.settings.tlscertpath ? (await readFile(this.settings.tlscertpath)).toString('base64') : undefined;
    } catch (err) {
      return this.fail({
        state: 'failed',
        reason: `cannot read lnd.tlscertpath ${this.settings.tlscertpath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      });
    }
    try {
      macaroon = (await readFile(this.settings.macaroonpath)).toString('hex');
      const mode = (await stat(this.settings.macaroonpath)).mode & 0o777;
      if (mode & 0o007 && !this.warnedMode) {
        this.warnedMode = true;
        this.log.warn(
          { path: this.settings.macaroonpath, mode: mode.toString(8) },
          'the LND macaroon is readable by every user on this machine; it grants what its permissions say (admin: everything) — chmod o-rwx it',
        );
      }
    } catch (err) {
      return this.fail({
        state: 'failed',
        reason: `cannot read lnd.macaroonpath ${this.settings.macaroonpath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      });
    }
    // gRPC channels are made again only when the credentials changed (each set holds a channel per service).
    const key = createHash('sha256')
      .update(`${cert ?? ''}|${macaroon}|${this.settings.socket}`)
      .digest('hex');
    if (!this.lnd || key !== this.credentialsKey) {
      closeGrpc(this.lnd);
      this.lnd = ln().authenticatedLndGrpc({ ...(cert ? { cert } : {}), macaroon, socket: this.settings.socket }).lnd;
      this.credentialsKey = key;
    }
    let info: Awaited<ReturnType<typeof Ln.getWalletInfo>>;
    try {
      info = await this.timed(ln().getWalletInfo({ lnd: this.lnd }));
    } catch (err) {
      return this.fail(
        classify(err, this.settings) ?? { state: 'failed', reason: `LND's getinfo failed: ${errorParts(err).details || errorParts(err).message}` },
      );
    }
    if (!info.chains.includes(CHAIN_HASH[this.network])) {
      return this.fail({ state: 'failed', reason: `LND serves chain ${info.chains.join(',') || '(none)'}, not anyad's ${this.network}; refusing to use it` });
    }
    this.connected = true;
    this.who = `LND ${info.version} (${info.public_key.slice(0, 16)}…)`;
    this.synced = info.is_synced_to_chain;
    if (!this.streaming) this.cell.set('starting', `connected to ${this.who}; catching up its invoices`);
    else this.healthy();
  }

  /** The invoice stream is attached: health says what LND is. */
  healthy(): void {
    this.streaming = true;
    if (this.stage !== undefined) this.log.info({ lnd: this.who }, 'LND attached: invoices reconciled, stream open');
    this.stage = undefined;
    if (this.synced) this.cell.set('ok', `connected to ${this.who}`);
    else this.cell.set('degraded', `connected to ${this.who}, which is not yet synced to the chain`);
  }

  private fail(t: Trouble): never {
    this.connected = false;
    this.cell.set(t.state, t.reason);
    throw new ProbeFailed(t.reason);
  }

  /** Closes the gRPC channels (anyad is stopping). */
  close(): void {
    closeGrpc(this.lnd);
    this.lnd = undefined;
    this.connected = false;
  }

  timed<T>(p: Promise<T>, ms = this.settings.timeoutMs): Promise<T> {
    let t: NodeJS.Timeout;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(rpcError('BackendUnavailable', `LND did not answer within ${ms / 1000} s`, { service: 'lnd' })), ms);
      }),
    ]).finally(() => clearTimeout(t));
  }

  /** Runs one ln-service call, or answers BackendUnavailable at once when LND is not connected. */
  async call<T>(f: (lnd: Ln.AuthenticatedLnd) => Promise<T>, ms = this.settings.timeoutMs): Promise<T> {
    if (!this.connected || !this.lnd) throw rpcError('BackendUnavailable', `LND is not connected: ${this.cell.get().detail}`, { service: 'lnd' });
    try {
      return await this.timed(f(this.lnd), ms);
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /** LND's failures as the caller's error codes, keeping ln-service's name and LND's words in data. */
  private mapError(err: unknown): unknown {
    if (err instanceof RpcError) return err;
    const t = classify(err, this.settings);
    if (t) {
      if (this.connected) this.log.warn({ reason: t.reason }, 'lost LND');
      this.connected = false;
      this.cell.set(t.state, t.reason);
      this.stopStream?.(); // the follower reconnects with backoff
      return rpcError('BackendUnavailable', t.reason, { service: 'lnd', reason: t.reason });
    }
    const p = errorParts(err);
    const words = p.details ? `${p.message}: ${p.details}` : p.message;
    // ln-service's own argument checks are 400s named Expected...; its other 400s (InsufficientFundsToCreateChannel)
    // are LND refusing, like any other refusal.
    if (p.status === 400 && p.message.startsWith('Expected')) return rpcError('InvalidParams', `LND: ${words}`, { lnd_error: p.message });
    if (/payment is in transition|already in flight/i.test(`${p.message} ${p.details}`)) return new PaymentInFlight(`LND: ${words}`);
    const kind = LND_KIND[p.message];
    return rpcError('BackendRejected', `LND: ${words}`, { lnd_error: p.message, ...(p.details ? { reason: p.details } : {}), ...(kind ? { kind } : {}) });
  }
}
