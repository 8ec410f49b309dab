// The JSON-RPC 2.0 specification's own examples (section 7), sent to a real anyad over both transports.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { useDaemon } from '../helpers/daemon.js';
import { unixChannel, wsChannel, type Channel } from '../helpers/channel.js';

const ctx = useDaemon();

/** Sends a message that must get no answer, then a sentinel: the first answer must be the sentinel's. */
async function assertNoAnswer(ch: Channel, text: string): Promise<void> {
  ch.send(text);
  const r = await ch.call('get_data', undefined, 'sentinel');
  assert.deepEqual(r, { jsonrpc: '2.0', id: 'sentinel', result: ['hello', 5] });
  // call() keeps unrelated messages aside; nothing may have arrived before the sentinel answer.
  await assert.rejects(ch.next(50), /timeout/);
}

const transports: Array<[string, () => Promise<Channel>]> = [
  ['unix socket', () => unixChannel(ctx.d.socket)],
  ['websocket', async () => wsChannel(ctx.d.wsUrl!, await ctx.d.cookie())],
];

for (const [name, open] of transports) {
  describe(`JSON-RPC 2.0 spec examples over the ${name}`, () => {
    let ch: Channel;
    before(async () => (ch = await open()));
    after(() => ch.close());

    const exchange = async (req: unknown): Promise<unknown> => {
      ch.send(typeof req === 'string' ? req : JSON.stringify(req));
      return ch.next();
    };

    it('call with positional parameters', async () => {
      assert.deepEqual(await exchange({ jsonrpc: '2.0', method: 'subtract', params: [42, 23], id: 1 }), { jsonrpc: '2.0', result: 19, id: 1 });
      assert.deepEqual(await exchange({ jsonrpc: '2.0', method: 'subtract', params: [23, 42], id: 2 }), { jsonrpc: '2.0', result: -19, id: 2 });
    });
    it('call with named parameters', async () => {
      assert.deepEqual(await exchange({ jsonrpc: '2.0', method: 'subtract', params: { subtrahend: 23, minuend: 42 }, id: 3 }), {
        jsonrpc: '2.0',
        result: 19,
        id: 3,
      });
      assert.deepEqual(await exchange({ jsonrpc: '2.0', method: 'subtract', params: { minuend: 42, subtrahend: 23 }, id: 4 }), {
        jsonrpc: '2.0',
        result: 19,
        id: 4,
      });
    });
    it('a notification gets no answer', async () => {
      await assertNoAnswer(ch, JSON.stringify({ jsonrpc: '2.0', method: 'update', params: [1, 2, 3, 4, 5] }));
      await assertNoAnswer(ch, JSON.stringify({ jsonrpc: '2.0', method: 'foobar' }));
    });
    it('call of a non-existent method', async () => {
      const r = (await exchange({ jsonrpc: '2.0', method: 'foobar', id: '1' })) as { error: { code: number }; id: string };
      assert.equal(r.error.code, -32601);
      assert.equal(r.id, '1');
    });
    it('call with invalid JSON', async () => {
      const r = (await exchange('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')) as { error: { code: number }; id: null };
      assert.equal(r.error.code, -32700);
      assert.equal(r.id, null);
    });
    it('call with an invalid Request object', async () => {
      const r = (await exchange({ jsonrpc: '2.0', method: 1, params: 'bar' })) as { error: { code: number }; id: null };
      assert.equal(r.error.code, -32600);
      assert.equal(r.id, null);
    });
    it('batch with invalid JSON', async () => {
      const r = (await exchange('[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},{"jsonrpc": "2.0", "method"]')) as {
        error: { code: number };
        id: null;
      };
      assert.equal(r.error.code, -32700);
      assert.equal(r.id, null);
    });
    it('call with an empty array', async () => {
      const r = (await exchange('[]')) as { error: { code: number }; id: null };
      assert.ok(!Array.isArray(r), 'an empty batch is answered with a single error');
      assert.equal(r.error.code, -32600);
    });
    it('invalid batch, but not empty', async () => {
      const r = (await exchange('[1]')) as Array<{ error: { code: number }; id: null }>;
      assert.ok(Array.isArray(r));
      assert.equal(r.length, 1);
      assert.equal(r[0]!.error.code, -32600);
      assert.equal(r[0]!.id, null);
    });
    it('invalid batch', async () => {
      const r = (await exchange('[1,2,3]')) as Array<{ error: { code: number } }>;
      assert.equal(r.length, 3);
      for (const e of r) assert.equal(e.error.code, -32600);
    });
    it('a batch', async () => {
      const r = (await exchange([
        { jsonrpc: '2.0', method: 'sum', params: [1, 2, 4], id: '1' },
        { jsonrpc: '2.0', method: 'notify_hello', params: [7] },
        { jsonrpc: '2.0', method: 'subtract', params: [42, 23], id: '2' },
        { foo: 'boo' },
        { jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: '5' },
        { jsonrpc: '2.0', method: 'get_data', id: '9' },
      ])) as Array<{ id: unknown; result?: unknown; error?: { code: number } }>;
      assert.equal(r.length, 5);
      const byId = new Map(r.filter((x) => x.id !== null).map((x) => [x.id, x]));
      assert.equal(byId.get('1')!.result, 7);
      assert.equal(byId.get('2')!.result, 19);
      assert.equal(byId.get('5')!.error!.code, -32601);
      assert.deepEqual(byId.get('9')!.result, ['hello', 5]);
      assert.equal(r.filter((x) => x.id === null && x.error?.code === -32600).length, 1);
    });
    it('a batch of notifications only gets no answer', async () => {
      await assertNoAnswer(
        ch,
        JSON.stringify([
          { jsonrpc: '2.0', method: 'notify_sum', params: [1, 2, 4] },
          { jsonrpc: '2.0', method: 'notify_hello', params: [7] },
        ]),
      );
    });
    it('invalid params name what is wrong (-32602)', async () => {
      const r = (await exchange({ jsonrpc: '2.0', method: 'subtract', params: { minuend: 'x' }, id: 7 })) as {
        error: { code: number; message: string; data: { errors: Array<{ param: string }> } };
      };
      assert.equal(r.error.code, -32602);
      assert.match(r.error.message, /subtract/);
      assert.ok(r.error.data.errors.some((e) => e.param === 'minuend'));
      assert.ok(r.error.data.errors.some((e) => e.param === 'subtrahend'));
      const extra = (await exchange({ jsonrpc: '2.0', method: 'subtract', params: { minuend: 1, subtrahend: 2, bogus: 3 }, id: 8 })) as {
        error: { code: number; data: { errors: Array<{ param: string }> } };
      };
      assert.equal(extra.error.code, -32602);
      assert.ok(extra.error.data.errors.some((e) => e.param === 'bogus'));
      const many = (await exchange({ jsonrpc: '2.0', method: 'subtract', params: [1, 2, 3], id: 9 })) as { error: { code: number; message: string } };
      assert.equal(many.error.code, -32602);
      assert.match(many.error.message, /at most 2 positional params/);
    });
    it('an internal fault is -32603 with no detail; an application error keeps its code and data', async () => {
      const r = (await exchange({ jsonrpc: '2.0', method: 'test.fail', id: 10 })) as { error: { code: number; message: string; data?: unknown } };
      assert.equal(r.error.code, -32603);
      assert.doesNotMatch(JSON.stringify(r), /secret detail|home/);
      const nf = (await exchange({ jsonrpc: '2.0', method: 'test.notfound', id: 11 })) as { error: { code: number; message: string; data?: unknown } };
      assert.deepEqual(nf.error, { code: -32011, message: 'no such thing', data: { thing: 'x' } });
      // A result JSON cannot write (a handler's bug) is an internal error too, alone or in a batch, and anyad goes on.
      const unwritable = (await exchange({ jsonrpc: '2.0', method: 'test.unwritable', id: 12 })) as { error: { code: number } };
      assert.equal(unwritable.error.code, -32603);
      const batch = (await exchange([
        { jsonrpc: '2.0', method: 'test.unwritable', id: 13 },
        { jsonrpc: '2.0', method: 'uptime', id: 14 },
      ])) as Array<{ id: number; error?: { code: number }; result?: unknown }>;
      assert.equal(batch.find((a) => a.id === 13)!.error!.code, -32603);
      assert.equal(typeof batch.find((a) => a.id === 14)!.result, 'number');
    });
  });
}
