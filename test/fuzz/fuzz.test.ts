// Property-based fuzzing (fast-check) of every decoder a peer or a client feeds (issue 26): the DLC messages
// (offer_dlc, accept_dlc, sign_dlc, close_dlc) and the wire reader under them, the state channel messages and their
// field readers, and the JSON-RPC dispatcher with a registry of every declared method. For each input: no crash (only
// the module's documented error type escapes, with a message), no input takes over 100 ms, and what decodes encodes
// back to the same bytes (decode(encode(x)) == x where an encoder exists).
//
// Inputs are random bytes, random bytes behind a valid message type, and mutations (bit flips, byte changes,
// insertions, deletions, truncations, repeats) of valid messages: the dlcspecs test vectors under test/vectors and
// messages encoded here. FUZZ_RUNS sets the cases per target: 1000 in `npm test`, 100000 in `npm run fuzz`.
//
// The watchtower's justice blob decoder (openJustice in src/adapters/channels/justice.ts): any txid with any blob
// opens to a hex penalty or to undefined, never a throw; a blob opens to what was sealed, and only with its txid.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  decodeAccept,
  decodeClose,
  decodeOffer,
  decodeSign,
  encodeAccept,
  encodeClose,
  encodeOffer,
  encodeSign,
  MessageError,
  MSG,
} from '../../src/adapters/dlc/messages.js';
import { Reader, WireError } from '../../src/adapters/dlc/wire.js';
import {
  decodeMessage,
  encodeMessage,
  field,
  MessageError as ChannelMessageError,
  messageDigest,
  verifyMessage,
  type Envelope,
  type MessageType,
} from '../../src/adapters/channels/messages.js';
import { openJustice, sealJustice } from '../../src/adapters/channels/justice.js';
import { VERSION } from '../../src/core/version.js';
import { declaredMethods } from '../../src/daemon/declared-api.js';
import { ROOMS } from '../../src/daemon/rooms.js';
import { Authenticator } from '../../src/rpc/auth.js';
import { ConnectionTracker } from '../../src/rpc/connections.js';
import { RPC_TOPICS } from '../../src/rpc/declarations.js';
import { Dispatcher } from '../../src/rpc/dispatcher.js';
import { ERROR_TABLE, ErrorCode } from '../../src/core/errors.js';
import { EventBus } from '../../src/core/events.js';
import { rpcMethods } from '../../src/rpc/methods.js';
import { type Connection, type MethodSpec } from '../../src/core/methods.js';
import { MethodRegistry } from '../../src/rpc/registry.js';
import { SubscriptionHub } from '../../src/rpc/subscriptions.js';
import { ROOT } from '../helpers/paths.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
/** No single input may take longer than this to be decoded or refused. */
const SLOW_MS = 100;

// ---------------------------------------------------------------------------------------------------------------
// Timing: every case is timed, in CPU time (the process's, as process.cpuUsage counts it) and in wall time. The bound
// is on CPU time: the machines this runs on are shared (a load of 12 on 2 cores was seen), where wall time says more
// about the neighbours than about the input. One case over SLOW_MS is run again and fails only if it is slow again (a
// GC pause is not the input's doing; an input that is slow to decode is slow twice).

interface TargetFigures {
  cases: number;
  maxCpuMs: number;
  maxWallMs: number;
  slowest: string;
  /** Cases that decoded (were accepted) rather than refused: a fuzzer that only ever hits the first check proves little. */
  accepted: number;
}
const figures = new Map<string, TargetFigures>();

function figuresOf(target: string): TargetFigures {
  let f = figures.get(target);
  if (!f) figures.set(target, (f = { cases: 0, maxCpuMs: 0, maxWallMs: 0, slowest: '', accepted: 0 }));
  return f;
}

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

/** Records one case's times; fails when its CPU time is over SLOW_MS. */
function record(target: string, cpu: number, wall: number, input: () => string): void {
  const f = figuresOf(target);
  f.cases++;
  f.maxWallMs = Math.max(f.maxWallMs, wall);
  if (cpu > f.maxCpuMs) {
    f.maxCpuMs = cpu;
    f.slowest = input().slice(0, 200);
  }
  assert.ok(cpu <= SLOW_MS, `${target}: one input took ${cpu.toFixed(1)} ms of CPU (over ${SLOW_MS} ms): ${input().slice(0, 400)}`);
}

