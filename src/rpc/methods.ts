// The RPC room's own methods: help, rpc.discover, subscribe, unsubscribe, and auth (the WebSocket's
// first-message login for clients that cannot send headers).

import { Type } from '@sinclair/typebox';
import type { Authenticator } from './auth.js';
import { helpText, openRpcDocument } from './docs.js';
import { rpcError } from './errors.js';
import type { EventBus, TopicSpec } from './events.js';
import { defineMethod, type MethodRegistry, type MethodSpec } from './registry.js';
import { CUTOFF_TOPIC, type SubscriptionHub } from './subscriptions.js';

export const RPC_TOPICS: TopicSpec[] = [
  { name: CUTOFF_TOPIC, summary: 'Final notice to a subscriber that was cut off (slow consumer); its subscriptions are gone.', data: Type.Object({ reason: Type.String(), queued_bytes: Type.Integer(), limit_bytes: Type.Integer() }) },
];

export function rpcMethods(deps: { registry: MethodRegistry; bus: EventBus; hub: SubscriptionHub; auth: Authenticator; version: string }): MethodSpec[] {
  const { registry, bus, hub, auth, version } = deps;
  return [
    defineMethod({
      name: 'help',
      summary: 'List all methods, or describe one.',
      params: Type.Object({ command: Type.Optional(Type.String({ maxLength: 100, description: 'The method to describe.' })) }, { additionalProperties: false }),
      result: Type.String(),
      role: 'readonly',
      duringWarmup: true,
      handler: ({ command }) => {
        const text = helpText(registry, command);
        if (text === undefined) throw rpcError('InvalidParams', `help: unknown command: ${command}`);
        return text;
      },
    }),
    defineMethod({
      name: 'rpc.discover',
      summary: 'The OpenRPC document of this API, written from the method schemas.',
      params: Type.Object({}, { additionalProperties: false }),
      result: Type.Object({ openrpc: Type.String(), info: Type.Object({}, { additionalProperties: true }), methods: Type.Array(Type.Object({ name: Type.String() }, { additionalProperties: true })) }, { additionalProperties: true }),
      role: 'readonly',
      duringWarmup: true,
      handler: () => openRpcDocument(registry, bus, version) as never,
    }),
    defineMethod({
      name: 'subscribe',
      summary: 'Subscribe this connection to event topics; events arrive as "event" notifications.',
      description: 'Topics are exact names or `namespace.*`. Answers the subscription id. A subscriber that lets too many bytes queue up is cut off with a final subscription.closed event.',
      params: Type.Object({ topics: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 64, description: 'Topic names or namespace.* patterns.' }) }, { additionalProperties: false }),
      result: Type.Object({ subscription: Type.String(), topics: Type.Array(Type.String()) }),
      role: 'readonly',
      duringWarmup: true,
      handler: ({ topics }, ctx) => ({ subscription: hub.subscribe(ctx.connection, topics), topics }),
    }),
    defineMethod({
      name: 'unsubscribe',
      summary: 'End a subscription of this connection.',
      params: Type.Object({ subscription: Type.String({ maxLength: 64, description: 'The id subscribe returned.' }) }, { additionalProperties: false }),
      result: Type.Boolean(),
      role: 'readonly',
      duringWarmup: true,
      handler: ({ subscription }, ctx) => {
        if (!hub.unsubscribe(ctx.connection, subscription)) throw rpcError('NotFound', `no subscription ${subscription} on this connection`);
        return true;
      },
    }),
    defineMethod({
      name: 'auth',
      summary: 'Authenticate a WebSocket connection that connected without credentials; must be its first call.',
      description: 'The token is the content of the cookie file (`__cookie__:<secret>`) or `<user>:<password>` of an rpcauth user.',
      params: Type.Object({ token: Type.String({ minLength: 1, maxLength: 1024, description: 'The credential.' }) }, { additionalProperties: false }),
      result: Type.Object({ user: Type.String(), role: Type.String() }),
      role: 'readonly',
      duringWarmup: true,
      handler: async ({ token }, ctx) => {
        if (ctx.connection.role !== undefined) throw rpcError('InvalidRequest', 'this connection is already authenticated');
        const id = auth.check(token);
        if (!id) {
          // Slows guessing; the connection itself is closed by the transport when its login grace time ends.
          await new Promise((r) => setTimeout(r, 250));
          throw rpcError('Unauthorized', 'authentication failed');
        }
        ctx.connection.role = id.role;
        ctx.connection.user = id.user;
        return { user: id.user, role: id.role };
      },
    }),
  ];
}
