// BOLT 8 Appendix A, every vector: the initiator's and responder's successful handshakes (act bytes and final
// keys), each failing act (short read, bad version, bad key serialization, bad MAC, and act three's bad ciphertext
// MAC and bad static key), and the message-encryption outputs 0, 1, 500, 501, 1000, 1001 across two key rotations.
// Copied from lightning/bolts 08-transport.md, not derived.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HandshakeError,
  MessageCipher,
  initiatorActOne,
  initiatorActThree,
  initiatorActTwo,
  localStaticKey,
  responderActOne,
  responderActThree,
  responderActTwo,
} from '../../src/p2p/noise.js';

const hex = (s: string): Uint8Array => Buffer.from(s.replace(/^0x/, ''), 'hex');
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Initiator: ls, e, and the responder's rs.
const I_LS = hex('1111111111111111111111111111111111111111111111111111111111111111');
const I_LS_PUB = '034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa';
const I_E = hex('1212121212121212121212121212121212121212121212121212121212121212');
// Responder: ls, e.
const R_LS = hex('2121212121212121212121212121212121212121212121212121212121212121');
const R_LS_PUB = '028d7500dd4c12685d1f568b4c2b5048e8534b873319f3a8daa612b469132ec7f7';
const R_E = hex('2222222222222222222222222222222222222222222222222222222222222222');

const ACT1 = '00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a';
const ACT2 = '0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730ae';
const ACT3 = '00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139ba';
const CK = '919219dbb2920afa8db80f9a51787a840bcf111ed8d588caf9ab4be716e42b01';
const SK = '969ab31b4d288cedf6218839b27a3e2140827047f2c0f01bf5c04435d43511a9';
const RK = 'bb9020b8965f4df047e07f955f3c4b88418984aadc5cdb35096b9ea8fa5c3442';

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof HandshakeError && e.code === code);
}

async function assertCodeAsync(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof HandshakeError && e.code === code);
}

/** A cipher's sk and rk, observed through its output: it encrypts as a reference built from BOLT 8's sk does, and
 * decrypts what a peer holding BOLT 8's rk as its sk sends. */
function cipherMatches(c: MessageCipher, sk: string, rk: string): void {
  const ref = new MessageCipher(hex(sk), hex(rk), hex(CK));
  assert.equal(toHex(c.encrypt(hex('68656c6c6f'))), toHex(ref.encrypt(hex('68656c6c6f'))));
  const peer = new MessageCipher(hex(rk), hex(sk), hex(CK));
  const frame = peer.encrypt(hex('776f726c64'));
  assert.equal(c.decryptLength(frame.subarray(0, 18)), 5);
  assert.equal(toHex(c.decryptBody(frame.subarray(18))), '776f726c64');
}

describe('BOLT 8 initiator vectors', () => {
  it('successful handshake: act one, two and three bytes, then sk/rk', async () => {
    const ls = localStaticKey(I_LS);
    assert.equal(toHex(ls.publicKey), I_LS_PUB);
    const { state, act1 } = initiatorActOne(hex(R_LS_PUB), I_E);
    assert.equal(toHex(act1), ACT1);
    initiatorActTwo(state, hex(ACT2));
    const { act3, cipher } = await initiatorActThree(state, ls);
    assert.equal(toHex(act3), ACT3);
    cipherMatches(cipher, SK, RK);
  });

  const failing: [string, string, string][] = [
    ['act2 short read', ACT2.slice(0, -2), 'ACT2_READ_FAILED'],
    ['act2 bad version', '01' + ACT2.slice(2), 'ACT2_BAD_VERSION'],
    ['act2 bad key serialization', '0004' + ACT2.slice(4), 'ACT2_BAD_PUBKEY'],
    ['act2 bad MAC', ACT2.slice(0, -2) + 'af', 'ACT2_BAD_TAG'],
  ];
  for (const [name, input, code] of failing) {
    it(`${name} → ${code}`, () => {
      const { state, act1 } = initiatorActOne(hex(R_LS_PUB), I_E);
      assert.equal(toHex(act1), ACT1);
      assertCode(() => initiatorActTwo(state, hex(input)), code);
    });
  }

  it('the failing inputs are exactly BOLT 8 text', () => {
    // Guard against a transcription slip in the derived inputs above.
    assert.equal(failing[2]![1], '0004466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730ae');
    assert.equal(failing[3]![1], '0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730af');
  });
});

