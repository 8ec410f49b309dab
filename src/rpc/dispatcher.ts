// From one received message to its answer: JSON parsing, the request shape, batches, the per-connection rate
// limit, and the gates every call passes (authenticated, not shutting down, past warm-up, role, params schema)
// before the method's handler runs. The call itself is made here too, not through json-rpc-2.0's JSONRPCServer:
// its ES5-compiled async helpers were an eighth of the CPU of a call in a profile under load (npm run bench), and
// every gate around it was ours already; json-rpc-2.0 stays the client (AnyaClient, anya-cli) and gives the
// message types. Batches are assembled here because the spec wants an array answer even for a batch of one.

import { JSONRPCErrorException, type JSONRPCErrorResponse, type JSONRPCRequest, type JSONRPCResponse } from 'json-rpc-2.0';
import type { Logger } from 'pino';
import { ErrorCode, RpcError, rpcError, storageFailureError } from '../core/errors.js';
import { TokenBucket } from './limits.js';
import { roleAllows, type CallContext, type Connection } from '../core/methods.js';
import { type MethodRegistry, type RegisteredMethod } from './registry.js';

export interface DispatchLimits {
  maxBatch: number;
  ratePerSecond: number;
  /** Check every answer against the method's result schema (rpccheckresults; for development and tests). */
  checkResults?: boolean;
  /** rpcmaxpending: the bytes of answers a connection may leave unread; a batch's answers are counted against it. */
  maxPendingBytes?: number;
}

export interface CallObserver {
  onCall(method: string, transport: string, outcome: 'ok' | 'error', seconds: number): void;
}

export interface DaemonState {
  /** The service being opened, or undefined once everything is open. */
  warmupStage(): string | undefined;
  shuttingDown(): boolean;
}

/** Methods an unauthenticated connection may call (the WebSocket `auth` handshake). */
const PRE_AUTH = new Set(['auth']);

type Id = string | number | null;

export class Dispatcher {
  private readonly buckets = new Map<number, TokenBucket>();
  /** Bytes of batch answers built and not yet handed to the transport, per connection. */
  private readonly building = new Map<number, number>();
  private inflight = 0;
  private drained: Array<() => void> = [];

  constructor(
    private readonly registry: MethodRegistry,
    private readonly state: DaemonState,
    private readonly limits: DispatchLimits,
    private readonly log: Logger,
    private readonly observer?: CallObserver,
  ) {}

