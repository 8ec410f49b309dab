// ECDSA adaptor signatures (a DLC's CETs) made in a worker thread (node:worker_threads), so a contract with
// thousands of CETs (~15 ms each) does not hold the event loop: every RPC, on every connection and in every room,
// keeps being answered while they are made (issue 26 item 6). The keystore hands the key's private scalar to the
// worker for the call (transferred, so no copy stays on the main thread); the worker wipes it when the call ends.
// The signatures are what adaptorSign (src/core/ecdsa-adaptor.ts) makes on any thread: the same code, run there.
//
// The worker runs this same module file (import.meta.url), as the DLC room's workers do (src/adapters/dlc/worker.ts):
// compiled, dist/src/hsm/adaptor-worker.js; bundled (scripts/bundle.mjs), the chunk this module is in, which holds
// the code below that starts the worker's loop. So no separate entry point has to be known to the bundler.

import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ADAPTOR_SIG_LENGTH, adaptorSign } from '../core/ecdsa-adaptor.js';

const ROLE = 'anya-hsm-adaptor-worker';

const POINT = 33;
const DIGEST = 32;
const ITEM = POINT + DIGEST;

interface Request {
  id: number;
  /** The 32-byte private key, transferred to the worker; wiped there once the call ends. */
  key: ArrayBuffer;
  /** Every item's encryption point (33 bytes) and digest (32 bytes), end to end: one buffer, transferred. */
  items: ArrayBuffer;
}
type Reply = { id: number; ok: true; sigs: ArrayBuffer } | { id: number; ok: false; message: string };

/** In the worker: every item signed in order, the signatures end to end (162 bytes each). */
function signAll(req: Request): Reply {
  const key = new Uint8Array(req.key);
  try {
    const items = new Uint8Array(req.items);
    const n = items.length / ITEM;
    const out = new Uint8Array(n * ADAPTOR_SIG_LENGTH);
    for (let i = 0; i < n; i++) {
      const at = i * ITEM;
      out.set(adaptorSign(key, items.subarray(at, at + POINT), items.subarray(at + POINT, at + ITEM)), i * ADAPTOR_SIG_LENGTH);
    }
    return { id: req.id, ok: true, sigs: out.buffer };
  } catch (err) {
    // (An encryption point off the curve: adaptorSign's message names it, never the key.)
    return { id: req.id, ok: false, message: (err as Error)?.message ?? String(err) };
  } finally {
    key.fill(0);
  }
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  parentPort!.on('message', (req: Request) => {
    const reply = signAll(req);
    parentPort!.postMessage(reply, reply.ok ? [reply.sigs] : []);
  });
}

/** The error a failed call is answered with (the keystore maps it to its ProviderError). */
export class AdaptorWorkerError extends Error {
  override name = 'AdaptorWorkerError';
}

/**
 * A few workers (one fewer than the cores, at least one, at most four), started on first use and kept idle
 * (unref'd: an idle worker does not hold the process open) until close. Each call runs in one worker; calls beyond
 * the pool's size wait their turn.
 */
export class AdaptorSigners {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private next = 1;
  private closed = false;

  constructor(private readonly size = Math.max(1, Math.min(4, availableParallelism() - 1))) {}

  /**
   * Signs every item with the key. `key` is the private key's 32 bytes: this call takes it (its bytes are moved to
   * the worker and the array is zeroed), so the caller has nothing to wipe. Points are 33 bytes, digests 32.
   */
  async signAll(key: Uint8Array, items: Array<{ point: Uint8Array; digest: Uint8Array }>): Promise<Uint8Array[]> {
    // The key's bytes in a buffer of their own, transferred: the worker holds the only copy while it signs.
    const owned = new Uint8Array(32);
    owned.set(key);
    key.fill(0);
    try {
      if (this.closed) throw new AdaptorWorkerError('the HSM is closing');
      if (items.length === 0) return [];
      // (Typed arrays posted one by one would each copy the whole pool buffer a Buffer is a view of.)
      const packed = new Uint8Array(items.length * ITEM);
      items.forEach((x, i) => {
        if (x.point.length !== POINT || x.digest.length !== DIGEST) throw new AdaptorWorkerError('an item is not a 33-byte point and a 32-byte digest');
        packed.set(x.point, i * ITEM);
        packed.set(x.digest, i * ITEM + POINT);
      });
      if (this.running >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
      if (this.closed) throw new AdaptorWorkerError('the HSM is closing');
      this.running++;
      const worker = this.idle.pop() ?? this.spawn();
      worker.ref();
      const id = this.next++;
      let reusable = false;
      try {
        const reply = await new Promise<Reply>((resolve, reject) => {
          const onMessage = (m: Reply): void => {
            if (m.id !== id) return;
            cleanup();
            resolve(m);
          };
          const onError = (err: Error): void => {
            cleanup();
            reject(new AdaptorWorkerError(`the adaptor signing worker failed: ${err.message}`));
          };
          const onExit = (code: number): void => {
            cleanup();
            reject(new AdaptorWorkerError(`the adaptor signing worker exited (code ${code})`));
          };
          const cleanup = (): void => void worker.off('message', onMessage).off('error', onError).off('exit', onExit);
          worker.on('message', onMessage).on('error', onError).on('exit', onExit);
          const req: Request = { id, key: owned.buffer, items: packed.buffer };
          worker.postMessage(req, [owned.buffer, packed.buffer]);
        });
        reusable = true;
        if (!reply.ok) throw new AdaptorWorkerError(reply.message);
        const all = new Uint8Array(reply.sigs);
        return items.map((_, i) => all.subarray(i * ADAPTOR_SIG_LENGTH, (i + 1) * ADAPTOR_SIG_LENGTH));
      } finally {
        this.release(worker, reusable);
      }
    } finally {
      // (Still here only when it was never sent: transferred, the buffer is detached, of length 0.)
      if (owned.byteLength > 0) owned.fill(0);
    }
  }

  private spawn(): Worker {
    const w = new Worker(new URL(import.meta.url), { workerData: { role: ROLE } });
    this.all.add(w);
    w.on('exit', () => this.all.delete(w));
    // (Reported to the call in flight; an idle worker's failure only ends it.)
    w.on('error', () => undefined);
    return w;
  }

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
