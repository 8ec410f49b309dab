// An LND test peer: a gRPC server over TLS built from the .proto files that ship in the `lightning` package (the
// ones ln-service itself loads), with proto-loader's options as lightning uses them (keepCase, longs and enums as
// strings, defaults, oneofs). It has a self-signed P-256 certificate made with the openssl CLI (SAN localhost and
// 127.0.0.1, as LND makes its tls.cert), and checks the macaroon on every call by HMAC (`macaroon` package, a root
// key of its own), answering with LND's words when it is missing or wrong. It implements the calls ln-service makes
// for anyad: Lightning.GetInfo, WalletBalance, ChannelBalance, ListPeers, ConnectPeer, ListChannels,
// PendingChannels, OpenChannel, CloseChannel, AddInvoice, LookupInvoice, ListInvoices, DecodePayReq,
// SubscribeInvoices (add/settle index replay), and Router.SendPaymentV2, TrackPaymentV2, EstimateRouteFee;
// ChainNotifier is left unimplemented, which ln-service handles by asking GetInfo for the height. A locked peer
// answers Lightning calls as LND does before unlock ("unknown service lnrpc.Lightning"). Invoices are real signed
// BOLT11 and settle across the shared in-memory network (ln-network.ts), with CLN peers too.
//
// SubscribeInvoices follows LND's invoice registry (lnd invoices/invoiceregistry.go): the backlog
// (deliverBacklogEvents) is every invoice added after add_index, each in its current state (so an invoice added and
// settled meanwhile comes as settled, before older settlements), then every invoice settled after settle_index in
// settle order; an index of 0 replays nothing (channeldb InvoicesAddedSince / InvoicesSettledSince); live events
// are filtered per client by the last add/settle index it was sent (dispatchToClients: a settle at or below the
// client's settle index, or an add at or below its add index, is skipped). `subscribeDelayMs` holds a new
// subscription back before its backlog, as a busy LND would. ListInvoices pages forward by add_index
// (index_offset, num_max_invoices) or newest first (reversed), with pending_only. `partition(macaroon)` cuts one
// client off (its streams end with UNAVAILABLE, its calls fail as an unreachable LND's do) while LND goes on
// serving everyone else and its channel peers: a network partition between anyad and LND, during which invoices
// are made and settled.
//
// What it does NOT prove: routing, HTLCs and onion packets, channel state machines and on-chain funding (OpenChannel
// makes a pending channel that confirmChannels() opens, standing in for mining; CloseChannel removes it at once),
// gossip, fee behaviour, macaroon caveats and permissions (any macaroon minted from the root key passes), LND's
// wallet and database beyond "state survives a restart".
//
// The peer is split by responsibility: lnd-peer-grpc.ts (protos, TLS, macaroons, guards), lnd-peer-state.ts (invoices,
// channels, subscribers; the invoice registry's rules), lnd-peer-lightning.ts and lnd-peer-router.ts (the handlers).

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { LnNetwork, NetNode } from './ln-network.js';
import { guards, makeTlsCert, mintMacaroon, services } from './lnd-peer-grpc.js';
import { lightningHandlers } from './lnd-peer-lightning.js';
import { releasePayments, routerHandlers } from './lnd-peer-router.js';
import { cancelInvoice, confirmChannels, receiveKeysend, settleInvoice, type LInv, type LndKnobs, type LndState } from './lnd-peer-state.js';

export class LndPeer implements NetNode, LndKnobs {
  readonly id: string;
  private readonly rootKey = randomBytes(32);
  readonly certPath: string;
  readonly keyPath: string;
  readonly macaroonPath: string;
  private server: grpc.Server | undefined;
  port = 0;
  locked = false;
  /** The chain GetInfo reports (LND's chains field). */
  chain = { chain: 'bitcoin', network: 'regtest' };
  /** GetInfo's synced_to_chain. */
  synced = true;
  readonly peers = new Set<string>();
  readonly invoices: LInv[] = [];
  /** Delay before a new invoice subscription gets its backlog and live events (a late attach). */
  subscribeDelayMs = 0;
  onchainSat = 5_000_000;
  /** While set, payments wait in flight until release() (to stand for a slow route). */
  holdPayments = false;
  /** Called when an invoice settles (benchmarks time from here). */
  onSettle: ((hash: string) => void) | undefined;
  /** LND's --accept-keysend (on here: anyad's tests pay this peer by keysend). */
  acceptKeysend = true;
  /** Macaroons (hex) whose holder is cut off from this LND, as by a network partition. */
  private readonly partitioned = new Set<string>();
  private readonly state: LndState;

