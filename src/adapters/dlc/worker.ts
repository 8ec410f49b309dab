// A small pool of worker threads (node:worker_threads) for the DLC room's heavy pure work (work.ts), so the RPC
// server keeps answering while a large contract's payout curve, CETs and adaptor signatures are computed and checked.
// Each task has a time budget (dlc.workertimeout): past it the worker is terminated and the task refused.
//
// The worker runs this same module file (import.meta.url): compiled, that is dist/src/adapters/dlc/worker.js; bundled
// (scripts/bundle.mjs), the chunk this module is in, which holds the code below that starts the worker's loop. So no
// separate entry point has to be known to the bundler.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import { rpcError } from '../../rpc/errors.js';
import { LimitError } from './messages.js';
import { runWork, type WorkRequest } from './work.js';

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

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  parentPort!.on('message', (m: { id: number; req: WorkRequest }) => {
    let reply: Reply;
    try {
      reply = { id: m.id, ok: true, value: runWork(m.req) };
    } catch (err) {
      reply = { id: m.id, ok: false, error: failure(err) };
    }
    parentPort!.postMessage(reply);
  });
}

/** The failure as the caller sees it: PolicyDenied naming the limit, InvalidParams, or an internal error. */
function asError(f: Failure): Error {
  if (f.kind === 'limit') return rpcError('PolicyDenied', f.message, { rule: f.rule, limit: f.limit, value: f.value });
  if (f.kind === 'invalid') return rpcError('InvalidParams', f.message);
  return new Error(f.message);
}

export class DlcWorkers {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private next = 1;
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly budgetSeconds: number,
    private readonly log: Logger,
  ) {}

  /** Runs one task in a worker; `what` names it in the log and in a refusal. */
  async run<T>(req: WorkRequest, what: string): Promise<T> {
    if (this.closed) throw rpcError('Conflict', 'the DLC room is closing');
    if (this.running >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    const worker = this.idle.pop() ?? this.spawn();
    worker.ref();
    const id = this.next++;
    this.log.debug({ what, op: req.op }, 'DLC work started in a worker');
    let reusable = false;
    try {
      const reply = await new Promise<Reply>((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          void worker.terminate();
          reject(
            rpcError('PolicyDenied', `${what} took longer than dlc.workertimeout (${this.budgetSeconds} s): refused`, {
              rule: 'dlc.workertimeout',
              limit: this.budgetSeconds,
            }),
          );
        }, this.budgetSeconds * 1000);
        const onMessage = (m: Reply): void => {
          if (m.id !== id) return;
          cleanup();
          resolve(m);
        };
        const onError = (err: Error): void => {
          cleanup();
          reject(err);
        };
        const onExit = (code: number): void => {
          cleanup();
          reject(new Error(`the DLC worker exited (code ${code}) during ${what}`));
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        };
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
        worker.postMessage({ id, req });
      });
      this.log.debug({ what, op: req.op }, 'DLC work done');
      reusable = true;
      if (!reply.ok) throw asError(reply.error);
      return reply.value as T;
    } finally {
      this.release(worker, reusable);
    }
  }

  private spawn(): Worker {
    const w = new Worker(new URL(import.meta.url), { workerData: { role: ROLE } });
    this.all.add(w);
    w.on('exit', () => this.all.delete(w));
    w.on('error', (err) => this.log.warn({ reason: err.message }, 'DLC worker failed'));
    return w;
  }

  /** Back to the idle list (unref'd: an idle worker does not hold the process open), or ended. */
  private release(worker: Worker, reusable: boolean): void {
    this.running--;
    if (reusable && !this.closed) {
      worker.unref();
      this.idle.push(worker);
    } else {
      this.all.delete(worker);
      void worker.terminate();
    }
    this.waiting.shift()?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.all].map((w) => w.terminate()));
    this.all.clear();
    this.idle.length = 0;
  }
}
