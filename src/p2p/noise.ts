// BOLT 8's Noise_XK_secp256k1_ChaChaPoly_SHA256, as pure functions over byte arrays: the three acts and the
// message cipher with key rotation. No sockets here, so BOLT 8's test vectors drive it directly; transport.ts feeds
// it bytes from the wire. Primitives are the kept libraries' (@noble/*); only the protocol's composition is ours.
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';

export const ACT_ONE_SIZE = 50;
export const ACT_TWO_SIZE = 50;
export const ACT_THREE_SIZE = 66;
/** BOLT 8: no Lightning message may exceed 65535 bytes. */
export const MAX_MESSAGE_SIZE = 65535;
export const LENGTH_HEADER_SIZE = 18; // 2-byte length + 16-byte MAC
export const MAC_SIZE = 16;
/** A key is rotated once its nonce reaches 1000 (every 500 messages: each uses one nonce for the length, one for the body). */
const ROTATE_AT = 1000;

const PROTOCOL_NAME = new TextEncoder().encode('Noise_XK_secp256k1_ChaChaPoly_SHA256');
const PROLOGUE = new TextEncoder().encode('lightning');
const EMPTY = new Uint8Array(0);

export type HandshakeErrorCode =
  | 'ACT1_BAD_VERSION'
  | 'ACT1_BAD_PUBKEY'
  | 'ACT1_BAD_TAG'
  | 'ACT1_READ_FAILED'
  | 'ACT2_BAD_VERSION'
  | 'ACT2_BAD_PUBKEY'
  | 'ACT2_BAD_TAG'
  | 'ACT2_READ_FAILED'
  | 'ACT3_BAD_VERSION'
  | 'ACT3_BAD_CIPHERTEXT'
  | 'ACT3_BAD_PUBKEY'
  | 'ACT3_BAD_TAG'
  | 'ACT3_READ_FAILED';

/** A failed act, named by BOLT 8's test-vector codes so a log line says exactly which check refused it. */
export class HandshakeError extends Error {
  constructor(
    readonly code: HandshakeErrorCode,
    detail: string,
  ) {
    super(`BOLT 8 handshake failed (${code}): ${detail}`);
    this.name = 'HandshakeError';
  }
}

/** Noise's nonce for ChaCha20-Poly1305: 32 zero bits then the 64-bit counter, little-endian (BOLT 8). */
function nonce(n: number): Uint8Array {
  const b = new Uint8Array(12);
  new DataView(b.buffer).setBigUint64(4, BigInt(n), true);
  return b;
}

function encryptWithAD(k: Uint8Array, n: number, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return chacha20poly1305(k, nonce(n), ad).encrypt(plaintext);
}

/** Returns undefined when the MAC does not verify (the caller names which check that was). */
function decryptWithAD(k: Uint8Array, n: number, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
  try {
    return chacha20poly1305(k, nonce(n), ad).decrypt(ciphertext);
  } catch {
    return undefined;
  }
}

/** HKDF(salt = ck, ikm) with empty info, 64 bytes, split in two 32-byte halves. */
function hkdf2(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const out = hkdf(sha256, ikm, ck, EMPTY, 64);
  return [out.slice(0, 32), out.slice(32)];
}

function mix(h: Uint8Array, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(h.length + data.length);
  b.set(h);
  b.set(data, h.length);
  return sha256(b);
}

/** BOLT 8's ECDH: sha256 of the compressed shared point. Throws when the public key is not a valid point. */
export function ecdhLocal(priv: Uint8Array, pub: Uint8Array): Uint8Array {
  return sha256(secp256k1.getSharedSecret(priv, pub, true));
}

/** The node's static key, held by the HSM: only its public key and an ECDH leave it. */
export interface StaticKey {
  /** 33 bytes, compressed. */
  readonly publicKey: Uint8Array;
  /** sha256(compressed(k·P)) as BOLT 8's ECDH says. */
  ecdh(theirPublicKey: Uint8Array): Promise<Uint8Array>;
}

/** A StaticKey over a private key in memory: for tests and ephemeral use; the node key lives in the HSM instead. */
export function localStaticKey(priv: Uint8Array): StaticKey {
  const publicKey = secp256k1.getPublicKey(priv, true);
  return { publicKey, ecdh: (theirs) => Promise.resolve(ecdhLocal(priv, theirs)) };
}

/** Parses a 33-byte compressed public key strictly (the 0x04 prefix, or a point off the curve, is refused). */
function isCompressedPoint(b: Uint8Array): boolean {
  if (b.length !== 33 || (b[0] !== 2 && b[0] !== 3)) return false;
  try {
    secp256k1.Point.fromBytes(b);
    return true;
  } catch {
    return false;
  }
}

/** The running handshake hash and chaining key, and the keys an act leaves for the next. */
export interface Handshake {
  h: Uint8Array;
  ck: Uint8Array;
  ePriv: Uint8Array;
  ePub: Uint8Array;
  re?: Uint8Array;
  tempK2?: Uint8Array;
}

