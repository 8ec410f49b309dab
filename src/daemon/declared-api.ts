// The whole API as declared: every method and topic of the core and of each room, read from the declarations
// without starting anything. The docs are written from it, and a daemon checks that what its rooms serve is
// exactly what they declared (so the docs cannot miss a method a room adds).

import type { Room } from '../core/room.js';
import { RPC_METHODS, RPC_TOPICS } from '../rpc/declarations.js';
import type { TopicSpec } from '../core/events.js';
import type { MethodDeclaration, MethodSpec } from '../core/methods.js';
import { DAEMON_METHODS, DAEMON_TOPICS } from './declarations.js';

export function declaredMethods(rooms: readonly Room[]): MethodDeclaration[] {
  return [...RPC_METHODS, ...DAEMON_METHODS, ...rooms.flatMap((r) => r.methods ?? [])];
}

export function declaredTopics(rooms: readonly Room[]): Array<TopicSpec & { owner: string }> {
  const owned = (owner: string, topics: readonly TopicSpec[] = []) => topics.map((t) => ({ ...t, owner }));
  return [...owned('daemon', DAEMON_TOPICS), ...owned('rpc', RPC_TOPICS), ...rooms.flatMap((r) => owned(r.name, r.topics))];
}

/**
 * A room that declares its methods serves only those, each with its declared schemas (`implement` copies them):
 * anything else is a programming error, refused at start.
 */
export function checkServedAsDeclared(room: Room, served: readonly MethodSpec[]): void {
  if (!room.methods) return;
  const declared = new Map(room.methods.map((d) => [d.name, d]));
  for (const spec of served) {
    const d = declared.get(spec.name);
    if (!d) throw new Error(`room '${room.name}' serves '${spec.name}', which it does not declare`);
    if (d.params !== spec.params || d.result !== spec.result || d.role !== spec.role)
      throw new Error(`room '${room.name}' serves '${spec.name}' with other schemas or role than it declares`);
  }
}
