// The DLC room's heavy pure work (work.ts) in worker threads (core/worker-pool.ts), so the RPC server keeps answering
// while a large contract's payout curve, CETs and adaptor signatures are computed and checked. Each task has a time
// budget (dlc.workertimeout): past it the worker is terminated and the task refused.

import type { Logger } from 'pino';
import { serveInWorker, WorkerPool, WorkerPoolError } from '../../core/worker-pool.js';
import { rpcError } from '../../core/errors.js';
import { LimitError } from './messages.js';
import type { Offer } from './messages.js';
import type { AcceptTerms } from './transactions.js';
import { runWork, type Prepared, type WorkRequest } from './work.js';

const ROLE = 'anya-dlc-worker';

type Failure = { kind: 'limit'; message: string; rule: string; limit: number; value: number } | { kind: 'invalid' | 'internal'; message: string };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: Failure };

/** Errors of a counterparty's data (a malformed message, impossible transactions) as opposed to a fault of ours. */
const INVALID = new Set(['MessageError', 'DlcTxError', 'NumericError', 'OracleError', 'AdaptorError', 'WireError']);

function failure(err: unknown): Failure {
  if (err instanceof LimitError) return { kind: 'limit', message: err.message, rule: err.rule, limit: err.limit, value: err.value };
  const e = err as Error;
  return { kind: INVALID.has(e?.name) ? 'invalid' : 'internal', message: e?.message ?? String(err) };
}

serveInWorker<{ id: number; req: WorkRequest }, Reply>(ROLE, (m) => {
  try {
    return { reply: { id: m.id, ok: true, value: runWork(m.req) } };
  } catch (err) {
    return { reply: { id: m.id, ok: false, error: failure(err) } };
  }
});

/** The failure as the caller sees it: PolicyDenied naming the limit, InvalidParams, or an internal error. */
function asError(f: Failure): Error {
  if (f.kind === 'limit') return rpcError('PolicyDenied', f.message, { rule: f.rule, limit: f.limit, value: f.value });
  if (f.kind === 'invalid') return rpcError('InvalidParams', f.message);
  return new Error(f.message);
}

/** Below this many signatures per worker a check is not split further: a round trip costs about one verification. */
const VERIFY_SLICE = 16;

export class DlcWorkers {
  private readonly pool: WorkerPool;

  constructor(
    private readonly size: number,
    private readonly budgetSeconds: number,
    private readonly log: Logger,
  ) {
    this.pool = new WorkerPool({
      module: new URL(import.meta.url),
      role: ROLE,
      size,
      name: 'DLC',
      onIdleError: (err) => log.warn({ reason: err.message }, 'DLC worker failed'),
    });
  }

  /** Runs one task in a worker; `what` names it in the log and in a refusal. */
  async run<T>(req: WorkRequest, what: string): Promise<T> {
    this.log.debug({ what, op: req.op }, 'DLC work started in a worker');
    let reply: Reply;
    try {
      reply = await this.pool.call<Reply>((id) => ({ message: { id, req } }), {
        ms: this.budgetSeconds * 1000,
        error: () =>
          rpcError('PolicyDenied', `${what} took longer than dlc.workertimeout (${this.budgetSeconds} s): refused`, {
            rule: 'dlc.workertimeout',
            limit: this.budgetSeconds,
          }),
      });
    } catch (err) {
      if (err instanceof WorkerPoolError && err.closing) throw rpcError('Conflict', 'the DLC room is closing');
      throw err;
    }
    this.log.debug({ what, op: req.op }, 'DLC work done');
    if (!reply.ok) throw asError(reply.error);
    return reply.value as T;
  }

  /**
   * A contract's CETs, sighashes and adaptor points (prepared in one worker: tens of milliseconds); with `check`, the
   * counterparty's adaptor signatures verified against them in slices across every worker (a verification costs
   * about a millisecond, so a contract's hundreds are most of the work, and they are independent). Each slice has
   * the time budget of a task.
   */
  async prepare(offer: Offer, accept: AcceptTerms, check: { pubkey: string; adaptor: string[] } | undefined, what: string): Promise<Prepared> {
    const prepared = await this.run<Prepared>({ op: 'prepare', offer, accept }, what);
    if (!check) return prepared;
    prepared.adaptorCount = check.adaptor.length;
    const n = prepared.items.length;
    // (A count that does not match is refused by the caller, by count: nothing to verify.)
    if (n === 0 || check.adaptor.length !== n) return prepared;
    const parts = Math.min(this.size, Math.ceil(n / VERIFY_SLICE));
    const per = Math.ceil(n / parts);
    const slices = Array.from({ length: parts }, (_, p) => p * per);
    const bad = await Promise.all(
      slices.map((at) =>
        this.run<number>(
          {
            op: 'verify',
            pubkey: check.pubkey,
            items: prepared.items.slice(at, at + per).map(({ full, digest }) => ({ full, digest })),
            adaptor: check.adaptor.slice(at, at + per),
          },
          what,
        ),
      ),
    );
    // The first failure in the messages' order, as one worker would have found it.
    const first = bad.findIndex((b) => b >= 0);
    prepared.badAdaptor = first < 0 ? -1 : slices[first]! + bad[first]!;
    return prepared;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
