// The declarations of methods (name, summary, params and result schemas, role, errors): data that the docs and
// the daemon read without the room's code; the handlers are bound in the room's methods module.

import { Type } from '@sinclair/typebox';
import { defineTopic } from '../core/events.js';
import { declareMethod, NoParams, type MethodDeclaration } from '../core/methods.js';

/** Sent to a subscriber cut off for not reading its events. */
export const CUTOFF_TOPIC = 'subscription.closed';

export const SUBSCRIPTION_CLOSED = defineTopic({
  name: CUTOFF_TOPIC,
  summary: 'Final notice to a subscriber that was cut off (slow consumer); its subscriptions are gone.',
  data: Type.Object({ reason: Type.String(), queued_bytes: Type.Integer(), limit_bytes: Type.Integer() }),
});

export const RPC_TOPICS = [SUBSCRIPTION_CLOSED];

export const help = declareMethod({
  name: 'help',
  summary: 'List all methods, or describe one.',
  params: Type.Object({ command: Type.Optional(Type.String({ maxLength: 100, description: 'The method to describe.' })) }, { additionalProperties: false }),
  result: Type.String(),
  role: 'readonly',
  duringWarmup: true,
});

export const rpcDiscover = declareMethod({
  name: 'rpc.discover',
  summary: 'The OpenRPC document of this API, written from the method schemas.',
  params: NoParams,
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
});

export const subscribe = declareMethod({
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
});

export const unsubscribe = declareMethod({
  name: 'unsubscribe',
  summary: 'End a subscription of this connection.',
  params: Type.Object({ subscription: Type.String({ maxLength: 64, description: 'The id subscribe returned.' }) }, { additionalProperties: false }),
  result: Type.Boolean(),
  role: 'readonly',
  duringWarmup: true,
});

export const auth = declareMethod({
  name: 'auth',
  summary: 'Authenticate a WebSocket connection that connected without credentials; must be its first call.',
  description: 'The token is the content of the cookie file (`__cookie__:<secret>`) or `<user>:<password>` of an rpcauth user.',
  params: Type.Object({ token: Type.String({ minLength: 1, maxLength: 1024, description: 'The credential.' }) }, { additionalProperties: false }),
  result: Type.Object({ user: Type.String(), role: Type.String() }),
  role: 'readonly',
  duringWarmup: true,
});

export const RPC_METHODS: readonly MethodDeclaration[] = [help, rpcDiscover, subscribe, unsubscribe, auth];
