// Property-based fuzzing (fast-check, issue 26) of the DLC messages a counterparty sends (offer_dlc, accept_dlc,
// sign_dlc, close_dlc) and the wire reader under them. For each input: no crash (only MessageError / WireError
// escapes, with a message), no input takes over 100 ms, and what decodes encodes back to the same bytes.
//
// Inputs are random bytes, random bytes behind a valid message type, and mutations of valid messages: the dlcspecs
// test vectors under test/vectors and close_dlc messages encoded here. Settings and helpers: harness.ts.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
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
import { ROOT } from '../helpers/paths.js';
import { decodesOrRefuses, hex, mutate, mutation, printFigures, RUN_SETTINGS, RUNS, SLOW_MS, timed, unhex } from './harness.js';

after(printFigures);

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
        RUN_SETTINGS,
      );
    });
  }

  it('close_dlc: decode(encode(x)) == x', () => {
    fc.assert(
      fc.property(closeArb, (c) => assert.deepEqual(decodeClose(encodeClose(c)), c)),
      RUN_SETTINGS,
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
      RUN_SETTINGS,
    );
  });
});
