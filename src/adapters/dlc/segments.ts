// DLC messages on the peer network (issue 28 item 3): a message is sent as a Lightning custom message does, its
// u16 type as the delivered type and the bytes after it as the payload; one too large for a delivered payload is
// split as rust-dlc's dlc-messages/src/segmentation splits it: a segment_start (type 42900: u16 nb_segments, then
// data as u16 length and bytes, whose first two bytes are the whole message's type) and nb_segments - 1
// segment_chunks (type 42902: data as u16 length and bytes), every piece full but the last.
//
// One difference, because the pieces travel inside anyad's delivery envelope (p2p api: at most 65,515 bytes of
// payload, 20 less than BOLT 8's 65,535): a start carries 65,511 bytes of data and a chunk 65,513, where rust-dlc
// fills 65,526 and 65,528. The reader checks the layout and the rules of rust-dlc's SegmentReader (2..1000
// segments, a full start, full chunks but the last) with these sizes, and a total size cap.

import { MSG } from './message-fields.js';

export const SEGMENT_START = 42900;
export const SEGMENT_CHUNK = 42902;
/** The largest payload the p2p room's deliver() takes (65,535 less its 20-byte envelope). */
export const MAX_PAYLOAD = 65_515;
/** Data bytes of a segment_start: the payload less nb_segments (2) and the data length (2). */
export const START_DATA = MAX_PAYLOAD - 4;
/** Data bytes of a full segment_chunk: the payload less the data length (2). */
export const CHUNK_DATA = MAX_PAYLOAD - 2;
/** rust-dlc's MAX_SEGMENTS. */
export const MAX_SEGMENTS = 1000;
/** A reassembled message at most: what the room's RPC takes of one message (dlc.accept's offer, 900,000 hex). */
export const MAX_REASSEMBLED = 450_000;

/** The DLC message types the room takes from peers. */
export const DLC_WIRE_TYPES = [MSG.offer, MSG.accept, MSG.sign, MSG.close, SEGMENT_START, SEGMENT_CHUNK] as const;

export class SegmentError extends Error {
  override name = 'SegmentError';
}

export interface Piece {
  type: number;
  payload: Buffer;
}

/** A whole message (its u16 type first, as messages.ts encodes it) as the pieces to deliver, in order. */
export function pieces(message: Uint8Array): Piece[] {
  const msg = Buffer.from(message);
  if (msg.length < 2) throw new SegmentError('a message shorter than its type');
  if (msg.length - 2 <= MAX_PAYLOAD) return [{ type: msg.readUInt16BE(0), payload: msg.subarray(2) }];
  if (msg.length > MAX_REASSEMBLED) throw new SegmentError(`a message of ${msg.length} bytes is over ${MAX_REASSEMBLED}, the most a peer reassembles`);
  const chunks: Buffer[] = [];
  for (let at = START_DATA; at < msg.length; at += CHUNK_DATA) chunks.push(msg.subarray(at, at + CHUNK_DATA));
  const start = Buffer.alloc(4 + START_DATA);
  start.writeUInt16BE(chunks.length + 1, 0);
  start.writeUInt16BE(START_DATA, 2);
  msg.copy(start, 4, 0, START_DATA);
  return [
    { type: SEGMENT_START, payload: start },
    ...chunks.map((c) => {
      const p = Buffer.alloc(2 + c.length);
      p.writeUInt16BE(c.length, 0);
      c.copy(p, 2);
      return { type: SEGMENT_CHUNK, payload: p };
    }),
  ];
}

/** A peer's message being reassembled: how many pieces are still to come and the bytes so far. */
export interface Partial {
  remaining: number;
  bytes: number;
}

function data(payload: Buffer, at: number, what: string): Buffer {
  if (payload.length < at + 2) throw new SegmentError(`a ${what} shorter than its data length`);
  const n = payload.readUInt16BE(at);
  if (payload.length !== at + 2 + n) throw new SegmentError(`a ${what} whose data length ${n} is not its ${payload.length - at - 2} bytes`);
  return payload.subarray(at + 2);
}

/**
 * Reads a segment_start: the pieces still to come and its data (the message's first bytes). Refused: fewer than 2 or
 * more than 1000 segments, a start not full, a message that would pass MAX_REASSEMBLED however short its last chunk.
 */
export function readStart(payload: Buffer): { remaining: number; data: Buffer } {
  if (payload.length < 2) throw new SegmentError('a truncated segment_start');
  const nb = payload.readUInt16BE(0);
  if (nb < 2 || nb > MAX_SEGMENTS) throw new SegmentError(`a segment_start of ${nb} segments (2 to ${MAX_SEGMENTS})`);
  const d = data(payload, 2, 'segment_start');
  if (d.length !== START_DATA) throw new SegmentError(`a segment_start with ${d.length} bytes of data, not full (${START_DATA})`);
  const least = START_DATA + (nb - 2) * CHUNK_DATA + 1;
  if (least > MAX_REASSEMBLED) throw new SegmentError(`a segmented message of ${nb} segments (at least ${least} bytes) is over ${MAX_REASSEMBLED}`);
  return { remaining: nb - 1, data: d };
}

/** Reads a segment_chunk of a message `p` is reassembling: its data; refused when a chunk not the last is not full. */
export function readChunk(p: Partial, payload: Buffer): Buffer {
  const d = data(payload, 0, 'segment_chunk');
  if (d.length === 0) throw new SegmentError('an empty segment_chunk');
  if (p.remaining > 1 && d.length !== CHUNK_DATA) throw new SegmentError(`a segment_chunk of ${d.length} bytes that is not the last, not full (${CHUNK_DATA})`);
  if (p.bytes + d.length > MAX_REASSEMBLED) throw new SegmentError(`a segmented message over ${MAX_REASSEMBLED} bytes`);
  return d;
}
