// The ML service: the loaded models and their engines, routing, the result cache (LRU with TTL, keyed by model
// version and feature vector), shadow comparisons, and reload (ml.reload and SIGHUP) that swaps versions without
// failing a request in flight: the old engines finish what they hold before they are released.

import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { HealthCell, type Service } from '../core/service.js';
import { rpcError } from '../core/errors.js';
import { ModelEngine, RunSlots, type EngineLimits } from './engine.js';
import { loadModels, type BrokenModel, type LoadedModel } from './repository.js';
import type { Router } from './routing.js';
import type { OutcomeTracker } from './outcomes.js';
import type { EventBus } from '../core/events.js';

const require = createRequire(import.meta.url);
const ortVersion = (require('onnxruntime-node') as { env: { versions: { node?: string } } }).env.versions.node ?? 'unknown';

export interface ShadowRecord {
  time: string;
  active: { version: number; output: number };
  candidate: { version: number; output: number };
}

export interface MlOptions {
  dirs: string[];
  required: string[];
  cacheSize: number;
  cacheTtlMs: number;
  concurrency: number;
  limits: EngineLimits;
}

export class MlService implements Service {
  readonly name = 'ml';
  private readonly cell = new HealthCell('starting', 'loading models');
  private engines = new Map<string, Map<number, ModelEngine>>();
  broken: BrokenModel[] = [];
  private readonly slots: RunSlots;
  private readonly cache: LRUCache<string, number>;
  private readonly shadows = new Map<string, { count: number; absDiffSum: number; recent: ShadowRecord[] }>();

  constructor(
    private readonly opts: MlOptions,
    readonly router: Router,
    private readonly log: Logger,
  ) {
    this.slots = new RunSlots(opts.concurrency);
    this.cache = new LRUCache<string, number>({ max: opts.cacheSize, ttl: opts.cacheTtlMs });
  }

  health(): ReturnType<HealthCell['get']> {
    return this.cell.get();
  }

  /** Set by the room when bitcoind is there to learn from. */
  outcomes: { tracker: OutcomeTracker; bus: EventBus } | undefined;

  /** Set by the room when the fee model can be retrained (fee-retrain.ts): opened after the models, closed first. */
  retrainer: { open(): Promise<void>; close(): Promise<void> } | undefined;

  async open(): Promise<void> {
    await this.router.load();
    await this.load();
    if (this.outcomes) await this.outcomes.tracker.open(this.outcomes.bus);
    await this.retrainer?.open();
  }

  async reload(): Promise<void> {
    await this.load();
  }

  async close(): Promise<void> {
    await this.retrainer?.close();
    await this.outcomes?.tracker.close();
    for (const versions of this.engines.values()) for (const e of versions.values()) await e.close();
    this.engines.clear();
    this.cell.set('stopped', 'closed');
  }

  private async load(): Promise<void> {
    const { models, broken } = await loadModels(this.opts.dirs);
    for (const b of broken) this.log.error({ model: b.id, version: b.version, path: b.path, reason: b.reason }, 'model not loaded');
    const missing = this.opts.required.filter((id) => !models.some((m) => m.id === id));
    if (missing.length) {
      for (const m of models) await m.session.release();
      const why = missing.map((id) => `${id}: ${broken.find((b) => b.id === id)?.reason ?? 'not found'}`).join('; ');
      throw new Error(`required model${missing.length > 1 ? 's' : ''} not loaded (ml.required): ${why}`);
    }
    const next = new Map<string, Map<number, ModelEngine>>();
    for (const m of models) {
      const versions = next.get(m.id) ?? new Map<number, ModelEngine>();
      versions.set(m.version, new ModelEngine(m, this.slots, this.opts.limits));
      next.set(m.id, versions);
    }
    const old = this.engines;
    // Swap first: new requests go to the new engines; the old ones finish what they hold, then are released.
    this.engines = next;
    this.versionLists = new Map([...next].map(([id, vs]) => [id, [...vs.keys()].sort((a, b) => a - b)]));
    this.broken = broken;
    this.cache.clear();
    for (const versions of old.values()) for (const e of versions.values()) void e.close();
    this.cell.set(
      broken.length ? 'degraded' : 'ok',
      `${models.length} model version${models.length === 1 ? '' : 's'} loaded${broken.length ? `, ${broken.length} not loaded (see ml.listmodels)` : ''}`,
    );
    this.log.info({ loaded: models.map((m) => `${m.id}@${m.version}`), broken: broken.length }, 'models loaded');
  }

