// Oracle announcements and attestations (dlcspecs Oracle.md and Messaging.md, version 0 TLVs): decoded, and
// verified before anything is built on them. An announcement is the oracle's signed commitment to an event's nonces
// and outcomes; an attestation reveals one BIP340 signature per nonce, whose s values unlock the CETs.
//
// Which hash is signed: Oracle.md names a BIP340 tagged hash ("DLC/oracle/announcement/v0" and
// ".../attestation/v0"), while the dlcspecs test vectors and rust-dlc sign the plain SHA256 of the oracle_event's
// value bytes and of each outcome's UTF-8. Both commit to the same bytes under the oracle's key, so either is
// accepted, and the form found is reported (`signing`).

import { schnorr } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { Reader, WireError, Writer } from './wire.js';

export const TLV = {
  enumDescriptor: 55302,
  digitDescriptor: 55306,
  oracleEvent: 55330,
  announcement: 55332,
  attestation: 55400,
} as const;

export class OracleError extends Error {
  override name = 'OracleError';
}

export type EventDescriptor =
  { kind: 'enum'; outcomes: string[] } | { kind: 'digits'; base: number; signed: boolean; unit: string; precision: number; nb_digits: number };

export interface OracleEvent {
  nonces: string[];
  maturity_epoch: number;
  descriptor: EventDescriptor;
  event_id: string;
}

export interface OracleAnnouncement {
  signature: string;
  oracle_public_key: string;
  event: OracleEvent;
  /** How the signature was made: the spec's tagged hash, or the plain SHA256 the vectors and rust-dlc use. */
  signing: 'tagged' | 'sha256';
}

export interface OracleAttestation {
  event_id: string;
  oracle_public_key: string;
  signatures: string[];
  outcomes: string[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s.normalize('NFC'));

/** BIP340's tagged hash with the oracle prefix: SHA256(SHA256(tag) || SHA256(tag) || msg), tag "DLC/oracle/" + name. */
export function oracleTaggedHash(name: string, msg: Uint8Array): Uint8Array {
  const t = sha256(utf8(`DLC/oracle/${name}`));
  return sha256(Buffer.concat([t, t, msg]));
}

/** Which of the two accepted forms `sig` signs `msg` in, or undefined. */
function signedForm(sig: Uint8Array, msg: Uint8Array, tag: string, pub: Uint8Array, taggedMsg: Uint8Array): 'tagged' | 'sha256' | undefined {
  try {
    if (schnorr.verify(sig, oracleTaggedHash(tag, taggedMsg), pub)) return 'tagged';
    if (schnorr.verify(sig, sha256(msg), pub)) return 'sha256';
  } catch {
    return undefined; // a malformed key or signature: not a signature of this oracle
  }
  return undefined;
}

function wire<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof WireError) throw new OracleError(err.message);
    throw err;
  }
}

function readDescriptor(r: Reader): EventDescriptor {
  const type = r.peekType('event_descriptor');
  if (type === BigInt(TLV.enumDescriptor)) {
    const { value } = r.tlv(TLV.enumDescriptor, 'enum_event_descriptor');
    const n = value.u16('num_outcomes');
    const outcomes = Array.from({ length: n }, (_, i) => value.string(`outcome ${i + 1}`));
    value.end();
    return { kind: 'enum', outcomes };
  }
  if (type === BigInt(TLV.digitDescriptor)) {
    const { value } = r.tlv(TLV.digitDescriptor, 'digit_decomposition_event_descriptor');
    // Oracle.md writes base as a bigsize; the dlcspecs vectors and rust-dlc write a u16 ("0002"): the vectors rule.
    const base = value.u16('base');
    const signed = value.bool('is_signed');
    const unit = value.string('unit');
    const precision = value.i32('precision');
    const nb_digits = value.u16('nb_digits');
    value.end();
    return { kind: 'digits', base, signed, unit, precision, nb_digits };
  }
  throw new OracleError(`event_descriptor has type ${type}: neither enum (${TLV.enumDescriptor}) nor digit decomposition (${TLV.digitDescriptor})`);
}

