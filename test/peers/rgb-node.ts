// An RGB Lightning Node test peer: its HTTP API as RGB-Tools/rgb-lightning-node's openapi.yaml (commit 8991e67)
// defines it, for the endpoints anyad uses (networkinfo, nodeinfo, unlock, lock, listassets, assetbalance,
// issueasset{nia,cfa,uda}, rgbinvoice, decodergbinvoice, sendasset, refreshtransfers, listtransfers, failtransfers,
// createutxos, estimatefee, lninvoice). Requests are validated against the request schemas, with the fields the
// node's Rust request structs (src/routes.rs) require: a missing required field or a wrong type is refused as axum's
// Json extractor does (422, name JsonExtractorRejection), a missing JSON content type with 415. Errors are the
// node's APIErrorResponse bodies ({error, code, name}) with the HTTP status src/error.rs gives each variant. With a
// token set, every call needs "Authorization: Bearer <token>" (src/auth.rs), else 401.
//
// Transfers move through their states as rgb-lib documents them: a receive starts WaitingCounterparty; a send posts
// its consignment to the RGB proxy and waits (WaitingCounterparty) until the recipient accepts it on its refresh
// (ACK), then the sender's refresh broadcasts the transaction (WaitingConfirmations; at once with donation); both
// sides settle on a refresh once the transaction has min_confirmations; an expired receive fails on refresh. The
// BTC side is real: createutxos and sendasset build, sign and broadcast real transactions on the shared regtest
// chain (bcoin), and confirmations are the chain's.
//
// What it does NOT prove: RGB validation (the consignment here is the asset, amount and txid, not a real RGB
// consignment with its state transitions, so no client-side validation, no schema scripts, no proof of the
// commitment), real asset and recipient id derivation (random ids in the real formats), the node's wallet sync
// (funds are credited by the test), RGB over Lightning (lninvoice makes a real BOLT11 without the RGB fields), or
// the proxy server's JSON-RPC protocol (two peers share the proxy in memory).

import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import * as bitcoin from 'bitcoinjs-lib';
import { ECPairFactory } from 'ecpair';
import * as ecc from 'tiny-secp256k1';
import { makeInvoice } from './ln-network.js';

const ECPair = ECPairFactory(ecc);
const NET = bitcoin.networks.regtest;

