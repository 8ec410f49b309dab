// A DLC oracle behind the P2PD oracle HTTP API (Crypto Garage's oracle, as rust-dlc's p2pd-oracle-client reads it:
// GET oracle/publickey, asset/<asset>/announcement/<RFC 3339>, asset/<asset>/attestation/<RFC 3339>, JSON with
// rust-dlc's serde names), over one event made by test/peers/dlc-oracle.ts (plain SHA256 form, as rust-dlc signs).
// The attestation answers 404 until attest() is called.
// What it does not prove: that the deployed oracle answers byte for byte the same JSON (field order, number forms),
// its rate limits and errors, or TLS.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeAttestation, verifyAnnouncement } from '../../src/adapters/dlc/oracle.js';
import { enumDescriptor, makeOracle } from './dlc-oracle.js';

export interface P2pdOracle {
  url: string;
  eventId: string;
  attest(outcome: string): void;
  /** Requests seen (method and path). */
  seen: string[];
  close(): Promise<void>;
}

export async function startP2pdOracle(outcomes: string[], maturity: number): Promise<P2pdOracle> {
  const eventId = `btcusd${maturity}`;
  const oracle = makeOracle(enumDescriptor(outcomes), 1, eventId, 'sha256', maturity);
  const ann = verifyAnnouncement(oracle.ann);
  const time = new Date(maturity * 1000).toISOString().replace(/\.000Z$/, 'Z');
  const announcementJson = {
    announcementSignature: ann.signature,
    oraclePublicKey: ann.oracle_public_key,
    oracleEvent: { oracleNonces: ann.event.nonces, eventMaturityEpoch: maturity, eventDescriptor: { enumEvent: { outcomes } }, eventId },
  };
  let attestation: { eventId: string; signatures: string[]; values: string[] } | undefined;
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/oracle/publickey') return json(200, { publicKey: ann.oracle_public_key });
    if (req.url === `/asset/btcusd/announcement/${time}`) return json(200, announcementJson);
    if (req.url === `/asset/btcusd/attestation/${time}`) return attestation ? json(200, attestation) : json(404, { error: 'not attested yet' });
    json(404, { error: 'not found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    eventId,
    seen,
    attest: (outcome) => {
      const a = decodeAttestation(oracle.attest([outcome]));
      attestation = { eventId, signatures: a.signatures, values: a.outcomes };
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