function initialState(responderStatic: Uint8Array, ePriv: Uint8Array): Handshake {
  const h0 = sha256(PROTOCOL_NAME);
  return {
    ck: h0,
    h: mix(mix(h0, PROLOGUE), responderStatic),
    ePriv,
    ePub: secp256k1.getPublicKey(ePriv, true),
  };
}

/** A fresh ephemeral key with the platform's strong randomness (BOLT 8: MUST for each session). */
export function freshEphemeral(): Uint8Array {
  return secp256k1.utils.randomSecretKey();
}

/** Writes act one (`-> e, es`) or two (`<- e, ee`), which share their shape; returns the temporary key. */
function writeEphemeralAct(s: Handshake, ecdh: Uint8Array): { m: Uint8Array; tempK: Uint8Array } {
  s.h = mix(s.h, s.ePub);
  const [ck, tempK] = hkdf2(s.ck, ecdh);
  s.ck = ck;
  const c = encryptWithAD(tempK, 0, s.h, EMPTY);
  s.h = mix(s.h, c);
  const m = new Uint8Array(ACT_ONE_SIZE); // byte 0 stays 0: the handshake version
  m.set(s.ePub, 1);
  m.set(c, 34);
  return { m, tempK };
}

/** Checks an act one/two's version and key, returning the remote ephemeral key after mixing it into h. */
function readEphemeralHeader(s: Handshake, m: Uint8Array, act: 1 | 2): Uint8Array {
  if (m.length !== ACT_ONE_SIZE) {
    throw new HandshakeError(`ACT${act}_READ_FAILED`, `act ${act} is ${m.length} bytes, expected ${ACT_ONE_SIZE}`);
  }
  if (m[0] !== 0) throw new HandshakeError(`ACT${act}_BAD_VERSION`, `unknown handshake version ${m[0]}`);
  const re = m.slice(1, 34);
  if (!isCompressedPoint(re)) {
    throw new HandshakeError(`ACT${act}_BAD_PUBKEY`, 'the ephemeral key is not a compressed secp256k1 point');
  }
  s.h = mix(s.h, re);
  return re;
}

function readEphemeralTag(s: Handshake, m: Uint8Array, ecdh: Uint8Array, act: 1 | 2): Uint8Array {
  const [ck, tempK] = hkdf2(s.ck, ecdh);
  s.ck = ck;
  const c = m.slice(34);
  if (decryptWithAD(tempK, 0, s.h, c) === undefined) {
    const why = act === 1 ? 'the initiator does not know our static key' : 'the responder is not who we dialled';
    throw new HandshakeError(`ACT${act}_BAD_TAG`, `act ${act} MAC does not verify (${why})`);
  }
  s.h = mix(s.h, c);
  return tempK;
}

/** Initiator, act one: `-> e, es`. Returns the state to continue with and the 50 bytes to send. */
export function initiatorActOne(theirStatic: Uint8Array, ePriv: Uint8Array): { state: Handshake; act1: Uint8Array } {
  const state = initialState(theirStatic, ePriv);
  const { m } = writeEphemeralAct(state, ecdhLocal(ePriv, theirStatic));
  return { state, act1: m };
}

/** Initiator, reads act two: `<- e, ee`. Throws HandshakeError (ACT2_*). */
export function initiatorActTwo(state: Handshake, act2: Uint8Array): void {
  const re = readEphemeralHeader(state, act2, 2);
  state.re = re;
  state.tempK2 = readEphemeralTag(state, act2, ecdhLocal(state.ePriv, re), 2);
}

/** Initiator, act three: `-> s, se`, with our static key's ECDH through the injected StaticKey. */
export async function initiatorActThree(state: Handshake, ours: StaticKey): Promise<{ act3: Uint8Array; cipher: MessageCipher }> {
  if (!state.re || !state.tempK2) throw new Error('initiatorActThree before act two');
  const c = encryptWithAD(state.tempK2, 1, state.h, ours.publicKey);
  state.h = mix(state.h, c);
  const [ck, tempK3] = hkdf2(state.ck, await ours.ecdh(state.re));
  const t = encryptWithAD(tempK3, 0, state.h, EMPTY);
  const [sk, rk] = hkdf2(ck, EMPTY);
  const act3 = new Uint8Array(ACT_THREE_SIZE);
  act3.set(c, 1);
  act3.set(t, 50);
  return { act3, cipher: new MessageCipher(sk, rk, ck) };
}

/** Responder, reads act one: `-> e, es`, with our static key's ECDH through the StaticKey. Throws ACT1_*. */
export async function responderActOne(ours: StaticKey, act1: Uint8Array, ePriv: Uint8Array): Promise<Handshake> {
  const state = initialState(ours.publicKey, ePriv);
  const re = readEphemeralHeader(state, act1, 1);
  state.re = re;
  readEphemeralTag(state, act1, await ours.ecdh(re), 1);
  return state;
}

