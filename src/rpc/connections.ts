// Counts open connections across both transports against rpcmaxconnections, hands out ids, and tells the
// interested parties (subscription hub, rate limiter, metrics) when a connection goes away.

import type { Connection } from './registry.js';

export class ConnectionTracker {
  private nextId = 1;
  private readonly open = new Map<number, Connection>();
  private readonly closeListeners: Array<(c: Connection) => void> = [];

  constructor(private readonly max: number) {}

  /** Reserves a slot; false when the limit is reached. */
  hasRoom(): boolean {
    return this.open.size < this.max;
  }

  newId(): number {
    return this.nextId++;
  }

  add(c: Connection): void {
    this.open.set(c.id, c);
  }

  remove(c: Connection): void {
    if (!this.open.delete(c.id)) return;
    for (const l of this.closeListeners) l(c);
  }

  onClose(listener: (c: Connection) => void): void {
    this.closeListeners.push(listener);
  }

  count(transport?: Connection['transport']): number {
    if (!transport) return this.open.size;
    let n = 0;
    for (const c of this.open.values()) if (c.transport === transport) n++;
    return n;
  }

  all(): Connection[] {
    return [...this.open.values()];
  }
}
