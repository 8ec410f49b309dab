// ESLint (flat config) over src/, test/, bench/ and tools/, run in CI by `npm run lint` (from .ci/run) next to
// Prettier's check: typescript-eslint's recommended rules; its type-checked rules for a promise-heavy daemon
// (no-floating-promises, no-misused-promises) over src/; and the layers of the house (README "Architecture"), as
// ESLint's own no-restricted-imports generated per folder from the table below. test/daemon/layers.test.ts shows
// the layer rules failing on deliberate violations.
import js from '@eslint/js';
import { relative } from 'node:path';
import tseslint from 'typescript-eslint';

/** The rooms: each offers other rooms only its api.ts, and the daemon only its room.ts and options.ts. */
export const ROOMS = [
  'src/hsm',
  'src/ml',
  'src/p2p',
  'src/wallet',
  'src/adapters/bitcoin',
  'src/adapters/channels',
  'src/adapters/dlc',
  'src/adapters/layer2',
  'src/adapters/lightning',
  'src/adapters/rgb',
];

/**
 * Which folder may import which (besides itself): core imports nothing; store, rpc and the client only core; a
 * room core and the api of other rooms; the daemon composes the rooms through their entries; anya-cli reads the
 * daemon's options and speaks through the client.
 */
export const LAYERS = {
  'src/core': { may: [] },
  'src/store': { may: ['src/core'] },
  'src/rpc': { may: ['src/core'] },
  'src/client': { may: ['src/core'] },
  'src/daemon': { may: ['src/core', 'src/store', 'src/rpc'], roomFiles: ['room.js', 'options.js'] },
  'src/cli': { may: ['src/core', 'src/client', 'src/daemon', 'src/rpc'], roomFiles: ['options.js'] },
  ...Object.fromEntries(ROOMS.map((room) => [room, { may: ['src/core'], roomFiles: ['api.js'] }])),
};

const ALL = [...new Set([...Object.keys(LAYERS), 'src/adapters', 'test', 'bench', 'tools', 'scripts'])];

/** The import patterns (gitignore syntax, relative to a file of `folder`) that leave what `folder` may import. */
export function forbiddenFrom(folder) {
  const layer = LAYERS[folder];
  const rel = (to) => relative(folder, to) || '.';
  const patterns = [];
  for (const other of ALL) {
    if (other === folder || layer.may.includes(other)) continue;
    // src/adapters as a whole is forbidden only to a folder that may import no room file at all: a forbidden parent
    // folder cannot have an allowed file under it (gitignore syntax), so the others name each room.
    if (other === 'src/adapters' && (layer.roomFiles || folder.startsWith('src/adapters/'))) continue;
    const r = rel(other);
    patterns.push(`${r}/*`);
    if (ROOMS.includes(other) && layer.roomFiles) for (const f of layer.roomFiles) patterns.push(`!${r}/${f}`);
  }
  // Anything above the repository root is forbidden outright.
  patterns.push(`${rel('..')}/*`);
  return patterns;
}

const layerRules = Object.keys(LAYERS).map((folder) => ({
  files: [`${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: forbiddenFrom(folder),
            message: `${folder} imports ${[...LAYERS[folder].may, ...(LAYERS[folder].roomFiles ?? []).map((f) => `a room's ${f}`)].join(', ') || 'nothing outside itself'} (README "Architecture").`,
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'models/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      // Unused values are errors, except deliberately ignored ones named with a leading underscore.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // pkcs11js and ln-service are CommonJS loaded through createRequire where they are optional.
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // A promise nobody awaits loses its error (an unhandled rejection ends the process) and its ordering; a promise
    // where a plain value is expected (an async listener, an async condition) is always truthy or never awaited.
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'tools/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it return promises the runner itself awaits.
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  ...layerRules,
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
  },
);
