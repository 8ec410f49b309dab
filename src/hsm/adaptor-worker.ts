// ECDSA adaptor signatures (a DLC's CETs) made in worker threads (node:worker_threads), so a contract with
// thousands of CETs (~1.5 ms each on libsecp256k1, ~6 ms on @noble) does not hold the event loop: every RPC, on
// every connection and in every room, keeps being answered while they are made (issue 26 item 6). The keystore
// hands the key's private scalar to the workers for the call (transferred, so no copy stays on the main thread);
// each worker wipes its copy when its part of the call ends.
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

/** Below this many items a call is not split: a worker's round trip costs more than the signatures it would share. */
const SPLIT_AT = 8;

/**
 * A few workers (as many as the cores, at least two, at most four), started on first use and kept idle (unref'd: an
 * idle worker does not hold the process open) until close. A call's items are split across the workers (a contract's
 * CETs are independent signatures); calls beyond the pool's size wait their turn. The main thread only packs and
 * unpacks, so a worker per core leaves it what it needs to answer RPCs.
 */
export class AdaptorSigners {
  private readonly pool: WorkerPool;

  constructor(private readonly size = Math.max(2, Math.min(4, availableParallelism()))) {
    // (An idle worker's failure only ends it; a call in flight hears of its own.)
    this.pool = new WorkerPool({ module: new URL(import.meta.url), role: ROLE, size, name: 'adaptor signing' });
  }

  /**
   * Signs every item with the key. `key` is the private key's 32 bytes: this call takes it (its bytes are moved to
   * the workers and the array is zeroed), so the caller has nothing to wipe. Points are 33 bytes, digests 32.
   */
  async signAll(key: Uint8Array, items: Array<{ point: Uint8Array; digest: Uint8Array }>): Promise<Uint8Array[]> {
    const parts = items.length < SPLIT_AT ? 1 : Math.min(this.size, Math.ceil(items.length / SPLIT_AT));
    // The key's bytes in a buffer of their own per part, transferred: a worker holds the only copy while it signs.
    const owned = Array.from({ length: Math.max(1, parts) }, () => new Uint8Array(32));
    for (const o of owned) o.set(key);
    key.fill(0);
    try {
      if (items.length === 0) return [];
      if (items.some((x) => x.point.length !== POINT || x.digest.length !== DIGEST))
        throw new AdaptorWorkerError('an item is not a 33-byte point and a 32-byte digest');
      const per = Math.ceil(items.length / parts);
      const chunks = owned.map((o, p) => this.signPart(o, items.slice(p * per, (p + 1) * per)));
      // (Every part settles before the call answers, so no worker still holds a key when it does.)
      const settled = await Promise.allSettled(chunks);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      return settled.flatMap((r) => (r as PromiseFulfilledResult<Uint8Array[]>).value);
    } finally {
      // (Still here only when it was never sent: transferred, a buffer is detached, of length 0.)
      for (const o of owned) if (o.byteLength > 0) o.fill(0);
    }
  }

  private async signPart(owned: Uint8Array<ArrayBuffer>, items: Array<{ point: Uint8Array; digest: Uint8Array }>): Promise<Uint8Array[]> {
    // (Typed arrays posted one by one would each copy the whole pool buffer a Buffer is a view of.)
    const packed = new Uint8Array(items.length * ITEM);
    items.forEach((x, i) => {
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
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
