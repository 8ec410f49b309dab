// DLC messages split for the peer network (segments.ts, after rust-dlc's dlc-messages segmentation): a real
// accept_dlc of 1,000 CETs (encoded by messages.ts, 162 kB) cut into a segment_start and full segment_chunks that
// each fit the p2p room's delivered payload, and put back byte for byte; a message that fits goes whole, its type
// as the delivered type. Refusals, as rust-dlc's SegmentReader refuses them, plus a size cap: too few or too many
// segments, a start or a middle chunk not full, a data length that lies, a message over the cap.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeAccept, encodeAccept, MSG, type Accept } from '../../src/adapters/dlc/messages.js';
import {
  CHUNK_DATA,
  MAX_PAYLOAD,
  MAX_REASSEMBLED,
  pieces,
  readChunk,
  readStart,
  SEGMENT_CHUNK,
  SEGMENT_START,
  SegmentError,
  START_DATA,
} from '../../src/adapters/dlc/segments.js';
import { MAX_DELIVER_PAYLOAD } from '../../src/p2p/delivery.js';

function bigAccept(cets: number): Uint8Array {
  const h = (n: number): string => randomBytes(n).toString('hex');
  const a: Accept = {
    protocol_version: 1,
    temporary_contract_id: h(32),
    accept_collateral: 100_000_000n,
    funding_pubkey: `02${h(32)}`,
    payout_spk: `0014${h(20)}`,
    payout_serial_id: 7n,
    funding_inputs: [],
    change_spk: `0014${h(20)}`,
    change_serial_id: 9n,
    cet_adaptor_signatures: Array.from({ length: cets }, () => h(162)),
    refund_signature: h(64),
  };
  return encodeAccept(a);
}

/** The receiver's side, as inbox.ts does it (without the store): start, chunks, the whole message. */
function reassemble(ps: Array<{ type: number; payload: Buffer }>): Buffer {
  const [first, ...rest] = ps;
  assert.equal(first!.type, SEGMENT_START);
  const s = readStart(first!.payload);
  const parts = [s.data];
  let p = { remaining: s.remaining, bytes: s.data.length };
  for (const c of rest) {
    assert.equal(c.type, SEGMENT_CHUNK);
    const d = readChunk(p, c.payload);
    parts.push(d);
    p = { remaining: p.remaining - 1, bytes: p.bytes + d.length };
  }
  assert.equal(p.remaining, 0);
  return Buffer.concat(parts);
}

describe('DLC segmentation (rust-dlc segment_start / segment_chunk)', () => {
  it('a 1,000-CET accept_dlc: cut into pieces that fit a delivered payload, put back byte for byte', () => {
    assert.equal(MAX_PAYLOAD, MAX_DELIVER_PAYLOAD, "the p2p room's deliver() limit");
    const msg = bigAccept(1000);
    assert.ok(msg.length > 2 * MAX_PAYLOAD, `${msg.length} bytes`);
    const ps = pieces(msg);
    assert.equal(ps.length, 1 + Math.ceil((msg.length - START_DATA) / CHUNK_DATA));
    for (const p of ps) assert.ok(p.payload.length <= MAX_PAYLOAD);
    // The start: nb_segments, the data length, and the data beginning with the message's own type (42780).
    assert.equal(ps[0]!.payload.readUInt16BE(0), ps.length);
    assert.equal(ps[0]!.payload.readUInt16BE(2), START_DATA);
    assert.equal(ps[0]!.payload.readUInt16BE(4), MSG.accept);
    for (const c of ps.slice(1, -1)) assert.equal(c.payload.readUInt16BE(0), CHUNK_DATA);
    const back = reassemble(ps);
    assert.ok(back.equals(Buffer.from(msg)));
    assert.equal(decodeAccept(back).cet_adaptor_signatures.length, 1000);
  });

  it('a message that fits goes whole: its type as the delivered type, the bytes after it as the payload', () => {
    const msg = bigAccept(10);
    const ps = pieces(msg);
    assert.equal(ps.length, 1);
    assert.equal(ps[0]!.type, MSG.accept);
    assert.ok(ps[0]!.payload.equals(Buffer.from(msg).subarray(2)));
    // The largest whole message: its payload exactly the limit; one byte more is segmented.
    assert.equal(pieces(Buffer.alloc(MAX_PAYLOAD + 2, 1)).length, 1);
    assert.equal(pieces(Buffer.alloc(MAX_PAYLOAD + 3, 1)).length, 2);
  });

  it('refusals: segment counts, a start or a middle chunk not full, a lying length, over the cap', () => {
    const ps = pieces(bigAccept(1000));
    const start = Buffer.from(ps[0]!.payload);
    const withCount = (n: number): Buffer => {
      const b = Buffer.from(start);
      b.writeUInt16BE(n, 0);
      return b;
    };
    assert.throws(() => readStart(withCount(1)), /segment_start of 1 segments/);
    assert.throws(() => readStart(withCount(1001)), /1001 segments/);
    assert.throws(
      () => readStart(withCount(20)),
      (e: Error) => e instanceof SegmentError && /over 450000/.test(e.message),
    );
    const short = Buffer.concat([start.subarray(0, 2), Buffer.from([0, 10]), start.subarray(4, 14)]);
    assert.throws(() => readStart(short), /not full/);
    const lying = Buffer.from(start);
    lying.writeUInt16BE(START_DATA - 1, 2);
    assert.throws(() => readStart(lying), /data length/);
    const middle = ps[1]!.payload;
    const cut = Buffer.concat([Buffer.from([0, 5]), middle.subarray(2, 7)]);
    assert.throws(() => readChunk({ remaining: 2, bytes: START_DATA }, cut), /not the last, not full/);
    assert.equal(readChunk({ remaining: 1, bytes: START_DATA }, cut).length, 5, 'the last chunk may be short');
    assert.throws(() => readChunk({ remaining: 1, bytes: MAX_REASSEMBLED }, cut), /over 450000/);
    assert.throws(() => pieces(Buffer.alloc(MAX_REASSEMBLED + 1, 1)), /most a peer reassembles/);
  });
});
