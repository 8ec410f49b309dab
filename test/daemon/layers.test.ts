// The layers of the house (README "Architecture") are enforced by the lint: eslint.config.js's import rules fail
// a deliberate violation of each kind, pass what the layers allow, and the type-checked promise rules fail a
// floating promise. The files linted here are text given to ESLint under real paths of the tree; nothing is written.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { ROOT } from '../helpers/paths.js';

/** ESLint with the project's config; the type-checked rules off unless `typed` (they need the file in the project). */
function eslint(typed = false): ESLint {
  return new ESLint({
    cwd: ROOT,
    overrideConfig: typed
      ? []
      : [
          {
            files: ['**/*.ts'],
            languageOptions: { parserOptions: { projectService: false } },
            rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-misused-promises': 'off' },
          },
        ],
  });
}

async function problems(file: string, text: string, typed = false): Promise<string[]> {
  const [r] = await eslint(typed).lintText(text, { filePath: join(ROOT, file) });
  return r!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

const restricted = (ps: string[]) => ps.filter((p) => p.startsWith('no-restricted-imports'));

describe('the layers of the house, as the lint enforces them', () => {
  it('core imports nothing outside core/', async () => {
    const ps = restricted(
      await problems(
        'src/core/layer-probe.ts',
        "import type { Store } from '../store/store.js';\nimport type { HsmApi } from '../hsm/api.js';\nexport type X = [Store, HsmApi];\n",
      ),
    );
    assert.equal(ps.length, 2, ps.join('\n'));
    assert.match(ps[0]!, /src\/core imports nothing outside itself/);
    assert.deepEqual(restricted(await problems('src/core/layer-probe.ts', "import type { Store } from './store.js';\nexport type X = Store;\n")), []);
  });

  it("a room imports core/ and other rooms' api.ts, never their other files, nor rpc, store or daemon", async () => {
    const text = [
      "import type { BitcoinService } from '../bitcoin/service.js';",
      "import type { MethodRegistry } from '../../rpc/registry.js';",
      "import type { Store } from '../../store/store.js';",
      "import type { Veto } from '../../hsm/policy.js';",
      "import type { BitcoinApi } from '../bitcoin/api.js';",
      "import type { HsmApi } from '../../hsm/api.js';",
      "import type { RoomDb } from '../../core/store.js';",
      "import type { DlcRecord } from './records.js';",
      'export type X = [BitcoinService, MethodRegistry, Store, Veto, BitcoinApi, HsmApi, RoomDb, DlcRecord];',
    ].join('\n');
    const ps = restricted(await problems('src/adapters/dlc/layer-probe.ts', text));
    assert.deepEqual(
      ps.map((p) => p.match(/'([^']+)'/)![1]),
      ['../bitcoin/service.js', '../../rpc/registry.js', '../../store/store.js', '../../hsm/policy.js'],
    );
  });

  it('store and rpc import only core/; a room file never reaches test code', async () => {
    assert.equal(
      restricted(await problems('src/rpc/layer-probe.ts', "import type { Config } from '../daemon/config.js';\nexport type X = Config;\n")).length,
      1,
    );
    assert.equal(restricted(await problems('src/store/layer-probe.ts', "import type { HsmApi } from '../hsm/api.js';\nexport type X = HsmApi;\n")).length, 1);
    assert.equal(
      restricted(await problems('src/hsm/layer-probe.ts', "import { ROOT } from '../../test/helpers/paths.js';\nexport const x = ROOT;\n")).length,
      1,
    );
  });

  it('the daemon composes rooms through their room.ts and options.ts only', async () => {
    const ok =
      "import { dlcRoom } from '../adapters/dlc/room.js';\nimport { DLC_OPTIONS } from '../adapters/dlc/options.js';\nexport const x = [dlcRoom, DLC_OPTIONS];\n";
    assert.deepEqual(restricted(await problems('src/daemon/layer-probe.ts', ok)), []);
    const deep = "import { DlcService } from '../adapters/dlc/service.js';\nexport const x = DlcService;\n";
    assert.equal(restricted(await problems('src/daemon/layer-probe.ts', deep)).length, 1);
  });

  it('a floating promise in src/ fails the lint (type-checked rules)', async () => {
    // Text linted as an existing file of the project, so the type-checked rules have its types.
    const text = 'export async function later(): Promise<void> {}\nexport function caller(): void {\n  later();\n}\n';
    const ps = await problems('src/core/lines.ts', text, true);
    assert.ok(
      ps.some((p) => p.startsWith('@typescript-eslint/no-floating-promises')),
      ps.join('\n'),
    );
  });
});
