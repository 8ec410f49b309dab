// BOLT 1's message codecs: BigSize, TLV streams, and the setup and control messages (init, error, warning, ping,
// pong). Pure functions over bytes; wire-session.ts runs them on a connection. Every refusal says what is wrong, since
// a refusal here is the reason a peer is disconnected and logged.

export const MSG_WARNING = 1;
export const MSG_INIT = 16;
export const MSG_ERROR = 17;
export const MSG_PING = 18;
export const MSG_PONG = 19;
/** The types a session answers itself: another room may not claim them. */
export const SESSION_TYPES: ReadonlySet<number> = new Set([MSG_WARNING, MSG_INIT, MSG_ERROR, MSG_PING, MSG_PONG]);

/** BOLT 0's chain_hash: the genesis block hash in internal byte order, hex. */
export const CHAIN_HASH: Record<string, string> = {
  main: '6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000',
  test: '43497fd7f826957108f4a30fd9cec3aeba79972084e90ead01ea330900000000',
  signet: 'f61eee3b63a380a477a063af32b2bbc97c9ff9f01f2c4225e973988108000000',
  regtest: '06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f',
};

/** BOLT 1: a ping asking for this many pong bytes or more gets no pong (they would not fit in a message). */
export const PING_NO_REPLY_THRESHOLD = 65532;

/** A malformed or unacceptable message: the connection is closed with this message as the reason. */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

/** A cursor over a message's bytes; every read past the end is a WireError naming the field. */
export class Reader {
  private at = 0;
  constructor(private readonly b: Uint8Array) {}

  get remaining(): number {
    return this.b.length - this.at;
  }

  bytes(n: number, field: string): Uint8Array {
    if (this.remaining < n) throw new WireError(`${field}: needs ${n} bytes, ${this.remaining} left`);
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  u8(field: string): number {
    return this.bytes(1, field)[0]!;
  }

  u16(field: string): number {
    const b = this.bytes(2, field);
    return (b[0]! << 8) | b[1]!;
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining, 'rest');
  }

  /** BigSize: Bitcoin's CompactSize but big-endian, and minimally encoded (BOLT 1 Appendix A). */
  bigSize(field: string): bigint {
    const first = this.u8(field);
    if (first < 0xfd) return BigInt(first);
    const width = first === 0xfd ? 2 : first === 0xfe ? 4 : 8;
    const b = this.bytes(width, field);
    let v = 0n;
    for (const x of b) v = (v << 8n) | BigInt(x);
    const min = first === 0xfd ? 0xfdn : first === 0xfe ? 0x10000n : 0x100000000n;
    if (v < min) throw new WireError(`${field}: BigSize ${v} is not minimally encoded`);
    return v;
  }
}

export function encodeBigSize(v: bigint | number): Uint8Array {
  const x = BigInt(v);
  if (x < 0n || x > 0xffffffffffffffffn) throw new RangeError(`BigSize ${x} out of range`);
  if (x < 0xfdn) return Uint8Array.of(Number(x));
  const [prefix, width] = x < 0x10000n ? [0xfd, 2] : x < 0x100000000n ? [0xfe, 4] : [0xff, 8];
  const out = new Uint8Array(1 + width);
  out[0] = prefix;
  for (let i = 0; i < width; i++) out[width - i] = Number((x >> BigInt(8 * i)) & 0xffn);
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function u16(v: number): Uint8Array {
  return Uint8Array.of((v >> 8) & 0xff, v & 0xff);
}

/**
 * Parses a TLV stream (BOLT 1): types strictly increasing, type and length minimally encoded, lengths within the
 * stream. Records whose type `isKnown` accepts are returned; an unknown even type fails the stream, an unknown odd
 * one is skipped ("it's ok to be odd"). Checking a known record's length is the caller's, who knows its encoding.
 */
export function parseTlvStream(b: Uint8Array, isKnown: (type: bigint) => boolean): Map<bigint, Uint8Array> {
  const r = new Reader(b);
  const out = new Map<bigint, Uint8Array>();
  let last = -1n;
  while (r.remaining > 0) {
    const type = r.bigSize('TLV type');
    if (type <= last) throw new WireError(`TLV type ${type} after ${last}: types must be strictly increasing`);
    last = type;
    const len = r.bigSize(`TLV ${type} length`);
    if (len > BigInt(r.remaining)) throw new WireError(`TLV ${type} length ${len} exceeds the ${r.remaining} bytes left`);
    const value = r.bytes(Number(len), `TLV ${type} value`);
    if (isKnown(type)) out.set(type, value);
    else if (type % 2n === 0n) throw new WireError(`unknown even TLV type ${type}`);
  }
  return out;
}

/** Builds a TLV stream from records, sorted by type (the sender MUST order them strictly increasing). */
export function buildTlvStream(records: Iterable<[bigint | number, Uint8Array]>): Uint8Array {
  const sorted = [...records].map(([t, v]) => [BigInt(t), v] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]![0] === sorted[i - 1]![0]) throw new RangeError(`duplicate TLV type ${sorted[i]![0]}`);
  }
  return concat(sorted.flatMap(([t, v]) => [encodeBigSize(t), encodeBigSize(v.length), v]));
}

// ---- features (BOLT 1 init, BOLT 9 bits): a big-endian bitfield, bit 0 the least significant of the last byte.