/** Responder, act two: `<- e, ee`. Returns the 50 bytes to send. */
export function responderActTwo(state: Handshake): Uint8Array {
  if (!state.re) throw new Error('responderActTwo before act one');
  const { m, tempK } = writeEphemeralAct(state, ecdhLocal(state.ePriv, state.re));
  state.tempK2 = tempK;
  return m;
}

/** Responder, reads act three: `-> s, se`. Returns the initiator's static key and the message cipher. */
export function responderActThree(state: Handshake, act3: Uint8Array): { remoteStatic: Uint8Array; cipher: MessageCipher } {
  if (!state.tempK2) throw new Error('responderActThree before act two');
  if (act3.length !== ACT_THREE_SIZE) {
    throw new HandshakeError('ACT3_READ_FAILED', `act 3 is ${act3.length} bytes, expected ${ACT_THREE_SIZE}`);
  }
  if (act3[0] !== 0) throw new HandshakeError('ACT3_BAD_VERSION', `unknown handshake version ${act3[0]}`);
  const c = act3.slice(1, 50);
  const t = act3.slice(50);
  const rs = decryptWithAD(state.tempK2, 1, state.h, c);
  if (rs === undefined) throw new HandshakeError('ACT3_BAD_CIPHERTEXT', "the MAC of the initiator's static key does not verify");
  if (!isCompressedPoint(rs)) {
    throw new HandshakeError('ACT3_BAD_PUBKEY', "the initiator's static key is not a compressed secp256k1 point");
  }
  state.h = mix(state.h, c);
  const [ck, tempK3] = hkdf2(state.ck, ecdhLocal(state.ePriv, rs));
  if (decryptWithAD(tempK3, 0, state.h, t) === undefined) {
    throw new HandshakeError('ACT3_BAD_TAG', 'act 3 final MAC does not verify (the initiator does not hold its key)');
  }
  const [rk, sk] = hkdf2(ck, EMPTY);
  return { remoteStatic: rs, cipher: new MessageCipher(sk, rk, ck) };
}

/** One direction's key, nonce and chaining key, rotated every 1000 uses as BOLT 8 "Key Rotation" says. */
class DirectionKey {
  private n = 0;
  constructor(
    private k: Uint8Array,
    private ck: Uint8Array,
  ) {}

  /** The key and nonce for the next operation; advances (and rotates when the nonce reaches 1000). */
  next(): [Uint8Array, number] {
    const used: [Uint8Array, number] = [this.k, this.n];
    this.n++;
    if (this.n === ROTATE_AT) {
      const [ck, k] = hkdf2(this.ck, this.k);
      this.ck = ck;
      this.k = k;
      this.n = 0;
    }
    return used;
  }
}

/** The established session's cipher: encrypts whole frames, decrypts a length header then a body. */
export class MessageCipher {
  private readonly send: DirectionKey;
  private readonly recv: DirectionKey;

  constructor(sk: Uint8Array, rk: Uint8Array, ck: Uint8Array) {
    this.send = new DirectionKey(sk, ck);
    this.recv = new DirectionKey(rk, ck);
  }

  /** `lc || c`: the encrypted 2-byte length with its MAC, then the encrypted message with its MAC. */
  encrypt(m: Uint8Array): Uint8Array {
    if (m.length > MAX_MESSAGE_SIZE) {
      throw new RangeError(`message of ${m.length} bytes exceeds BOLT 8's maximum of ${MAX_MESSAGE_SIZE}`);
    }
    const l = new Uint8Array(2);
    new DataView(l.buffer).setUint16(0, m.length, false);
    const [k1, n1] = this.send.next();
    const lc = encryptWithAD(k1, n1, EMPTY, l);
    const [k2, n2] = this.send.next();
    const c = encryptWithAD(k2, n2, EMPTY, m);
    const out = new Uint8Array(lc.length + c.length);
    out.set(lc);
    out.set(c, lc.length);
    return out;
  }

  /** Decrypts an 18-byte length header; returns the body's length (the body then needs that + 16 bytes). */
  decryptLength(lc: Uint8Array): number {
    if (lc.length !== LENGTH_HEADER_SIZE) throw new Error(`length header is ${lc.length} bytes, expected 18`);
    const [k, n] = this.recv.next();
    const l = decryptWithAD(k, n, EMPTY, lc);
    if (l === undefined) throw new Error('the MAC of the length header does not verify (tampered or out of sync)');
    return (l[0]! << 8) | l[1]!;
  }

  decryptBody(c: Uint8Array): Uint8Array {
    const [k, n] = this.recv.next();
    const m = decryptWithAD(k, n, EMPTY, c);
    if (m === undefined) throw new Error('the MAC of the message body does not verify (tampered or out of sync)');
    return m;
  }
}
