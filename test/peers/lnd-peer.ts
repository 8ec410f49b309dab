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

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import macaroon from 'macaroon';
import { decodeInvoice, feeFor, makeInvoice, PayFailure, type LnNetwork, type NetNode } from './ln-network.js';

const PROTOS = join(dirname(createRequire(import.meta.url).resolve('lightning')), 'grpc', 'protos');

type Obj = Record<string, unknown>;
type Unary = (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) => void;
type Stream = (call: grpc.ServerWritableStream<Obj, Obj>) => void;

interface LInv {
  memo: string;
  r_preimage: Buffer;
  r_hash: Buffer;
  value_msat: number;
  creation_date: number;
  expiry: number;
  payment_request: string;
  payment_addr: Buffer;
  add_index: number;
  settle_index: number;
  settle_date: number;
  amt_paid_msat: number;
  state: 'OPEN' | 'SETTLED' | 'CANCELED';
}

interface LChan {
  /** Waiting for its funding transaction to confirm (listed by PendingChannels, not ListChannels). */
  pending: boolean;
  txid: string;
  vout: number;
  chan_id: string;
  peer: string;
  capacity: number;
  local: number;
}

class Fail {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {}
}

let defs: grpc.GrpcObject | undefined;
function services(): { lightning: grpc.ServiceDefinition; router: grpc.ServiceDefinition } {
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

export class LndPeer implements NetNode {
  readonly id: string;
  private readonly key = randomBytes(32);
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
  private addIndex = 0;
  private settleIndex = 0;
  private readonly channels: LChan[] = [];
  private readonly subscribers = new Set<{ call: grpc.ServerWritableStream<Obj, Obj>; addIndex: number; settleIndex: number; macaroon: string }>();
  /** Delay before a new invoice subscription gets its backlog and live events (a late attach). */
  subscribeDelayMs = 0;
  onchainSat = 5_000_000;
  /** While set, payments wait in flight until release() (to stand for a slow route). */
  holdPayments = false;
  private readonly held: Array<() => void> = [];
  /** Each payment's latest Payment message, by hash (what TrackPaymentV2 answers). */
  private readonly payments = new Map<string, Obj>();
  /** Called when an invoice settles (benchmarks time from here). */
  onSettle: ((hash: string) => void) | undefined;

  constructor(
    private readonly net: LnNetwork,
    readonly dir: string,
    readonly alias: string,
  ) {
    this.id = Buffer.from(secp256k1.getPublicKey(this.key, true)).toString('hex');
    net.nodes.set(this.id, this);
    this.certPath = join(dir, `${alias}-tls.cert`);
    this.keyPath = join(dir, `${alias}-tls.key`);
    this.macaroonPath = join(dir, `${alias}-admin.macaroon`);
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
        this.keyPath,
        '-out',
        this.certPath,
        '-days',
        '2',
        '-subj',
        `/O=lnd test peer/CN=${alias}`,
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    writeFileSync(this.macaroonPath, this.mintMacaroon(this.rootKey), { mode: 0o600 });
  }

  /** Writes another valid macaroon to `path` (for a client that can be partitioned on its own). */
  issueMacaroon(path: string): string {
    writeFileSync(path, this.mintMacaroon(this.rootKey), { mode: 0o600 });
    return path;
  }

  /** Macaroons (hex) whose holder is cut off from this LND, as by a network partition. */
  private readonly partitioned = new Set<string>();

  /** Cuts the holder of the macaroon at `path` off (on) or lets it back (off). */
  partition(path: string, on: boolean): void {
    const hex = readFileSync(path).toString('hex');
    if (!on) return void this.partitioned.delete(hex);
    this.partitioned.add(hex);
    for (const s of [...this.subscribers]) {
      if (s.macaroon !== hex) continue;
      this.subscribers.delete(s);
      s.call.emit('error', Object.assign(new Error('Connection dropped'), { code: grpc.status.UNAVAILABLE, details: 'Connection dropped' }));
    }
  }

  /** A macaroon minted from `rootKey` (pass another key to get one this peer refuses). */
  mintMacaroon(rootKey: Buffer): Buffer {
    return Buffer.from(macaroon.newMacaroon({ identifier: randomBytes(16), location: 'lnd', rootKey, version: 2 }).exportBinary());
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
    const server = new grpc.Server();
    server.addService(lightning, this.lightningHandlers());
    server.addService(router, {
      SendPaymentV2: this.guardStream((c) => void this.sendPayment(c)),
      TrackPaymentV2: this.guardStream((c) => this.trackPayment(c)),
      EstimateRouteFee: this.guard((req) => this.estimateRouteFee(req)),
    });
    const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(this.certPath), private_key: readFileSync(this.keyPath) }], false);
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.port}`, creds, (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
  }

  /** Stops as LND does when it shuts down: streams end with UNAVAILABLE, the state stays as its database would. */
  async stop(): Promise<void> {
    for (const s of this.subscribers)
      s.call.emit('error', Object.assign(new Error('server shutting down'), { code: grpc.status.UNAVAILABLE, details: 'server shutting down' }));
    this.subscribers.clear();
    this.server?.forceShutdown();
    this.server = undefined;
  }

  private authorize(md: grpc.Metadata): void {
    const got = md.get('macaroon');
    if (got.length !== 1) throw new Fail(grpc.status.UNKNOWN, `expected 1 macaroon, got ${got.length}`);
    if (this.partitioned.has(String(got[0]))) throw new Fail(grpc.status.UNAVAILABLE, 'failed to connect to all addresses');
    try {
      macaroon.importMacaroon(Buffer.from(String(got[0]), 'hex')).verify(this.rootKey, () => null);
    } catch (err) {
      throw new Fail(grpc.status.UNKNOWN, `verification failed: ${(err as Error).message}`);
    }
    if (this.locked) throw new Fail(grpc.status.UNIMPLEMENTED, 'unknown service lnrpc.Lightning');
  }

  private guard(f: (req: Obj) => Obj | Promise<Obj>): Unary {
    return (call, cb) => {
      void (async () => {
        this.authorize(call.metadata);
        return f(call.request);
      })().then(
        (res) => cb(null, res),
        (err: unknown) => cb(err instanceof Fail ? { code: err.code, details: err.details } : { code: grpc.status.INTERNAL, details: String(err) }),
      );
    };
  }

  private guardStream(f: Stream): Stream {
    return (call) => {
      try {
        this.authorize(call.metadata);
      } catch (err) {
        const e = err as Fail;
        call.emit('error', Object.assign(new Error(e.details), { code: e.code, details: e.details }));
        return;
      }
      f(call);
    };
  }

  private lightningHandlers(): grpc.UntypedServiceImplementation {
    return {
      GetInfo: this.guard(() => ({
        version: '0.20.0-beta commit=testpeer',
        commit_hash: '0'.repeat(40),
        identity_pubkey: this.id,
        alias: this.alias,
        color: '#3399ff',
        num_pending_channels: 0,
        num_active_channels: this.channels.length,
        num_inactive_channels: 0,
        num_peers: this.peers.size,
        block_height: 300,
        block_hash: '11'.repeat(32),
        best_header_timestamp: String(Math.floor(Date.now() / 1000)),
        synced_to_chain: this.synced,
        synced_to_graph: true,
        testnet: false,
        chains: [this.chain],
        uris: [`${this.id}@127.0.0.1:9735`],
        features: { 0: { name: 'data-loss-protect', is_required: true, is_known: true } },
      })),
      WalletBalance: this.guard(() => ({
        total_balance: String(this.onchainSat),
        confirmed_balance: String(this.onchainSat),
        unconfirmed_balance: '0',
        locked_balance: '0',
        reserved_balance_anchor_chan: '0',
        account_balance: {},
      })),
      ChannelBalance: this.guard(() => {
        const local = this.channels.reduce((a, c) => a + c.local, 0);
        const remote = this.channels.reduce((a, c) => a + c.capacity - c.local, 0);
        const amt = (sat: number): Obj => ({ sat: String(sat), msat: String(sat * 1000) });
        return {
          balance: String(local),
          pending_open_balance: '0',
          local_balance: amt(local),
          remote_balance: amt(remote),
          unsettled_local_balance: amt(0),
          unsettled_remote_balance: amt(0),
          pending_open_local_balance: amt(0),
          pending_open_remote_balance: amt(0),
        };
      }),
      ListPeers: this.guard(() => ({
        peers: [...this.peers]
          .filter((id) => this.net.nodes.get(id)?.online)
          .map((id) => ({
            pub_key: id,
            address: '127.0.0.1:9735',
            bytes_sent: '100',
            bytes_recv: '100',
            sat_sent: '0',
            sat_recv: '0',
            inbound: false,
            ping_time: '1000',
            sync_type: 'ACTIVE_SYNC',
            features: {},
            errors: [],
            flap_count: 0,
            last_flap_ns: '0',
            last_ping_payload: Buffer.alloc(0),
          })),
      })),
      ConnectPeer: this.guard((req) => {
        const addr = req.addr as { pubkey: string; host: string };
        if (addr.pubkey === this.id) throw new Fail(grpc.status.UNKNOWN, 'cannot make connection to self');
        if (this.peers.has(addr.pubkey) && this.net.nodes.get(addr.pubkey)?.online)
          throw new Fail(grpc.status.UNKNOWN, `already connected to peer: ${addr.pubkey}@${addr.host}`);
        try {
          this.net.connect(this, addr.pubkey);
        } catch {
          throw new Fail(grpc.status.UNKNOWN, `dial tcp ${addr.host}: connect: connection refused`);
        }
        return {};
      }),
      ListChannels: this.guard(() => ({ channels: this.channels.filter((c) => !c.pending).map((c) => this.channelJson(c)) })),
      PendingChannels: this.guard(() => ({
        total_limbo_balance: '0',
        pending_open_channels: this.channels
          .filter((c) => c.pending)
          .map((c) => ({
            channel: {
              remote_node_pub: c.peer,
              channel_point: `${c.txid}:${c.vout}`,
              capacity: String(c.capacity),
              local_balance: String(c.local),
              remote_balance: String(c.capacity - c.local),
              local_chan_reserve_sat: '1000',
              remote_chan_reserve_sat: '1000',
              initiator: 'INITIATOR_LOCAL',
              commitment_type: 'ANCHORS',
              num_forwarding_packages: '0',
              chan_status_flags: '',
              private: false,
              memo: '',
            },
            commit_fee: '2810',
            commit_weight: '772',
            fee_per_kw: '2500',
            funding_expiry_blocks: 2016,
            confirmations_until_active: 3,
            confirmation_height: 0,
          })),
        pending_force_closing_channels: [],
        waiting_close_channels: [],
      })),
      OpenChannel: this.guardStream((call) => {
        const req = call.request;
        const peer = Buffer.from(req.node_pubkey as Buffer).toString('hex');
        const amount = Number(req.local_funding_amount);
        if (!this.peers.has(peer) || !this.net.nodes.get(peer)?.online) return failStream(call, grpc.status.UNKNOWN, `peer ${peer} is not online`);
        if (amount > this.onchainSat)
          return failStream(
            call,
            grpc.status.UNKNOWN,
            `not enough witness outputs to create funding transaction, need ${amount / 1e8} BTC only have ${this.onchainSat / 1e8} BTC available`,
          );
        this.onchainSat -= amount;
        const txid = randomBytes(32).toString('hex');
        const ch: LChan = { pending: true, txid, vout: 0, chan_id: '0', peer, capacity: amount, local: amount };
        this.channels.push(ch);
        call.write({ chan_pending: { txid: Buffer.from(txid, 'hex').reverse(), output_index: 0 }, pending_chan_id: randomBytes(32) });
        call.end();
      }),
      CloseChannel: this.guardStream((call) => {
        const cp = call.request.channel_point as { funding_txid_bytes: Buffer; output_index: number };
        const txid = Buffer.from(cp.funding_txid_bytes).reverse().toString('hex');
        const i = this.channels.findIndex((c) => c.txid === txid && c.vout === cp.output_index);
        if (i < 0) return failStream(call, grpc.status.UNKNOWN, 'unable to find channel');
        this.onchainSat += this.channels[i]!.local;
        this.channels.splice(i, 1);
        call.write({ close_pending: { txid: randomBytes(32), output_index: 0 } });
        call.end();
      }),
      AddInvoice: this.guard((req) => {
        const msat = Number(req.value_msat) || Number(req.value) * 1000;
        const expiry = Number(req.expiry) || 86400;
        const made = makeInvoice(this.key, msat > 0 ? msat : null, String(req.memo ?? ''), expiry);
        const inv: LInv = {
          memo: String(req.memo ?? ''),
          r_preimage: Buffer.from(made.preimage, 'hex'),
          r_hash: Buffer.from(made.hash, 'hex'),
          value_msat: msat,
          creation_date: made.timestamp,
          expiry,
          payment_request: made.bolt11,
          payment_addr: Buffer.from(made.secret, 'hex'),
          add_index: ++this.addIndex,
          settle_index: 0,
          settle_date: 0,
          amt_paid_msat: 0,
          state: 'OPEN',
        };
        this.invoices.push(inv);
        this.notify(inv);
        return { r_hash: inv.r_hash, payment_request: inv.payment_request, add_index: String(inv.add_index), payment_addr: inv.payment_addr };
      }),
      LookupInvoice: this.guard((req) => {
        const hash = Buffer.from(req.r_hash as Buffer).toString('hex');
        const inv = this.invoices.find((i) => i.r_hash.toString('hex') === hash);
        if (!inv) throw new Fail(grpc.status.UNKNOWN, 'unable to locate invoice');
        return invoiceJson(inv);
      }),
      ListInvoices: this.guard((req) => {
        // Newest first (reversed, as ln-service's getInvoices asks) or forward from index_offset; pending_only.
        const max = Number(req.num_max_invoices) || 100;
        const offset = Number(req.index_offset) || Infinity;
        const pool = req.pending_only ? this.invoices.filter((i) => i.state === 'OPEN') : this.invoices;
        const page = req.reversed
          ? pool.filter((i) => i.add_index < offset).slice(-max)
          : pool.filter((i) => i.add_index > (Number(req.index_offset) || 0)).slice(0, max);
        return { invoices: page.map(invoiceJson), first_index_offset: String(page[0]?.add_index ?? 0), last_index_offset: String(page.at(-1)?.add_index ?? 0) };
      }),
      DecodePayReq: this.guard((req) => {
        let d;
        try {
          d = decodeInvoice(String(req.pay_req));
        } catch (err) {
          throw new Fail(grpc.status.UNKNOWN, `invalid payment request: ${(err as Error).message}`);
        }
        const msat = d.amountMsat ?? 0;
        return {
          destination: d.payee,
          payment_hash: d.hash,
          num_satoshis: String(Math.floor(msat / 1000)),
          timestamp: String(d.timestamp),
          expiry: String(d.expiry),
          description: d.description,
          description_hash: '',
          fallback_addr: '',
          cltv_expiry: '18',
          route_hints: [],
          payment_addr: Buffer.from(d.secret, 'hex'),
          num_msat: String(msat),
          features: {},
          blinded_paths: [],
        };
      }),
      SubscribeInvoices: this.guardStream((call) => {
        const addAfter = Number(call.request.add_index ?? 0);
        const settleAfter = Number(call.request.settle_index ?? 0);
        const attach = (): void => {
          if (call.cancelled || call.destroyed) return;
          // LND replays adds after add_index (current state) and then settlements after settle_index (each only
          // when non-zero), then streams.
          if (addAfter > 0) for (const i of this.invoices.filter((x) => x.add_index > addAfter)) call.write(invoiceJson(i));
          if (settleAfter > 0)
            for (const i of this.invoices.filter((x) => x.settle_index > settleAfter).sort((a, b) => a.settle_index - b.settle_index))
              call.write(invoiceJson(i));
          const sub = { call, addIndex: addAfter, settleIndex: settleAfter, macaroon: String(call.metadata.get('macaroon')[0]) };
          this.subscribers.add(sub);
          call.on('cancelled', () => this.subscribers.delete(sub));
        };
        if (this.subscribeDelayMs > 0) setTimeout(attach, this.subscribeDelayMs);
        else attach();
      }),
    };
  }

  /** Confirms every pending channel's funding, as mining would: each gets a short channel id and opens. */
  confirmChannels(): void {
    for (const c of this.channels.filter((x) => x.pending)) {
      c.pending = false;
      c.chan_id = String((300n << 40n) | (BigInt(this.channels.indexOf(c) + 1) << 16n));
    }
  }

  private channelJson(c: LChan): Obj {
    const constraints = {
      csv_delay: 144,
      chan_reserve_sat: '1000',
      dust_limit_sat: '354',
      max_pending_amt_msat: String(c.capacity * 990),
      min_htlc_msat: '1',
      max_accepted_htlcs: 483,
    };
    return {
      active: this.net.nodes.get(c.peer)?.online === true,
      remote_pubkey: c.peer,
      channel_point: `${c.txid}:${c.vout}`,
      chan_id: c.chan_id,
      capacity: String(c.capacity),
      local_balance: String(c.local),
      remote_balance: String(c.capacity - c.local),
      commit_fee: '0',
      commit_weight: '0',
      fee_per_kw: '253',
      unsettled_balance: '0',
      total_satoshis_sent: '0',
      total_satoshis_received: '0',
      num_updates: '0',
      pending_htlcs: [],
      csv_delay: 144,
      private: false,
      initiator: true,
      chan_status_flags: 'ChanStatusDefault',
      local_chan_reserve_sat: '1000',
      remote_chan_reserve_sat: '1000',
      static_remote_key: true,
      commitment_type: 'ANCHORS',
      lifetime: '10',
      uptime: '10',
      close_address: '',
      push_amount_sat: '0',
      thaw_height: 0,
      local_constraints: constraints,
      remote_constraints: constraints,
      alias_scids: [],
      zero_conf: false,
      zero_conf_confirmed_scid: '0',
      peer_alias: '',
      peer_scid_alias: '0',
      memo: '',
    };
  }

  /** A live event, filtered per client as LND's dispatchToClients does. */
  private notify(inv: LInv): void {
    for (const s of this.subscribers) {
      if (inv.state === 'SETTLED' && s.settleIndex >= inv.settle_index) continue;
      if (inv.state === 'OPEN' && s.addIndex >= inv.add_index) continue;
      s.call.write(invoiceJson(inv));
      if (inv.state === 'SETTLED') s.settleIndex = inv.settle_index;
      if (inv.state === 'OPEN') s.addIndex = inv.add_index;
    }
  }

  receive(hash: string, amountMsat: number): string {
    const inv = this.invoices.find((i) => i.r_hash.toString('hex') === hash);
    if (!inv || inv.state === 'CANCELED') throw new PayFailure('unknown_hash');
    if (inv.state === 'SETTLED') throw new PayFailure('already_paid');
    inv.state = 'SETTLED';
    inv.settle_index = ++this.settleIndex;
    inv.settle_date = Math.floor(Date.now() / 1000);
    inv.amt_paid_msat = amountMsat;
    this.onSettle?.(hash);
    this.notify(inv);
    return inv.r_preimage.toString('hex');
  }

  /** Cancels an open invoice, as `lncli cancelinvoice` does. */
  cancel(hash: string): void {
    const inv = this.invoices.find((i) => i.r_hash.toString('hex') === hash && i.state === 'OPEN');
    if (!inv) throw new Error(`no open invoice ${hash}`);
    inv.state = 'CANCELED';
    this.notify(inv);
  }

  private async sendPayment(call: grpc.ServerWritableStream<Obj, Obj>): Promise<void> {
    const req = call.request;
    let d;
    try {
      d = decodeInvoice(String(req.payment_request));
    } catch (err) {
      return failStream(call, grpc.status.UNKNOWN, `invalid payment request: ${(err as Error).message}`);
    }
    const amount = d.amountMsat ?? Number(req.amt_msat ?? 0);
    const fee = feeFor(amount);
    const created = String(BigInt(Date.now()) * 1_000_000n);
    const base = {
      payment_hash: d.hash,
      value: String(Math.floor(amount / 1000)),
      creation_date: String(Math.floor(Date.now() / 1000)),
      path: [],
      fee: '0',
      value_sat: String(Math.floor(amount / 1000)),
      value_msat: String(amount),
      payment_request: String(req.payment_request),
      fee_sat: '0',
      fee_msat: '0',
      creation_time_ns: created,
      payment_index: String(this.payments.size + 1),
      first_hop_custom_records: {},
    };
    const send = (msg: Obj, final: boolean): void => {
      this.payments.set(d.hash, msg);
      if (call.writable) {
        call.write(msg);
        if (final) call.end();
      }
    };
    const failed = (reason: string): void => send({ ...base, status: 'FAILED', htlcs: [], payment_preimage: '0'.repeat(64), failure_reason: reason }, true);
    const limit =
      req.fee_limit_msat !== undefined && req.fee_limit_msat !== '0'
        ? Number(req.fee_limit_msat)
        : Number(req.fee_limit_sat ?? 0) > 0
          ? Number(req.fee_limit_sat) * 1000
          : Infinity;
    if (fee > limit) return failed('FAILURE_REASON_NO_ROUTE');
    const hop = {
      chan_id: '329853488332800',
      chan_capacity: '1000000',
      amt_to_forward: String(Math.floor(amount / 1000)),
      fee: '0',
      expiry: 318,
      amt_to_forward_msat: String(amount),
      fee_msat: String(fee),
      pub_key: d.payee,
      tlv_payload: true,
      custom_records: {},
    };
    const route = {
      total_time_lock: 318,
      total_fees: String(Math.floor(fee / 1000)),
      total_amt: String(Math.floor((amount + fee) / 1000)),
      hops: [hop],
      total_fees_msat: String(fee),
      total_amt_msat: String(amount + fee),
      first_hop_amount_msat: String(amount + fee),
    };
    send(
      {
        ...base,
        status: 'IN_FLIGHT',
        fee_msat: String(fee),
        payment_preimage: '',
        failure_reason: 'FAILURE_REASON_NONE',
        htlcs: [{ attempt_id: '1', status: 'IN_FLIGHT', route, attempt_time_ns: created, resolve_time_ns: created }],
      },
      false,
    );
    if (this.holdPayments) await new Promise<void>((r) => this.held.push(r));
    let preimage: string;
    try {
      preimage = this.net.reach(this, d.payee).receive(d.hash, amount);
    } catch (err) {
      const kind = (err as PayFailure).kind;
      return failed(kind === 'no_route' ? 'FAILURE_REASON_NO_ROUTE' : 'FAILURE_REASON_INCORRECT_PAYMENT_DETAILS');
    }
    const now = String(BigInt(Date.now()) * 1_000_000n);
    send(
      {
        ...base,
        status: 'SUCCEEDED',
        fee_msat: String(fee),
        fee_sat: String(Math.floor(fee / 1000)),
        payment_preimage: preimage,
        failure_reason: 'FAILURE_REASON_NONE',
        htlcs: [{ attempt_id: '1', status: 'SUCCEEDED', route, attempt_time_ns: created, resolve_time_ns: now, preimage: Buffer.from(preimage, 'hex') }],
      },
      true,
    );
  }

  /** EstimateRouteFee for a payment request: the network's flat fee when the payee is reachable. */
  private estimateRouteFee(req: Obj): Obj {
    let d;
    try {
      d = decodeInvoice(String(req.payment_request));
    } catch (err) {
      throw new Fail(grpc.status.UNKNOWN, `invalid payment request: ${(err as Error).message}`);
    }
    try {
      this.net.reach(this, d.payee);
    } catch {
      return { routing_fee_msat: '0', time_lock_delay: '0', failure_reason: 'FAILURE_REASON_NO_ROUTE' };
    }
    return { routing_fee_msat: String(feeFor(d.amountMsat ?? 0)), time_lock_delay: '58', failure_reason: 'FAILURE_REASON_NONE' };
  }

  /** TrackPaymentV2: the payment's latest state; LND answers NOT_FOUND for a hash it never paid. */
  private trackPayment(call: grpc.ServerWritableStream<Obj, Obj>): void {
    const msg = this.payments.get(Buffer.from(call.request.payment_hash as Buffer).toString('hex'));
    if (!msg) return failStream(call, grpc.status.NOT_FOUND, "payment isn't initiated");
    call.write(msg);
    call.end();
  }

  release(): void {
    this.holdPayments = false;
    for (const r of this.held.splice(0)) r();
  }
}

function invoiceJson(i: LInv): Obj {
  return {
    memo: i.memo,
    r_preimage: i.r_preimage,
    r_hash: i.r_hash,
    value: String(Math.floor(i.value_msat / 1000)),
    value_msat: String(i.value_msat),
    settled: i.state === 'SETTLED',
    creation_date: String(i.creation_date),
    settle_date: String(i.settle_date),
    payment_request: i.payment_request,
    description_hash: Buffer.alloc(0),
    expiry: String(i.expiry),
    fallback_addr: '',
    cltv_expiry: '18',
    route_hints: [],
    private: false,
    add_index: String(i.add_index),
    settle_index: String(i.settle_index),
    amt_paid: String(Math.floor(i.amt_paid_msat / 1000)),
    amt_paid_sat: String(Math.floor(i.amt_paid_msat / 1000)),
    amt_paid_msat: String(i.amt_paid_msat),
    state: i.state,
    htlcs: [],
    features: {},
    is_keysend: false,
    payment_addr: i.payment_addr,
    is_amp: false,
    amp_invoice_state: {},
  };
}

function failStream(call: grpc.ServerWritableStream<Obj, Obj>, code: grpc.status, details: string): void {
  call.emit('error', Object.assign(new Error(details), { code, details }));
}