  /**
   * A version loaded outside a folder scan (a retrained model, already checked by loadOne) joins the engines; the
   * cache stays (its keys name the version). A reload later finds it in its folder like any other.
   */
  adopt(m: LoadedModel): void {
    const versions = this.engines.get(m.id) ?? new Map<number, ModelEngine>();
    const old = versions.get(m.version);
    versions.set(m.version, new ModelEngine(m, this.slots, this.opts.limits));
    this.engines.set(m.id, versions);
    this.versionLists.set(
      m.id,
      [...versions.keys()].sort((a, b) => a - b),
    );
    if (old) void old.close();
  }

  /** Sorted version lists, computed once per load: predict() asks for them on every call. */
  private versionLists = new Map<string, number[]>();

  versions(id: string): number[] {
    const v = this.versionLists.get(id);
    if (!v) throw rpcError('NotFound', `no model ${id} is loaded`, { loaded: [...this.engines.keys()] });
    return v;
  }

  engine(id: string, version: number): ModelEngine {
    const e = this.engines.get(id)?.get(version);
    if (!e) throw rpcError('NotFound', `${id} v${version} is not loaded`);
    return e;
  }

  all(): ModelEngine[] {
    return [...this.engines.values()].flatMap((v) => [...v.values()]);
  }

  /** Routes, checks the cache, runs. With a shadow candidate, both run and the comparison is recorded. */
  async predict(
    id: string,
    row: Float32Array,
    key: string | undefined,
  ): Promise<{ id: string; version: number; output: number; cached: boolean; shadow?: { version: number; output: number } }> {
    const choice = this.router.choose(id, this.versions(id), key);
    const engine = this.engine(id, choice.version);
    const started = performance.now();
    engine.stats.requests++;
    // The feature bytes themselves are the key: cheaper than formatting the numbers, and exact.
    const ck = `${id}@${choice.version}:${Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('latin1')}`;
    let output = this.cache.get(ck);
    const cached = output !== undefined;
    if (cached) engine.stats.cacheHits++;
    else {
      output = await engine.infer(row);
      this.cache.set(ck, output);
    }
    engine.stats.record(performance.now() - started);
    if (choice.shadow === undefined) return { id, version: choice.version, output: output!, cached };
    const cand = this.engine(id, choice.shadow);
    cand.stats.requests++;
    const shadowOut = await cand.infer(row).catch(() => NaN);
    this.recordShadow(id, {
      time: new Date().toISOString(),
      active: { version: choice.version, output: output! },
      candidate: { version: choice.shadow, output: shadowOut },
    });
    return { id, version: choice.version, output: output!, cached, shadow: { version: choice.shadow, output: shadowOut } };
  }

  private recordShadow(id: string, r: ShadowRecord): void {
    const s = this.shadows.get(id) ?? { count: 0, absDiffSum: 0, recent: [] };
    s.count++;
    if (Number.isFinite(r.candidate.output)) s.absDiffSum += Math.abs(r.candidate.output - r.active.output);
    s.recent.push(r);
    if (s.recent.length > 100) s.recent.shift();
    this.shadows.set(id, s);
  }

  shadowSummary(id: string): { count: number; mean_abs_diff: number; recent: ShadowRecord[] } | null {
    const s = this.shadows.get(id);
    return s ? { count: s.count, mean_abs_diff: s.count ? s.absDiffSum / s.count : 0, recent: s.recent.slice(-10) } : null;
  }

  runtime(): Record<string, string> {
    return { onnxruntime: ortVersion, execution_provider: 'cpu', arch: arch(), platform: platform() };
  }
}
