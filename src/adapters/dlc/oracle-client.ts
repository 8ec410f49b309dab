// A client of the P2PD oracle HTTP API (Crypto Garage's DLC oracle; what rust-dlc's p2pd-oracle-client reads):
//   GET <base>oracle/publickey                      {"publicKey": x-only hex}
//   GET <base>asset/<asset>/announcement/<RFC 3339>  the announcement as JSON (rust-dlc's serde names)
//   GET <base>asset/<asset>/attestation/<RFC 3339>   {"eventId", "signatures": [hex], "values": [string]}
// with event ids of the form <6-character asset><unix seconds> (btcusd1653865200). Announcements are turned into
// the oracle_announcement TLV anyad verifies like any pasted one; nothing from the oracle is trusted unverified.

import { encodeAttestation, TLV, type OracleAttestation } from './oracle.js';
import { Writer } from './wire.js';

export class OracleUnreachable extends Error {
  override name = 'OracleUnreachable';
}

interface JsonAnnouncement {
  announcementSignature: string;
  oraclePublicKey: string;
  oracleEvent: {
    oracleNonces: string[];
    eventMaturityEpoch: number;
    eventId: string;
    eventDescriptor: {
      enumEvent?: { outcomes: string[] };
      digitDecompositionEvent?: { base: number; isSigned: boolean; unit: string; precision: number; nbDigits: number };
    };
  };
}

const HEX32 = /^[0-9a-f]{64}$/;
const HEX64 = /^[0-9a-f]{128}$/;

/** The asset and time a P2PD event id names. */
export function parseEventId(eventId: string): { asset: string; time: string } {
  const m = /^([a-z0-9]{6})(\d{1,12})$/.exec(eventId);
  if (!m) throw new OracleUnreachable(`event id "${eventId}" is not <6-character asset><unix seconds> (e.g. btcusd1653865200)`);
  return { asset: m[1]!, time: new Date(Number(m[2]) * 1000).toISOString().replace(/\.000Z$/, 'Z') };
}

/** The oracle_announcement TLV of a JSON announcement (the bytes its signature covers are rebuilt exactly). */
export function announcementTlv(a: JsonAnnouncement): Uint8Array {
  const e = a.oracleEvent;
  if (
    !HEX64.test(a.announcementSignature) ||
    !HEX32.test(a.oraclePublicKey) ||
    !e ||
    !Array.isArray(e.oracleNonces) ||
    !e.oracleNonces.every((n) => HEX32.test(n))
  )
    throw new OracleUnreachable('the oracle answered an announcement of another shape');
  const d = e.eventDescriptor;
  let descriptor: Uint8Array;
  if (d?.enumEvent) {
    const w = new Writer().u16(d.enumEvent.outcomes.length);
    for (const o of d.enumEvent.outcomes) w.string(o);
    descriptor = new Writer().tlv(TLV.enumDescriptor, w.done()).done();
  } else if (d?.digitDecompositionEvent) {
    const x = d.digitDecompositionEvent;
    descriptor = new Writer().tlv(TLV.digitDescriptor, new Writer().u16(x.base).bool(x.isSigned).string(x.unit).i32(x.precision).u16(x.nbDigits).done()).done();
  } else throw new OracleUnreachable('the oracle answered an event descriptor of another kind');
  const ev = new Writer().u16(e.oracleNonces.length);
  for (const n of e.oracleNonces) ev.bytes(Buffer.from(n, 'hex'));
  ev.u32(e.eventMaturityEpoch).bytes(descriptor).string(e.eventId);
  const eventTlv = new Writer().tlv(TLV.oracleEvent, ev.done()).done();
  return new Writer()
    .tlv(TLV.announcement, Buffer.concat([Buffer.from(a.announcementSignature, 'hex'), Buffer.from(a.oraclePublicKey, 'hex'), eventTlv]))
    .done();
}

export class OracleClient {
  private key: string | undefined;
  constructor(
    readonly base: string,
    private readonly timeoutMs = 10_000,
  ) {
    if (!this.base.endsWith('/')) this.base = `${this.base}/`;
  }

  private async get<T>(path: string): Promise<T | undefined> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' } });
    } catch (err) {
      throw new OracleUnreachable(`the oracle at ${this.base} is unreachable: ${(err as Error).message}`);
    }
    if (res.status === 404 || res.status === 400) return undefined;
    if (!res.ok) throw new OracleUnreachable(`the oracle at ${this.base} answered HTTP ${res.status}`);
    const text = await res.text();
    if (text.length > 1_000_000) throw new OracleUnreachable(`the oracle at ${this.base} answered more than 1 MB`);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new OracleUnreachable(`the oracle at ${this.base} answered something that is not JSON`);
    }
  }

  async publicKey(): Promise<string> {
    if (this.key) return this.key;
    const r = await this.get<{ publicKey?: string }>('oracle/publickey');
    if (!r?.publicKey || !HEX32.test(r.publicKey)) throw new OracleUnreachable(`the oracle at ${this.base} has no public key to give`);
    return (this.key = r.publicKey);
  }

  /** The announcement TLV of an event, or undefined when the oracle has none. */
  async announcement(eventId: string): Promise<Uint8Array | undefined> {
    const { asset, time } = parseEventId(eventId);
    const a = await this.get<JsonAnnouncement>(`asset/${asset}/announcement/${time}`);
    return a ? announcementTlv(a) : undefined;
  }

  /** The attestation of an event as a TLV, or undefined while the oracle has not attested it. */
  async attestation(eventId: string): Promise<Uint8Array | undefined> {
    const { asset, time } = parseEventId(eventId);
    const r = await this.get<{ eventId?: string; signatures?: string[]; values?: string[] }>(`asset/${asset}/attestation/${time}`);
    if (!r) return undefined;
    if (!Array.isArray(r.signatures) || !Array.isArray(r.values) || r.signatures.length !== r.values.length || !r.signatures.every((s) => HEX64.test(s)))
      throw new OracleUnreachable('the oracle answered an attestation of another shape');
    const att: OracleAttestation = { event_id: eventId, oracle_public_key: await this.publicKey(), signatures: r.signatures, outcomes: r.values.map(String) };
    return encodeAttestation(att);
  }
}
