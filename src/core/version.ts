// The package's own directory and version, found once: the nearest package.json named anya-core above this code.
// Searched, not a fixed '../..': the same code runs from dist/src/core/ (tests, tools) and bundled into dist/bin/.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackage(): { dir: string; version: string } {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'anya-core') return { dir, version: pkg.version };
    }
    if (dirname(dir) === dir) throw new Error(`anya-core's package.json not found above ${fileURLToPath(import.meta.url)}`);
  }
}

const found = findPackage();
/** Where the package is installed (models/, docs and package.json live there). */
export const PACKAGE_DIR: string = found.dir;
export const VERSION: string = found.version;
