// The LND test peer's transport (see lnd-peer.ts for what the peer proves): the gRPC service definitions loaded from
// the .proto files that ship in the `lightning` package with proto-loader's options as lightning uses them, the TLS
// certificate made as LND makes its tls.cert, macaroons minted from a root key and checked on every call with LND's
// words when missing or wrong, and the guards that wrap each handler so a refusal becomes the gRPC status LND gives.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import macaroon from 'macaroon';

const PROTOS = join(dirname(createRequire(import.meta.url).resolve('lightning')), 'grpc', 'protos');

export type Obj = Record<string, unknown>;
export type Unary = (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) => void;
export type Stream = (call: grpc.ServerWritableStream<Obj, Obj>) => void;

/** A refusal with the gRPC status and details LND answers with. */
export class Fail {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {}
}

let defs: grpc.GrpcObject | undefined;
export function services(): { lightning: grpc.ServiceDefinition; router: grpc.ServiceDefinition } {
  defs ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(['lightning.proto', 'router.proto'], {
      includeDirs: [PROTOS],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    }),
  );
  const pick = (pkg: string, svc: string): grpc.ServiceDefinition => ((defs![pkg] as grpc.GrpcObject)[svc] as grpc.ServiceClientConstructor).service;
  return { lightning: pick('lnrpc', 'Lightning'), router: pick('routerrpc', 'Router') };
}

/** A self-signed P-256 certificate made with the openssl CLI, SAN localhost and 127.0.0.1, as LND makes its tls.cert. */
export function makeTlsCert(certPath: string, keyPath: string, alias: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      `/O=lnd test peer/CN=${alias}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
}

/** A macaroon minted from `rootKey`. */
export function mintMacaroon(rootKey: Buffer): Buffer {
  return Buffer.from(macaroon.newMacaroon({ identifier: randomBytes(16), location: 'lnd', rootKey, version: 2 }).exportBinary());
}

/** What a call's metadata is checked against. */
export interface Gate {
  rootKey: Buffer;
  /** Macaroons (hex) whose holder is cut off, as by a network partition. */
  partitioned: Set<string>;
  locked: () => boolean;
}

/** Checks a call's macaroon as LND does (any macaroon from the root key passes); throws the Fail LND answers. */
export function authorize(gate: Gate, md: grpc.Metadata): void {
  const got = md.get('macaroon');
  if (got.length !== 1) throw new Fail(grpc.status.UNKNOWN, `expected 1 macaroon, got ${got.length}`);
  if (gate.partitioned.has(String(got[0]))) throw new Fail(grpc.status.UNAVAILABLE, 'failed to connect to all addresses');
  try {
    macaroon.importMacaroon(Buffer.from(String(got[0]), 'hex')).verify(gate.rootKey, () => null);
  } catch (err) {
    throw new Fail(grpc.status.UNKNOWN, `verification failed: ${(err as Error).message}`);
  }
  if (gate.locked()) throw new Fail(grpc.status.UNIMPLEMENTED, 'unknown service lnrpc.Lightning');
}

/** Wrappers that authorize a call before its handler runs and turn a thrown Fail into its gRPC status. */
export interface Guards {
  guard(f: (req: Obj) => Obj | Promise<Obj>): Unary;
  guardStream(f: Stream): Stream;
}

export function guards(gate: Gate): Guards {
  return {
    guard: (f) => (call, cb) => {
      void (async () => {
        authorize(gate, call.metadata);
        return f(call.request);
      })().then(
        (res) => cb(null, res),
        (err: unknown) => cb(err instanceof Fail ? { code: err.code, details: err.details } : { code: grpc.status.INTERNAL, details: String(err) }),
      );
    },
    guardStream: (f) => (call) => {
      try {
        authorize(gate, call.metadata);
      } catch (err) {
        const e = err as Fail;
        call.emit('error', Object.assign(new Error(e.details), { code: e.code, details: e.details }));
        return;
      }
      f(call);
    },
  };
}

/** Ends a server stream with an error status, as LND does. */
export function failStream(call: grpc.ServerWritableStream<Obj, Obj>, code: grpc.status, details: string): void {
  call.emit('error', Object.assign(new Error(details), { code, details }));
}
