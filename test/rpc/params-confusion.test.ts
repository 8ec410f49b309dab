// Generated from rpc.discover (issue 12): every declared method of every room, each parameter sent with a value of
// another JSON type, must be refused with -32602 naming that parameter — never merged into a default, never
// coerced, never run. And the reported case: chain.estimatefee {"targets":{"0":5000}} and {"targets":{}}.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useDaemon } from '../helpers/daemon.js';
import { call, unixChannel } from '../helpers/channel.js';

interface Param {
  name: string;
  schema: { type?: string; anyOf?: unknown[] };
}

/** A value of another JSON type than the schema's (undefined where the schema takes anything or a union). */
function wrong(schema: Param['schema']): unknown {
  switch (schema.type) {
    case 'string':
      return 12345;
    case 'integer':
    case 'number':
      return 'not a number';
    case 'boolean':
      return 'yes';
    case 'array':
      return { 0: 1 };
    case 'object':
      return [1];
    case 'null':
      return 0;
    default:
      return undefined;
  }
}

describe('type-confused params, for every declared method', () => {
  const ctx = useDaemon({
    args: [
      '-hsm.provider=simulator',
      '-cln.enable',
      '-cln.rpcfile=/nonexistent/lightning-rpc',
      '-lnd.enable',
      '-lnd.socket=localhost:1',
      '-ln.default=cln',
      '-rpcratelimit=100000',
    ],
  });

  it('each parameter of each method, sent as another type, is -32602 naming it', async () => {
    const ch = await unixChannel(ctx.d.socket);
    const doc = await call<{ methods: Array<{ name: string; params: Param[] }> }>(ch, 'rpc.discover');
    let tried = 0;
    const rooms = new Set<string>();
    for (const m of doc.methods) {
      for (const p of m.params) {
        const bad = wrong(p.schema);
        if (bad === undefined) continue;
        const r = await ch.call(m.name, { [p.name]: bad });
        tried++;
        rooms.add(m.name.split('.')[0]!);
        assert.equal(r.error?.code, -32602, `${m.name} ${p.name}=${JSON.stringify(bad)}: ${JSON.stringify(r)}`);
        const named = (r.error!.data as { errors: Array<{ param: string }> }).errors.some((e) => e.param === p.name || e.param.startsWith(`${p.name}/`));
        assert.ok(named, `${m.name}: the error names ${p.name}: ${JSON.stringify(r.error)}`);
      }
    }
    assert.ok(tried > 80, `only ${tried} params tried`);
    for (const room of ['chain', 'hsm', 'ml', 'ln', 'l2']) assert.ok(rooms.has(room), `methods of ${room} were tried`);
    ch.close();
  });

  it('chain.estimatefee: an object for the targets array is refused, not merged into the default', async () => {
    const ch = await unixChannel(ctx.d.socket);
    for (const targets of [{ 0: 5000 }, {}]) {
      const r = await ch.call('chain.estimatefee', { targets });
      assert.equal(r.error?.code, -32602, JSON.stringify(targets));
      assert.match(r.error!.message, /targets/);
    }
    ch.close();
  });
});
