// BOLT 1 codecs: BigSize and TLV streams against BOLT 1's Appendix A/B vectors (the ones independent of a
// namespace's known types), the odd/even rule for TLV types and features, and init/error/ping/pong round trips.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Reader,
  WireError,
  buildFeatures,
  buildTlvStream,
  decodeError,
  decodeInit,
  decodePing,
  decodePong,
  encodeBigSize,
  encodeError,
  encodeInit,
  encodePing,
  encodePong,
  featureBits,
  orFeatures,
  parseTlvStream,
  unknownRequiredFeatures,
} from '../../src/p2p/wire.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const none = (): boolean => false;

describe('BigSize (BOLT 1 Appendix A)', () => {
  const ok: [string, bigint][] = [
    ['00', 0n],
    ['fc', 252n],
    ['fd00fd', 253n],
    ['fdffff', 65535n],
    ['fe00010000', 65536n],
    ['feffffffff', 4294967295n],
    ['ff0000000100000000', 4294967296n],
    ['ffffffffffffffffff', 18446744073709551615n],
  ];
  for (const [h, v] of ok) {
    it(`${h} <-> ${v}`, () => {
      assert.equal(new Reader(hex(h)).bigSize('x'), v);
      assert.equal(Buffer.from(encodeBigSize(v)).toString('hex'), h);
    });
  }
  for (const h of ['fd00fc', 'fe0000ffff', 'ff00000000ffffffff', 'fd00', 'feffff', 'ffffffffff', '', 'fd', 'fe', 'ff']) {
    it(`refuses ${h || 'empty'} (not minimal or truncated)`, () => {
      assert.throws(() => new Reader(hex(h)).bigSize('x'), WireError);
    });
  }
});

describe('TLV streams (BOLT 1 Appendix B)', () => {
  const failing = [
    'fd',
    'fd01',
    'fd0001 00',
    'fd0101',
    '0f fd',
    '0f fd26',
    '0f fd2602',
    '0f fd0001 00',
    '0f fd0201 ' + '00'.repeat(256),
    '12 00',
    'fd0102 00',
    'fe01000002 00',
    'ff0100000000000002 00',
    '1f 00 0f 01 2a',
    '1f 00 1f 01 2a',
    'ffffffffffffffffff 00 00 00',
  ];
  for (const s of failing) {
    it(`refuses ${s.slice(0, 40)}`, () => assert.throws(() => parseTlvStream(hex(s), none), WireError));
  }
  for (const s of ['', '21 00', 'fd0201 00', 'fd00fd 00', 'fd00ff 00', 'fe02000001 00', 'ff0200000000000001 00']) {
    it(`accepts and ignores ${s || 'empty'}`, () => assert.equal(parseTlvStream(hex(s), none).size, 0));
  }
  it('returns known records and keeps the ordering rule (n1 vectors)', () => {
    const known = (t: bigint): boolean => [1n, 2n, 3n, 254n].includes(t);
    const m = parseTlvStream(hex('02 08 0000000000000226 fd00fe 02 0226'), known);
    assert.deepEqual([...m.keys()], [2n, 254n]);
    assert.throws(() => parseTlvStream(hex('02 08 0000000000000226 01 01 2a'), known), /strictly increasing/);
    assert.throws(() => parseTlvStream(hex('02 08 0000000000000231 02 08 0000000000000451'), known), /strictly/);
    assert.throws(() => parseTlvStream(hex('00 00'), known), /unknown even TLV type 0/);
  });
  it('builds sorted, minimally encoded streams', () => {
    const b = buildTlvStream([
      [254, hex('0226')],
      [1, hex('01')],
    ]);
    assert.equal(Buffer.from(b).toString('hex'), '010101fd00fe020226');
    assert.throws(
      () =>
        buildTlvStream([
          [1, hex('')],
          [1, hex('')],
        ]),
      /duplicate TLV type 1/,
    );
  });
});

describe('features and the odd/even rule', () => {
  it('builds, reads and ORs big-endian bitfields', () => {
    const f = buildFeatures([0, 9, 17]);
    assert.equal(Buffer.from(f).toString('hex'), '020201');
    assert.deepEqual(featureBits(f), [0, 9, 17]);
    assert.deepEqual(featureBits(orFeatures(hex('02'), hex('0100'))), [1, 8]);
  });
  it('an unknown even bit is refused, an unknown odd bit ignored', () => {
    assert.deepEqual(unknownRequiredFeatures(buildFeatures([1, 7, 99]), none), []);
    assert.deepEqual(
      unknownRequiredFeatures(buildFeatures([1, 8, 100]), (b) => b === 8),
      [100],
    );
  });
});

describe('messages', () => {
  it('init round-trips with networks and remote_addr, and refuses a torn chain hash', () => {
    const chain = new Uint8Array(32).fill(7);
    const init = { globalfeatures: hex(''), features: buildFeatures([1, 9]), networks: [chain], remoteAddr: hex('017f0000012607') };
    const back = decodeInit(encodeInit(init));
    assert.deepEqual(featureBits(back.features), [1, 9]);
    assert.deepEqual(back.networks, [chain]);
    assert.deepEqual(back.remoteAddr, init.remoteAddr);
    const torn = Buffer.concat([hex('0000 0000'), hex('01 1f'), Buffer.alloc(31)]);
    assert.throws(() => decodeInit(torn), /not a whole number of 32-byte chain hashes/);
    assert.throws(() => decodeInit(Buffer.concat([hex('0000 0000'), hex('02 00')])), /unknown even TLV type 2/);
    assert.throws(() => decodeInit(hex('0005 00')), /init globalfeatures: needs 5 bytes/);
    // An init from a node that sends no TLVs at all (older peers) is fine.
    assert.deepEqual(decodeInit(hex('0000 0001 02')).networks, undefined);
  });
  it('error, ping and pong round-trip; short messages are refused', () => {
    const e = decodeError(encodeError({ channelId: new Uint8Array(32), data: Buffer.from('bad') }));
    assert.equal(Buffer.from(e.data).toString(), 'bad');
    assert.deepEqual(decodePing(encodePing(10, 3)), { numPongBytes: 10, ignored: 3 });
    assert.equal(decodePong(encodePong(10)), 10);
    assert.throws(() => decodePing(hex('0001')), /ping byteslen/);
    assert.throws(() => decodeError(new Uint8Array(31)), /error channel_id/);
  });
});
