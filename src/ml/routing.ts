// Which version of a model answers: one active version, a weighted split (sticky per caller key), or shadow mode
// (the candidate runs on the same input, its answer is recorded and compared, the active one is returned).
// Routing is kept in LevelDB with its history, so ml.rollback undoes the last change, across restarts too.

import { createHash } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import { rpcError } from '../core/errors.js';
import type { BatchOp, RoomDb, Store } from '../core/store.js';
import { RoutingSchema } from './declarations.js';
export type Routing = Static<typeof RoutingSchema>;

interface Stored {
  current: Routing;
  history: Routing[];
}

/** A caller key's fixed point in [0, 1) for one model: the same key always lands on the same side of a split. */
export function stickyPoint(key: string, id: string): number {
  return createHash('sha256').update(`${id}\u0000${key}`).digest().readUInt32BE(0) / 2 ** 32;
}

export class Router {
  private readonly routes = new Map<string, Stored>();

  constructor(
    private readonly db: RoomDb,
    private readonly store: Store,
  ) {}

  async load(): Promise<void> {
    for await (const [k, v] of this.db.iterator({ gte: 'r:', lt: 'r;' })) this.routes.set(k.slice(2), v as Stored);
  }

  get(id: string, versions: number[]): Routing {
    return this.routes.get(id)?.current ?? { mode: 'single', active: Math.max(...versions) };
  }

  choose(id: string, versions: number[], key: string | undefined): { version: number; shadow?: number } {
    const r = this.get(id, versions);
    if (r.mode === 'single') return { version: r.active };
    if (r.mode === 'shadow') return { version: r.active, shadow: r.candidate };
    const entries = Object.entries(r.weights).filter(([, w]) => w > 0);
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let u = (key !== undefined ? stickyPoint(key, id) : Math.random()) * total;
    for (const [v, w] of entries) {
      if (u < w) return { version: Number(v) };
      u -= w;
    }
    return { version: Number(entries[entries.length - 1]![0]) };
  }

  /** `extra`: writes that must land with the change, in the same batch (the retrainer's record of a promotion). */
  async set(id: string, routing: Routing, versions: number[], extra: BatchOp[] = []): Promise<void> {
    const used =
      routing.mode === 'single' ? [routing.active] : routing.mode === 'shadow' ? [routing.active, routing.candidate] : Object.keys(routing.weights).map(Number);
    const missing = used.filter((v) => !versions.includes(v));
    if (missing.length) throw rpcError('NotFound', `${id} has no loaded version ${missing.join(', ')} (loaded: ${versions.join(', ')})`);
    if (routing.mode === 'split' && !Object.values(routing.weights).some((w) => w > 0))
      throw rpcError('InvalidParams', 'a split needs at least one positive weight');
    const prev = this.routes.get(id);
    const next: Stored = {
      current: routing,
      history: [...(prev ? [prev.current] : [{ mode: 'single' as const, active: Math.max(...versions) }]), ...(prev?.history ?? [])].slice(0, 20),
    };
    await this.store.batch([{ type: 'put', sublevel: this.db, key: `r:${id}`, value: next }, ...extra]);
    this.routes.set(id, next);
  }

  /** Whether a routing was ever set for the model (without one, the highest version answers). */
  has(id: string): boolean {
    return this.routes.has(id);
  }

  async rollback(id: string): Promise<Routing> {
    const cur = this.routes.get(id);
    if (!cur || cur.history.length === 0) throw rpcError('NotFound', `${id} has no earlier routing to go back to`);
    const [prev, ...rest] = cur.history;
    const next: Stored = { current: prev!, history: rest };
    await this.store.batch([{ type: 'put', sublevel: this.db, key: `r:${id}`, value: next }]);
    this.routes.set(id, next);
    return prev!;
  }
}