export function hasFeature(bits: Uint8Array, bit: number): boolean {
  const byte = bits.length - 1 - (bit >> 3);
  return byte >= 0 && (bits[byte]! & (1 << (bit & 7))) !== 0;
}

/** The set bits of a feature vector, ascending. */
export function featureBits(bits: Uint8Array): number[] {
  const out: number[] = [];
  for (let bit = 0; bit < bits.length * 8; bit++) if (hasFeature(bits, bit)) out.push(bit);
  return out;
}

/** A minimal-length feature vector with the given bits set. */
export function buildFeatures(bits: Iterable<number>): Uint8Array {
  const list = [...bits];
  const len = list.length === 0 ? 0 : (Math.max(...list) >> 3) + 1;
  const out = new Uint8Array(len);
  for (const bit of list) out[len - 1 - (bit >> 3)]! |= 1 << (bit & 7);
  return out;
}

/** OR of two vectors of any lengths (BOLT 1: globalfeatures and features combine into one map). */
export function orFeatures(a: Uint8Array, b: Uint8Array): Uint8Array {
  const len = Math.max(a.length, b.length);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    out[len - 1 - i] = (a[a.length - 1 - i] ?? 0) | (b[b.length - 1 - i] ?? 0);
  }
  return out;
}

/**
 * BOLT 1's odd/even rule for a peer's features: any even ("required") bit we do not understand means we cannot
 * talk to this peer. Returns the offending bits (empty when acceptable); odd unknown bits are ignored.
 */
export function unknownRequiredFeatures(theirs: Uint8Array, known: (bit: number) => boolean): number[] {
  return featureBits(theirs).filter((bit) => bit % 2 === 0 && !known(bit));
}

// ---- messages

export interface InitMessage {
  globalfeatures: Uint8Array;
  features: Uint8Array;
  /** TLV 1: the chain hashes the node is interested in (32 bytes each), absent when not sent. */
  networks?: Uint8Array[];
  /** TLV 3: the address the peer sees us at (a BOLT 7 address descriptor), absent when not sent. */
  remoteAddr?: Uint8Array;
}

export function encodeInit(m: InitMessage): Uint8Array {
  const tlvs: [number, Uint8Array][] = [];
  if (m.networks) {
    for (const c of m.networks) if (c.length !== 32) throw new RangeError('init networks: a chain hash is 32 bytes');
    tlvs.push([1, concat(m.networks)]);
  }
  if (m.remoteAddr) tlvs.push([3, m.remoteAddr]);
  return concat([u16(m.globalfeatures.length), m.globalfeatures, u16(m.features.length), m.features, buildTlvStream(tlvs)]);
}

export function decodeInit(payload: Uint8Array): InitMessage {
  const r = new Reader(payload);
  const globalfeatures = r.bytes(r.u16('init gflen'), 'init globalfeatures');
  const features = r.bytes(r.u16('init flen'), 'init features');
  const tlvs = parseTlvStream(r.rest(), (t) => t === 1n || t === 3n);
  const m: InitMessage = { globalfeatures, features };
  const networks = tlvs.get(1n);
  if (networks) {
    if (networks.length % 32 !== 0) {
      throw new WireError(`init networks: ${networks.length} bytes is not a whole number of 32-byte chain hashes`);
    }
    m.networks = Array.from({ length: networks.length / 32 }, (_, i) => networks.subarray(32 * i, 32 * i + 32));
  }
  const addr = tlvs.get(3n);
  if (addr) m.remoteAddr = addr;
  return m;
}

/** `error` and `warning` share a layout: channel_id (all zero: every channel), then len-prefixed data. */
export interface ErrorMessage {
  channelId: Uint8Array;
  data: Uint8Array;
}

export function encodeError(m: ErrorMessage): Uint8Array {
  if (m.channelId.length !== 32) throw new RangeError('channel_id is 32 bytes');
  return concat([m.channelId, u16(m.data.length), m.data]);
}

export function decodeError(payload: Uint8Array): ErrorMessage {
  const r = new Reader(payload);
  const channelId = r.bytes(32, 'error channel_id');
  return { channelId, data: r.bytes(r.u16('error len'), 'error data') };
}

/** BOLT 1: print a peer's error data only when it is printable ASCII; otherwise as hex. */
export function describeErrorData(data: Uint8Array): string {
  const printable = data.every((c) => c >= 32 && c <= 126);
  return printable ? Buffer.from(data).toString('latin1') : `0x${Buffer.from(data).toString('hex')}`;
}

export interface PingMessage {
  numPongBytes: number;
  ignored: number;
}

export function encodePing(numPongBytes: number, ignoredLen = 0): Uint8Array {
  // BOLT 1: `ignored` SHOULD be zeros and MUST NOT carry secrets: a fresh zeroed array.
  return concat([u16(numPongBytes), u16(ignoredLen), new Uint8Array(ignoredLen)]);
}

export function decodePing(payload: Uint8Array): PingMessage {
  const r = new Reader(payload);
  const numPongBytes = r.u16('ping num_pong_bytes');
  const ignored = r.bytes(r.u16('ping byteslen'), 'ping ignored').length;
  return { numPongBytes, ignored };
}

export function encodePong(len: number): Uint8Array {
  return concat([u16(len), new Uint8Array(len)]);
}

/** Returns the pong's byteslen, which the pinger matches against what it asked for. */
export function decodePong(payload: Uint8Array): number {
  const r = new Reader(payload);
  return r.bytes(r.u16('pong byteslen'), 'pong ignored').length;
}
