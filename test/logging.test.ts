// Log redaction and level changes: secrets named by key never reach the output, at any of two levels deep, and a
// level set at run time reaches child loggers too.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogging } from '../src/daemon/logging.js';
import { LogCapture } from './helpers/inproc.js';

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