// ---- request schemas (openapi.yaml components/schemas; required-ness from the Rust structs) ----
const Opt = <T extends TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));
const U8 = Type.Integer({ minimum: 0, maximum: 255 });
const U64 = Type.Integer({ minimum: 0 });
const AssetSchemaT = Type.Union([Type.Literal('Nia'), Type.Literal('Uda'), Type.Literal('Cfa')]);
const AssignmentFungible = Type.Object({ type: Type.Literal('Fungible'), value: U64 });
const REQUESTS: Record<string, TSchema | undefined> = {
  '/unlock': Type.Object({
    password: Type.String(),
    bitcoind_rpc_username: Type.String(),
    bitcoind_rpc_password: Type.String(),
    bitcoind_rpc_host: Type.String(),
    bitcoind_rpc_port: Type.Integer({ minimum: 0, maximum: 65535 }),
    indexer_url: Opt(Type.String()),
    proxy_endpoint: Opt(Type.String()),
    announce_addresses: Type.Array(Type.String()),
    announce_alias: Opt(Type.String()),
  }),
  '/listassets': Type.Object({ filter_asset_schemas: Type.Array(AssetSchemaT) }),
  '/assetbalance': Type.Object({ asset_id: Type.String() }),
  '/issueassetnia': Type.Object({ amounts: Type.Array(U64), ticker: Type.String(), name: Type.String(), precision: U8 }),
  '/issueassetcfa': Type.Object({ amounts: Type.Array(U64), name: Type.String(), details: Opt(Type.String()), precision: U8, file_digest: Opt(Type.String()) }),
  '/issueassetuda': Type.Object({
    ticker: Type.String(),
    name: Type.String(),
    details: Opt(Type.String()),
    precision: U8,
    media_file_digest: Opt(Type.String()),
    attachments_file_digests: Type.Array(Type.String()),
  }),
  '/rgbinvoice': Type.Object({
    min_confirmations: U8,
    asset_id: Opt(Type.String()),
    duration_seconds: Opt(Type.Integer({ minimum: 0 })),
    witness: Type.Optional(Type.Boolean()),
  }),
  '/decodergbinvoice': Type.Object({ invoice: Type.String() }),
  '/sendasset': Type.Object({
    asset_id: Type.String(),
    assignment: AssignmentFungible,
    recipient_id: Type.String(),
    donation: Type.Boolean(),
    fee_rate: Type.Number(),
    min_confirmations: U8,
    transport_endpoints: Type.Array(Type.String()),
    skip_sync: Type.Boolean(),
  }),
  '/refreshtransfers': Type.Object({ skip_sync: Type.Boolean() }),
  '/listtransfers': Type.Object({ asset_id: Type.String() }),
  '/failtransfers': Type.Object({ batch_transfer_idx: Opt(Type.Integer()), no_asset_only: Type.Boolean(), skip_sync: Type.Boolean() }),
  '/createutxos': Type.Object({
    up_to: Type.Boolean(),
    num: Opt(U8),
    size: Opt(Type.Integer({ minimum: 0 })),
    fee_rate: Type.Number(),
    skip_sync: Type.Boolean(),
  }),
  '/estimatefee': Type.Object({ blocks: Type.Integer({ minimum: 0, maximum: 65535 }) }),
  '/lninvoice': Type.Object({ amt_msat: Opt(U64), expiry_sec: Type.Integer({ minimum: 0 }), asset_id: Opt(Type.String()), asset_amount: Opt(U64) }),
};
const CHECKS = new Map<string, TypeCheck<TSchema>>(Object.entries(REQUESTS).map(([k, v]) => [k, TypeCompiler.Compile(v!)]));
const GET_ROUTES = new Set(['/networkinfo', '/nodeinfo']);
const NO_BODY_POSTS = new Set(['/lock']);

/** An APIError with the HTTP status src/error.rs maps it to. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}
const E = {
  locked: () => new ApiError(403, 'LockedNode', 'Node is locked (hint: call unlock)'),
  unlocked: () => new ApiError(403, 'UnlockedNode', 'Node is unlocked (hint: call lock)'),
  wrongPassword: () => new ApiError(401, 'WrongPassword', 'The provided password is incorrect'),
  unknownContract: () => new ApiError(403, 'UnknownContractId', 'Unknown RGB contract ID'),
  invalidAssetId: (id: string) => new ApiError(400, 'InvalidAssetID', `Invalid asset ID: ${id}`),
  noUtxos: () => new ApiError(403, 'NoAvailableUtxos', 'No uncolored UTXOs are available (hint: call createutxos)'),
  funds: (n: number) => new ApiError(403, 'InsufficientFunds', `Not enough funds, get an address and send ${n} sats there`),
  assets: () => new ApiError(403, 'InsufficientAssets', 'Not enough assets'),
  recipient: () => new ApiError(400, 'InvalidRecipientID', 'The provided recipient ID is neither a blinded UTXO or a script'),
  recipientNet: () => new ApiError(400, 'InvalidRecipientNetwork', "The provided recipient ID is for a different network than the wallet's one"),
  recipientUsed: () => new ApiError(403, 'RecipientIDAlreadyUsed', 'Recipient ID already used'),
  invoice: (why: string) => new ApiError(400, 'InvalidInvoice', `Invalid invoice: ${why}`),
  amount: (why: string) => new ApiError(400, 'InvalidAmount', `Invalid amount: ${why}`),
  feeRate: (why: string) => new ApiError(400, 'InvalidFeeRate', `Invalid fee rate: ${why}`),
  ticker: (why: string) => new ApiError(400, 'InvalidTicker', `Invalid ticker: ${why}`),
  batch: () => new ApiError(403, 'BatchTransferNotFound', 'Batch transfer not found'),
  cannotFail: () => new ApiError(403, 'CannotFailBatchTransfer', 'Batch transfer cannot be set to failed status'),
  allocations: () => new ApiError(403, 'AllocationsAlreadyAvailable', 'Allocations already available'),
};

/** baid64 as RGB writes ids: URL-safe base64 with '~' for '-', no padding, in dash-separated groups. */
function baid64(bytes: Buffer): string {
  const s = bytes.toString('base64url').replaceAll('-', '~');
  const groups = [s.slice(0, 8)];
  for (let i = 8; i < s.length; i += 7) groups.push(s.slice(i, i + 7));
  return groups.join('-');
}

