// The few BOLT 1 messages the room itself speaks (init, error, warning, ping, pong), encoded and decoded here until
// the transport library's wire.ts offers them (then this file gives way to it). Only what a peer session needs:
// init's feature bits and its `networks` TLV, ping's num_pong_bytes.

export const MSG = { warning: 1, init: 16, error: 17, ping: 18, pong: 19 } as const;
/** The types the room answers itself: another room may not claim them. */
export const ROOM_TYPES: ReadonlySet<number> = new Set(Object.values(MSG));

/** BOLT 0's chain_hash: the genesis block hash in internal byte order. */
export const CHAIN_HASH: Record<string, string> = {
  main: '6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000',
  test: '43497fd7f826957108f4a30fd9cec3aeba79972084e90ead01ea330900000000',
  signet: 'f61eee3b63a380a477a063af32b2bbc97c9ff9f01f2c4225e973988108000000',
  regtest: '06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f',
};

export class WireError extends Error {
  override name = 'WireError';
}

/** init with no feature bits (nothing required, nothing offered yet) and networks = [our chain]. */
export function encodeInit(chainHash: Buffer): Buffer {
  const tlv = Buffer.concat([Buffer.from([1, 32]), chainHash]);
  return Buffer.concat([Buffer.from([0, 0, 0, 0]), tlv]);
}

export interface Init {
  /** Feature bits set by the peer (global and local features ORed, as BOLT 1 says). */
  features: number[];
  /** The chains the peer is on, hex; undefined when it did not say. */
  networks: string[] | undefined;
}

function bitsOf(field: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < field.length; i++) {
    const byte = field[field.length - 1 - i]!;
    for (let b = 0; b < 8; b++) if (byte & (1 << b)) out.push(i * 8 + b);
  }
  return out;
}

/** BigSize (BOLT 1), minimally encoded, or WireError. */
function bigSize(b: Buffer, at: number): { value: number; next: number } {
  if (at >= b.length) throw new WireError('a TLV record is truncated');
  const first = b[at]!;
  const need = first < 0xfd ? 0 : first === 0xfd ? 2 : first === 0xfe ? 4 : 8;
  if (at + 1 + need > b.length) throw new WireError('a TLV record is truncated');
  if (need === 0) return { value: first, next: at + 1 };
  const value = need === 2 ? b.readUInt16BE(at + 1) : need === 4 ? b.readUInt32BE(at + 1) : Number(b.readBigUInt64BE(at + 1));
  if (value < (need === 2 ? 0xfd : need === 4 ? 0x10000 : 0x100000000)) throw new WireError('a BigSize is not minimally encoded');
  return { value, next: at + 1 + need };
}

/** Decodes init; WireError names what is wrong (truncated, a TLV out of order, an unknown even TLV). */
export function decodeInit(p: Buffer): Init {
  if (p.length < 2) throw new WireError('init is truncated');
  const gflen = p.readUInt16BE(0);
  if (p.length < 4 + gflen) throw new WireError('init is truncated');
  const flen = p.readUInt16BE(2 + gflen);
  const fEnd = 4 + gflen + flen;
  if (p.length < fEnd) throw new WireError('init is truncated');
  const features = [...new Set([...bitsOf(p.subarray(2, 2 + gflen)), ...bitsOf(p.subarray(4 + gflen, fEnd))])].sort((a, b) => a - b);
  let networks: string[] | undefined;
  let at = fEnd;
  let last = -1;
  while (at < p.length) {
    const t = bigSize(p, at);
    const l = bigSize(p, t.next);
    if (t.value <= last) throw new WireError('init TLV records are not in increasing type order');
    last = t.value;
    const end = l.next + l.value;
    if (end > p.length) throw new WireError('a TLV record of init is truncated');
    const v = p.subarray(l.next, end);
    if (t.value === 1) {
      if (v.length % 32 !== 0) throw new WireError('init networks is not a list of 32-byte chain hashes');
      networks = Array.from({ length: v.length / 32 }, (_, i) => v.subarray(i * 32, i * 32 + 32).toString('hex'));
    } else if (t.value % 2 === 0 && t.value !== 3) throw new WireError(`init has an unknown even TLV record ${t.value}`);
    at = end;
  }
  return { features, networks };
}

/** error or warning: channel_id (all zero: the connection), u16 length, text. */
export function encodeNotice(text: string): Buffer {
  const data = Buffer.from(text.slice(0, 500), 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(data.length);
  return Buffer.concat([Buffer.alloc(32), len, data]);
}

/** The printable text of an error or warning (for the log), bounded. */
export function noticeText(p: Buffer): string {
  if (p.length < 34) return '(truncated)';
  const len = Math.min(p.readUInt16BE(32), p.length - 34, 300);
  return p
    .subarray(34, 34 + len)
    .toString('utf8')
    .replace(/[^\x20-\x7e]/g, '?');
}

export function encodePing(numPongBytes: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(numPongBytes, 0);
  return b;
}

/** num_pong_bytes of a ping, or WireError. */
export function decodePing(p: Buffer): number {
  if (p.length < 4) throw new WireError('ping is truncated');
  if (p.readUInt16BE(2) !== p.length - 4) throw new WireError('ping byteslen does not match its length');
  return p.readUInt16BE(0);
}

export function encodePong(n: number): Buffer {
  const b = Buffer.alloc(2 + n);
  b.writeUInt16BE(n, 0);
  return b;
}
