// The generated documents are current and complete: docs/rpc.md (from rpc.discover) and anya.conf.example (from
// the option declarations); every documented default is valid config; help covers every method.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/daemon/config.js';
import { optionGroups } from '../src/daemon/options.js';
import { ROOMS } from '../src/daemon/rooms.js';
import { confExample, discoverAll, rpcReference } from '../tools/gen-docs.js';
import { ROOT, tempDir } from './helpers/daemon.js';
import { writeFile } from 'node:fs/promises';

describe('generated documents', () => {
  it('docs/rpc.md is what the method schemas say (run `npm run docs` after changing a method)', async () => {
    assert.equal(await readFile(join(ROOT, 'docs/rpc.md'), 'utf8'), await rpcReference());
  });

  it('docs/rpc.md documents every method of every room, whatever the config: the documented set is the declared set', async () => {
    const doc = await discoverAll();
    const declared = (doc.methods as Array<{ name: string }>).map((m) => m.name).sort();
    const text = await readFile(join(ROOT, 'docs/rpc.md'), 'utf8');
    const documented = [...text.matchAll(/^### ([a-z0-9._]+)$/gm)].map((m) => m[1]!).sort();
    assert.deepEqual(documented, declared);
    for (const room of ['chain.', 'hsm.', 'ml.', 'ln.', 'l2.', 'rgb.'])
      assert.ok(
        declared.some((n) => n.startsWith(room)),
        `${room}* documented`,
      );
    assert.ok(declared.length >= 73, `${declared.length} methods`);
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
