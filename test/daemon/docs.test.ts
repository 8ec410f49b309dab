// The generated documents are current and complete: docs/rpc.md (from rpc.discover) and anya.conf.example (from
// the option declarations); every documented default is valid config; help covers every method.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { AnyaClient } from '../../src/client/index.js';
import { loadConfig } from '../../src/daemon/config.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { optionGroups } from '../../src/daemon/options.js';
import { ROOMS } from '../../src/daemon/rooms.js';
import { confExample, declaredDocument, rpcReference } from '../../tools/gen-docs.js';
import { ROOT, tempDir } from '../helpers/daemon.js';

/**
 * Every room switched on: the backends point nowhere (nothing is reached, only what is registered is read), the HSM
 * is the simulator.
 */
const ALL_ROOMS_ARGV = [
  '-hsm.provider=simulator',
  '-bitcoind.rpcport=1',
  '-cln.enable',
  '-cln.rpcfile=/nonexistent/lightning-rpc',
  '-lnd.enable',
  '-lnd.socket=localhost:1',
  '-lnd.macaroonpath=/nonexistent/admin.macaroon',
  '-ln.default=cln',
  '-rgb.url=http://127.0.0.1:1',
];

/** rpc.discover of a daemon with every room on. */
async function discoverAll(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-docs-'));
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const daemon = await Daemon.start({ argv: ['-regtest', `-datadir=${dir}`, '-norpcws', ...ALL_ROOMS_ARGV], rooms: ROOMS, stdout: quiet as never, env: {} });
  try {
    const client = await AnyaClient.connect({ socket: daemon.endpoints().socket! });
    const doc = await client.call<Record<string, unknown>>('rpc.discover');
    await client.close();
    return doc;
  } finally {
    await daemon.stop('docs checked');
    await rm(dir, { recursive: true, force: true });
  }
}

const names = (doc: Record<string, unknown>, key: string): string[] => (doc[key] as Array<{ name: string }>).map((m) => m.name).sort();

describe('generated documents', () => {
  it('docs/rpc.md is what the method declarations say (run `npm run docs` after changing a method)', async () => {
    assert.equal(await readFile(join(ROOT, 'docs/rpc.md'), 'utf8'), rpcReference());
  });

  it('docs/rpc.md documents every method of every room, read from declarations without starting a room', async () => {
    const declared = names(declaredDocument(), 'methods');
    const text = await readFile(join(ROOT, 'docs/rpc.md'), 'utf8');
    const documented = [...text.matchAll(/^### ([a-z0-9._]+)$/gm)].map((m) => m[1]!).sort();
    assert.deepEqual(documented, declared);
    for (const room of ['chain.', 'hsm.', 'ml.', 'ln.', 'l2.', 'rgb.'])
      assert.ok(
        declared.some((n) => n.startsWith(room)),
        `${room}* documented`,
      );
    assert.ok(declared.length >= 90, `${declared.length} methods`);
  });

  it('a daemon with every room on serves exactly the declared methods and topics, with the declared schemas', async () => {
    const served = await discoverAll();
    const declared = declaredDocument();
    assert.deepEqual(names(served, 'methods'), names(declared, 'methods'));
    assert.deepEqual(names(served, 'x-anya-topics'), names(declared, 'x-anya-topics'));
    // The same document (version aside): params, results, roles, errors and topic schemas as declared.
    assert.deepEqual({ ...served, info: null }, JSON.parse(JSON.stringify({ ...declared, info: null })));
  });

  it('anya.conf.example is what the option declarations say (run `npm run docs`)', async () => {
    assert.equal(await readFile(join(ROOT, 'anya.conf.example'), 'utf8'), confExample());
  });

  it('anya.conf.example documents every file key, and its defaults, uncommented, are a valid config', async () => {
    const text = confExample();
    const groups = optionGroups(ROOMS);
    for (const g of groups) for (const o of g.options) if (o.scope !== 'cli') assert.match(text, new RegExp(`^#${o.key.replace('.', '\\.')}=`, 'm'), o.key);
    const uncommented = text
      .split('\n')
      .map((l) => (/^#[a-z][a-z0-9.]*=.+$/.test(l) && !/^#(regtest|testnet|signet)=/.test(l) ? l.slice(1) : l))
      .join('\n');
    const dir = await tempDir();
    try {
      const conf = join(dir.path, 'anya.conf');
      await writeFile(conf, uncommented.replace('datadir=~/.anya', `datadir=${dir.path}`));
      const c = loadConfig({ argv: [`-conf=${conf}`], groups });
      assert.equal(c.int('rpcport'), 8433);
      assert.equal(c.network, 'main');
    } finally {
      await dir.remove();
    }
  });
});
