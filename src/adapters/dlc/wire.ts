// The dlcspecs' fundamental types (Messaging.md, after BOLT 1): big-endian integers, bigsize, strings as a bigsize
// length and UTF-8 bytes, and TLV records (bigsize type, bigsize length, value). A reader refuses anything short,
// non-canonical or left over, naming what it was reading.

export class WireError extends Error {
  override name = 'WireError';
}

export class Reader {
  private at = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  private take(n: number, field: string): Uint8Array {
    if (this.at + n > this.buf.length) throw new WireError(`${this.what}: ${field} runs past the end (${this.buf.length - this.at} of ${n} bytes left)`);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  bytes(n: number, field: string): Uint8Array {
    return this.take(n, field);
  }
  u8(field: string): number {
    return this.take(1, field)[0]!;
  }
  u16(field: string): number {
    const b = this.take(2, field);
    return (b[0]! << 8) | b[1]!;
  }
  u32(field: string): number {
    const b = this.take(4, field);
    return ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
  }
  i32(field: string): number {
    return this.u32(field) | 0;
  }
  u64(field: string): bigint {
    const b = this.take(8, field);
    return Buffer.from(b).readBigUInt64BE(0);
  }
  bool(field: string): boolean {
    const v = this.u8(field);
    if (v > 1) throw new WireError(`${this.what}: ${field} is ${v}, not a boolean (0 or 1)`);
    return v === 1;
  }
  /** BOLT 1 bigsize: minimally encoded, refused otherwise. */
  bigsize(field: string): bigint {
    const first = this.u8(field);
    if (first < 0xfd) return BigInt(first);
    const [n, min] = first === 0xfd ? [2, 0xfdn] : first === 0xfe ? [4, 0x10000n] : [8, 0x100000000n];
    const v = BigInt(`0x${Buffer.from(this.take(n, field)).toString('hex')}`);
    if (v < min) throw new WireError(`${this.what}: ${field} is not minimally encoded`);
    return v;
  }
  /** A bigsize that must fit a JavaScript number (lengths, counts). */
  size(field: string, max = 1 << 24): number {
    const v = this.bigsize(field);
    if (v > BigInt(max)) throw new WireError(`${this.what}: ${field} ${v} is too large (at most ${max})`);
    return Number(v);
  }
  string(field: string): string {
    const n = this.size(`${field} length`, 65_535);
    const text = new TextDecoder('utf-8', { fatal: true });
    try {
      return text.decode(this.take(n, field));
    } catch {
      throw new WireError(`${this.what}: ${field} is not UTF-8`);
    }
  }
  /** A TLV record of the given type; answers its value's reader and the whole record's bytes. */
  tlv(type: number, field: string): { value: Reader; raw: Uint8Array } {
    const start = this.at;
    const t = this.bigsize(`${field} type`);
    if (t !== BigInt(type)) throw new WireError(`${this.what}: ${field} has type ${t}, expected ${type}`);
    const len = this.size(`${field} length`);
    const value = this.take(len, field);
    return { value: new Reader(value, field), raw: this.buf.subarray(start, this.at) };
  }
  /** The type of the next TLV record, without consuming it. */
  peekType(field: string): bigint {
    const save = this.at;
    const t = this.bigsize(`${field} type`);
    this.at = save;
    return t;
  }
  end(): void {
    if (this.at !== this.buf.length) throw new WireError(`${this.what}: ${this.buf.length - this.at} unexpected bytes at the end`);
  }
}

export class Writer {
  private readonly parts: Uint8Array[] = [];
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }
  u8(v: number): this {
    return this.bytes(Uint8Array.of(v));
  }
  u16(v: number): this {
    return this.bytes(Uint8Array.of(v >> 8, v & 0xff));
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return this.bytes(b);
  }
  i32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return this.bytes(b);
  }
  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return this.bytes(b);
  }
  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }
  bigsize(v: bigint | number): this {
    const n = BigInt(v);
    if (n < 0xfdn) return this.u8(Number(n));
    if (n <= 0xffffn) return this.u8(0xfd).u16(Number(n));
    if (n <= 0xffffffffn) return this.u8(0xfe).u32(Number(n));
    return this.u8(0xff).u64(n);
  }
  string(s: string): this {
    const b = new TextEncoder().encode(s.normalize('NFC'));
    return this.bigsize(b.length).bytes(b);
  }
  tlv(type: number, value: Uint8Array): this {
    return this.bigsize(type).bigsize(value.length).bytes(value);
  }
  done(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}
