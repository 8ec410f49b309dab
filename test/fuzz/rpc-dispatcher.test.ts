// Property-based fuzzing (fast-check, issue 26) of the JSON-RPC parser and dispatcher a client feeds: every declared
// method in its registry (the rpc room's own methods with their real handlers; every other room's with its real
// params schema and a handler that answers what it was given, so the schema checks, defaults and positional params
// run, not the room's work). Each message is answered (or, for a notification, not) with JSON-RPC 2.0 and a
// documented error code, never InternalError, within 100 ms. Inputs: requests for declared methods with random
// params, batches, mutated requests, random JSON and random bytes. Settings and helpers: harness.ts.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { VERSION } from '../../src/core/version.js';
import { declaredMethods } from '../../src/daemon/declared-api.js';
import { ROOMS } from '../../src/daemon/rooms.js';
import { Authenticator } from '../../src/rpc/auth.js';
import { ConnectionTracker } from '../../src/rpc/connections.js';
import { RPC_TOPICS } from '../../src/rpc/declarations.js';
import { Dispatcher } from '../../src/rpc/dispatcher.js';
import { ERROR_TABLE, ErrorCode } from '../../src/core/errors.js';
import { EventBus } from '../../src/core/events.js';
import { rpcMethods } from '../../src/rpc/methods.js';
import { type Connection, type MethodSpec } from '../../src/core/methods.js';
import { MethodRegistry } from '../../src/rpc/registry.js';
import { SubscriptionHub } from '../../src/rpc/subscriptions.js';
import { cpuMs, figuresOf, mutate, mutation, printFigures, record, RUN_SETTINGS, RUNS, SLOW_MS } from './harness.js';

after(printFigures);

function fuzzDispatcher(): { dispatcher: Dispatcher; admin: Connection; stranger: () => Connection; names: string[]; params: Map<string, string[]> } {
  const log = pino({ level: 'silent' });
  const registry = new MethodRegistry();
  const bus = new EventBus();
  bus.declare('rpc', RPC_TOPICS);
  for (const room of ROOMS) bus.declare(room.name, room.topics ?? []);
  const hub = new SubscriptionHub(bus, { maxQueueBytes: 1 << 20, maxPerConnection: 32 });
  const tracker = new ConnectionTracker(64);
  const own = rpcMethods({ registry, bus, hub, auth: new Authenticator([]), version: VERSION, tracker, log });
  registry.register('rpc', own);
  const ownNames = new Set(own.map((m) => m.name));
  const echo: MethodSpec[] = declaredMethods(ROOMS)
    .filter((d) => !ownNames.has(d.name))
    .map((d) => ({ ...d, handler: (p: unknown) => p }) as MethodSpec);
  registry.register('fuzz', echo);
  const dispatcher = new Dispatcher(registry, { warmupStage: () => undefined, shuttingDown: () => false }, { maxBatch: 100, ratePerSecond: 1e9 }, log);
  const conn = (id: number, role: Connection['role']): Connection => ({
    id,
    transport: 'ws',
    peer: 'fuzz',
    role,
    user: role ? 'fuzz' : undefined,
    send: () => undefined,
    bufferedBytes: () => 0,
    close: () => undefined,
  });
  const names = registry.list().map((m) => m.spec.name);
  const params = new Map(registry.list().map((m) => [m.spec.name, m.order]));
  let next = 2;
  return { dispatcher, admin: conn(1, 'admin'), stranger: () => conn(next++, undefined), names, params };
}

const DOCUMENTED = new Set(ERROR_TABLE.map((e) => e.code));

/** Checks one answer object: JSON-RPC 2.0, and an error is a documented code with a message (never InternalError). */
function checkAnswer(a: unknown): void {
  assert.ok(a !== null && typeof a === 'object' && !Array.isArray(a), `an answer is an object: ${JSON.stringify(a)}`);
  const o = a as { jsonrpc?: unknown; id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
  assert.equal(o.jsonrpc, '2.0');
  assert.ok('id' in o && (o.id === null || typeof o.id === 'string' || typeof o.id === 'number'), `id: ${JSON.stringify(o.id)}`);
  assert.ok('result' in o !== 'error' in o, 'exactly one of result and error');
  if (o.error) {
    assert.ok(DOCUMENTED.has(o.error.code as number), `undocumented error code ${String(o.error.code)}`);
    assert.notEqual(o.error.code, ErrorCode.InternalError, `an input made the dispatcher fault: ${String(o.error.message)}`);
    assert.ok(typeof o.error.message === 'string' && o.error.message.length > 0, 'an error says why');
  }
}

describe(`fuzz: the JSON-RPC parser and dispatcher (${RUNS} cases each)`, () => {
  const { dispatcher, admin, stranger, names, params } = fuzzDispatcher();

  const id = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.jsonValue({ maxDepth: 1 }));
  const json = fc.jsonValue({ maxDepth: 3 });
  const request = fc.constantFrom(...names).chain((method) => {
    const known = params.get(method)!;
    const named = fc.dictionary(fc.oneof(fc.constantFrom(...(known.length ? known : ['x'])), fc.string({ maxLength: 6 })), json, {
      maxKeys: 5,
      noNullPrototype: true,
    });
    return fc.record(
      {
        jsonrpc: fc.oneof({ weight: 9, arbitrary: fc.constant('2.0') }, { weight: 1, arbitrary: json }),
        id,
        method: fc.oneof({ weight: 9, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }),
        params: fc.oneof(named, fc.array(json, { maxLength: 6 }), json),
      },
      { requiredKeys: ['jsonrpc', 'method'], noNullPrototype: true },
    );
  });
  const message: fc.Arbitrary<string> = fc.oneof(
    { weight: 4, arbitrary: request.map((r) => JSON.stringify(r)) },
    { weight: 2, arbitrary: fc.array(fc.oneof(request, json), { minLength: 0, maxLength: 12 }).map((b) => JSON.stringify(b)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(request, fc.array(mutation, { minLength: 1, maxLength: 3 }))
        .map(([r, ms]) => Buffer.from(mutate(Buffer.from(JSON.stringify(r)), ms)).toString('utf8')),
    },
    { weight: 1, arbitrary: json.map((j) => JSON.stringify(j) ?? 'null') },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b).toString('utf8')) },
  );

  it(`every message is answered (or, for notifications, not) with JSON-RPC 2.0 and a documented error, within ${SLOW_MS} ms`, async () => {
    await fc.assert(
      fc.asyncProperty(message, fc.boolean(), async (text, authenticated) => {
        // A connection that has not authenticated, new for each case: its failed `auth` calls wait on purpose (250 ms,
        // then longer), so for it only the synchronous part (parsing, the gates) is timed.
        const conn = authenticated ? admin : stranger();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        let out = dispatcher.handle(text, conn);
        let cpu = cpuMs(c0);
        let wall = performance.now() - t0;
        if (out !== null && typeof out !== 'string') {
          out = await out;
          if (authenticated) [cpu, wall] = [cpuMs(c0), performance.now() - t0];
        }
        record('rpc dispatcher', cpu, wall, () => text);
        if (out !== null && out.includes('"result":')) figuresOf('rpc dispatcher').accepted++;
        if (out === null) return;
        const answer = JSON.parse(out) as unknown;
        if (Array.isArray(answer)) {
          assert.ok(answer.length > 0, 'a batch answer is never an empty array');
          answer.forEach(checkAnswer);
        } else checkAnswer(answer);
      }),
      RUN_SETTINGS,
    );
  });
});
