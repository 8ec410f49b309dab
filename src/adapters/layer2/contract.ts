// The contract every second-layer protocol adapter follows (Lightning backends now; DLC, RGB and state channels
// later), kept small and honest: an adapter lists the operations it supports and refuses the rest, instead of
// pretending. The registry is what l2.list, l2.health and l2.capabilities read.

import type { Health } from '../../core/service.js';

export interface Layer2Adapter {
  /** e.g. "lightning". */
  readonly protocol: string;
  /** e.g. "cln" or "lnd". */
  readonly backend: string;
  /** Operation names it supports, e.g. "invoice.create", "pay", "channel.open". */
  capabilities(): string[];
  health(): Health;
  /** A short state summary for people (node id, block height, channel count...). */
  summary(): Promise<Record<string, unknown>>;
}

export class Layer2Registry {
  private readonly adapters: Layer2Adapter[] = [];

  add(a: Layer2Adapter): void {
    if (this.adapters.some((x) => x.protocol === a.protocol && x.backend === a.backend)) throw new Error(`layer2 adapter ${a.protocol}/${a.backend} registered twice`);
    this.adapters.push(a);
  }

  list(): Layer2Adapter[] {
    return [...this.adapters];
  }
}
