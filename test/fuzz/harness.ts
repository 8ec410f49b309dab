// What every fuzz target file shares (issue 26): the runner settings (FUZZ_RUNS cases per target, the 100 ms bound),
// the timing of each case and the per-target figures printed at the end, the check that a decoder either decodes or
// refuses with its module's documented error, and the mutation generator applied to valid messages.
//
// Timing: every case is timed, in CPU time (the process's, as process.cpuUsage counts it) and in wall time. The bound
// is on CPU time: the machines this runs on are shared (a load of 12 on 2 cores was seen), where wall time says more
// about the neighbours than about the input. One case over SLOW_MS is run again and fails only if it is slow again (a
// GC pause is not the input's doing; an input that is slow to decode is slow twice).

import assert from 'node:assert/strict';
import fc from 'fast-check';

/** Cases per target: 1000 in `npm test`, 100000 in `npm run fuzz`. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
/** No single input may take longer than this to be decoded or refused. */
export const SLOW_MS = 100;
/** fast-check's settings for every property. */
export const RUN_SETTINGS = { numRuns: RUNS, includeErrorInReport: true };

interface TargetFigures {
  cases: number;
  maxCpuMs: number;
  maxWallMs: number;
  slowest: string;
  /** Cases that decoded (were accepted) rather than refused: a fuzzer that only ever hits the first check proves little. */
  accepted: number;
}
const figures = new Map<string, TargetFigures>();

export function figuresOf(target: string): TargetFigures {
  let f = figures.get(target);
  if (!f) figures.set(target, (f = { cases: 0, maxCpuMs: 0, maxWallMs: 0, slowest: '', accepted: 0 }));
  return f;
}

export const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

/** Records one case's times; fails when its CPU time is over SLOW_MS. */
export function record(target: string, cpu: number, wall: number, input: () => string): void {
  const f = figuresOf(target);
  f.cases++;
  f.maxWallMs = Math.max(f.maxWallMs, wall);
  if (cpu > f.maxCpuMs) {
    f.maxCpuMs = cpu;
    f.slowest = input().slice(0, 200);
  }
  assert.ok(cpu <= SLOW_MS, `${target}: one input took ${cpu.toFixed(1)} ms of CPU (over ${SLOW_MS} ms): ${input().slice(0, 400)}`);
}

/** Runs one case of `target` timed (again once if slow); a defined answer counts as accepted. */
export function timed<T>(target: string, input: () => string, run: () => T): T {
  let c0 = process.cpuUsage();
  let t0 = performance.now();
  let out = run();
  let cpu = cpuMs(c0);
  let wall = performance.now() - t0;
  if (cpu > SLOW_MS) {
    c0 = process.cpuUsage();
    t0 = performance.now();
    out = run();
    cpu = Math.min(cpu, cpuMs(c0));
    wall = Math.min(wall, performance.now() - t0);
  }
  record(target, cpu, wall, input);
  if (out !== undefined) figuresOf(target).accepted++;
  return out;
}

/** Prints each target's figures (pass to node:test's `after` in each fuzz file). */
export function printFigures(): void {
  for (const [target, f] of figures)
    console.log(
      `# fuzz ${target}: ${f.cases} cases (${f.accepted} accepted), max ${f.maxCpuMs.toFixed(2)} ms CPU (${f.maxWallMs.toFixed(2)} ms wall) per case`,
    );
}

/** Runs `f`; answers its value, or undefined when it refused with `errorType` and a message. Anything else fails. */
export function decodesOrRefuses<T>(errorType: new (...a: never[]) => Error, f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof errorType))
      throw new Error(`threw ${(err as Error)?.name ?? typeof err} instead of ${errorType.name}: ${(err as Error)?.stack ?? String(err)}`);
    assert.ok(err.message.length > 0, 'a refusal says why');
    return undefined;
  }
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

// ---------------------------------------------------------------------------------------------------------------
// Mutations of valid messages: bit flips, byte changes, insertions, deletions, truncations, repeats.

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'repeat'; at: number; n: number };

const position = fc.nat({ max: 0xffffff });
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: position, value: fc.oneof(fc.constantFrom(0, 1, 0xfc, 0xfd, 0xfe, 0xff), fc.nat({ max: 255 })) }),
  fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: position, n: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('repeat' as const), at: position, n: fc.integer({ min: 1, max: 64 }) }),
);

export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.kind) {
      case 'flip':
        if (at < b.length) b[at]! ^= 1 << m.bit;
        break;
      case 'set':
        if (at < b.length) b[at] = m.value;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'repeat':
        b = Buffer.concat([b.subarray(0, at + m.n), b.subarray(at)]);
        break;
    }
  }
  return new Uint8Array(b);
}