  /**
   * Handles one received message: the text to send back, or null when nothing is to be sent — synchronously when
   * the method's handler answered synchronously (no promise, no microtask hop: at one client the hops were a tenth
   * of a call's time), else a promise of it.
   */
  handle(text: string, connection: Connection): string | null | Promise<string | null> {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return JSON.stringify(this.errorResponse(null, rpcError('ParseError', 'Parse error: the message is not valid JSON')));
    }
    // One clock reading serves the rate limit and the call's latency metric.
    const at = performance.now();
    if (Array.isArray(msg)) return this.batch(msg, connection, at);
    const limited = this.rateCheck(connection, 1, at);
    const answer = limited ? this.limitedAnswer(msg, limited) : this.single(msg, connection, at);
    return isThenable(answer) ? answer.then((a) => this.serialize(a)) : this.serialize(answer);
  }

  private async batch(msg: unknown[], connection: Connection, at: number): Promise<string | null> {
    if (msg.length === 0) return JSON.stringify(this.errorResponse(null, rpcError('InvalidRequest', 'Invalid Request: empty batch')));
    if (msg.length > this.limits.maxBatch) {
      return JSON.stringify(
        this.errorResponse(
          null,
          rpcError('BatchTooLarge', `batch of ${msg.length} requests exceeds rpcmaxbatch=${this.limits.maxBatch}`, { limit: this.limits.maxBatch }),
        ),
      );
    }
    const limited = this.rateCheck(connection, msg.length, at);
    if (limited) {
      const refused = msg.map((m) => this.serialize(this.limitedAnswer(m, limited))).filter((a): a is string => a !== null);
      return refused.length > 0 ? `[${refused.join(',')}]` : null;
    }
    // The answers count against what the connection may leave unread (rpcmaxpending) as they are built, with what
    // it has not read yet and what its other batches are building: once they pass it, the requests not started yet
    // are not run and answers that come later are dropped, each answered with Busy (bitcoind answers each element
    // of a batch on its own, so a client reads which ran). The batch's answer stays within the bound and one answer.
    const limit = this.limits.maxPendingBytes;
    const budget = limit === undefined ? Infinity : limit - connection.bufferedBytes() - (this.building.get(connection.id) ?? 0);
    let built = 0;
    const count = (answer: JSONRPCResponse | null): string | null => {
      const text = this.serialize(answer);
      if (text === null) return null;
      if (built >= budget) return this.serialize(this.errorResponse(answer!.id, overBudget(limit!, true)));
      built += text.length;
      this.building.set(connection.id, (this.building.get(connection.id) ?? 0) + text.length);
      return text;
    };
    const parts: Array<string | null | Promise<string | null>> = [];
    for (const m of msg) {
      if (built >= budget) {
        parts.push(this.serialize(this.limitedAnswer(m, overBudget(limit!, false))));
        continue;
      }
      const answer = this.single(m, connection, at);
      parts.push(isThenable(answer) ? answer.then(count) : count(answer));
    }
    const texts = (await Promise.all(parts)).filter((a): a is string => a !== null);
    const left = (this.building.get(connection.id) ?? 0) - built;
    if (left > 0) this.building.set(connection.id, left);
    else this.building.delete(connection.id);
    return texts.length > 0 ? `[${texts.join(',')}]` : null;
  }

  /** Resolves once no request is running, or after `ms` milliseconds; returns how many were still running. */
  async drain(ms: number): Promise<number> {
    if (this.inflight === 0) return 0;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.drained.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.inflight;
  }

  inFlight(): number {
    return this.inflight;
  }

  forget(connection: Connection): void {
    this.buckets.delete(connection.id);
    this.building.delete(connection.id);
  }

  private rateCheck(connection: Connection, n: number, at: number): RpcError | undefined {
    let bucket = this.buckets.get(connection.id);
    if (!bucket) {
      bucket = new TokenBucket(this.limits.ratePerSecond);
      this.buckets.set(connection.id, bucket);
    }
    const wait = bucket.take(n, at);
    return wait > 0
      ? rpcError('RateLimited', `rate limit of ${this.limits.ratePerSecond} requests per second exceeded on this connection`, { retry_after_ms: wait })
      : undefined;
  }

  private limitedAnswer(msg: unknown, err: RpcError): JSONRPCResponse | null {
    const id = validId(msg);
    // A notification gets no answer, even when refused.
    if (id === undefined && isRequestShape(msg)) return null;
    return this.errorResponse(id ?? null, err);
  }

  private single(msg: unknown, connection: Connection, started: number): JSONRPCResponse | null | Promise<JSONRPCResponse | null> {
    if (!isRequestShape(msg))
      return this.errorResponse(
        validId(msg) ?? null,
        rpcError('InvalidRequest', 'Invalid Request: expected {"jsonrpc":"2.0","method":string,"params"?:array|object,"id"?:string|number|null}'),
      );
    const req = msg as JSONRPCRequest;
    if (connection.role === undefined && !PRE_AUTH.has(req.method)) {
      // auth must be the first call: anything else ends the connection (after this answer), so a stranger cannot
      // hold it open with other calls and keep guessing.
      setImmediate(() => connection.close('auth must be the first call'));
      return req.id === undefined
        ? null
        : this.errorResponse(req.id, rpcError('Unauthorized', 'not authenticated: auth {token} must be the first call (or connect with credentials); closing'));
    }
    const ctx: CallContext = { connection, role: connection.role ?? 'readonly', caller: callerName(connection), method: String(req.method) };
    const m = this.registry.get(req.method);
    if (!m) return req.id === undefined ? null : this.errorResponse(req.id, rpcError('MethodNotFound', `Method not found: ${req.method.slice(0, 100)}`));
    this.inflight++;
    // A notification gets no answer, whatever happened.
    const ok = (result: unknown): JSONRPCResponse | null => {
      this.settled();
      return req.id === undefined ? null : { jsonrpc: '2.0', id: req.id, result };
    };
    const failed = (err: unknown): JSONRPCResponse | null => {
      this.settled();
      return req.id === undefined ? null : this.errorResponse(req.id, err);
    };
    let result: unknown;
    try {
      result = this.invoke(req, ctx, m, started);
    } catch (err) {
      return failed(err);
    }
    return isThenable(result) ? result.then(ok, failed) : ok(result);
  }

  private settled(): void {
    this.inflight--;
    if (this.inflight === 0) for (const d of this.drained.splice(0)) d();
  }

  /**
   * Runs the gates and the handler; answers the result (null for undefined), or a promise of it when the handler
   * is asynchronous, or throws (rejects with) the error to answer. Every call is counted once in the metrics.
   */
  private invoke(req: JSONRPCRequest, ctx: CallContext, m: RegisteredMethod, started: number): unknown {
    let result: unknown;
    try {
      if (this.state.shuttingDown()) throw rpcError('ShuttingDown', 'anyad is shutting down');
      const stage = this.state.warmupStage();
      if (stage !== undefined && !m.spec.duringWarmup) throw new RpcError(ErrorCode.WarmingUp, `anyad is starting: ${stage}`, { stage });
      if (ctx.connection.role !== undefined && !roleAllows(ctx.role, m.spec.role)) {
        throw rpcError('Forbidden', `${req.method} needs the ${m.spec.role} role; this connection has ${ctx.role}`, { required: m.spec.role, role: ctx.role });
      }
      const params = this.registry.prepareParams(m, req.params);
      if (m.spec.role === 'admin') this.log.info({ method: req.method, caller: ctx.caller }, 'admin call');
      result = m.spec.handler(params as never, ctx);
    } catch (err) {
      this.observe(req, ctx, 'error', started);
      throw err;
    }
    if (!isThenable(result)) return this.checked(req, ctx, m, started, result);
    return result.then(
      (value) => this.checked(req, ctx, m, started, value),
      (err: unknown) => {
        this.observe(req, ctx, 'error', started);
        throw err;
      },
    );
  }

  /** The handler's answer, checked against the result schema when rpccheckresults is on, and counted. */
  private checked(req: JSONRPCRequest, ctx: CallContext, m: RegisteredMethod, started: number, value: unknown): unknown {
    const result = value === undefined ? null : value;
    if (this.limits.checkResults && !m.checkResult.Check(result)) {
      this.observe(req, ctx, 'error', started);
      // As Core Lightning's pyln-testing checks each response against its schema: a mismatch is a bug of ours.
      const errors = [...m.checkResult.Errors(result)].slice(0, 5).map((e) => ({ path: e.path || '/', message: e.message }));
      this.log.error({ method: req.method, errors }, 'answer does not match its result schema');
      throw rpcError('InternalError', `${req.method}: the answer does not match its result schema (rpccheckresults)`, { errors });
    }
    this.observe(req, ctx, 'ok', started);
    return result;
  }

  private observe(req: JSONRPCRequest, ctx: CallContext, outcome: 'ok' | 'error', started: number): void {
    this.observer?.onCall(req.method, ctx.connection.transport, outcome, (performance.now() - started) / 1000);
  }

  /**
   * An answer as its JSON text; a result is framed by hand, so only the result itself is walked by JSON.stringify.
   * A result that cannot be written as JSON (a bug of ours: a BigInt, a cycle) is answered as an internal error,
   * logged, rather than thrown into the transport (where it would end the process).
   */
  private serialize(answer: JSONRPCResponse | null): string | null {
    if (answer === null) return null;
    try {
      if ('result' in answer) {
        const id = typeof answer.id === 'number' ? String(answer.id) : JSON.stringify(answer.id);
        return `{"jsonrpc":"2.0","id":${id},"result":${JSON.stringify(answer.result)}}`;
      }
      return JSON.stringify(answer);
    } catch (err) {
      return JSON.stringify(this.errorResponse(answer.id ?? null, err));
    }
  }

  private errorResponse(id: Id, error: unknown): JSONRPCErrorResponse {
    if (error instanceof RpcError) {
      return {
        jsonrpc: '2.0',
        id,
        error: error.data === undefined ? { code: error.code, message: error.message } : { code: error.code, message: error.message, data: error.data },
      };
    }
    if (error instanceof JSONRPCErrorException) return { jsonrpc: '2.0', id, error: { code: error.code, message: error.message } };
    // A write the disk refused is the operator's business, not a fault of ours: said plainly with the data directory.
    const storage = storageFailureError(error);
    if (storage) {
      this.log.warn({ reason: (storage.data as { reason: string }).reason }, 'a write was refused by the disk');
      return this.errorResponse(id, storage);
    }
    // Anything else is a fault of ours: log it, answer without details (they might hold paths or secrets).
    this.log.error({ err: error }, 'internal error while handling an RPC call');
    return { jsonrpc: '2.0', id, error: { code: ErrorCode.InternalError, message: 'Internal error (see the anyad log)' } };
  }
}

/** The answer to a batch element refused because the batch's answers passed rpcmaxpending: not run, or run and its answer dropped. */
function overBudget(limit: number, ran: boolean): RpcError {
  return ran
    ? rpcError('Busy', `answer dropped: the answers to this batch passed rpcmaxpending=${limit} bytes (the call did run)`, { limit, ran })
    : rpcError('Busy', `not run: the answers to this batch passed rpcmaxpending=${limit} bytes; send it again in smaller batches`, { limit, ran });
}

function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function isRequestShape(msg: unknown): boolean {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return false;
  const r = msg as Record<string, unknown>;
  if (r.jsonrpc !== '2.0' || typeof r.method !== 'string') return false;
  if ('params' in r && (typeof r.params !== 'object' || r.params === null)) return false;
  if ('id' in r && validId(msg) === undefined) return false;
  return true;
}

function validId(msg: unknown): Id | undefined {
  if (typeof msg !== 'object' || msg === null || !('id' in msg)) return undefined;
  const id = (msg as { id: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' || id === null ? id : undefined;
}

function callerName(c: Connection): string {
  return c.transport === 'unix' ? 'unix' : `${c.user ?? 'anonymous'}@${c.peer}`;
}
