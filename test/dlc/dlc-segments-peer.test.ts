// DLC segments from a lying peer over the peer network (inbox.ts, after rust-dlc's message handler): a raw BOLT 8
// peer of the test's own sends delivery envelopes to Alice's anyad. A whole message between a segment_start and
// its chunk ends the reassembly (rust-dlc resets its SegmentReader): the chunk that follows has no start and is
// refused, and no message is put together from the pieces around the whole one. A second segment_start while one is
// in progress drops the first and starts anew; a chunk with no start is refused.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { until } from '../helpers/until.js';
import { freePort } from '../p2p/daemons.js';
import { envelope, rawPeer, type RawPeer } from '../p2p/raw-peer.js';
import { MSG_DELIVER, MSG_DELIVERY_ACK } from '../../src/p2p/delivery.js';
import { encodeSign, MSG } from '../../src/adapters/dlc/messages.js';
import { pieces, SEGMENT_CHUNK, SEGMENT_START } from '../../src/adapters/dlc/segments.js';
import { call, twoAnyads } from './dlc-setup.js';

describe('DLC segments from a lying peer: what resets the reassembly, what is refused', () => {
  const w = twoAnyads();
  let peer: RawPeer;
  const acks: number[] = [];
  const epoch = randomBytes(8);
  let seq = 0;

  /** Sends one delivered message (inner type and payload) and waits for Alice's anyad to acknowledge it: taken. */
  const send = async (type: number, payload: Buffer): Promise<void> => {
    const n = ++seq;
    await peer.t.send(MSG_DELIVER, envelope(epoch, n, type, payload));
    await until(`message ${n} acknowledged`, async () => (acks.includes(n) ? true : undefined), 1200);
  };
  /** A message (its u16 type first) of `bytes` bytes: too large for one delivered payload, so a start and a chunk. */
  const big = (bytes: number): Buffer => {
    const b = randomBytes(bytes);
    b.writeUInt16BE(MSG.offer, 0);
    return b;
  };
  const logs = (msg: string): Array<Record<string, unknown>> => w.alice.d.logs.filter((l) => l.msg === msg);
  const refusals = (): string[] => logs('a DLC message from a peer refused').map((l) => l.reason as string);

  before(async () => {
    const port = await freePort();
    const p = w.alice;
    p.ch.close();
    await p.d.kill();
    w.alice = { ...(await w.start('alice', false, [`-p2p.peerport=${port}`])), address: p.address };
    const key = await until('the node key', async () => (await call<{ pubkey: string | null }>(w.alice.ch, 'peer.getinfo')).pubkey ?? undefined);
    peer = await rawPeer(key, port);
    peer.t.on('message', (type: number, payload: Buffer) => {
      if (type === MSG_DELIVERY_ACK) acks.push(Number(payload.readBigUInt64BE(8)));
    });
  });
  after(() => peer?.t.close('done'));

  it('a whole message between a segment_start and its chunk drops the reassembly: the chunk is refused, nothing put together', async () => {
    const [start, chunk] = pieces(big(70_000));
    assert.deepEqual([start!.type, chunk!.type], [SEGMENT_START, SEGMENT_CHUNK]);
    await send(start!.type, start!.payload);
    // A whole sign_dlc for no contract, between the two pieces.
    const sign = encodeSign({
      protocol_version: 1,
      contract_id: randomBytes(32).toString('hex'),
      cet_adaptor_signatures: [randomBytes(162).toString('hex')],
      refund_signature: randomBytes(64).toString('hex'),
      funding_signatures: [],
    });
    await send(MSG.sign, Buffer.from(sign).subarray(2));
    await send(chunk!.type, chunk!.payload);
    await until('the chunk refused', async () => (refusals().some((r) => /segment_chunk with no segment_start/.test(r)) ? true : undefined), 1200);
    assert.ok(
      refusals().some((r) => r === `a whole message (type ${MSG.sign}) while 1 segments of an earlier message were still to come: that message is dropped`),
      `the reassembly dropped by the whole message (${JSON.stringify(refusals())})`,
    );
    assert.deepEqual(logs('a segmented DLC message reassembled'), [], 'no message put together from a start and a chunk a whole message came between');
    // The whole message itself is taken as usual (and refused by its own step: no such contract).
    await until('the sign_dlc refused', async () => (refusals().some((r) => /sign_dlc for an unknown contract/.test(r)) ? true : undefined), 1200);
  });

  it('a second segment_start drops the first and starts anew; its chunk completes the second message', async () => {
    const first = pieces(big(70_000));
    const second = pieces(big(68_000));
    const before = refusals().length;
    const reassembled = (): Array<Record<string, unknown>> => logs('a segmented DLC message reassembled').filter((l) => l.bytes !== 70_000);
    await send(first[0]!.type, first[0]!.payload);
    await send(second[0]!.type, second[0]!.payload);
    await send(second[1]!.type, second[1]!.payload);
    const put = await until('the second message reassembled', async () => reassembled()[0], 1200);
    assert.deepEqual([put.type, put.bytes, put.pieces], [MSG.offer, 68_000, 2]);
    assert.equal(
      refusals()[before],
      'a segment_start while 1 segments of an earlier message were still to come: that message is dropped',
      JSON.stringify(refusals().slice(before)),
    );
    // The first message's chunk now has no start of its own.
    await send(first[1]!.type, first[1]!.payload);
    await until(
      'the stray chunk refused',
      async () =>
        refusals()
          .slice(before + 1)
          .some((r) => /segment_chunk with no segment_start/.test(r))
          ? true
          : undefined,
      1200,
    );
    assert.equal(reassembled().length, 1);
  });
});
