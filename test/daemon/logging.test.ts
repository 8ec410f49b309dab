// Log redaction and level changes: secrets named by key never reach the output, at any depth anyad logs, and a
// level set at run time reaches child loggers too.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogging } from '../../src/daemon/logging.js';
import { LogCapture } from '../helpers/inproc.js';

describe('logging', () => {
  it('redacts secrets by key name', async () => {
    const out = new LogCapture();
    const log = createLogging({ level: 'info', console: true, stdout: out as never });
    const room = log.child({ room: 'hsm' });
    room.info(
      {
        pin: '1234',
        password: 'hunter2',
        cfg: { passphrase: 'p', rpcpassword: 'r', nested: { macaroon: 'm', seed: 's' } },
        xprv: 'xprv9s21...',
        token: 't',
        ok: 'visible',
      },
      'unlock',
    );
    const text = JSON.stringify(out.lines);
    for (const secret of ['1234', 'hunter2', '"p"', '"r"', '"m"', '"s"', 'xprv9s21', '"t"']) assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    assert.ok(text.includes('visible'));
    assert.equal((out.lines[0]!.cfg as { passphrase: string }).passphrase, '[redacted]');
  });

  it('redacts deeper, in arrays and in any case; an error keeps its message; the logged object is not changed', () => {
    const out = new LogCapture();
    const log = createLogging({ level: 'info', console: true, stdout: out as never });
    const err = Object.assign(new Error('token refused'), { PIN: '4321' });
    const obj = { peers: [{ name: 'a', Password: 'pw1' }], a: { b: { c: { d: { Seed: 'deep' } } } }, err, plain: 'kept' };
    log.root.warn(obj, 'm');
    const text = JSON.stringify(out.lines);
    for (const secret of ['pw1', 'deep', '4321']) assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    const line = out.lines[0] as unknown as { peers: Array<{ name: string }>; err: { message: string; stack: string }; plain: string };
    assert.equal(line.peers[0]!.name, 'a');
    assert.equal(line.err.message, 'token refused');
    assert.match(line.err.stack, /token refused/);
    assert.equal(line.plain, 'kept');
    // The caller's own objects are left as they were: redaction works on copies.
    assert.equal(obj.peers[0]!.Password, 'pw1');
    assert.equal((err as unknown as { PIN: string }).PIN, '4321');
  });

  it('a level change reaches every child logger', () => {
    const out = new LogCapture();
    const log = createLogging({ level: 'info', console: true, stdout: out as never });
    const a = log.child({ room: 'a' });
    a.debug('hidden');
    log.setLevel('debug');
    a.debug('shown');
    const b = log.child({ room: 'b' });
    b.debug('also shown');
    assert.deepEqual(
      out.lines.map((l) => l.msg),
      ['shown', 'also shown'],
    );
    assert.equal(log.level(), 'debug');
  });
});
