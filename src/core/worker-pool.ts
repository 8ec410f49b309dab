// A small pool of worker threads (node:worker_threads) that each run a module's own file, for work that must not
// hold the event loop (the DLC room's payout curves and CETs, the keystore's adaptor signatures). Started on first
// use, idle workers unref'd (they do not hold the process open), calls beyond the pool's size wait their turn; a
// call may have a time budget, past which its worker is terminated.
//
// A worker runs the same module file as its pool (`new URL(import.meta.url)` of the module that makes the pool):
// compiled, that file; bundled (scripts/bundle.mjs), the chunk the module is in. So no separate entry point has to
// be known to the bundler. The module starts its worker loop with serveInWorker(role, ...) at its top level.

import { isMainThread, parentPort, Worker, workerData, type Transferable } from 'node:worker_threads';

/** The pool is closing, or a worker failed or exited during a call (the message says which). */
export class WorkerPoolError extends Error {
  override name = 'WorkerPoolError';
  constructor(
    message: string,
    readonly closing = false,
  ) {
    super(message);
  }
}

/**
 * In a worker started by a pool of this role: answers each message with what `handle` returns (and the buffers to
 * transfer with it). Does nothing on the main thread or in a worker of another role.
 */
export function serveInWorker<M extends { id: number }, R>(role: string, handle: (m: M) => { reply: R; transfer?: Transferable[] }): void {
  if (isMainThread || (workerData as { role?: string } | null)?.role !== role) return;
  parentPort!.on('message', (m: M) => {
    const { reply, transfer } = handle(m);
    parentPort!.postMessage(reply, transfer ?? []);
  });
}

export interface PoolOptions {
  /** The module file the workers run (the pool's own module: `new URL(import.meta.url)`). */
  module: URL;
  role: string;
  size: number;
  /** Names the work in errors ("the DLC worker exited ..."). */
  name: string;
  /** A worker that fails while idle (a call in flight hears of it itself). */
  onIdleError?: (err: Error) => void;
}

export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private next = 1;
  private closed = false;

  constructor(private readonly o: PoolOptions) {}

  /**
   * Posts what `build` makes for this call's id to a free worker and resolves with the worker's reply of that id.
   * Rejects with WorkerPoolError when the pool is closing or the worker fails or exits, and with `timeout.error()`
   * (the worker terminated) past `timeout.ms`.
   */
  async call<R extends { id: number }>(
    build: (id: number) => { message: unknown; transfer?: Transferable[] },
    timeout?: { ms: number; error: () => Error },
  ): Promise<R> {
    if (this.closed) throw new WorkerPoolError(`the ${this.o.name} pool is closing`, true);
    if (this.running >= this.o.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.closed) throw new WorkerPoolError(`the ${this.o.name} pool is closing`, true);
    this.running++;
    const worker = this.idle.pop() ?? this.spawn();
    worker.ref();
    const id = this.next++;
    let reusable = false;
    try {
      const reply = await new Promise<R>((resolve, reject) => {
        const timer = timeout
          ? setTimeout(() => {
              cleanup();
              void worker.terminate();
              reject(timeout.error());
            }, timeout.ms)
          : undefined;
        const onMessage = (m: R): void => {
          if (m.id !== id) return;
          cleanup();
          resolve(m);
        };
        const onError = (err: Error): void => {
          cleanup();
          reject(new WorkerPoolError(`the ${this.o.name} worker failed: ${err.message}`));
        };
        const onExit = (code: number): void => {
          cleanup();
          reject(new WorkerPoolError(`the ${this.o.name} worker exited (code ${code})`));
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        };
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
        try {
          const { message, transfer } = build(id);
          worker.postMessage(message, transfer ?? []);
        } catch (err) {
          cleanup();
          reject(err as Error);
        }
      });
      reusable = true;
      return reply;
    } finally {
      this.release(worker, reusable);
    }
  }

  private spawn(): Worker {
    const w = new Worker(this.o.module, { workerData: { role: this.o.role } });
    this.all.add(w);
    w.on('exit', () => this.all.delete(w));
    w.on('error', (err) => this.o.onIdleError?.(err));
    return w;
  }

  /** Back to the idle list (unref'd), or ended when it cannot be used again. */
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
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all([...this.all].map((w) => w.terminate()));
    this.all.clear();
    this.idle.length = 0;
  }
}
