// The one place where the node behind the RPC is allowed to differ. Bitcoin Core 25+ is the reference; bcoin
// (the test node) takes booleans for getblock verbosity, answers estimatesmartfee as {fee, blocks} and reports its
// version as a string. Everything else in the room speaks Core's shapes.

import * as bitcoin from 'bitcoinjs-lib';
import type { BitcoindClient } from './client.js';

export interface VerboseTx {
  txid: string;
  /** The transaction serialised (Core's and bcoin's verbose answers carry it; decodeRawTx keeps it). */
  hex?: string;
  /** Core's getblock verbosity 2 gives each non-coinbase transaction's fee (BTC) and vsize; bcoin does not. */
  fee?: number;
  vsize?: number;
  vin: Array<{ txid?: string; vout?: number; coinbase?: string }>;
  vout: Array<{ value: number; n: number; scriptPubKey: { hex: string; address?: string } }>;
}
export interface VerboseBlock {
  hash: string;
  height: number;
  previousblockhash?: string;
  time: number;
  tx: VerboseTx[];
}

/** A block with its txids only (getblock verbosity 1): what following the chain needs when nothing is watched. */
export interface LightBlock extends Omit<VerboseBlock, 'tx'> {
  tx: string[];
}

export interface FeeEstimate {
  target: number;
  sat_per_vb: number | null;
  blocks: number | null;
  errors: string[];
}

export class ChainBackend {
  private constructor(
    private readonly client: BitcoindClient,
    readonly kind: 'core' | 'bcoin',
    readonly version: string,
    readonly subversion: string,
  ) {}

  static async detect(client: BitcoindClient): Promise<ChainBackend> {
    const info = await client.call<{ version: number | string; subversion: string }>('getnetworkinfo');
    const bcoin = /bcoin/i.test(info.subversion);
    return new ChainBackend(client, bcoin ? 'bcoin' : 'core', String(info.version), info.subversion);
  }

  /** getblock with every transaction decoded (Core: verbosity 2). */
  getBlockFull(hash: string): Promise<VerboseBlock> {
    return this.kind === 'bcoin' ? this.client.call('getblock', hash, true, true) : this.client.call('getblock', hash, 2);
  }

  /** getblock with txids only (Core: verbosity 1): several times less JSON to read than the full block. */
  getBlockLight(hash: string): Promise<LightBlock> {
    return this.kind === 'bcoin' ? this.client.call('getblock', hash, true, false) : this.client.call('getblock', hash, 1);
  }

  /** getblock at verbosity 0 (hex), 1 (txids) or 2 (decoded transactions), in Core's shape. */
  async getBlock(hash: string, verbosity: 0 | 1 | 2): Promise<unknown> {
    if (this.kind === 'bcoin') return coreHeader(await this.client.call('getblock', hash, verbosity > 0, verbosity > 1));
    return coreHeader(await this.client.call('getblock', hash, verbosity));
  }

  /** getblockheader (verbose), in Core's shape. */
  async getBlockHeader(hash: string): Promise<Record<string, unknown>> {
    return coreHeader(await this.client.call<Record<string, unknown>>('getblockheader', hash, true));
  }

  async estimateSmartFee(target: number): Promise<FeeEstimate> {
    const r = await this.client.call<{ feerate?: number; fee?: number; blocks?: number; errors?: string[] }>('estimatesmartfee', target);
    // Core: feerate in BTC per kvB; bcoin: fee, -1 when it has no estimate.
    const btcPerKvb = r.feerate ?? (r.fee !== undefined && r.fee >= 0 ? r.fee : undefined);
    const satPerVb = btcPerKvb === undefined ? null : Math.round(((btcPerKvb * 1e8) / 1000) * 1000) / 1000;
    const errors = r.errors ?? (satPerVb === null ? ['Insufficient data or no feerate found'] : []);
    return { target, sat_per_vb: satPerVb, blocks: r.blocks ?? null, errors };
  }
}

/**
 * Block header fields as Core writes them (rpc/blockchain.cpp blockheaderToJSON): `bits` as 8 hex digits (bcoin: a
 * number), no `nextblockhash` at the tip (bcoin: null), and `difficulty` a number (the RPC client's JSON parser
 * keeps numbers with more digits than a double as strings).
 */
function coreHeader<T>(h: T): T {
  if (typeof h !== 'object' || h === null) return h;
  const out = { ...(h as Record<string, unknown>) };
  if (typeof out.bits === 'number') out.bits = out.bits.toString(16).padStart(8, '0');
  if (out.nextblockhash === null) delete out.nextblockhash;
  if (out.previousblockhash === null) delete out.previousblockhash;
  if (typeof out.difficulty === 'string') out.difficulty = Number(out.difficulty);
  return out as T;
}

/** A raw transaction (as ZMQ rawtx carries it) in the decoded shape bitcoind's verbose RPCs use. */
export function decodeRawTx(raw: Buffer): VerboseTx {
  const tx = bitcoin.Transaction.fromBuffer(raw);
  return {
    txid: tx.getId(),
    hex: raw.toString('hex'),
    vin: tx.ins.map((i) =>
      tx.isCoinbase() ? { coinbase: Buffer.from(i.script).toString('hex') } : { txid: Buffer.from(i.hash).reverse().toString('hex'), vout: i.index },
    ),
    vout: tx.outs.map((o, n) => ({ value: Number(o.value) / 1e8, n, scriptPubKey: { hex: Buffer.from(o.script).toString('hex') } })),
  };
}
