// The event bus rooms publish on. Topics are declared as data (name, summary, data schema) so `subscribe` can
// refuse a topic that does not exist and the reference can list them. Listeners are called synchronously and
// must not throw; the subscription hub is the main listener.

import type { TSchema } from '@sinclair/typebox';
import type { Role } from './registry.js';

export interface TopicSpec {
  name: string;
  summary: string;
  data?: TSchema;
  /** The role a subscriber needs (default readonly). */
  role?: Role;
}

export type EventListener = (topic: string, data: unknown) => void;

export class EventBus {
  private readonly topics = new Map<string, TopicSpec & { owner: string }>();
  private readonly listeners = new Set<EventListener>();

  declare(owner: string, specs: readonly TopicSpec[]): void {
    for (const t of specs) {
      if (!/^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+$/.test(t.name)) throw new Error(`topic '${t.name}' must look like namespace.name`);
      if (this.topics.has(t.name)) throw new Error(`topic '${t.name}' is declared twice`);
      this.topics.set(t.name, { ...t, owner });
    }
  }

  list(): Array<TopicSpec & { owner: string }> {
    return [...this.topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  /** The role a subscriber to the topic needs. */
  roleOf(topic: string): Role {
    return this.topics.get(topic)?.role ?? 'readonly';
  }

  publish(topic: string, data: unknown): void {
    if (!this.topics.has(topic)) throw new Error(`publish on undeclared topic '${topic}'`);
    for (const l of this.listeners) l(topic, data);
  }

  listen(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