describe('BOLT 8 responder vectors', () => {
  it('successful handshake: act two bytes, the initiator static key, then rk/sk', async () => {
    const ls = localStaticKey(R_LS);
    assert.equal(toHex(ls.publicKey), R_LS_PUB);
    const state = await responderActOne(ls, hex(ACT1), R_E);
    assert.equal(toHex(responderActTwo(state)), ACT2);
    const { remoteStatic, cipher } = responderActThree(state, hex(ACT3));
    assert.equal(toHex(remoteStatic), I_LS_PUB);
    // The responder's sk is the initiator's rk and vice versa.
    cipherMatches(cipher, RK, SK);
  });

  const act1Failing: [string, string, string][] = [
    ['act1 short read', ACT1.slice(0, -2), 'ACT1_READ_FAILED'],
    ['act1 bad version', '01' + ACT1.slice(2), 'ACT1_BAD_VERSION'],
    ['act1 bad key serialization', '0004' + ACT1.slice(4), 'ACT1_BAD_PUBKEY'],
    ['act1 bad MAC', ACT1.slice(0, -2) + '6b', 'ACT1_BAD_TAG'],
  ];
  for (const [name, input, code] of act1Failing) {
    it(`${name} → ${code}`, async () => {
      await assertCodeAsync(responderActOne(localStaticKey(R_LS), hex(input), R_E), code);
    });
  }

  const act3Failing: [string, string, string][] = [
    ['act3 bad version', '01' + ACT3.slice(2), 'ACT3_BAD_VERSION'],
    ['act3 short read', ACT3.slice(0, -2), 'ACT3_READ_FAILED'],
    ['act3 bad MAC for ciphertext', '00c9' + ACT3.slice(4), 'ACT3_BAD_CIPHERTEXT'],
    [
      'act3 bad rs',
      '00bfe3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa2235536ad09a8ee351870c2bb7f78b754a26c6cef79a98d25139c856d7efd252c2ae73c',
      'ACT3_BAD_PUBKEY',
    ],
    ['act3 bad MAC', ACT3.slice(0, -2) + 'bb', 'ACT3_BAD_TAG'],
  ];
  for (const [name, input, code] of act3Failing) {
    it(`${name} → ${code}`, async () => {
      const state = await responderActOne(localStaticKey(R_LS), hex(ACT1), R_E);
      assert.equal(toHex(responderActTwo(state)), ACT2);
      assertCode(() => responderActThree(state, hex(input)), code);
    });
  }

  it('the derived failing inputs are exactly BOLT 8 text', () => {
    const bolt = [
      '00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c',
      '01036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a',
      '00046360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a',
      '00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6b',
    ];
    assert.deepEqual(
      act1Failing.map((f) => f[1]),
      bolt,
    );
    assert.equal(
      act3Failing[2]![1],
      '00c9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139ba',
    );
    assert.equal(
      act3Failing[4]![1],
      '00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139bb',
    );
  });
});

describe('BOLT 8 message encryption vectors', () => {
  it('"hello" 1001 times: outputs 0, 1, 500, 501, 1000, 1001 across two rotations, and the receiver decrypts all', () => {
    const expected = new Map<number, string>([
      [0, 'cf2b30ddf0cf3f80e7c35a6e6730b59fe802473180f396d88a8fb0db8cbcf25d2f214cf9ea1d95'],
      [1, '72887022101f0b6753e0c7de21657d35a4cb2a1f5cde2650528bbc8f837d0f0d7ad833b1a256a1'],
      [500, '178cb9d7387190fa34db9c2d50027d21793c9bc2d40b1e14dcf30ebeeeb220f48364f7a4c68bf8'],
      [501, '1b186c57d44eb6de4c057c49940d79bb838a145cb528d6e8fd26dbe50a60ca2c104b56b60e45bd'],
      [1000, '4a2f3cc3b5e78ddb83dcb426d9863d9d9a723b0337c89dd0b005d89f8d3c05c52b76b29b740f09'],
      [1001, '2ecd8c8a5629d0d02ab457a0fdd0f7b90a192cd46be5ecb6ca570bfc5e268338b1a16cf4ef2d36'],
    ]);
    const initiator = new MessageCipher(hex(SK), hex(RK), hex(CK));
    const responder = new MessageCipher(hex(RK), hex(SK), hex(CK));
    const hello = hex('68656c6c6f');
    for (let i = 0; i <= 1001; i++) {
      const out = initiator.encrypt(hello);
      const want = expected.get(i);
      if (want !== undefined) assert.equal(toHex(out), want, `output ${i}`);
      const len = responder.decryptLength(out.subarray(0, 18));
      assert.equal(len, 5);
      assert.equal(toHex(responder.decryptBody(out.subarray(18))), '68656c6c6f');
    }
  });

  it('refuses a message over 65535 bytes and a tampered MAC', () => {
    const c = new MessageCipher(hex(SK), hex(RK), hex(CK));
    assert.throws(() => c.encrypt(new Uint8Array(65536)), /exceeds BOLT 8's maximum of 65535/);
    const frame = c.encrypt(hex('68656c6c6f'));
    frame[frame.length - 1]! ^= 1;
    const r = new MessageCipher(hex(RK), hex(SK), hex(CK));
    assert.equal(r.decryptLength(frame.subarray(0, 18)), 5);
    assert.throws(() => r.decryptBody(frame.subarray(18)), /MAC of the message body does not verify/);
  });
});
