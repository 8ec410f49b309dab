// The messages two parties of a state channel exchange, as hex that apps carry between their anyads. Each is a JSON
// object naming its version, type, network (the genesis hash, as BOLT 0's chain_hash) and channel, signed by the
// sender's funding key over a tagged SHA-256 of everything else: a message for another channel or network, or
// changed on the way, is refused before anything is read from it. Replays are refused by the state machine: every
// message fits exactly one step of one channel (its state number).

import { createHash } from 'node:crypto';
import { channelCurve } from './curve.js';

export class MessageError extends Error {
  override name = 'MessageError';
}

export type MessageType = 'open' | 'accept' | 'funding_created' | 'funding_signed' | 'update' | 'ack' | 'revoke' | 'close';
const TYPES: readonly MessageType[] = ['open', 'accept', 'funding_created', 'funding_signed', 'update', 'ack', 'revoke', 'close'];

export interface Envelope {
  v: 1;
  type: MessageType;
  chain: string;
  channel: string;
  body: Record<string, unknown>;
}

const TAG = 'anyad/sc/message/v1';
/** The most bytes one message may carry (they are small; this bounds what a peer can make anyad parse). */
const MAX_BYTES = 16_384;

/** The digest the sender signs: SHA256(tag || the JSON of the envelope without its signature). */
export function messageDigest(e: Envelope): Buffer {
  return createHash('sha256')
    .update(TAG)
    .update(JSON.stringify([e.v, e.type, e.chain, e.channel, e.body]))
    .digest();
}

/** The message as hex: the envelope and the signature (DER, hex). */
export function encodeMessage(e: Envelope, sigDer: Buffer): string {
  return Buffer.from(JSON.stringify({ ...e, sig: sigDer.toString('hex') })).toString('hex');
}

/** Reads a message's envelope; its signature is checked with verifyMessage once the sender's key is known. */
export function decodeMessage(hex: string): { envelope: Envelope; sig: string } {
  if (hex.length > MAX_BYTES * 2) throw new MessageError(`the message is over ${MAX_BYTES} bytes`);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(Buffer.from(hex, 'hex').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new MessageError('the message is not a state channel message (hex of its JSON)');
  }
  if (o === null || typeof o !== 'object' || o.v !== 1) throw new MessageError('the message is not a version 1 state channel message');
  if (!TYPES.includes(o.type as MessageType)) throw new MessageError(`unknown message type ${JSON.stringify(o.type)}`);
  for (const k of ['chain', 'channel', 'sig'] as const)
    if (typeof o[k] !== 'string' || !/^[0-9a-f]+$/.test(o[k])) throw new MessageError(`the message's ${k} is not hex`);
  if (o.body === null || typeof o.body !== 'object' || Array.isArray(o.body)) throw new MessageError("the message's body is not an object");
  return {
    envelope: { v: 1, type: o.type as MessageType, chain: o.chain as string, channel: o.channel as string, body: o.body as Record<string, unknown> },
    sig: o.sig as string,
  };
}

/** True when the signature is the key's over the envelope. */
export function verifyMessage(e: Envelope, sigHex: string, pubkeyHex: string): boolean {
  return channelCurve().verifyDer(Buffer.from(sigHex, 'hex'), messageDigest(e), Buffer.from(pubkeyHex, 'hex'));
}

/** Field readers that name the field a peer got wrong. */
export const field = {
  hex(body: Record<string, unknown>, name: string, bytes: number): string {
    const v = body[name];
    if (typeof v !== 'string' || v.length !== bytes * 2 || !/^[0-9a-f]+$/.test(v)) throw new MessageError(`${name} must be ${bytes} bytes of lowercase hex`);
    return v;
  },
  /** Hex of up to maxBytes bytes (a transaction). */
  bytes(body: Record<string, unknown>, name: string, maxBytes: number): string {
    const v = body[name];
    if (typeof v !== 'string' || v.length < 2 || v.length > maxBytes * 2 || v.length % 2 !== 0 || !/^[0-9a-f]+$/.test(v))
      throw new MessageError(`${name} must be lowercase hex of 1 to ${maxBytes} bytes`);
    return v;
  },
  /** A compressed secp256k1 public key (BOLT 2: a key or point that is not one fails the channel). */
  point(body: Record<string, unknown>, name: string): string {
    const v = field.hex(body, name, 33);
    if (!channelCurve().isPoint(Buffer.from(v, 'hex'))) throw new MessageError(`${name} is not a valid secp256k1 public key`);
    return v;
  },
  sig(body: Record<string, unknown>, name: string): string {
    const v = body[name];
    if (typeof v !== 'string' || v.length < 16 || v.length > 146 || !/^[0-9a-f]+$/.test(v)) throw new MessageError(`${name} must be a DER signature in hex`);
    return v;
  },
  int(body: Record<string, unknown>, name: string, min: number, max: number): number {
    const v = body[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new MessageError(`${name} must be an integer from ${min} to ${max}`);
    return v;
  },
  sat(body: Record<string, unknown>, name: string): bigint {
    const v = body[name];
    if (typeof v !== 'string' || !/^\d{1,16}$/.test(v)) throw new MessageError(`${name} must be an amount in satoshis (a decimal string)`);
    return BigInt(v);
  },
};
