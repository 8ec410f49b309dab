// The RPC room's own methods: help, rpc.discover, subscribe, unsubscribe, and auth (the WebSocket's
// first-message login for clients that cannot send headers).

import { Type } from '@sinclair/typebox';
import type { Authenticator } from './auth.js';
import { helpText, openRpcDocument } from './docs.js';
import { rpcError } from './errors.js';
import type { Logger } from 'pino';
import type { ConnectionTracker } from './connections.js';
import type { EventBus, TopicSpec } from './events.js';
import { defineMethod, type MethodRegistry, type MethodSpec } from './registry.js';
import { CUTOFF_TOPIC, type SubscriptionHub } from './subscriptions.js';

export const RPC_TOPICS: TopicSpec[] = [
  {
    name: CUTOFF_TOPIC,
    summary: 'Final notice to a subscriber that was cut off (slow consumer); its subscriptions are gone.',
    data: Type.Object({ reason: Type.String(), queued_bytes: Type.Integer(), limit_bytes: Type.Integer() }),
  },
];

/** Failed `auth` calls after which the connection is closed. */
const MAX_AUTH_FAILURES = 3;

export function rpcMethods(deps: {
  registry: MethodRegistry;
  bus: EventBus;
  hub: SubscriptionHub;
  auth: Authenticator;
  version: string;
  tracker: ConnectionTracker;
  log?: Logger;
}): MethodSpec[] {
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
      result: Type.Object(
        {
          openrpc: Type.String(),
          info: Type.Object({}, { additionalProperties: true }),
          methods: Type.Array(Type.Object({ name: Type.String() }, { additionalProperties: true })),
        },
        { additionalProperties: true },
      ),
      role: 'readonly',
      duringWarmup: true,
      handler: () => openRpcDocument(registry, bus, version) as never,
    }),
    defineMethod({
      name: 'subscribe',
      summary: 'Subscribe this connection to event topics; events arrive as "event" notifications.',
      description:
        'Topics are exact names or `namespace.*`. Answers the subscription id. A subscriber that lets too many bytes queue up is cut off with a final subscription.closed event.',
      params: Type.Object(
        { topics: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 64, description: 'Topic names or namespace.* patterns.' }) },
        { additionalProperties: false },
      ),
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
        const c = ctx.connection;
        if (c.role !== undefined) throw rpcError('InvalidRequest', 'this connection is already authenticated');
        // One attempt at a time per connection: pipelined guesses wait for nothing, they fail.
        if (c.authBusy) throw rpcError('Unauthorized', 'authentication failed: one auth call at a time');
        c.authBusy = true;
        try {
          const id = auth.check(token);
          if (!id) {
            // Each failure waits longer (0.25, 0.5, 1 s); the third closes the connection, logged with the peer.
            c.authFailures = (c.authFailures ?? 0) + 1;
            await new Promise((r) => setTimeout(r, 250 * 2 ** (c.authFailures! - 1)));
            if (c.authFailures >= MAX_AUTH_FAILURES) {
              deps.log?.warn({ peer: c.peer, failures: c.authFailures }, 'closing a connection after repeated failed authentication');
              setImmediate(() => c.close('authentication failed'));
            }
            throw rpcError('Unauthorized', 'authentication failed');
          }
          if (!deps.tracker.promote(c)) {
            setImmediate(() => c.close('too many connections'));
            throw rpcError('TooManyConnections', 'too many connections (rpcmaxconnections)');
          }
          c.role = id.role;
          c.user = id.user;
          return { user: id.user, role: id.role };
        } finally {
          c.authBusy = false;
        }
      },
    }),
  ];
}
