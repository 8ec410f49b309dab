// Property-based fuzzing (fast-check) of what a stranger on the peer port sends (issue 28): BOLT 8 acts one and
// three as the responder reads them, and the BOLT 1 decoders (init, error/warning, ping, pong, TLV streams). For each
// input: no crash (only HandshakeError or WireError escapes, with a message), no synchronous decode takes over
// 100 ms (act one awaits the static key's ECDH, so it is not timed), an act is
// accepted only when it is byte for byte the valid one, and a decoded init encodes back to what decodes the same.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  HandshakeError,
  initiatorActOne,
  initiatorActThree,
  initiatorActTwo,
  localStaticKey,
  responderActOne,
  responderActThree,
  responderActTwo,
} from '../../src/p2p/noise.js';
import {
  WireError,
  buildFeatures,
  decodeError,
  decodeInit,
  decodePing,
  decodePong,
  encodeError,
  encodeInit,
  encodePing,
  encodePong,
  parseTlvStream,
} from '../../src/p2p/wire.js';
import { decodesOrRefuses, hex, mutate, mutation, printFigures, RUN_SETTINGS, timed } from './harness.js';

after(printFigures);

const key = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const responder = localStaticKey(key(0x21));
const initiator = localStaticKey(key(0x11));

/** A valid act one, act two's state and act three, from BOLT 8's vector keys. */
async function validActs(): Promise<{ act1: Uint8Array; act3: Uint8Array }> {
  const { state, act1 } = initiatorActOne(responder.publicKey, key(0x12));
  const r = await responderActOne(responder, act1, key(0x22));
  initiatorActTwo(state, responderActTwo(r));
  const { act3 } = await initiatorActThree(state, initiator);
  return { act1, act3 };
}

describe('fuzz: BOLT 8 acts as the responder reads them', () => {
  it('a mutated act one is refused with a HandshakeError unless it is the valid one', async () => {
    const { act1 } = await validActs();
    const inputs = fc.oneof(
      fc.array(mutation, { minLength: 1, maxLength: 4 }).map((m) => mutate(act1, m)),
      fc.uint8Array({ minLength: 0, maxLength: 80 }),
    );
    await fc.assert(
      fc.asyncProperty(inputs, async (input) => {
        let ok = false;
        try {
          await responderActOne(responder, input, key(0x22));
          ok = true;
        } catch (e) {
          assert.ok(e instanceof HandshakeError, `threw ${(e as Error).name}: ${(e as Error).message}`);
        }
        assert.equal(ok, hex(input) === hex(act1));
      }),
      RUN_SETTINGS,
    );
  });

  it('a mutated act three is refused with a HandshakeError unless it is the valid one', async () => {
    const { act1, act3 } = await validActs();
    const inputs = fc.array(mutation, { minLength: 1, maxLength: 4 }).map((m) => mutate(act3, m));
    await fc.assert(
      fc.asyncProperty(inputs, async (input) => {
        const r = await responderActOne(responder, act1, key(0x22));
        responderActTwo(r);
        const out = timed(
          'noise act3',
          () => hex(input),
          () => decodesOrRefuses(HandshakeError, () => responderActThree(r, input)),
        );
        assert.equal(out !== undefined, hex(input) === hex(act3));
      }),
      RUN_SETTINGS,
    );
  });
});

describe('fuzz: BOLT 1 decoders', () => {
  const init = encodeInit({
    globalfeatures: buildFeatures([1]),
    features: buildFeatures([1, 9, 15]),
    networks: [key(6), key(7)],
    remoteAddr: Uint8Array.of(1, 127, 0, 0, 1, 0x26, 0x07),
  });
  const valid = [init, encodeError({ channelId: key(0), data: Buffer.from('bad thing') }), encodePing(16, 4), encodePong(16)];
  const inputs = fc.oneof(
    fc.tuple(fc.constantFrom(...valid), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([v, m]) => mutate(v, m)),
    fc.uint8Array({ minLength: 0, maxLength: 200 }),
  );

  it('init, error, ping, pong and TLV streams decode or refuse with a WireError; a decoded init round-trips', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const m = timed(
          'bolt1 init',
          () => hex(input),
          () => decodesOrRefuses(WireError, () => decodeInit(input)),
        );
        if (m) assert.deepEqual(decodeInit(encodeInit(m)), m);
        timed(
          'bolt1 error',
          () => hex(input),
          () => decodesOrRefuses(WireError, () => decodeError(input)),
        );
        timed(
          'bolt1 ping',
          () => hex(input),
          () => decodesOrRefuses(WireError, () => decodePing(input)),
        );
        timed(
          'bolt1 pong',
          () => hex(input),
          () => decodesOrRefuses(WireError, () => decodePong(input)),
        );
        timed(
          'bolt1 tlv',
          () => hex(input),
          () => decodesOrRefuses(WireError, () => parseTlvStream(input, (t) => t < 4n)),
        );
      }),
      RUN_SETTINGS,
    );
  });
});