/** The RGB proxy (transport) two peers share: consignments by recipient id, with the recipient's ACK or NACK. */
export class RgbProxy {
  readonly consignments = new Map<string, Consignment>();
}
interface Consignment {
  asset: AssetRec;
  amount: number;
  txid: string;
  ack: boolean | null;
}

/** What the peer needs of the chain: broadcast and confirmations (bcoin's RPC). */
export interface ChainAccess {
  rpc<T = unknown>(method: string, ...params: unknown[]): Promise<T>;
  send(hex: string): Promise<string>;
}

interface AssetRec {
  asset_id: string;
  schema: 'Nia' | 'Cfa' | 'Uda';
  ticker: string | null;
  name: string;
  details: string | null;
  precision: number;
  issued_supply: number;
  timestamp: number;
  added_at: number;
}
interface TransferRec {
  idx: number;
  asset_id: string | null;
  created_at: number;
  updated_at: number;
  status: 'WaitingCounterparty' | 'WaitingConfirmations' | 'Settled' | 'Failed';
  requested_assignment: { type: string; value?: number } | null;
  assignments: Array<{ type: 'Fungible'; value: number }>;
  kind: 'Issuance' | 'ReceiveBlind' | 'ReceiveWitness' | 'Send';
  txid: string | null;
  recipient_id: string | null;
  receive_utxo: string | null;
  change_utxo: string | null;
  expiration: number | null;
  transport_endpoints: Array<{ endpoint: string; transport_type: 'JsonRpc'; used: boolean }>;
  min_confirmations: number;
  /** A send's transaction until it is broadcast, its change, and the output it spends. */
  txhex?: string;
  txchange?: number;
  input?: Utxo;
}
interface Utxo {
  txid: string;
  vout: number;
  value: number;
  colorable: boolean;
  spent: boolean;
}

const now = (): number => Math.floor(Date.now() / 1000);

export class RgbNodePeer {
  readonly key = ECPair.makeRandom({ network: NET });
  readonly pubkey = Buffer.from(this.key.publicKey).toString('hex');
  readonly address: string;
  readonly script: Uint8Array;
  private locked = true;
  private server: Server | undefined;
  private readonly assets = new Map<string, AssetRec>();
  private readonly transfers: TransferRec[] = [];
  private readonly utxos: Utxo[] = [];
  /** Every request the peer answered: [path, status], for tests that check what reached it. */
  readonly seen: Array<[string, number]> = [];
  port = 0;

