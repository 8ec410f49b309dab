// The inference path of one model version: requests that arrive within a short window run as one batch (the
// model's batch dimension is dynamic, and each row's result is the same as alone), a bounded number of batches run
// at once across all models, and a bounded queue refuses with Busy instead of growing. Per-version figures
// (requests, errors, cache hits, latency, batch sizes) are kept for ml.status and the daemon's metrics.

import { rpcError } from '../core/errors.js';
import { Tensor, type LoadedModel } from './repository.js';

export interface EngineLimits {
  windowMs: number;
  maxBatch: number;
  maxQueue: number;
}

/** Bounds how many session.run calls are in flight across every model. */
export class RunSlots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async take(): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

export class VersionStats {
  requests = 0;
  errors = 0;
  cacheHits = 0;
  batches = 0;
  batchedRows = 0;
  maxBatchSeen = 0;
  /** The last 1024 latencies, as a ring (a shift() per request would cost more than the small models run). */
  private readonly latencies: number[] = [];
  private next = 0;
  record(ms: number): void {
    if (this.latencies.length < 1024) this.latencies.push(ms);
    else this.latencies[this.next] = ms;
    this.next = (this.next + 1) % 1024;
  }
  snapshot(): Record<string, number> {
    const s = [...this.latencies].sort((a, b) => a - b);
    const q = (p: number): number => (s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 1000) / 1000 : 0);
    return {
      requests: this.requests,
      errors: this.errors,
      cache_hits: this.cacheHits,
      cache_hit_rate: this.requests ? Math.round((this.cacheHits / this.requests) * 1000) / 1000 : 0,
      latency_p50_ms: q(0.5),
      latency_p99_ms: q(0.99),
      batches: this.batches,
      mean_batch_size: this.batches ? Math.round((this.batchedRows / this.batches) * 100) / 100 : 0,
      max_batch_size: this.maxBatchSeen,
    };
  }
}

interface Pending {
  row: Float32Array;
  resolve: (v: number) => void;
  reject: (e: unknown) => void;
}

export class ModelEngine {
  readonly stats = new VersionStats();
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private closed = false;

  constructor(
    readonly model: LoadedModel,
    private readonly slots: RunSlots,
    private readonly limits: EngineLimits,
  ) {}

  /** One row in, one number out (post-processed as the card says). */
  infer(row: Float32Array): Promise<number> {
    if (this.closed) return Promise.reject(rpcError('BackendUnavailable', `model ${this.model.id} v${this.model.version} was unloaded`));
    if (row.length !== this.model.width)
      return Promise.reject(rpcError('InvalidParams', `${this.model.id} takes ${this.model.width} features, got ${row.length}`));
    for (let i = 0; i < row.length; i++)
      if (!Number.isFinite(row[i]!))
        return Promise.reject(
          rpcError('InvalidParams', `feature ${i} (${this.model.card.inputs[0]!.features?.[i] ?? i}) is ${row[i]}; features must be finite numbers`),
        );
    if (this.queue.length >= this.limits.maxQueue)
      return Promise.reject(rpcError('Busy', `${this.model.id} has ${this.queue.length} requests waiting (ml.maxqueue)`));
    row = clampToRanges(row, this.model.card.inputs[0]!.ranges);
    return new Promise<number>((resolve, reject) => {
      // Idle and nothing waiting: run this one now. What arrives while it runs gathers into the next batch.
      if (this.running === 0 && this.queue.length === 0 && !this.timer) {
        void this.runBatch([{ row, resolve, reject }]);
        return;
      }
      this.queue.push({ row, resolve, reject });
      if (this.queue.length >= this.limits.maxBatch) this.flush();
      else if (this.running === 0 || this.limits.windowMs === 0) {
        // Idle: run at once (gathering only what arrives in the same tick), so a lone caller never waits for a
        // window. Busy: requests gather while the running batch works, and go when it ends or the window closes.
        if (this.queue.length === 1) queueMicrotask(() => this.flush());
      } else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.limits.windowMs);
    });
  }

  /**
   * Many rows at once, outside the queue and the figures (the backtest replays of history: thousands of rows that
   * no caller waits on one by one), in chunks, each taking a run slot like a batch; clamped and post-processed as
   * infer() does, so a replay reads what a caller would have been answered.
   */
  async runMany(rows: Float32Array[]): Promise<number[]> {
    if (this.closed) throw rpcError('BackendUnavailable', `model ${this.model.id} v${this.model.version} was unloaded`);
    const w = this.model.width;
    const ranges = this.model.card.inputs[0]!.ranges;
    const finish = finisher(this.model);
    const out: number[] = [];
    for (let start = 0; start < rows.length; start += 8192) {
      const chunk = rows.slice(start, start + 8192);
      const data = new Float32Array(chunk.length * w);
      chunk.forEach((r, i) => data.set(clampToRanges(r, ranges), i * w));
      await this.slots.take();
      try {
        const res = await this.model.session.run({ [this.model.card.inputs[0]!.name]: new Tensor('float32', data, [chunk.length, w]) });
        const values = res[this.model.card.outputs[0]!.name]!.data as Float32Array;
        for (let i = 0; i < chunk.length; i++) out.push(finish(values[i]!));
      } finally {
        this.slots.give();
      }
    }
    return out;
  }

  private idleWaiters: Array<() => void> = [];

  /** Resolves when nothing is queued or running (used when a reload swaps this version out). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
    await this.model.session.release();
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) void this.runBatch(this.queue.splice(0, this.limits.maxBatch));
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    this.running++;
    await this.slots.take();
    try {
      const w = this.model.width;
      const data = new Float32Array(batch.length * w);
      batch.forEach((p, i) => data.set(p.row, i * w));
      const input = new Tensor('float32', data, [batch.length, w]);
      const out = await this.model.session.run({ [this.model.card.inputs[0]!.name]: input });
      const values = out[this.model.card.outputs[0]!.name]!.data as Float32Array;
      this.stats.batches++;
      this.stats.batchedRows += batch.length;
      this.stats.maxBatchSeen = Math.max(this.stats.maxBatchSeen, batch.length);
      const finish = finisher(this.model);
      batch.forEach((p, i) => p.resolve(finish(values[i]!)));
    } catch (err) {
      this.stats.errors += batch.length;
      const e = rpcError('InternalError', `inference failed for ${this.model.id} v${this.model.version}: ${(err as Error).message.split('\n')[0]}`);
      for (const p of batch) p.reject(e);
    } finally {
      this.slots.give();
      this.running--;
      if (this.queue.length > 0 && !this.timer) queueMicrotask(() => this.flush());
      else if (this.queue.length === 0 && this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}

/** The card's post-processing, then the answer kept within what the model was trained on (e.g. at least 1 sat/vB). */
function finisher(model: LoadedModel): (v: number) => number {
  const post = model.card.postprocess === 'expm1' ? Math.expm1 : (v: number) => v;
  const range = model.card.outputs[0]!.ranges?.[0];
  return range ? (v) => Math.min(range[1], Math.max(range[0], post(v))) : post;
}

/** A row with each feature clamped to its training range (a copy; rows without ranges pass as they are). */
export function clampToRanges(row: Float32Array, ranges: Array<[number, number]> | undefined): Float32Array {
  if (!ranges) return row;
  const out = Float32Array.from(row);
  ranges.forEach(([lo, hi], i) => {
    if (i < out.length) out[i] = Math.min(hi, Math.max(lo, out[i]!));
  });
  return out;
}
