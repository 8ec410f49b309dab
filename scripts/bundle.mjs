#!/usr/bin/env node
// Bundles the compiled entry points (dist/src/daemon/main.js, dist/src/cli/main.js) into dist/bin/anyad.js and
// dist/bin/anya-cli.js. Why: Node's ESM loader pays per file (resolve, read, parse, link), and anyad with its
// dependencies is several hundred files; bundled, start-to-ready falls from ~600 ms to ~250 ms here (see
// `npm run bench -- startup`). Code loaded on first use (a room's backend, ln-service, the ONNX runtime) stays
// lazy: dynamic imports become separate chunks.
// Left outside the bundle and loaded from node_modules: native addons (they find their binaries beside their own
// files) and packages that read their own files at run time (the Lightning .proto files).
// Usage: node scripts/bundle.mjs (after tsc; prepare.mjs runs it).

import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bin');

export const EXTERNAL = [
  // native addons
  'classic-level',
  'onnxruntime-node',
  'pkcs11js',
  'unix-dgram',
  'zeromq',
  // ws's optional native helpers (absent: ws falls back to JavaScript)
  'bufferutil',
  'utf-8-validate',
  // read their own files (gRPC .proto definitions) at run time
  'ln-service',
  'lightning',
  'invoices',
];

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { anyad: join(root, 'dist/src/daemon/main.js'), 'anya-cli': join(root, 'dist/src/cli/main.js') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  logLevel: 'warning',
  // Bundled CommonJS dependencies call require(); in an ES module it has to be made.
  banner: { js: "import { createRequire as __anyaCreateRequire } from 'node:module';\nconst require = __anyaCreateRequire(import.meta.url);" },
  legalComments: 'linked',
});