function timed<T>(target: string, input: () => string, run: () => T): T {
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

after(() => {
  for (const [target, f] of figures)
    console.log(
      `# fuzz ${target}: ${f.cases} cases (${f.accepted} accepted), max ${f.maxCpuMs.toFixed(2)} ms CPU (${f.maxWallMs.toFixed(2)} ms wall) per case`,
    );
});

/** Runs `f`; answers its value, or undefined when it refused with `errorType` and a message. Anything else fails. */
function decodesOrRefuses<T>(errorType: new (...a: never[]) => Error, f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof errorType))
      throw new Error(`threw ${(err as Error)?.name ?? typeof err} instead of ${errorType.name}: ${(err as Error)?.stack ?? String(err)}`);
    assert.ok(err.message.length > 0, 'a refusal says why');
    return undefined;
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

// ---------------------------------------------------------------------------------------------------------------
// Mutations of valid messages.

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'repeat'; at: number; n: number };

const position = fc.nat({ max: 0xffffff });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: position, value: fc.oneof(fc.constantFrom(0, 1, 0xfc, 0xfd, 0xfe, 0xff), fc.nat({ max: 255 })) }),
  fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: position, n: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('repeat' as const), at: position, n: fc.integer({ min: 1, max: 64 }) }),
);

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
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

// ---------------------------------------------------------------------------------------------------------------
// DLC messages.

const vectorFiles = ['dlc_enum_single_oracle', 'dlc_enum_3_of_5', 'dlc_numerical_2_of_5', 'dlc_numerical_hyperbola', 'dlc_single_oracle_numerical'];
const vectors = vectorFiles.map((f) => JSON.parse(readFileSync(join(ROOT, `test/vectors/${f}.json`), 'utf8')) as Record<string, unknown>);
const hexOf = (key: string): string[] => vectors.map((v) => v[key]).filter((x): x is string => typeof x === 'string');

const closeArb = fc.record(
  {
    contract_id: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex),
    close_signature: fc.uint8Array({ minLength: 64, maxLength: 64 }).map(hex),
    offer_payout: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    accept_payout: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    fund_input_serial_id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  },
  { noNullPrototype: true },
);

interface DlcTarget {
  name: string;
  type: number;
  decode: (b: Uint8Array) => unknown;
  encode: (v: never) => Uint8Array;
  valid: fc.Arbitrary<Uint8Array>;
}

const fromVectors = (key: string): fc.Arbitrary<Uint8Array> => fc.constantFrom(...hexOf(key)).map(unhex);
const DLC_TARGETS: DlcTarget[] = [
  { name: 'offer_dlc', type: MSG.offer, decode: decodeOffer, encode: encodeOffer, valid: fromVectors('offer') },
  { name: 'accept_dlc', type: MSG.accept, decode: decodeAccept, encode: encodeAccept, valid: fromVectors('accept') },
  { name: 'sign_dlc', type: MSG.sign, decode: decodeSign, encode: encodeSign, valid: fromVectors('sign') },
  { name: 'close_dlc', type: MSG.close, decode: decodeClose, encode: encodeClose, valid: closeArb.map(encodeClose) },
];

/** What a decoder is fed: a mutated valid message (most), random bytes behind its type, or random bytes. */
function dlcInput(t: DlcTarget): fc.Arbitrary<Uint8Array> {
  const typed = fc.uint8Array({ maxLength: 4096 }).map((b) => new Uint8Array(Buffer.concat([Buffer.from([t.type >> 8, t.type & 0xff]), b])));
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(t.valid, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([v, ms]) => mutate(v, ms)) },
    { weight: 1, arbitrary: t.valid },
    { weight: 2, arbitrary: typed },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4096 }) },
  );
}

