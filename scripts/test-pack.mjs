#!/usr/bin/env node
// The npm tarball as a user installs it: `npm pack`, then `npm install -g <tarball>` into a temporary prefix (with
// install scripts allowed for exactly the packages the project's allowScripts allows: the two native addons built
// here and classic-level's prebuild check; npm 11 runs no dependency install script in a global install unless
// named), then the installed `anyad` starts on regtest with the software keystore, the installed `anya-cli` calls
// getinfo and stop, and anyad exits 0. Usage: npm run test:pack (CI runs it). Plain JavaScript with no dependencies.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (s) => process.stderr.write(`[pack] ${s}\n`);
const work = mkdtempSync(join(tmpdir(), 'anya-pack-'));
const fail = (why) => {
  say(`FAIL ${why}`);
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
};
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const allowed = Object.entries(pkg.allowScripts)
  .filter(([name, ok]) => ok && name in pkg.dependencies)
  .map(([name]) => name);
// classic-level is a dependency of level, not a direct one; its install script only checks for its prebuild.
if (pkg.allowScripts['classic-level']) allowed.push('classic-level');

let t = performance.now();
if (run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: root }).status !== 0) fail('npm pack failed');
const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
say(`packed ${tgz} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
t = performance.now();
const prefix = join(work, 'prefix');
const inst = run(
  'npm',
  [
    'install',
    '-g',
    join(work, tgz),
    `--prefix=${prefix}`,
    `--allow-scripts=${allowed.join(',')}`,
    '--onnxruntime-node-install=skip',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
  ],
  {
    cwd: work,
  },
);
if (inst.status !== 0) fail('npm install -g failed');
const modules = join(prefix, 'lib', 'node_modules', 'anya-core', 'node_modules');
for (const addon of ['pkcs11js/build/Release/pkcs11.node', 'unix-dgram/build/Release/unix_dgram.node'])
  if (!existsSync(join(modules, addon))) fail(`${addon} was not built by the install`);
say(`installed into ${prefix} in ${((performance.now() - t) / 1000).toFixed(1)} s (scripts allowed: ${allowed.join(', ')})`);

const bin = (name) => join(prefix, 'bin', name);
const datadir = join(work, 'data');
const pass = join(work, 'pass');
writeFileSync(pass, 'pack smoke passphrase\n', { mode: 0o600 });
const daemon = spawn(
  bin('anyad'),
  ['-regtest', `-datadir=${datadir}`, '-rpcport=0', '-nobitcoind.enable', '-hsm.provider=software', `-hsm.passphrasefile=${pass}`],
  {
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
let log = '';
daemon.stdout.on('data', (c) => (log += c));
daemon.stderr.on('data', (c) => (log += c));
const exited = new Promise((r) => daemon.once('exit', (code, sig) => r(code ?? sig)));
for (let i = 0; i < 600 && !log.includes('"msg":"anyad ready"'); i++) {
  if (daemon.exitCode !== null) fail(`the installed anyad exited before ready:\n${log}`);
  await setTimeout(100);
}
if (!log.includes('"msg":"anyad ready"')) fail(`the installed anyad was not ready in 60 s:\n${log}`);
const cli = (...args) => run(bin('anya-cli'), ['-regtest', `-datadir=${datadir}`, ...args]);
const info = cli('getinfo');
if (info.status !== 0) fail(`anya-cli getinfo failed: ${info.stdout}`);
const status = cli('hsm.status');
if (status.status !== 0 || !status.stdout.includes('software')) fail(`anya-cli hsm.status: ${status.stdout}`);
say(`installed anya-cli getinfo: version ${JSON.parse(info.stdout).version}; the software keystore works`);
if (cli('stop').status !== 0) fail('anya-cli stop failed');
const code = await exited;
if (code !== 0) fail(`the installed anyad exited ${code}`);
say('ok: the installed anyad stopped with exit 0');
rmSync(work, { recursive: true, force: true });
