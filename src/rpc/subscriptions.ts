// Subscriptions: a connection asks for topics (exact names or `namespace.*`) and receives each matching event as a
// JSON-RPC notification. Memory stays bounded: when a connection's unsent bytes pass the bound, its subscriptions
// are cut off with one final notice instead of queueing more.

import { randomBytes } from 'node:crypto';
import { CUTOFF_TOPIC } from './declarations.js';
import { rpcError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import { roleAllows, type Connection } from '../core/methods.js';

interface Subscription {
  id: string;
  connection: Connection;
  patterns: string[];
}

export interface HubStats {
  subscriptions: number;
  delivered: number;
  cutoffs: number;
}

export class SubscriptionHub {
  private readonly byId = new Map<string, Subscription>();
  private readonly byConnection = new Map<number, Set<string>>();
  private delivered = 0;
  private cutoffs = 0;
  private readonly stopListening: () => void;

  constructor(
    private readonly bus: EventBus,
    private readonly opts: { maxQueueBytes: number; maxPerConnection: number; onCutoff?: (c: Connection, queued: number) => void },
  ) {
    this.stopListening = bus.listen((topic, data) => this.deliver(topic, data));
  }

  subscribe(connection: Connection, patterns: string[]): string {
    const role = connection.role ?? 'readonly';
    for (const p of patterns) {
      const known = p.endsWith('.*') ? this.bus.list().some((t) => t.name.startsWith(p.slice(0, -1))) : this.bus.has(p);
      if (!known) throw rpcError('InvalidParams', `unknown topic '${p}' (see help subscribe for the list)`, { topic: p });
      // A topic named outright needs its role; a pattern gets only the topics the role may see (at delivery).
      if (!p.endsWith('.*') && !roleAllows(role, this.bus.roleOf(p)))
        throw rpcError('Forbidden', `topic '${p}' needs the ${this.bus.roleOf(p)} role`, { required: this.bus.roleOf(p), topic: p });
    }
    const mine = this.byConnection.get(connection.id) ?? new Set<string>();
    if (mine.size >= this.opts.maxPerConnection)
      throw rpcError('Busy', `this connection already has ${mine.size} subscriptions (limit ${this.opts.maxPerConnection})`);
    const id = randomBytes(8).toString('hex');
    this.byId.set(id, { id, connection, patterns: [...new Set(patterns)] });
    mine.add(id);
    this.byConnection.set(connection.id, mine);
    return id;
  }

  /** Removes one subscription of this connection; false when it has no such id. */
  unsubscribe(connection: Connection, id: string): boolean {
    const sub = this.byId.get(id);
    if (!sub || sub.connection.id !== connection.id) return false;
    this.remove(sub);
    return true;
  }

  /** Forgets every subscription of a closed connection. */
  dropConnection(connection: Connection): void {
    for (const id of this.byConnection.get(connection.id) ?? []) this.byId.delete(id);
    this.byConnection.delete(connection.id);
  }

  /** Sends a last event to every subscriber (used on shutdown) and forgets them all. */
  closeAll(topic: string, data: unknown): void {
    const tail = notificationTail(topic, JSON.stringify(data));
    for (const sub of this.byId.values()) sub.connection.send(NOTIFICATION_HEAD + sub.id + tail);
    this.byId.clear();
    this.byConnection.clear();
  }

  stats(): HubStats {
    return { subscriptions: this.byId.size, delivered: this.delivered, cutoffs: this.cutoffs };
  }

  close(): void {
    this.stopListening();
  }

  private remove(sub: Subscription): void {
    this.byId.delete(sub.id);
    const mine = this.byConnection.get(sub.connection.id);
    mine?.delete(sub.id);
    if (mine && mine.size === 0) this.byConnection.delete(sub.connection.id);
  }

  private deliver(topic: string, data: unknown): void {
    // What is the same for every subscriber is worked out once per event: the topic's role and, on the first
    // delivery, the tail of the message after the subscription id.
    const role = this.bus.roleOf(topic);
    let tail: string | undefined;
    for (const sub of this.byId.values()) {
      if (!sub.patterns.some((p) => p === topic || (p.endsWith('.*') && topic.startsWith(p.slice(0, -1))))) continue;
      if (!roleAllows(sub.connection.role ?? 'readonly', role)) continue;
      const queued = sub.connection.bufferedBytes();
      if (queued > this.opts.maxQueueBytes) {
        this.cutOff(sub.connection, queued);
        continue;
      }
      tail ??= notificationTail(topic, JSON.stringify(data));
      sub.connection.send(NOTIFICATION_HEAD + sub.id + tail);
      this.delivered++;
    }
  }

  private cutOff(connection: Connection, queued: number): void {
    const ids = [...(this.byConnection.get(connection.id) ?? [])];
    this.cutoffs++;
    for (const id of ids) {
      connection.send(notification(id, CUTOFF_TOPIC, JSON.stringify({ reason: 'slow consumer', queued_bytes: queued, limit_bytes: this.opts.maxQueueBytes })));
      this.remove(this.byId.get(id)!);
    }
    this.opts.onCutoff?.(connection, queued);
  }
}

/** Built by hand so the event's data is serialized once per event, not once per subscriber. */
function notification(subscription: string, topic: string, dataJson: string): string {
  return NOTIFICATION_HEAD + subscription + notificationTail(topic, dataJson);
}
const NOTIFICATION_HEAD = '{"jsonrpc":"2.0","method":"event","params":{"subscription":"';
function notificationTail(topic: string, dataJson: string): string {
  return `","topic":${JSON.stringify(topic)},"data":${dataJson}}}`;
}
