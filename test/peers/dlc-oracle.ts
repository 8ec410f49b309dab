// A DLC oracle as dlcspecs Oracle.md defines one: a BIP340 key, one fresh nonce per event digit (one for an
// enumeration), an oracle_announcement signed over its oracle_event, and attestations signed with exactly the
// announced nonces. `form` picks the hash signed: the spec's tagged hash ("DLC/oracle/announcement/v0",
// ".../attestation/v0") or the plain SHA256 the dlcspecs vectors and rust-dlc use.
// What it does not prove: that a deployed oracle (e.g. a Suredbits or a rust-dlc p2pderivatives oracle) serves
// the same bytes over its HTTP API, nor anything about oracles' key/nonce custody.

import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeAttestation, oracleTaggedHash, TLV } from '../../src/adapters/dlc/oracle.js';
import { Writer } from '../../src/adapters/dlc/wire.js';

const N = secp256k1.Point.Fn.ORDER;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const x32 = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(64, '0'), 'hex');

/** BIP340 signing with a chosen nonce, as an oracle does with the nonce it announced. */
export function signWithNonce(secret: Uint8Array, nonceSecret: Uint8Array, msg: Uint8Array): Uint8Array {
  const G = secp256k1.Point.BASE;
  const scalar = (b: Uint8Array): bigint => BigInt(`0x${hex(b)}`) % N;
  let d = scalar(secret);
  const P = G.multiply(d);
  if (P.y % 2n !== 0n) d = N - d;
  let k = scalar(nonceSecret);
  const R = G.multiply(k);
  if (R.y % 2n !== 0n) k = N - k;
  const e = scalar(schnorr.utils.taggedHash('BIP0340/challenge', Buffer.concat([x32(R.x), x32(P.x), msg])));
  return Buffer.concat([x32(R.x), x32((k + e * d) % N)]);
}

export const enumDescriptor = (outcomes: string[]): Uint8Array => {
  const w = new Writer().u16(outcomes.length);
  for (const o of outcomes) w.string(o);
  return new Writer().tlv(TLV.enumDescriptor, w.done()).done();
};

export const digitDescriptor = (base: number, signed: boolean, nbDigits: number): Uint8Array =>
  new Writer().tlv(TLV.digitDescriptor, new Writer().u16(base).bool(signed).string('btc/usd').i32(0).u16(nbDigits).done()).done();

export interface TestOracle {
  /** oracle_announcement TLV bytes. */
  ann: Uint8Array;
  /** oracle_attestation TLV bytes for these outcomes (one per nonce); options forge what a bad oracle would. */
  attest(outcomes: string[], opts?: { nonceOf?: number[]; attForm?: 'tagged' | 'sha256'; id?: string }): Uint8Array;
}

export function makeOracle(descriptor: Uint8Array, nbNonces: number, eventId: string, form: 'tagged' | 'sha256', maturity = 1_700_000_000): TestOracle {
  const key = secp256k1.utils.randomSecretKey();
  const nonces = Array.from({ length: nbNonces }, () => secp256k1.utils.randomSecretKey());
  const ev = new Writer().u16(nbNonces);
  for (const k of nonces) ev.bytes(schnorr.getPublicKey(k));
  ev.u32(maturity).bytes(descriptor).string(eventId);
  const value = ev.done();
  const eventTlv = new Writer().tlv(TLV.oracleEvent, value).done();
  const sig = signWithNonce(key, secp256k1.utils.randomSecretKey(), form === 'tagged' ? oracleTaggedHash('announcement/v0', eventTlv) : sha256(value));
  const ann = new Writer().tlv(TLV.announcement, Buffer.concat([sig, schnorr.getPublicKey(key), eventTlv])).done();
  const attest: TestOracle['attest'] = (outcomes, opts = {}) => {
    const signatures = outcomes.map((o, i) => {
      const m = new TextEncoder().encode(o);
      const msg = (opts.attForm ?? form) === 'tagged' ? oracleTaggedHash('attestation/v0', m) : sha256(m);
      return hex(signWithNonce(key, nonces[opts.nonceOf?.[i] ?? i]!, msg));
    });
    return encodeAttestation({ event_id: opts.id ?? eventId, oracle_public_key: hex(schnorr.getPublicKey(key)), signatures, outcomes });
  };
  return { ann, attest };
}
