// The event bus rooms publish on. A topic is declared once, as data (name, summary, the schema of its data), with
// `defineTopic`; the constant it returns is what a room publishes on and what another room listens to, so the
// data's type follows from the schema on both sides. `subscribe` refuses a topic that does not exist and the
// reference lists them. With `checkData` (-rpccheckresults: development and tests) every publication is checked
// against its schema and a mismatch throws where it was published. Listeners are called synchronously and must not
// throw; the subscription hub is the main listener.

import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Role } from './roles.js';

export interface TopicSpec<S extends TSchema = TSchema> {
  name: string;
  summary: string;
  data: S;
  /** The role a subscriber needs (default readonly). */
  role?: Role;
}

/** Declares a topic: the constant a room publishes on and others listen to (its data typed by the schema). */
export const defineTopic = <S extends TSchema>(spec: TopicSpec<S>): TopicSpec<S> => spec;

/** The data a topic carries. */
export type TopicData<T> = T extends TopicSpec<infer S> ? Static<S> : never;

/** Hears every topic, as published (the subscription hub, which forwards by name). */
export type EventListener = (topic: string, data: unknown) => void;

interface Declared {
  spec: TopicSpec;
  owner: string;
  check?: TypeCheck<TSchema>;
}

export class EventBus {
  private readonly topics = new Map<string, Declared>();
  private readonly listeners = new Set<EventListener>();
  private readonly handlers = new Map<string, Set<(data: unknown) => void>>();

  constructor(private readonly opts: { checkData?: boolean } = {}) {}

  /** Checks publications against their schemas from now on (set from -rpccheckresults once config is read). */
  checkData(on: boolean): void {
    this.opts.checkData = on;
  }

  declare(owner: string, specs: readonly TopicSpec[]): void {
    for (const t of specs) {
      if (!/^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+$/.test(t.name)) throw new Error(`topic '${t.name}' must look like namespace.name`);
      if (this.topics.has(t.name)) throw new Error(`topic '${t.name}' is declared twice`);
      this.topics.set(t.name, { spec: t, owner });
    }
  }

  list(): Array<TopicSpec & { owner: string }> {
    return [...this.topics.values()].map((d) => ({ ...d.spec, owner: d.owner })).sort((a, b) => a.name.localeCompare(b.name));
  }

  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  /** The role a subscriber to the topic needs. */
  roleOf(topic: string): Role {
    return this.topics.get(topic)?.spec.role ?? 'readonly';
  }

  publish<S extends TSchema>(topic: TopicSpec<S>, data: Static<S>): void {
    const d = this.topics.get(topic.name);
    if (!d) throw new Error(`publish on undeclared topic '${topic.name}'`);
    if (this.opts.checkData) {
      const check = (d.check ??= TypeCompiler.Compile(d.spec.data));
      if (!check.Check(data)) {
        const errors = [...check.Errors(data)].slice(0, 5).map((e) => `${e.path || '(data)'}: ${e.message}`);
        throw new Error(`event ${topic.name}: the data does not match its schema (rpccheckresults): ${errors.join('; ')}`);
      }
    }
    for (const h of this.handlers.get(topic.name) ?? []) h(data);
    for (const l of this.listeners) l(topic.name, data);
  }

  /** Calls `handler` with each publication on one topic, its data typed by the topic's schema. Returns the undo. */
  on<S extends TSchema>(topic: TopicSpec<S>, handler: (data: Static<S>) => void): () => void {
    let set = this.handlers.get(topic.name);
    if (!set) this.handlers.set(topic.name, (set = new Set()));
    const h = handler as (data: unknown) => void;
    set.add(h);
    return () => set.delete(h);
  }

  listen(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
