// The RPC room's own methods: help, rpc.discover, subscribe, unsubscribe, and auth (the WebSocket's
// first-message login for clients that cannot send headers).

import * as D from './declarations.js';
import type { Authenticator } from './auth.js';
import { helpText, openRpcDocument } from './docs.js';
import { rpcError } from '../core/errors.js';
import type { Logger } from 'pino';
import type { ConnectionTracker } from './connections.js';
import type { EventBus } from '../core/events.js';
import { implement, type MethodSpec } from '../core/methods.js';
import { type MethodRegistry } from './registry.js';
import type { SubscriptionHub } from './subscriptions.js';

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
    implement(D.help, ({ command }) => {
      const text = helpText(registry, command);
      if (text === undefined) throw rpcError('InvalidParams', `help: unknown command: ${command}`);
      return text;
    }),
    implement(
      D.rpcDiscover,
      () =>
        openRpcDocument(
          registry.list().map((m) => m.spec),
          bus.list(),
          version,
        ) as never,
    ),
    implement(D.subscribe, ({ topics }, ctx) => ({ subscription: hub.subscribe(ctx.connection, topics), topics })),
    implement(D.unsubscribe, ({ subscription }, ctx) => {
      if (!hub.unsubscribe(ctx.connection, subscription)) throw rpcError('NotFound', `no subscription ${subscription} on this connection`);
      return true;
    }),
    implement(D.auth, async ({ token }, ctx) => {
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
    }),
  ];
}
