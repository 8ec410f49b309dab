// The README's "first five minutes" (issue 18; around the wallet since issue 27), run verbatim: every `$ ` line of its walkthrough blocks goes to a
// real bash, in order, against anyad as `npm start` runs it (regtest, embedded chain and keystore, the datadir under
// a temporary HOME; only the WebSocket port is a free one, so a running anyad elsewhere does not matter). Each
// command must exit 0 with nothing on stderr, and its output must match what the README shows: the same JSON
// structure and numbers, and for values that differ on every run (txids, addresses, key ids, times) a value of the
// same kind. The subscriber terminal runs at the same time and must print the README's events.
// Needs jq (the walkthrough reads JSON with it; `npm test` installs it through apt as root).

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeAll, unixChannel } from '../helpers/channel.js';
import { ANYAD, ROOT, startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

interface Step {
  command: string;
  expected: string[];
}

/** The walkthrough blocks of the README: `<!-- walkthrough: name -->` then a fenced block of `$ ` commands and outputs. */
function walkthroughBlocks(readme: string): Map<string, Step[]> {
  const blocks = new Map<string, Step[]>();
  for (const m of readme.matchAll(/<!-- walkthrough: ([a-z0-9 ]+) -->\n```sh\n([\s\S]*?)```/g)) {
    const steps: Step[] = [];
    for (const line of m[2]!.split('\n')) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2), expected: [] });
      else if (line !== '' || steps.at(-1)?.expected.length) steps.at(-1)?.expected.push(line);
    }
    for (const s of steps) while (s.expected.at(-1) === '') s.expected.pop();
    blocks.set(m[1]!, steps);
  }
  return blocks;
}

/** Values that differ on every run, recognised by their form; anything else must be equal. */
const KINDS: Array<[string, RegExp]> = [
  ['a txid or block hash', /^[0-9a-f]{64}$/],
  ['a key or watch id', /^[0-9a-f]{16}$/],
  ['a regtest address', /^bcrt1[02-9ac-hj-np-z]{20,90}$/],
  ['a time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/],
  ['a PSBT', /^cHNidP8[A-Za-z0-9+/]+={0,2}$/],
];

function like(actual: unknown, expected: unknown, where: string): void {
  if (typeof expected === 'string') {
    const kind = KINDS.find(([, re]) => re.test(expected));
    if (kind) assert.ok(typeof actual === 'string' && kind[1].test(actual), `${where}: expected ${kind[0]}, got ${JSON.stringify(actual)}`);
    else assert.equal(actual, expected, where);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${where}: length`);
    expected.forEach((e, i) => like(actual[i], e, `${where}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${where}: expected an object, got ${JSON.stringify(actual)}`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${where}: keys`);
    for (const [k, v] of Object.entries(expected)) like((actual as Record<string, unknown>)[k], v, `${where}.${k}`);
  } else assert.equal(actual, expected, where);
}

/** The README's output against what the command printed: one JSON document, JSON lines, or text lines. */
function checkOutput(actual: string[], expected: string[], where: string): void {
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  };
  const whole = parse(expected.join('\n'));
  if (expected.length > 0 && whole !== undefined) return like(parse(actual.join('\n')), whole, where);
  assert.equal(actual.length, expected.length, `${where}: ${actual.length} lines printed, the README shows ${expected.length}:\n${actual.join('\n')}`);
  expected.forEach((e, i) => {
    const ej = parse(e);
    if (ej !== undefined && typeof ej === 'object') like(parse(actual[i]!), ej, `${where} line ${i + 1}`);
    else like(actual[i], e, `${where} line ${i + 1}`);
  });
}

const MARK = '@@walkthrough-step-end';

/**
 * One interactive-like bash: each line is eval'd in the same shell (variables and aliases carry over, as in a
 * terminal), with stdin from /dev/null so no command can read the next ones.
 */