function readEvent(r: Reader): { event: OracleEvent; value: Uint8Array; raw: Uint8Array } {
  const { value, raw } = r.tlv(TLV.oracleEvent, 'oracle_event');
  const n = value.u16('nb_nonces');
  const nonces = Array.from({ length: n }, (_, i) => hex(value.bytes(32, `nonce ${i + 1}`)));
  const maturity_epoch = value.u32('event_maturity_epoch');
  const descriptor = readDescriptor(value);
  const event_id = value.string('event_id');
  value.end();
  // The value's bytes: the TLV record less its type and length.
  return { event: { nonces, maturity_epoch, descriptor, event_id }, value: raw.subarray(raw.length - valueLength(raw)), raw };
}

/** Length of a TLV record's value (its bytes after the bigsize type and length). */
function valueLength(raw: Uint8Array): number {
  const r = new Reader(raw, 'tlv');
  r.bigsize('type');
  return r.size('length');
}

/** How many nonces an event needs: one for an enumeration, one per digit (and one for the sign) otherwise. */
export function expectedNonces(d: EventDescriptor): number {
  return d.kind === 'enum' ? 1 : d.nb_digits + (d.signed ? 1 : 0);
}

function checkEvent(e: OracleEvent): void {
  const d = e.descriptor;
  if (e.event_id.length === 0) throw new OracleError('the event has an empty event_id');
  if (d.kind === 'enum') {
    if (d.outcomes.length < 2) throw new OracleError(`an enumerated event needs at least two outcomes (it has ${d.outcomes.length})`);
    if (new Set(d.outcomes).size !== d.outcomes.length) throw new OracleError('the event lists an outcome twice');
    // Outcomes are signed and turned into adaptor points as NFC UTF-8 (utf8 above, outcomes.ts): two outcomes that
    // differ only in their Unicode form ("\u00e9" and "e\u0301") share one point, so one attestation would open
    // both CETs, and an attestation of one, relabelled, verifies as the other: whoever holds it picks the better.
    if (new Set(d.outcomes.map((o) => o.normalize('NFC'))).size !== d.outcomes.length)
      throw new OracleError('the event lists two outcomes that are the same text in another Unicode form (NFC): one attestation would open both CETs');
  } else {
    if (d.base < 2) throw new OracleError(`digit decomposition base ${d.base} is below 2`);
    if (d.nb_digits < 1) throw new OracleError('digit decomposition with no digits');
  }
  if (e.nonces.length !== expectedNonces(d)) throw new OracleError(`the event has ${e.nonces.length} nonce(s); its descriptor needs ${expectedNonces(d)}`);
  if (new Set(e.nonces).size !== e.nonces.length) throw new OracleError('the event reuses a nonce (that would reveal the oracle key)');
}

/** Decodes and verifies an oracle_announcement TLV: the oracle's signature over its event, and the event's shape. */
export function verifyAnnouncement(bytes: Uint8Array): OracleAnnouncement {
  const parsed = wire(() => {
    const r = new Reader(bytes, 'oracle_announcement');
    const { value } = r.tlv(TLV.announcement, 'oracle_announcement');
    r.end();
    const signature = value.bytes(64, 'announcement_signature');
    const pub = value.bytes(32, 'oracle_public_key');
    const ev = readEvent(value);
    value.end();
    return { signature, pub, ev };
  });
  const signing = signedForm(parsed.signature, parsed.ev.value, 'announcement/v0', parsed.pub, parsed.ev.raw);
  if (!signing) throw new OracleError(`the announcement signature is not the oracle's (${hex(parsed.pub)}) over its event`);
  checkEvent(parsed.ev.event);
  return { signature: hex(parsed.signature), oracle_public_key: hex(parsed.pub), event: parsed.ev.event, signing };
}

