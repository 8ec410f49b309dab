#!/usr/bin/env node
// Runs every compiled test file (dist/test/<room>/*.test.js) with node:test. Files are named explicitly because Node
// 20 would otherwise also run helper, peer and fixture modules that live under a folder called test. Arguments
// select files whose path (e.g. "dlc/" or "fuzz.test") contains one of them.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'test');
const only = process.argv.slice(2);
const files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => join(dir, f))
  .filter((f) => only.length === 0 || only.some((o) => relative(dir, f).includes(o)))
  .sort();
if (files.length === 0) {
  process.stderr.write('no test files found\n');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
