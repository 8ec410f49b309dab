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
// (funds are credited by the test), RGB over Lightning (lninvoice makes a real BOLT11 without the RGB fields), or//
// The peer is split by responsibility: rgb-node-api.ts (request schemas, routes, API errors), rgb-node-state.ts
// (assets, transfers, outputs, the proxy; balances and views), rgb-node-assets.ts and rgb-node-transfers.ts (the
// handlers). This file serves HTTP: authorization, the request checks, and the routing.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as bitcoin from 'bitcoinjs-lib';
import { ECPairFactory } from 'ecpair';
import * as ecc from 'tiny-secp256k1';
import { makeInvoice } from './ln-network.js';
import { ApiError, CHECKS, E, GET_ROUTES, NO_BODY_POSTS } from './rgb-node-api.js';
import { decodeRgbInvoice, issueAsset, listAssets, networkInfo, nodeInfo, rgbInvoice } from './rgb-node-assets.js';
import { balance, findAsset, NET, publicTransfer, type RgbOptions, type RgbState } from './rgb-node-state.js';
import { createUtxos, failTransfers, refreshTransfers, sendAsset } from './rgb-node-transfers.js';

export { RgbProxy, type ChainAccess } from './rgb-node-state.js';

const ECPair = ECPairFactory(ecc);

export class RgbNodePeer {
  readonly key = ECPair.makeRandom({ network: NET });
  readonly pubkey = Buffer.from(this.key.publicKey).toString('hex');
  readonly address: string;
  readonly script: Uint8Array;
  private locked = true;
  private server: Server | undefined;
  private readonly s: RgbState;
  /** Every request the peer answered: [path, status], for tests that check what reached it. */
  readonly seen: Array<[string, number]> = [];
  port = 0;

  constructor(opts: RgbOptions) {
    const pay = bitcoin.payments.p2wpkh({ pubkey: this.key.publicKey, network: NET });
    this.address = pay.address!;
    this.script = pay.output!;
    this.s = { opts, key: this.key, pubkey: this.pubkey, address: this.address, script: this.script, assets: new Map(), transfers: [], utxos: [] };
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
    this.s.utxos.push({ txid: utxo.txid, vout: utxo.vout, value: Number(utxo.value), colorable: false, spent: false });
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
      if (this.s.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.s.opts.token}`)
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
      if (b.password !== this.s.opts.password) throw E.wrongPassword();
      this.locked = false;
      return {};
    }
    if (this.locked) throw E.locked();
    switch (path) {
      case '/lock':
        this.locked = true;
        return {};
      case '/networkinfo':
        return networkInfo(this.s);
      case '/nodeinfo':
        return nodeInfo(this.s);
      case '/listassets':
        return listAssets(this.s, b.filter_asset_schemas as string[]);
      case '/assetbalance':
        return balance(this.s, findAsset(this.s, b.asset_id as string).asset_id);
      case '/issueassetnia':
      case '/issueassetcfa':
      case '/issueassetuda':
        return issueAsset(this.s, path, b);
      case '/rgbinvoice':
        return rgbInvoice(this.s, b);
      case '/decodergbinvoice':
        return decodeRgbInvoice(b.invoice as string);
      case '/sendasset':
        return sendAsset(this.s, b);
      case '/refreshtransfers':
        return refreshTransfers(this.s);
      case '/listtransfers':
        findAsset(this.s, b.asset_id as string);
        return { transfers: this.s.transfers.filter((t) => t.asset_id === b.asset_id).map(publicTransfer) };
      case '/failtransfers':
        return failTransfers(this.s, b);
      case '/createutxos':
        return createUtxos(this.s, b);
      case '/estimatefee':
        return { fee_rate: 1.5 + (b.blocks as number) / 100 };
      case '/lninvoice':
        return { invoice: makeInvoice(Buffer.from(this.s.key.privateKey!), (b.amt_msat as number | null) ?? null, 'rgb', b.expiry_sec as number).bolt11 };
    }
    throw new Error(`no route ${path}`);
  }
}