class Terminal {
  readonly proc: ChildProcess;
  private out = '';
  private err = '';
  constructor(env: NodeJS.ProcessEnv) {
    const loop = `shopt -s expand_aliases; exec 3<&0 </dev/null; while IFS= read -r -u 3 line; do eval "$line"; printf '\\n${MARK} %s\\n' "$?"; printf '${MARK}\\n' >&2; done`;
    this.proc = spawn('bash', ['--noprofile', '--norc', '-c', loop], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.proc.stdout!.setEncoding('utf8').on('data', (c: string) => (this.out += c));
    this.proc.stderr!.setEncoding('utf8').on('data', (c: string) => (this.err += c));
  }
  send(command: string): void {
    this.proc.stdin!.write(`${command}\n`);
  }
  /** Runs one command to its end: its status, stdout lines and stderr. */
  async run(command: string, timeoutMs = 60_000): Promise<{ status: number; lines: string[]; stderr: string }> {
    this.out = '';
    this.err = '';
    this.send(command);
    const re = new RegExp(`\\n?${MARK} (\\d+)\\n$`);
    await until(`"${command}" to end`, async () => (re.test(this.out) && this.err.endsWith(`${MARK}\n`) ? true : undefined), timeoutMs / 25);
    const status = Number(re.exec(this.out)![1]);
    const text = this.out.replace(re, '').replace(/\n$/, '');
    const stderr = this.err.slice(0, -(MARK.length + 1));
    this.out = '';
    this.err = '';
    return { status, lines: text === '' ? [] : text.split('\n'), stderr };
  }
  lines(): string[] {
    return this.out.split('\n').filter((l) => l !== '');
  }
  kill(): void {
    try {
      process.kill(-this.proc.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

const hasJq = spawnSync('sh', ['-c', 'command -v jq'], { stdio: 'ignore' }).status === 0;
if (!hasJq) console.log('# skipped the README walkthrough test: jq is not installed (npm test installs it through apt when run as root)');

describe('the README walkthrough: the first five minutes, verbatim', { skip: hasJq ? false : 'jq is not installed' }, () => {
  let home: { path: string; remove: () => Promise<void> };
  let d: RunningDaemon | undefined;
  const terminals: Terminal[] = [];
  before(async () => {
    home = await tempDir('anya-walkthrough-');
    // npm start's configuration: `anyad -regtest` with HOME's ~/.anya, the embedded chain, keystore and Lightning node.
    d = await startDaemon(join(home.path, '.anya'), {
      entry: ANYAD,
      embeddedChain: true,
      embeddedKeystore: true,
      embeddedLightning: true,
      env: { HOME: home.path },
    });
  });
  after(async () => {
    for (const t of terminals) t.kill();
    await closeAll(d, home);
  });

  it('every command of the walkthrough prints what the README shows, and the subscriber sees the wallet’s transactions', async () => {
    const blocks = walkthroughBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    const main = blocks.get('terminal 2');
    const events = blocks.get('terminal 3');
    assert.ok(main && main.length >= 10, 'the README has the walkthrough (terminal 2)');
    assert.ok(events && events.length === 2, 'the README has the subscriber (terminal 3)');
    const env = { ...process.env, HOME: home.path };

    // Terminal 3 first, as the README says: its alias, then the subscription that stays open.
    const sub = new Terminal(env);
    terminals.push(sub);
    const alias = await sub.run(events[0]!.command);
    assert.equal(alias.status, 0, alias.stderr);
    sub.send(events[1]!.command);
    const ch = await unixChannel(d!.socket);
    await until('the subscription to be open', async () => {
      const m = (await ch.call('metrics')).result as Array<{ name: string; values: Array<{ value: number }> }>;
      return (m.find((x) => x.name === 'anyad_subscriptions')?.values[0]?.value ?? 0) >= 1 ? true : undefined;
    });
    ch.close();

    const term = new Terminal(env);
    terminals.push(term);
    const payment = main.findIndex((s) => s.command.includes('wallet.send') || / send /.test(s.command));
    assert.ok(payment > 0, 'the walkthrough pays from the wallet');
    for (const [i, step] of main.entries()) {
      // The reader mines the block after the payment once terminal 3 shows it (the README says so): every event
      // but the confirmation.
      if (i > payment && step.command.includes('-generate'))
        await until(
          'terminal 3 to show the payment in the mempool',
          async () => (sub.lines().length >= events[1]!.expected.length - 1 ? true : undefined),
          1200,
        );
      const r = await term.run(step.command);
      const where = `step ${i + 1}: $ ${step.command}`;
      assert.equal(r.stderr, '', `${where}: stderr`);
      assert.equal(r.status, 0, `${where}: exit status`);
      if (process.env.WALKTHROUGH_PRINT) console.log(`$ ${step.command}\n${r.lines.join('\n')}`);
      if (!process.env.WALKTHROUGH_PRINT) checkOutput(r.lines, step.expected, where);
    }

    const expected = events[1]!.expected;
    await until(
      'the subscriber to print the coinbase received, the payment sent and confirmed',
      async () => (sub.lines().length >= expected.length ? true : undefined),
      1200,
    );
    if (process.env.WALKTHROUGH_PRINT) console.log(sub.lines().join('\n'));
    checkOutput(sub.lines().slice(0, expected.length), expected, `terminal 3: $ ${events[1]!.command}`);
  });
});
