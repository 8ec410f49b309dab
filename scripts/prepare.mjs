#!/usr/bin/env node
// Makes a fresh clone runnable with nothing but Node and npm: installs the npm dependencies when they are missing
// or stale (npm ci), the Debian packages the tests need when they are missing (as root, through apt), then
// compiles the TypeScript. Usage: node scripts/prepare.mjs start|test|bench
// Plain JavaScript with no dependencies, because it runs before any are installed.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2] ?? 'start';
const say = (s) => process.stderr.write(`[prepare] ${s}\n`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    say(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

// 1. npm dependencies: install when node_modules is absent or older than the lock file.
const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  say('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// 2. Debian packages the tests and benchmarks use (test mode only): command -> package.
// Each entry: [a command or file that shows the package is there, the Debian package].
const APT = {
  test: [
    ['systemd-analyze', 'systemd'],
    ['/usr/lib/softhsm/libsofthsm2.so', 'softhsm2'],
    ['openssl', 'openssl'],
    // the README's first-five-minutes walkthrough (run verbatim by a test) reads JSON with jq
    ['jq', 'jq'],
  ],
  bench: [['/usr/lib/softhsm/libsofthsm2.so', 'softhsm2']],
  start: [],
};
const has = (what) => (what.startsWith('/') ? existsSync(what) : spawnSync('sh', ['-c', `command -v ${what}`], { stdio: 'ignore' }).status === 0);
const missing = (APT[mode] ?? []).filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
if (missing.length > 0) {
  if (process.getuid?.() !== 0) {
    say(`missing Debian packages: ${missing.join(' ')}; install them (sudo apt-get install ${missing.join(' ')}) or run as root`);
    process.exit(1);
  }
  say(`installing Debian packages: ${missing.join(' ')}`);
  run('apt-get', ['update', '-qq'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

// 3. Compile, then bundle the two commands (dist/bin/anyad.js, dist/bin/anya-cli.js); skipped when nothing they
// are made from changed since the last build (a stamp written after a build that succeeded).
const INPUTS = ['src', 'test', 'bench', 'tools', 'tsconfig.json', 'package.json', 'package-lock.json', join('scripts', 'bundle.mjs')];
const newest = (p) => {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const name of readdirSync(p)) m = Math.max(m, newest(join(p, name)));
  return m;
};
const stamp = join(root, 'dist', '.build-stamp');
const current =
  existsSync(stamp) && existsSync(join(root, 'dist', 'bin', 'anyad.js')) && statSync(stamp).mtimeMs >= Math.max(...INPUTS.map((p) => newest(join(root, p))));
if (current) say('the build is current (nothing changed since it was made); not recompiling');
else {
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root]);
  run(process.execPath, [join(root, 'scripts', 'bundle.mjs')]);
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
say(`${pkg.name} ${pkg.version} ready (${execFileSync(process.execPath, ['--version']).toString().trim()}, ${process.arch})`);
