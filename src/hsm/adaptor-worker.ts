// ECDSA adaptor signatures (a DLC's CETs) made in a worker thread (node:worker_threads), so a contract with
// thousands of CETs (~15 ms each) does not hold the event loop: every RPC, on every connection and in every room,
// keeps being answered while they are made (issue 26 item 6). The keystore hands the key's private scalar to the
// worker for the call (transferred, so no copy stays on the main thread); the worker wipes it when the call ends.
// The signatures are what adaptorSign (src/core/ecdsa-adaptor.ts) makes on any thread: the same code, run there.
//
// The workers are a core/worker-pool.ts pool running this same module file, as the DLC room's are.

import { availableParallelism } from 'node:os';
import { serveInWorker, WorkerPool, WorkerPoolError } from '../core/worker-pool.js';
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

serveInWorker<Request, Reply>(ROLE, (req) => {
  const reply = signAll(req);
  return { reply, transfer: reply.ok ? [reply.sigs] : [] };
});

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
  private readonly pool: WorkerPool;

  constructor(size = Math.max(1, Math.min(4, availableParallelism() - 1))) {
    // (An idle worker's failure only ends it; a call in flight hears of its own.)
    this.pool = new WorkerPool({ module: new URL(import.meta.url), role: ROLE, size, name: 'adaptor signing' });
  }

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
      if (items.length === 0) return [];
      // (Typed arrays posted one by one would each copy the whole pool buffer a Buffer is a view of.)
      const packed = new Uint8Array(items.length * ITEM);
      items.forEach((x, i) => {
        if (x.point.length !== POINT || x.digest.length !== DIGEST) throw new AdaptorWorkerError('an item is not a 33-byte point and a 32-byte digest');
        packed.set(x.point, i * ITEM);
        packed.set(x.digest, i * ITEM + POINT);
      });
      let reply: Reply;
      try {
        reply = await this.pool.call<Reply>((id) => ({
          message: { id, key: owned.buffer, items: packed.buffer } satisfies Request,
          transfer: [owned.buffer, packed.buffer],
        }));
      } catch (err) {
        if (err instanceof WorkerPoolError) throw new AdaptorWorkerError(err.closing ? 'the HSM is closing' : err.message);
        throw err;
      }
      if (!reply.ok) throw new AdaptorWorkerError(reply.message);
      const all = new Uint8Array(reply.sigs);
      return items.map((_, i) => all.subarray(i * ADAPTOR_SIG_LENGTH, (i + 1) * ADAPTOR_SIG_LENGTH));
    } finally {
      // (Still here only when it was never sent: transferred, the buffer is detached, of length 0.)
      if (owned.byteLength > 0) owned.fill(0);
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
