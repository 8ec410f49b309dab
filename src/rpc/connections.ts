// Counts open connections against two pools and hands out ids, and tells the interested parties (subscription
// hub, rate limiter, metrics) when a connection goes away. Authenticated connections (the Unix socket, WebSockets
// with credentials) share rpcmaxconnections; WebSockets still waiting for their `auth` call have a small pool of
// their own (rpcmaxunauthenticated), so strangers holding sockets open never take a slot from a real client.

import type { Connection } from '../core/methods.js';

export class ConnectionTracker {
  private nextId = 1;
  private readonly open = new Map<number, Connection>();
  private readonly waiting = new Map<number, Connection>();
  private readonly closeListeners: Array<(c: Connection) => void> = [];

  constructor(
    private readonly max: number,
    private readonly maxUnauthenticated = 8,
  ) {}

  /** Whether a slot is free in the pool a connection with (true) or without (false) credentials goes to. */
  hasRoom(authenticated = true): boolean {
    return authenticated ? this.open.size < this.max : this.waiting.size < this.maxUnauthenticated;
  }

  newId(): number {
    return this.nextId++;
  }

  add(c: Connection): void {
    (c.role === undefined ? this.waiting : this.open).set(c.id, c);
  }

  /** Moves a connection that just authenticated into the main pool; false when that pool is full. */
  promote(c: Connection): boolean {
    if (!this.waiting.has(c.id)) return true;
    if (!this.hasRoom(true)) return false;
    this.waiting.delete(c.id);
    this.open.set(c.id, c);
    return true;
  }

  remove(c: Connection): void {
    if (!this.open.delete(c.id) && !this.waiting.delete(c.id)) return;
    for (const l of this.closeListeners) l(c);
  }

  onClose(listener: (c: Connection) => void): void {
    this.closeListeners.push(listener);
  }

  /** Authenticated connections (per transport when given); unauthenticated ones are counted by unauthenticated(). */
  count(transport?: Connection['transport']): number {
    if (!transport) return this.open.size;
    let n = 0;
    for (const c of this.open.values()) if (c.transport === transport) n++;
    return n;
  }

  unauthenticated(): number {
    return this.waiting.size;
  }

  all(): Connection[] {
    return [...this.open.values(), ...this.waiting.values()];
  }
}