  constructor(
    private readonly opts: {
      proxy: RgbProxy;
      chain: ChainAccess;
      password: string;
      token?: string;
      network?: 'Regtest' | 'Testnet' | 'Mainnet' | 'Signet';
      proxyUrl?: string;
    },
  ) {
    const pay = bitcoin.payments.p2wpkh({ pubkey: this.key.publicKey, network: NET });
    this.address = pay.address!;
    this.script = pay.output!;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens (again, on the same port after a stop); a (re)started node is locked, as the real one. */
  async start(): Promise<string> {
    this.locked = true;
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
    this.server = undefined;
  }

  /** The test pays the node wallet (a real output on the chain); the real node would find it syncing. */
  credit(utxo: { txid: string; vout: number; value: bigint }): void {
    this.utxos.push({ txid: utxo.txid, vout: utxo.vout, value: Number(utxo.value), colorable: false, spent: false });
  }

  /** Unlocks without the API (for tests that start from an unlocked node). */
  unlockDirect(): void {
    this.locked = false;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: unknown): void => {
      this.seen.push([path, status]);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    try {
      if (this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`)
        return send(401, { error: 'Unauthorized', code: 401, name: 'Unauthorized' });
      const isGet = GET_ROUTES.has(path);
      if (!isGet && !CHECKS.has(path) && !NO_BODY_POSTS.has(path)) return send(404, {});
      if ((isGet ? 'GET' : 'POST') !== req.method) return send(405, {});
      let body: Record<string, unknown> = {};
      const check = CHECKS.get(path);
      if (check) {
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
          return send(415, { error: 'Expected request with `Content-Type: application/json`', code: 415, name: 'JsonExtractorRejection' });
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch (e) {
          return send(400, { error: `Failed to parse the request body as JSON: ${(e as Error).message}`, code: 400, name: 'JsonExtractorRejection' });
        }
        if (!check.Check(body)) {
          const first = [...check.Errors(body)][0]!;
          return send(422, {
            error: `Failed to deserialize the JSON body into the target type: ${first.path || 'body'}: ${first.message}`,
            code: 422,
            name: 'JsonExtractorRejection',
          });
        }
      }
      send(200, await this.route(path, body));
    } catch (err) {
      if (err instanceof ApiError) return send(err.status, { error: err.message, code: err.status, name: err.kind });
      send(500, { error: `Unexpected error: ${(err as Error).message}`, code: 500, name: 'Unexpected' });
    }
  }

  private route(path: string, b: Record<string, unknown>): unknown {
    if (path === '/unlock') {
      if (!this.locked) throw E.unlocked();
      if (b.password !== this.opts.password) throw E.wrongPassword();
      this.locked = false;
      return {};
    }
    if (this.locked) throw E.locked();
    switch (path) {
      case '/lock':
        this.locked = true;
        return {};
      case '/networkinfo':
        return this.networkInfo();
      case '/nodeinfo':
        return this.nodeInfo();
      case '/listassets':
        return this.listAssets(b.filter_asset_schemas as string[]);
      case '/assetbalance':
        return this.balance(this.asset(b.asset_id as string).asset_id);
      case '/issueassetnia':
      case '/issueassetcfa':
      case '/issueassetuda':
        return this.issue(path, b);
      case '/rgbinvoice':
        return this.invoice(b);
      case '/decodergbinvoice':
        return this.decode(b.invoice as string);
      case '/sendasset':
        return this.sendAsset(b);
      case '/refreshtransfers':
        return this.refresh();
      case '/listtransfers':
        this.asset(b.asset_id as string);
        return { transfers: this.transfers.filter((t) => t.asset_id === b.asset_id).map(publicTransfer) };
      case '/failtransfers':
        return this.fail(b);
      case '/createutxos':
        return this.createUtxos(b);
      case '/estimatefee':
        return { fee_rate: 1.5 + (b.blocks as number) / 100 };
      case '/lninvoice':
        return { invoice: makeInvoice(Buffer.from(this.key.privateKey!), (b.amt_msat as number | null) ?? null, 'rgb', b.expiry_sec as number).bolt11 };
    }
    throw new Error(`no route ${path}`);
  }

  private async networkInfo(): Promise<unknown> {
    return { network: this.opts.network ?? 'Regtest', height: await this.opts.chain.rpc<number>('getblockcount') };
  }

  private nodeInfo(): unknown {
    return {
      pubkey: this.pubkey,
      num_channels: 0,
      num_usable_channels: 0,
      local_balance_sat: 0,
      eventual_close_fees_sat: 0,
      pending_outbound_payments_sat: 0,
      num_peers: 0,
      account_xpub_vanilla: 'tpub',
      account_xpub_colored: 'tpub',
      max_media_upload_size_mb: 5,
      rgb_htlc_min_msat: 3_000_000,
      rgb_channel_capacity_min_sat: 30_010,
      channel_capacity_min_sat: 5506,
      channel_capacity_max_sat: 16_777_215,
      channel_asset_min_amount: 1,
      channel_asset_max_amount: Number.MAX_SAFE_INTEGER,
      network_nodes: 0,
      network_channels: 0,
    };
  }

  private asset(id: string): AssetRec {
    if (!/^rgb:[0-9A-Za-z_~-]+$/.test(id)) throw E.invalidAssetId(id);
    const a = this.assets.get(id);
    if (!a) throw E.unknownContract();
    return a;
  }

  private balance(assetId: string): { settled: number; future: number; spendable: number; offchain_outbound: number; offchain_inbound: number } {
    let settled = 0;
    let future = 0;
    let spendable = 0;
    for (const t of this.transfers) {
      if (t.asset_id !== assetId || t.status === 'Failed') continue;
      const amt = t.assignments.reduce((s, a) => s + a.value, 0);
      const out = t.kind === 'Send';
      if (t.status === 'Settled') {
        settled += out ? -amt : amt;
        future += out ? -amt : amt;
        spendable += out ? -amt : amt;
      } else if (out) {
        future -= amt;
        spendable -= amt;
      } else if (t.status === 'WaitingConfirmations') future += amt;
    }
    return { settled, future, spendable, offchain_outbound: 0, offchain_inbound: 0 };
  }

  private view(a: AssetRec): Record<string, unknown> {
    return {
      asset_id: a.asset_id,
      ...(a.schema === 'Cfa' ? {} : { ticker: a.ticker }),
      name: a.name,
      details: a.details,
      precision: a.precision,
      issued_supply: a.issued_supply,
      timestamp: a.timestamp,
      added_at: a.added_at,
      balance: this.balance(a.asset_id),
      ...(a.schema === 'Uda' ? { token: null } : { media: null }),
    };
  }

  private listAssets(filter: string[]): unknown {
    const want = (s: string): boolean => filter.length === 0 || filter.includes(s);
    const of = (s: AssetRec['schema']): unknown[] | null => (want(s) ? [...this.assets.values()].filter((a) => a.schema === s).map((a) => this.view(a)) : null);
    return { nia: of('Nia'), uda: of('Uda'), cfa: of('Cfa') };
  }

  private freeColorable(): Utxo | undefined {
    return this.utxos.find((u) => u.colorable && !u.spent);
  }

  private nextIdx(): number {
    return this.transfers.reduce((m, t) => Math.max(m, t.idx), 0) + 1;
  }

  private issue(path: string, b: Record<string, unknown>): unknown {
    const schemas: Record<string, AssetRec['schema']> = { '/issueassetnia': 'Nia', '/issueassetcfa': 'Cfa', '/issueassetuda': 'Uda' };
    const schema = schemas[path]!;
    const amounts = schema === 'Uda' ? [1] : (b.amounts as number[]);
    if (amounts.length === 0) throw E.amount('issuance request with no provided amounts');
    if (amounts.some((a) => a === 0)) throw E.amount('0');
    if (schema !== 'Cfa' && !/^[A-Z][A-Z0-9]{0,7}$/.test(b.ticker as string)) throw E.ticker('ticker must be 1 to 8 capitals and digits');
    if (!this.freeColorable()) throw E.noUtxos();
    const t = now();
    const a: AssetRec = {
      asset_id: `rgb:${baid64(randomBytes(32))}`,
      schema,
      ticker: schema === 'Cfa' ? null : (b.ticker as string),
      name: b.name as string,
      details: (b.details as string | null | undefined) ?? null,
      precision: b.precision as number,
      issued_supply: amounts.reduce((s, x) => s + x, 0),
      timestamp: t,
      added_at: t,
    };
    this.assets.set(a.asset_id, a);
    this.transfers.push({
      idx: this.nextIdx(),
      asset_id: a.asset_id,
      created_at: t,
      updated_at: t,
      status: 'Settled',
      requested_assignment: { type: 'Fungible', value: a.issued_supply },
      assignments: amounts.map((value) => ({ type: 'Fungible' as const, value })),
      kind: 'Issuance',
      txid: null,
      recipient_id: null,
      receive_utxo: null,
      change_utxo: null,
      expiration: null,
      transport_endpoints: [],
      min_confirmations: 0,
    });
    return { asset: this.view(a) };
  }

  private prefix(): string {
    return { Regtest: 'bcrt', Testnet: 'tb', Signet: 'tb', Mainnet: 'bc' }[this.opts.network ?? 'Regtest'];
  }

  private invoice(b: Record<string, unknown>): unknown {
    const assetId = (b.asset_id as string | null | undefined) ?? null;
    if (assetId && !/^rgb:[0-9A-Za-z_~-]+$/.test(assetId)) throw E.invalidAssetId(assetId);
    const asset = assetId ? this.assets.get(assetId) : undefined;
    const utxo = this.freeColorable();
    if (!utxo) throw E.noUtxos();
    const witness = b.witness === true;
    const recipient = `${this.prefix()}:${witness ? 'wvout' : 'utxob'}:${baid64(createHash('sha256').update(`${utxo.txid}:${utxo.vout}`).update(randomBytes(16)).digest())}`;
    const duration = (b.duration_seconds as number | null | undefined) ?? 86_400;
    const expiry = now() + duration;
    const amount = (b.assignment as { value?: number } | undefined)?.value;
    const endpoint = this.opts.proxyUrl ?? 'rpc://127.0.0.1:3000/json-rpc';
    const invoice = `rgb:${assetId ? assetId.slice(4) : '~'}/${asset?.schema ?? '~'}/${amount ?? '~'}/${recipient}?expiry=${expiry}&endpoints=${endpoint}`;
    const t = now();
    const idx = this.nextIdx();
    this.transfers.push({
      idx,
      asset_id: assetId,
      created_at: t,
      updated_at: t,
      status: 'WaitingCounterparty',
      requested_assignment: amount ? { type: 'Fungible', value: amount } : { type: 'Any' },
      assignments: [],
      kind: witness ? 'ReceiveWitness' : 'ReceiveBlind',
      txid: null,
      recipient_id: recipient,
      receive_utxo: `${utxo.txid}:${utxo.vout}`,
      change_utxo: null,
      expiration: expiry,
      transport_endpoints: [{ endpoint, transport_type: 'JsonRpc', used: false }],
      min_confirmations: b.min_confirmations as number,
    });
    return { recipient_id: recipient, invoice, expiration_timestamp: expiry, batch_transfer_idx: idx };
  }

  private decode(invoice: string): unknown {
    const m = /^rgb:([^/?]+)\/([^/?]+)\/([^/?]+)\/([^/?]+)\?expiry=(\d+)&endpoints=(\S+)$/.exec(invoice);
    if (!m) throw E.invoice('cannot parse');
    const [, contract, schema, amount, recipient, expiry, endpoints] = m;
    const net = /^(bc|tb|bcrt):/.exec(recipient!)?.[1];
    if (!net) throw E.invoice('bad recipient');
    return {
      recipient_id: recipient,
      recipient_type: recipient!.includes(':wvout:') ? 'Witness' : 'Blind',
      asset_schema: schema === '~' ? null : schema,
      asset_id: contract === '~' ? null : `rgb:${contract}`,
      assignment: amount === '~' ? { type: 'Any' } : { type: 'Fungible', value: Number(amount) },
      network: { bc: 'Mainnet', tb: 'Testnet', bcrt: 'Regtest' }[net],
      expiration_timestamp: Number(expiry),
      transport_endpoints: endpoints!.split(','),
    };
  }

  /** A real transaction spending one of the node's outputs: an OP_RETURN commitment and the change back to itself. */
  private buildTx(input: Utxo, commitment: Buffer, feeRate: number): { hex: string; txid: string; change: number } {
    const fee = Math.ceil(feeRate * 153);
    if (input.value - fee < 546) throw E.funds(fee + 546 - input.value);
    const psbt = new bitcoin.Psbt({ network: NET });
    psbt.addInput({ hash: input.txid, index: input.vout, witnessUtxo: { script: this.script, value: BigInt(input.value) } });
    psbt.addOutput({ script: bitcoin.payments.embed({ data: [commitment] }).output!, value: 0n });
    psbt.addOutput({ address: this.address, value: BigInt(input.value - fee) });
    psbt.signInput(0, this.key);
    psbt.finalizeAllInputs();
    const tx = psbt.extractTransaction();
    return { hex: tx.toHex(), txid: tx.getId(), change: input.value - fee };
  }

  private sendAsset(b: Record<string, unknown>): unknown {
    const asset = this.asset(b.asset_id as string);
    const recipient = b.recipient_id as string;
    const net = /^(bc|tb|bcrt):(utxob|wvout):[0-9A-Za-z_~-]+$/.exec(recipient)?.[1];
    if (!net) throw E.recipient();
    if (net !== this.prefix()) throw E.recipientNet();
    const amount = (b.assignment as { value: number }).value;
    if (amount === 0) throw E.amount('0');
    if ((b.fee_rate as number) < 1) throw E.feeRate('must be at least 1');
    if (this.opts.proxy.consignments.has(recipient)) throw E.recipientUsed();
    if (this.balance(asset.asset_id).spendable < amount) throw E.assets();
    const input = this.freeColorable();
    if (!input) throw E.noUtxos();
    const commitment = createHash('sha256').update(`${asset.asset_id}|${amount}|${recipient}`).digest();
    const tx = this.buildTx(input, commitment, b.fee_rate as number);
    input.spent = true;
    const donation = b.donation as boolean;
    const t = now();
    this.transfers.push({
      idx: this.nextIdx(),
      asset_id: asset.asset_id,
      created_at: t,
      updated_at: t,
      status: donation ? 'WaitingConfirmations' : 'WaitingCounterparty',
      requested_assignment: null,
      assignments: [{ type: 'Fungible', value: amount }],
      kind: 'Send',
      txid: tx.txid,
      recipient_id: recipient,
      receive_utxo: null,
      change_utxo: `${tx.txid}:1`,
      expiration: t + 86_400,
      transport_endpoints: (b.transport_endpoints as string[]).map((endpoint) => ({ endpoint, transport_type: 'JsonRpc' as const, used: true })),
      min_confirmations: b.min_confirmations as number,
      txhex: tx.hex,
      txchange: tx.change,
      input,
    });
    this.opts.proxy.consignments.set(recipient, { asset, amount, txid: tx.txid, ack: null });
    if (donation) return this.opts.chain.send(tx.hex).then(() => this.afterBroadcast(tx.txid, tx.change));
    return { txid: tx.txid };
  }

  private afterBroadcast(txid: string, change: number): { txid: string } {
    this.utxos.push({ txid, vout: 1, value: change, colorable: true, spent: false });
    return { txid };
  }

  private async confirmations(txid: string): Promise<number> {
    try {
      const tx = await this.opts.chain.rpc<{ confirmations?: number }>('getrawtransaction', txid, true);
      return tx.confirmations ?? 0;
    } catch {
      return 0;
    }
  }

  private async refresh(): Promise<unknown> {
    for (const t of this.transfers) {
      const before = t.status;
      if (t.status === 'WaitingCounterparty' && t.kind !== 'Send') {
        const c = t.recipient_id ? this.opts.proxy.consignments.get(t.recipient_id) : undefined;
        if (c && c.ack === null) {
          const wanted = t.requested_assignment?.value;
          if ((t.asset_id && t.asset_id !== c.asset.asset_id) || (wanted !== undefined && wanted !== c.amount)) {
            c.ack = false;
            t.status = 'Failed';
          } else {
            c.ack = true;
            if (!this.assets.has(c.asset.asset_id)) this.assets.set(c.asset.asset_id, { ...c.asset, added_at: now() });
            t.asset_id = c.asset.asset_id;
            t.txid = c.txid;
            t.assignments = [{ type: 'Fungible', value: c.amount }];
            t.status = 'WaitingConfirmations';
          }
        } else if (!c && t.expiration !== null && t.expiration < now()) t.status = 'Failed';
      } else if (t.status === 'WaitingCounterparty' && t.kind === 'Send') {
        const c = this.opts.proxy.consignments.get(t.recipient_id!);
        if (c?.ack === true) {
          await this.opts.chain.send(t.txhex!);
          this.afterBroadcast(t.txid!, t.txchange!);
          t.status = 'WaitingConfirmations';
        } else if (c?.ack === false) {
          t.status = 'Failed';
          this.releaseInput(t);
        }
      }
      if (t.status === 'WaitingConfirmations' && (await this.confirmations(t.txid!)) >= Math.max(1, t.min_confirmations)) t.status = 'Settled';
      if (t.status !== before) t.updated_at = now();
    }
    return {};
  }

  private releaseInput(t: TransferRec): void {
    if (t.input) t.input.spent = false;
  }

  private fail(b: Record<string, unknown>): unknown {
    const eligible = (t: TransferRec): boolean =>
      t.status === 'WaitingCounterparty' && (t.kind === 'Send' ? this.opts.proxy.consignments.get(t.recipient_id!)?.ack !== true : true);
    const idx = b.batch_transfer_idx as number | null | undefined;
    if (idx !== null && idx !== undefined) {
      const t = this.transfers.find((x) => x.idx === idx);
      if (!t) throw E.batch();
      if (!eligible(t)) throw E.cannotFail();
      t.status = 'Failed';
      t.updated_at = now();
      this.releaseInput(t);
      return { transfers_changed: true };
    }
    let changed = false;
    for (const t of this.transfers)
      if (eligible(t) && t.kind !== 'Send' && (!b.no_asset_only || t.asset_id === null)) {
        t.status = 'Failed';
        t.updated_at = now();
        changed = true;
      }
    return { transfers_changed: changed };
  }

  private async createUtxos(b: Record<string, unknown>): Promise<unknown> {
    const num = (b.num as number | null | undefined) ?? 4;
    const size = (b.size as number | null | undefined) ?? 32_500;
    const have = this.utxos.filter((u) => u.colorable && !u.spent).length;
    if (b.up_to && have >= num) throw E.allocations();
    const count = b.up_to ? num - have : num;
    const fee = Math.ceil((b.fee_rate as number) * (11 + 68 + 31 * (count + 1)));
    const input = this.utxos.find((u) => !u.colorable && !u.spent && u.value >= count * size + fee + 546);
    if (!input) throw E.funds(count * size + fee + 546);
    const psbt = new bitcoin.Psbt({ network: NET });
    psbt.addInput({ hash: input.txid, index: input.vout, witnessUtxo: { script: this.script, value: BigInt(input.value) } });
    for (let i = 0; i < count; i++) psbt.addOutput({ address: this.address, value: BigInt(size) });
    psbt.addOutput({ address: this.address, value: BigInt(input.value - count * size - fee) });
    psbt.signInput(0, this.key);
    psbt.finalizeAllInputs();
    const tx = psbt.extractTransaction();
    await this.opts.chain.send(tx.toHex());
    input.spent = true;
    const txid = tx.getId();
    for (let i = 0; i < count; i++) this.utxos.push({ txid, vout: i, value: size, colorable: true, spent: false });
    this.utxos.push({ txid, vout: count, value: input.value - count * size - fee, colorable: false, spent: false });
    return {};
  }
}

function publicTransfer(t: TransferRec): unknown {
  const { min_confirmations: _m, txhex: _h, txchange: _c, input: _i, asset_id: _a, ...rest } = t;
  return rest;
}
