// Config parsing: file, sections, command line precedence, network shorthands, and every bad-input case named in
// the issue (unknown key, bad value, unreadable file) reported with file:line and key.

import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, helpText, loadConfig } from '../../src/daemon/config.js';
import { optionGroups, withRoomGroups } from '../../src/daemon/options.js';
import { ROOM_OPTIONS } from '../../src/daemon/room-options.js';
import { ROOMS } from '../../src/daemon/rooms.js';
import { ANYAD, tempDir } from '../helpers/daemon.js';
import { spawnSync } from 'node:child_process';

const groups = optionGroups([]);

describe('config', () => {
  it("anya-cli's option list (read without loading any room) is exactly what the rooms declare", () => {
    assert.deepEqual(
      withRoomGroups(ROOM_OPTIONS).map((g) => [g.title, g.options.map((o) => o.key)]),
      optionGroups(ROOMS).map((g) => [g.title, g.options.map((o) => o.key)]),
    );
  });

  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());

  const load = (argv: string[]) => loadConfig({ argv: [`-datadir=${dir.path}`, ...argv], groups, home: '/home/nobody' });
  const conf = async (text: string): Promise<string> => {
    const p = join(dir.path, `c${Math.random().toString(36).slice(2)}.conf`);
    await writeFile(p, text);
    return p;
  };

  it('uses defaults with no file, main network in the datadir itself', () => {
    const c = load([]);
    assert.equal(c.network, 'main');
    assert.equal(c.netdir, dir.path);
    assert.equal(c.int('rpcport'), 8433);
    assert.equal(c.path('rpcsocket'), join(dir.path, 'anya.sock'));
    assert.equal(c.isSet('rpcport'), false);
  });

  it('defaults the datadir to ~/.anya', () => {
    const c = loadConfig({ argv: ['-regtest'], groups, home: '/home/nobody' });
    assert.equal(c.datadir, '/home/nobody/.anya');
    assert.equal(c.netdir, '/home/nobody/.anya/regtest');
  });

  it('reads key=value, comments, sections and lists; the command line wins', async () => {
    const p = await conf(
      [
        '# a comment',
        'rpcport=1111  # trailing comment',
        'loglevel=debug',
        'rpcallowedorigin=http://a:1',
        'rpcallowedorigin=http://b:2',
        '',
        '[regtest]',
        'rpcport=2222',
        '[main]',
        'rpcport=3333',
      ].join('\n'),
    );
    const reg = load([`-conf=${p}`, '-regtest']);
    assert.equal(reg.network, 'regtest');
    assert.equal(reg.netdir, join(dir.path, 'regtest'));
    assert.equal(reg.int('rpcport'), 2222);
    assert.equal(reg.str('loglevel'), 'debug');
    assert.deepEqual(reg.list('rpcallowedorigin'), ['http://a:1', 'http://b:2']);
    assert.equal(load([`-conf=${p}`]).int('rpcport'), 3333);
    assert.equal(load([`-conf=${p}`, '-testnet']).int('rpcport'), 1111);
    assert.equal(load([`-conf=${p}`, '-regtest', '-rpcport=4444']).int('rpcport'), 4444);
    assert.equal(load([`-conf=${p}`, '-network=signet']).netdir, join(dir.path, 'signet'));
  });

  it('reads anya.conf from the datadir by default and network from the file', async () => {
    await writeFile(join(dir.path, 'anya.conf'), 'regtest=1\n');
    try {
      assert.equal(load([]).network, 'regtest');
    } finally {
      await writeFile(join(dir.path, 'anya.conf'), '');
    }
  });

  it('supports -nokey for booleans and bare -key for true', () => {
    assert.equal(load(['-norpcws']).bool('rpcws'), false);
    assert.equal(load(['-rpcallowinsecure']).bool('rpcallowinsecure'), true);
  });

  const bad: Array<[string, string | null, string[], RegExp]> = [
    [
      'unknown key in the file, with file:line and a suggestion',
      'rpcport=1\nrpcprot=2\n',
      [],
      /c\w+\.conf:2: unknown option 'rpcprot' \(did you mean 'rpcport'\?\)/,
    ],
    ['bad integer', 'rpcport=abc\n', [], /\.conf:1: rpcport: expected an integer from 0 to 65535, got 'abc'/],
    ['integer out of range', '\n\nrpcport=70000\n', [], /\.conf:3: rpcport: expected an integer from 0 to 65535, got 70000/],
    ['bad enum', 'loglevel=loud\n', [], /\.conf:1: loglevel: must be one of trace, debug, info, warn, error, fatal, got 'loud'/],
    ['bad boolean', 'rpcws=yes\n', [], /\.conf:1: rpcws: expected 1 or 0, got 'yes'/],
    ['line without =', 'rpcport\n', [], /\.conf:1: expected key=value, got 'rpcport'/],
    ['unknown section', '[mainnet]\n', [], /\.conf:1: unknown section \[mainnet\]/],
    ['repeated single-value key', 'rpcport=1\nrpcport=2\n', [], /\.conf:2: rpcport: set more than once \(first at .*\.conf:1\)/],
    ['global key inside a section', '[regtest]\ndatadir=/x\n', [], /\.conf:2: datadir: may not stand in a network section/],
    ['command-line-only key in the file', 'restore=/x\n', [], /\.conf:1: restore: is a command-line option/],
    ['rpcauth without a role', 'rpcauth=alice:0123456789abcdef$' + 'a'.repeat(64) + '\n', [], /\.conf:1: rpcauth: no role for user 'alice'/],
    ['bad socket mode', 'rpcsocketmode=0666\n', [], /\.conf:1: rpcsocketmode: expected an octal mode like 0660 with no access for others/],
    ['unknown command-line option', null, ['-rpcprot=1'], /command line: unknown option 'rpcprot'/],
    ['stray command-line argument', null, ['regtest'], /command line: unexpected argument 'regtest'/],
    ['two networks', null, ['-regtest', '-testnet'], /name different networks/],
    ['bad network', null, ['-network=mainnet'], /network: must be one of main, test, signet, regtest/],
  ];
  for (const [name, text, argv, re] of bad) {
    it(`refuses: ${name}`, async () => {
      const args = text === null ? argv : [`-conf=${await conf(text)}`, ...argv];
      assert.throws(
        () => load(args),
        (e: unknown) => e instanceof ConfigError && re.test(e.message),
      );
    });
  }

  it('refuses a -conf file that does not exist or cannot be read', async () => {
    assert.throws(() => load([`-conf=${join(dir.path, 'missing.conf')}`]), /missing\.conf: cannot read config file \(ENOENT\)/);
    const p = await conf('rpcport=1\n');
    await chmod(p, 0o000);
    // root reads anything; the check only means something for other users
    if (process.getuid?.() !== 0) assert.throws(() => load([`-conf=${p}`]), /cannot read config file \(EACCES\)/);
    const d = join(dir.path);
    assert.throws(() => load([`-conf=${d}`]), /cannot read config file \(EISDIR\)/);
  });

  it('-help lists every option with its default', () => {
    const text = helpText(groups);
    for (const g of groups) for (const o of g.options) assert.match(text, new RegExp(`-${o.key.replace('.', '\\.')}\\b`));
    assert.match(text, /-rpcport=<n>\n.*\(default: main: 8433, test: 18433, signet: 38433, regtest: 18533\)/);
  });

  it('anyad exits 1 with one clear line on a bad config', () => {
    const r = spawnSync(process.execPath, [ANYAD, `-datadir=${dir.path}`, '-regtest', '-rpcport=x'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), "Error: command line: rpcport: expected an integer from 0 to 65535, got 'x'");
  });

  it('anyad -help exits 0 and prints the options', () => {
    const r = spawnSync(process.execPath, [ANYAD, '-help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /-rpcallowedorigin=<value> \(repeatable\)/);
  });
});
