// Where things are, for tests and benchmarks (no node:test import, so benchmarks can use it too).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const ANYAD = join(ROOT, 'dist/bin/anyad.js');
export const ANYAD_TEST = join(ROOT, 'dist/test/fixtures/anyad-test.js');
export const ANYA_CLI = join(ROOT, 'dist/bin/anya-cli.js');