describe(`fuzz: DLC messages (${RUNS} cases each)`, () => {
  for (const t of DLC_TARGETS) {
    it(`${t.name}: decodes or refuses with MessageError, within ${SLOW_MS} ms; what decodes encodes back to the same bytes`, () => {
      fc.assert(
        fc.property(dlcInput(t), (bytes) => {
          const decoded = timed(
            t.name,
            () => hex(bytes),
            () => decodesOrRefuses(MessageError, () => t.decode(bytes)),
          );
          if (decoded !== undefined) assert.equal(hex(t.encode(decoded as never)), hex(bytes), `${t.name} does not encode back to what it decoded`);
        }),
        { numRuns: RUNS, includeErrorInReport: true },
      );
    });
  }

  it('close_dlc: decode(encode(x)) == x', () => {
    fc.assert(
      fc.property(closeArb, (c) => assert.deepEqual(decodeClose(encodeClose(c)), c)),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });

  it('the wire reader (wire.ts): any sequence of reads over any bytes reads or refuses with WireError', () => {
    const op = fc.constantFrom('u8', 'u16', 'u32', 'i32', 'u64', 'bool', 'bigsize', 'size', 'string', 'tlv', 'peekType', 'bytes', 'end');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.array(fc.tuple(op, fc.nat({ max: 70000 })), { maxLength: 24 }), (bytes, ops) => {
        timed(
          'wire.ts Reader',
          () => `${hex(bytes)} ${ops.map((o) => o.join(':')).join(',')}`,
          () => {
            const r = new Reader(bytes, 'fuzz');
            return decodesOrRefuses(WireError, () => {
              for (const [name, n] of ops) {
                if (name === 'bytes') r.bytes(n, 'f');
                else if (name === 'tlv') r.tlv(n % 300, 'f');
                else if (name === 'size') r.size('f', n);
                else r[name]('f');
              }
              return true;
            });
          },
        );
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// State channel messages.

const TYPES: MessageType[] = ['open', 'accept', 'funding_created', 'funding_signed', 'update', 'ack', 'revoke', 'close'];
const hexString = (min: number, max: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: min, maxLength: max }).map(hex);
const envelopeArb: fc.Arbitrary<Envelope> = fc.record(
  {
    v: fc.constant(1 as const),
    type: fc.constantFrom(...TYPES),
    chain: hexString(32, 32),
    channel: hexString(1, 32),
    body: fc.dictionary(
      fc.oneof(fc.constantFrom('amount_sat', 'number', 'sig', 'point', 'txid', 'fee_sat', 'csv'), fc.string({ maxLength: 12 })),
      fc.oneof(fc.jsonValue({ maxDepth: 2 }), hexString(0, 72), fc.integer().map(String)),
      { maxKeys: 8, noNullPrototype: true },
    ),
  },
  { noNullPrototype: true },
);
const channelKey = secp256k1.utils.randomSecretKey();
const signed = (e: Envelope): string => encodeMessage(e, Buffer.from(secp256k1.sign(messageDigest(e), channelKey, { prehash: false, format: 'der' })));
/** A message with a signature-shaped random value in place of a signature: decodeMessage reads, it does not verify. */
const derLike = fc.uint8Array({ minLength: 8, maxLength: 73 }).map((b) => Buffer.from(b));
const unsigned = fc.tuple(envelopeArb, derLike).map(([e, sig]) => encodeMessage(e, sig));

/** A channel message as hex: mutated bytes or mutated hex text of a valid one, random JSON, or random text. */
const channelInput: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: unsigned },
  { weight: 4, arbitrary: fc.tuple(unsigned, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([m, ms]) => hex(mutate(unhex(m), ms))) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(unsigned, fc.array(mutation, { minLength: 1, maxLength: 3 }))
      .map(([m, ms]) => Buffer.from(mutate(Buffer.from(m), ms)).toString('latin1')),
  },
  { weight: 2, arbitrary: fc.jsonValue().map((j) => Buffer.from(JSON.stringify(j) ?? 'null').toString('hex')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 20000 }).map(hex) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
);

describe(`fuzz: state channel messages (${RUNS} cases each)`, () => {
  it(`decodeMessage and the field readers decode or refuse with MessageError, within ${SLOW_MS} ms`, () => {
    fc.assert(
      fc.property(channelInput, fc.string({ maxLength: 12 }), (text, name) => {
        const decoded = timed(
          'channels decodeMessage',
          () => text,
          () => decodesOrRefuses(ChannelMessageError, () => decodeMessage(text)),
        );
        if (!decoded) return;
        const body = decoded.envelope.body;
        for (const key of [...Object.keys(body), name]) {
          decodesOrRefuses(ChannelMessageError, () => field.hex(body, key, 32));
          decodesOrRefuses(ChannelMessageError, () => field.sig(body, key));
          decodesOrRefuses(ChannelMessageError, () => field.int(body, key, 0, 2 ** 48));
          decodesOrRefuses(ChannelMessageError, () => field.sat(body, key));
        }
        // A signature check on whatever came is a yes or a no, never a throw.
        assert.equal(typeof verifyMessage(decoded.envelope, decoded.sig, hex(secp256k1.getPublicKey(channelKey))), 'boolean');
        assert.equal(typeof verifyMessage(decoded.envelope, decoded.sig, decoded.envelope.channel), 'boolean');
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });

  it('decodeMessage(encodeMessage(e, sig)) == {e, sig}', () => {
    fc.assert(
      fc.property(envelopeArb, derLike, (e, sig) => {
        const text = encodeMessage(e, sig);
        const decoded = decodeMessage(text);
        // (The body's values are JSON; compared as JSON gives them, with plain prototypes.)
        assert.deepEqual(decoded.envelope, JSON.parse(JSON.stringify(e)));
        assert.equal(decoded.sig, sig.toString('hex'));
        assert.equal(encodeMessage(decoded.envelope, Buffer.from(decoded.sig, 'hex')), text);
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });

  it("a decoded message's signature verifies against the sender's key and no other (signing is slow: at most 200 cases)", () => {
    const pub = hex(secp256k1.getPublicKey(channelKey));
    const other = hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey()));
    fc.assert(
      fc.property(envelopeArb, (e) => {
        const { envelope, sig } = decodeMessage(signed(e));
        assert.ok(verifyMessage(envelope, sig, pub));
        assert.equal(verifyMessage(envelope, sig, other), false);
      }),
      { numRuns: Math.min(RUNS, 200), includeErrorInReport: true },
    );
  });
});

/** What a tower is handed (sc.towerwatch takes any hex): random bytes, and blobs sealed here then mutated. */
const txidArb = fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex), fc.string({ maxLength: 80 }));
const penaltyArb = fc.uint8Array({ minLength: 60, maxLength: 400 }).map(hex);
const blobArb = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 600 }).map(hex) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(txidArb, penaltyArb, fc.array(mutation, { minLength: 1, maxLength: 4 }))
      .map(([t, p, m]) => hex(mutate(unhex(sealJustice(t, p).blob), m))),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
);

describe(`fuzz: watchtower justice blobs (${RUNS} cases each)`, () => {
  it(`openJustice(any txid, any blob) is undefined or a hex penalty, never a throw, within ${SLOW_MS} ms`, () => {
    fc.assert(
      fc.property(txidArb, blobArb, (txid, blob) => {
        const opened = timed(
          'openJustice',
          () => `${txid} ${blob}`,
          () => openJustice(txid, blob),
        );
        assert.ok(opened === undefined || /^([0-9a-f]{2})*$/.test(opened), `openJustice answered ${String(opened)}`);
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });

  it('openJustice(txid, sealJustice(txid, p).blob) == p, and another txid opens nothing', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex),
        fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex),
        penaltyArb,
        (txid, wrong, p) => {
          const sealed = sealJustice(txid, p);
          assert.equal(sealed.hint, txid.slice(0, 32));
          assert.equal(openJustice(txid, sealed.blob), p);
          if (wrong !== txid) assert.equal(openJustice(wrong, sealed.blob), undefined);
        },
      ),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The JSON-RPC dispatcher: every declared method in its registry (the rpc room's own methods with their real
// handlers; every other room's with its real params schema and a handler that answers what it was given, so the
// schema checks, defaults and positional params run, not the room's work).

function fuzzDispatcher(): { dispatcher: Dispatcher; admin: Connection; stranger: () => Connection; names: string[]; params: Map<string, string[]> } {
  const log = pino({ level: 'silent' });
  const registry = new MethodRegistry();
  const bus = new EventBus();
  bus.declare('rpc', RPC_TOPICS);
  for (const room of ROOMS) bus.declare(room.name, room.topics ?? []);
  const hub = new SubscriptionHub(bus, { maxQueueBytes: 1 << 20, maxPerConnection: 32 });
  const tracker = new ConnectionTracker(64);
  const own = rpcMethods({ registry, bus, hub, auth: new Authenticator([]), version: VERSION, tracker, log });
  registry.register('rpc', own);
  const ownNames = new Set(own.map((m) => m.name));
  const echo: MethodSpec[] = declaredMethods(ROOMS)
    .filter((d) => !ownNames.has(d.name))
    .map((d) => ({ ...d, handler: (p: unknown) => p }) as MethodSpec);
  registry.register('fuzz', echo);
  const dispatcher = new Dispatcher(registry, { warmupStage: () => undefined, shuttingDown: () => false }, { maxBatch: 100, ratePerSecond: 1e9 }, log);
  const conn = (id: number, role: Connection['role']): Connection => ({
    id,
    transport: 'ws',
    peer: 'fuzz',
    role,
    user: role ? 'fuzz' : undefined,
    send: () => undefined,
    bufferedBytes: () => 0,
    close: () => undefined,
  });
  const names = registry.list().map((m) => m.spec.name);
  const params = new Map(registry.list().map((m) => [m.spec.name, m.order]));
  let next = 2;
  return { dispatcher, admin: conn(1, 'admin'), stranger: () => conn(next++, undefined), names, params };
}

const DOCUMENTED = new Set(ERROR_TABLE.map((e) => e.code));

/** Checks one answer object: JSON-RPC 2.0, and an error is a documented code with a message (never InternalError). */
function checkAnswer(a: unknown): void {
  assert.ok(a !== null && typeof a === 'object' && !Array.isArray(a), `an answer is an object: ${JSON.stringify(a)}`);
  const o = a as { jsonrpc?: unknown; id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
  assert.equal(o.jsonrpc, '2.0');
  assert.ok('id' in o && (o.id === null || typeof o.id === 'string' || typeof o.id === 'number'), `id: ${JSON.stringify(o.id)}`);
  assert.ok('result' in o !== 'error' in o, 'exactly one of result and error');
  if (o.error) {
    assert.ok(DOCUMENTED.has(o.error.code as number), `undocumented error code ${String(o.error.code)}`);
    assert.notEqual(o.error.code, ErrorCode.InternalError, `an input made the dispatcher fault: ${String(o.error.message)}`);
    assert.ok(typeof o.error.message === 'string' && o.error.message.length > 0, 'an error says why');
  }
}

describe(`fuzz: the JSON-RPC parser and dispatcher (${RUNS} cases each)`, () => {
  const { dispatcher, admin, stranger, names, params } = fuzzDispatcher();

  const id = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.jsonValue({ maxDepth: 1 }));
  const json = fc.jsonValue({ maxDepth: 3 });
  const request = fc.constantFrom(...names).chain((method) => {
    const known = params.get(method)!;
    const named = fc.dictionary(fc.oneof(fc.constantFrom(...(known.length ? known : ['x'])), fc.string({ maxLength: 6 })), json, {
      maxKeys: 5,
      noNullPrototype: true,
    });
    return fc.record(
      {
        jsonrpc: fc.oneof({ weight: 9, arbitrary: fc.constant('2.0') }, { weight: 1, arbitrary: json }),
        id,
        method: fc.oneof({ weight: 9, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }),
        params: fc.oneof(named, fc.array(json, { maxLength: 6 }), json),
      },
      { requiredKeys: ['jsonrpc', 'method'], noNullPrototype: true },
    );
  });
  const message: fc.Arbitrary<string> = fc.oneof(
    { weight: 4, arbitrary: request.map((r) => JSON.stringify(r)) },
    { weight: 2, arbitrary: fc.array(fc.oneof(request, json), { minLength: 0, maxLength: 12 }).map((b) => JSON.stringify(b)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(request, fc.array(mutation, { minLength: 1, maxLength: 3 }))
        .map(([r, ms]) => Buffer.from(mutate(Buffer.from(JSON.stringify(r)), ms)).toString('utf8')),
    },
    { weight: 1, arbitrary: json.map((j) => JSON.stringify(j) ?? 'null') },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b).toString('utf8')) },
  );

  it(`every message is answered (or, for notifications, not) with JSON-RPC 2.0 and a documented error, within ${SLOW_MS} ms`, async () => {
    await fc.assert(
      fc.asyncProperty(message, fc.boolean(), async (text, authenticated) => {
        // A connection that has not authenticated, new for each case: its failed `auth` calls wait on purpose (250 ms,
        // then longer), so for it only the synchronous part (parsing, the gates) is timed.
        const conn = authenticated ? admin : stranger();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        let out = dispatcher.handle(text, conn);
        let cpu = cpuMs(c0);
        let wall = performance.now() - t0;
        if (out !== null && typeof out !== 'string') {
          out = await out;
          if (authenticated) [cpu, wall] = [cpuMs(c0), performance.now() - t0];
        }
        record('rpc dispatcher', cpu, wall, () => text);
        if (out !== null && out.includes('"result":')) figuresOf('rpc dispatcher').accepted++;
        if (out === null) return;
        const answer = JSON.parse(out) as unknown;
        if (Array.isArray(answer)) {
          assert.ok(answer.length > 0, 'a batch answer is never an empty array');
          answer.forEach(checkAnswer);
        } else checkAnswer(answer);
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
  });
});