export function decodeAttestation(bytes: Uint8Array): OracleAttestation {
  return wire(() => {
    const r = new Reader(bytes, 'oracle_attestation');
    const { value } = r.tlv(TLV.attestation, 'oracle_attestation');
    r.end();
    const event_id = value.string('event_id');
    const oracle_public_key = hex(value.bytes(32, 'oracle_public_key'));
    const n = value.u16('nb_signatures');
    const signatures = Array.from({ length: n }, (_, i) => hex(value.bytes(64, `signature ${i + 1}`)));
    const outcomes = Array.from({ length: n }, (_, i) => value.string(`outcome ${i + 1}`));
    value.end();
    return { event_id, oracle_public_key, signatures, outcomes };
  });
}

export function encodeAttestation(a: OracleAttestation): Uint8Array {
  const v = new Writer().string(a.event_id).bytes(Buffer.from(a.oracle_public_key, 'hex')).u16(a.signatures.length);
  for (const s of a.signatures) v.bytes(Buffer.from(s, 'hex'));
  for (const o of a.outcomes) v.string(o);
  return new Writer().tlv(TLV.attestation, v.done()).done();
}

/** The outcome an attestation proves: the enumerated outcome, or the digits' value with the descriptor's precision. */
export type AttestedOutcome = { kind: 'enum'; outcome: string } | { kind: 'digits'; digits: number[]; value: number; unit: string; precision: number };

/**
 * Checks an attestation against its announcement: the same oracle and event, one signature per nonce, each
 * signature's R its nonce (in order) and valid over its outcome, every outcome one the event allows.
 */
export function verifyAttestation(ann: OracleAnnouncement, att: OracleAttestation): AttestedOutcome {
  if (att.oracle_public_key !== ann.oracle_public_key)
    throw new OracleError(`the attestation is by oracle ${att.oracle_public_key}, the announcement by ${ann.oracle_public_key}`);
  if (att.event_id !== ann.event.event_id) throw new OracleError(`the attestation is for event "${att.event_id}", not "${ann.event.event_id}"`);
  const nonces = ann.event.nonces;
  if (att.signatures.length !== nonces.length)
    throw new OracleError(`the attestation has ${att.signatures.length} signature(s); the event has ${nonces.length} nonce(s)`);
  const pub = Buffer.from(att.oracle_public_key, 'hex');
  att.signatures.forEach((s, i) => {
    if (s.slice(0, 64) !== nonces[i]) throw new OracleError(`signature ${i + 1} does not use the announced nonce ${i + 1}`);
    const outcome = utf8(att.outcomes[i]!);
    if (!signedForm(Buffer.from(s, 'hex'), outcome, 'attestation/v0', pub, outcome))
      throw new OracleError(`signature ${i + 1} is not the oracle's over outcome "${att.outcomes[i]}"`);
  });
  const d = ann.event.descriptor;
  if (d.kind === 'enum') {
    const outcome = att.outcomes[0]!;
    if (!d.outcomes.includes(outcome)) throw new OracleError(`outcome "${outcome}" is not one of the event's (${d.outcomes.join(', ')})`);
    return { kind: 'enum', outcome };
  }
  let sign = 1;
  let digitsAt = 0;
  if (d.signed) {
    const s = att.outcomes[0];
    if (s !== '+' && s !== '-') throw new OracleError(`the sign outcome is "${s}", not "+" or "-"`);
    sign = s === '-' ? -1 : 1;
    digitsAt = 1;
  }
  const digits = att.outcomes.slice(digitsAt).map((o, i) => {
    if (!/^(0|[1-9][0-9]*)$/.test(o) || Number(o) >= d.base) throw new OracleError(`digit ${i + 1} is "${o}", not a base-${d.base} digit in base 10`);
    return Number(o);
  });
  const magnitude = digits.reduce((acc, x) => acc * d.base + x, 0);
  return { kind: 'digits', digits, value: sign * magnitude, unit: d.unit, precision: d.precision };
}

/** The oracle's signature s value for outcome i of an attestation (a CET's adaptor secret is their sum). */
export function attestationScalars(att: OracleAttestation): Uint8Array[] {
  return att.signatures.map((s) => Buffer.from(s.slice(64), 'hex'));
}
