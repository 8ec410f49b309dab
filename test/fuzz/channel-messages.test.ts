// Property-based fuzzing (fast-check, issue 26) of what a channel counterparty or a tower client sends: the state
// channel messages and their field readers (src/adapters/channels/messages.ts), and the watchtower's justice blob
// decoder (openJustice in src/adapters/channels/justice.ts). For each input: no crash (only MessageError escapes, with
// a message; openJustice answers a hex penalty or undefined, never a throw), no input takes over 100 ms, and what
// decodes encodes back the same; a blob opens to what was sealed, and only with its txid.
//
// Inputs are mutated bytes or mutated hex text of valid messages, random JSON, random bytes and text; blobs sealed
// here then mutated. Settings and helpers: harness.ts.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { secp256k1 } from '@noble/curves/secp256k1.js';
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
import { decodesOrRefuses, hex, mutate, mutation, printFigures, RUN_SETTINGS, RUNS, SLOW_MS, timed, unhex } from './harness.js';

after(printFigures);

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
      RUN_SETTINGS,
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
      RUN_SETTINGS,
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
      { ...RUN_SETTINGS, numRuns: Math.min(RUNS, 200) },
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
      RUN_SETTINGS,
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
      RUN_SETTINGS,
    );
  });
});