  constructor(
    net: LnNetwork,
    readonly dir: string,
    readonly alias: string,
  ) {
    const key = randomBytes(32);
    this.id = Buffer.from(secp256k1.getPublicKey(key, true)).toString('hex');
    this.state = {
      node: this,
      alias,
      key,
      net,
      knobs: this,
      invoices: this.invoices,
      channels: [],
      subscribers: new Set(),
      payments: new Map(),
      held: [],
      addIndex: 0,
      settleIndex: 0,
    };
    net.nodes.set(this.id, this);
    this.certPath = join(dir, `${alias}-tls.cert`);
    this.keyPath = join(dir, `${alias}-tls.key`);
    this.macaroonPath = join(dir, `${alias}-admin.macaroon`);
    makeTlsCert(this.certPath, this.keyPath, alias);
    writeFileSync(this.macaroonPath, this.mintMacaroon(this.rootKey), { mode: 0o600 });
  }

  /** Writes another valid macaroon to `path` (for a client that can be partitioned on its own). */
  issueMacaroon(path: string): string {
    writeFileSync(path, this.mintMacaroon(this.rootKey), { mode: 0o600 });
    return path;
  }

  /** Cuts the holder of the macaroon at `path` off (on) or lets it back (off). */
  partition(path: string, on: boolean): void {
    const hex = readFileSync(path).toString('hex');
    if (!on) return void this.partitioned.delete(hex);
    this.partitioned.add(hex);
    for (const s of [...this.state.subscribers]) {
      if (s.macaroon !== hex) continue;
      this.state.subscribers.delete(s);
      s.call.emit('error', Object.assign(new Error('Connection dropped'), { code: grpc.status.UNAVAILABLE, details: 'Connection dropped' }));
    }
  }

  /** A macaroon minted from `rootKey` (pass another key to get one this peer refuses). */
  mintMacaroon(rootKey: Buffer): Buffer {
    return mintMacaroon(rootKey);
  }

  get online(): boolean {
    return this.server !== undefined;
  }

  get socket(): string {
    return `localhost:${this.port}`;
  }

  /** Listens (on the same port as before, after a stop). */
  async start(): Promise<void> {
    const { lightning, router } = services();
    const g = guards({ rootKey: this.rootKey, partitioned: this.partitioned, locked: () => this.locked });
    const server = new grpc.Server();
    server.addService(lightning, lightningHandlers(this.state, g));
    server.addService(router, routerHandlers(this.state, g));
    const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(this.certPath), private_key: readFileSync(this.keyPath) }], false);
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.port}`, creds, (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
  }

  /** Stops as LND does when it shuts down: streams end with UNAVAILABLE, the state stays as its database would. */
  async stop(): Promise<void> {
    for (const s of this.state.subscribers)
      s.call.emit('error', Object.assign(new Error('server shutting down'), { code: grpc.status.UNAVAILABLE, details: 'server shutting down' }));
    this.state.subscribers.clear();
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** Confirms every pending channel's funding, as mining would: each gets a short channel id and opens. */
  confirmChannels(): void {
    confirmChannels(this.state);
  }

  receive(hash: string, amountMsat: number): string {
    return settleInvoice(this.state, hash, amountMsat);
  }

  receiveKeysend(preimage: string, amountMsat: number): void {
    receiveKeysend(this.state, preimage, amountMsat);
  }

  /** Cancels an open invoice, as `lncli cancelinvoice` does. */
  cancel(hash: string): void {
    cancelInvoice(this.state, hash);
  }

  /** Lets held payments go on (see holdPayments). */
  release(): void {
    releasePayments(this.state);
  }
}
