// chain.* methods: what anyad knows of the chain, bitcoind's blocks and transactions, broadcast with a local sanity
// check first, fee estimates in sat/vB, mempool figures, and the watch list.

import { Type, type Static } from '@sinclair/typebox';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../rpc/errors.js';
import { defineMethod, roleAllows, type MethodSpec } from '../../rpc/registry.js';
import { BitcoindError, toRpcError } from './client.js';
import type { BitcoinService } from './service.js';

const Hash = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'A block hash or txid (64 hex characters).' });
const NoParams = Type.Object({}, { additionalProperties: false });
/** A watch as chain.watch and chain.listwatches answer it. */
const WatchT = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  value: Type.String(),
  label: Type.String(),
  created: Type.String(),
  owners: Type.Optional(Type.Array(Type.String(), { description: 'The credentials that asked for it.' })),
});
/** Bitcoin Core's shapes (rpc/blockchain.cpp blockheaderToJSON, core_write.cpp TxToUniv); extra node fields pass. */
const HeaderT = Type.Object(
  {
    hash: Type.String(),
    confirmations: Type.Integer(),
    height: Type.Integer(),
    version: Type.Integer(),
    merkleroot: Type.String(),
    time: Type.Integer(),
    bits: Type.String(),
    difficulty: Type.Number(),
    previousblockhash: Type.Optional(Type.String()),
    nextblockhash: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
const TxT = Type.Object(
  {
    txid: Type.String(),
    vin: Type.Array(
      Type.Object(
        {
          txid: Type.Optional(Type.String()),
          vout: Type.Optional(Type.Integer()),
          coinbase: Type.Optional(Type.String()),
          sequence: Type.Integer(),
        },
        { additionalProperties: true },
      ),
    ),
    vout: Type.Array(
      Type.Object(
        {
          value: Type.Number(),
          n: Type.Integer(),
          scriptPubKey: Type.Object({ hex: Type.String(), address: Type.Optional(Type.String()) }, { additionalProperties: true }),
        },
        { additionalProperties: true },
      ),
    ),
    locktime: Type.Integer(),
    blockhash: Type.Optional(Type.String()),
    confirmations: Type.Optional(Type.Integer()),
  },
  { additionalProperties: true },
);
const BlockT = Type.Union([
  Type.String({ description: 'verbosity 0: the serialized block, hex' }),
  Type.Intersect([
    HeaderT,
    Type.Object({ tx: Type.Union([Type.Array(Type.String()), Type.Array(TxT)], { description: 'txids (verbosity 1) or decoded transactions (2)' }) }),
  ]),
]);
const MAX_MONEY_SAT = 21_000_000 * 100_000_000;
const MAX_TX_HEX = 2 * 4_000_000;

export function chainMethods(svc: BitcoinService, network: string): MethodSpec[] {
  /** Calls bitcoind, or answers BackendUnavailable at once when it is not connected; bitcoind's errors as they are. */
  const raw = async <T>(method: string, ...params: unknown[]): Promise<T> => {
    if (svc.state !== 'connected')
      throw rpcError('BackendUnavailable', `bitcoind is not connected: ${svc.health().detail}`, {
        service: 'bitcoind',
        reason: svc.health().detail,
        state: svc.state,
      });
    return svc.client.call<T>(method, ...params);
  };
  /** The same, with bitcoind's errors mapped to the caller's codes. */
  const call = async <T>(method: string, ...params: unknown[]): Promise<T> => {
    try {
      return await raw<T>(method, ...params);
    } catch (err) {
      throw toRpcError(err);
    }
  };
  const backend = () => {
    if (svc.state !== 'connected' || !svc.backend)
      throw rpcError('BackendUnavailable', `bitcoind is not connected: ${svc.health().detail}`, { service: 'bitcoind', state: svc.state });
    return svc.backend;
  };

  return [
    defineMethod({
      name: 'chain.getinfo',
      summary: 'The connection to bitcoind and how far anyad has followed its chain.',
      params: NoParams,
      result: Type.Object({
        state: Type.String(),
        detail: Type.String(),
        network: Type.String(),
        backend: Type.Union([Type.Object({ kind: Type.String(), version: Type.String(), subversion: Type.String() }), Type.Null()]),
        mode: Type.Union([Type.Literal('zmq'), Type.Literal('polling')], {
          description: 'zmq while ZMQ notifications drive the watcher; polling when not configured or silent.',
        }),
        blocks: Type.Union([Type.Integer(), Type.Null()]),
        headers: Type.Union([Type.Integer(), Type.Null()]),
        verification_progress: Type.Union([Type.Number(), Type.Null()]),
        processed_height: Type.Union([Type.Integer(), Type.Null()]),
        processed_hash: Type.Union([Type.String(), Type.Null()]),
        catching_up: Type.Boolean(),
        watches: Type.Integer(),
      }),
      role: 'readonly',
      handler: async () => {
        let info = svc.chainInfo;
        if (svc.state === 'connected') info = await call<typeof info>('getblockchaininfo').catch(() => info);
        const tip = svc.watcher.tip;
        return {
          state: svc.state,
          detail: svc.health().detail,
          network,
          backend: svc.backend ? { kind: svc.backend.kind, version: svc.backend.version, subversion: svc.backend.subversion } : null,
          mode: svc.mode(),
          blocks: info?.blocks ?? null,
          headers: info?.headers ?? null,
          verification_progress: info?.verificationprogress ?? null,
          processed_height: tip?.height ?? null,
          processed_hash: tip?.hash ?? null,
          catching_up: info !== undefined && tip !== undefined && tip.height < info.blocks,
          watches: svc.watches.size(),
        };
      },
    }),
    defineMethod({
      name: 'chain.getblock',
      summary: 'A block by hash or height: hex (verbosity 0), with txids (1) or with decoded transactions (2).',
      params: Type.Object(
        {
          block: Type.Union([Hash, Type.Integer({ minimum: 0 })], { description: 'Block hash, or height in the main chain.' }),
          verbosity: Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], { default: 1, description: 'Detail level.' }),
        },
        { additionalProperties: false },
      ),
      result: BlockT,
      errors: ['NotFound', 'BackendUnavailable'],
      role: 'readonly',
      handler: async ({ block, verbosity }) => {
        const hash = typeof block === 'number' ? await call<string>('getblockhash', block) : block;
        try {
          // The node's own shape, passed through (rpccheckresults checks it against BlockT in the tests).
          return (await backend().getBlock(hash, verbosity)) as Static<typeof BlockT>;
        } catch (err) {
          throw toRpcError(err);
        }
      },
    }),
    defineMethod({
      name: 'chain.getblockheader',
      summary: 'A block header by hash, as bitcoind reports it.',
      params: Type.Object({ hash: Hash }, { additionalProperties: false }),
      result: HeaderT,
      role: 'readonly',
      handler: async ({ hash }) => {
        try {
          return (await backend().getBlockHeader(hash)) as Static<typeof HeaderT>;
        } catch (err) {
          throw toRpcError(err);
        }
      },
    }),
    defineMethod({
      name: 'chain.gettx',
      summary: 'A transaction decoded by bitcoind (needs its txindex for confirmed ones), with its watch status if anyad watches it.',
      params: Type.Object({ txid: Hash }, { additionalProperties: false }),
      result: Type.Intersect([
        TxT,
        Type.Object({ anya_watch: Type.Optional(Type.Object({ status: Type.String(), watches: Type.Array(Type.String()) }, { additionalProperties: true })) }),
      ]),
      errors: ['NotFound', 'BackendUnavailable'],
      role: 'readonly',
      handler: async ({ txid }) => {
        const tx = await call<Static<typeof TxT>>('getrawtransaction', txid, true);
        const watched = await svc.watcher.watchedTx(txid);
        return watched ? { ...tx, anya_watch: watched } : tx;
      },
    }),
    defineMethod({
      name: 'chain.broadcast',
      summary: 'Check a raw transaction locally, then hand it to bitcoind; answers the txid.',
      description:
        "The hex is decoded with bitcoinjs-lib and refused before it reaches bitcoind when it is not a transaction, has no inputs or outputs, spends an outpoint twice, or moves an impossible amount. bitcoind's own rejection comes back as BackendRejected with its reason.",
      params: Type.Object(
        { hex: Type.String({ minLength: 20, maxLength: MAX_TX_HEX, pattern: '^([0-9a-fA-F]{2})+$', description: 'The signed transaction, hex.' }) },
        { additionalProperties: false },
      ),
      result: Type.Object({ txid: Type.String() }),
      errors: ['BackendRejected', 'BackendUnavailable'],
      role: 'user',
      handler: async ({ hex }) => {
        let tx: bitcoin.Transaction;
        try {
          tx = bitcoin.Transaction.fromHex(hex);
        } catch (err) {
          throw rpcError('InvalidParams', `not a valid transaction: ${(err as Error).message}`);
        }
        if (tx.ins.length === 0) throw rpcError('InvalidParams', 'transaction has no inputs');
        if (tx.outs.length === 0) throw rpcError('InvalidParams', 'transaction has no outputs');
        const seen = new Set<string>();
        for (const i of tx.ins) {
          const op = `${Buffer.from(i.hash).reverse().toString('hex')}:${i.index}`;
          if (seen.has(op)) throw rpcError('InvalidParams', `transaction spends ${op} twice`);
          seen.add(op);
        }
        let total = 0n;
        for (const o of tx.outs) {
          const v = BigInt(o.value);
          if (v < 0n || v > BigInt(MAX_MONEY_SAT)) throw rpcError('InvalidParams', `output value ${v} sat is out of range`);
          total += v;
        }
        if (total > BigInt(MAX_MONEY_SAT)) throw rpcError('InvalidParams', 'outputs add up to more than 21 million BTC');
        try {
          return { txid: await raw<string>('sendrawtransaction', hex) };
        } catch (err) {
          // A refusal by bitcoind is about the transaction, not about how it was asked: BackendRejected, with its words.
          if (err instanceof BitcoindError && err.code !== -28)
            throw rpcError('BackendRejected', `bitcoind rejected the transaction: ${err.message}`, { reason: err.message, bitcoind_code: err.code });
          throw toRpcError(err);
        }
      },
    }),
    defineMethod({
      name: 'chain.generate',
      summary: "Regtest only: mines blocks to an address (the node's generatetoaddress) and answers their hashes.",
      params: Type.Object(
        {
          nblocks: Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'How many blocks.' }),
          address: Type.String({ minLength: 14, maxLength: 100, description: 'A regtest address (bcrt1…) the coinbase pays.' }),
        },
        { additionalProperties: false },
      ),
      result: Type.Object({ address: Type.String(), blocks: Type.Array(Type.String(), { description: 'Block hashes, oldest first.' }) }),
      errors: ['Unsupported', 'BackendUnavailable'],
      role: 'admin',
      handler: async ({ nblocks, address }) => {
        if (network !== 'regtest') throw rpcError('Unsupported', `chain.generate mines on regtest only (this is ${network})`);
        try {
          bitcoin.address.toOutputScript(address, bitcoin.networks.regtest);
        } catch {
          throw rpcError('InvalidParams', `address: not a regtest address: ${address.slice(0, 100)}`, { field: 'address' });
        }
        return { address, blocks: await call<string[]>('generatetoaddress', nblocks, address) };
      },
    }),
    defineMethod({
      name: 'chain.estimatefee',
      summary: "bitcoind's estimatesmartfee for a set of confirmation targets, in sat/vB (null where it has no estimate).",
      params: Type.Object(
        {
          targets: Type.Array(Type.Integer({ minimum: 1, maximum: 1008 }), {
            minItems: 1,
            maxItems: 16,
            default: [2, 6, 12, 144],
            description: 'Confirmation targets in blocks.',
          }),
        },
        { additionalProperties: false },
      ),
      result: Type.Object({
        source: Type.Literal('estimatesmartfee'),
        estimates: Type.Array(
          Type.Object({
            target: Type.Integer(),
            sat_per_vb: Type.Union([Type.Number(), Type.Null()]),
            blocks: Type.Union([Type.Integer(), Type.Null()]),
            errors: Type.Array(Type.String()),
          }),
        ),
      }),
      role: 'readonly',
      handler: async ({ targets }) => {
        const b = backend();
        try {
          return { source: 'estimatesmartfee' as const, estimates: await Promise.all(targets.map((t) => b.estimateSmartFee(t))) };
        } catch (err) {
          throw toRpcError(err);
        }
      },
    }),
    defineMethod({
      name: 'chain.mempoolinfo',
      summary: "bitcoind's mempool: transaction count, size, memory use and minimum fee rate in sat/vB.",
      params: NoParams,
      result: Type.Object({ size: Type.Integer(), bytes: Type.Integer(), usage: Type.Integer(), min_fee_sat_per_vb: Type.Union([Type.Number(), Type.Null()]) }),
      role: 'readonly',
      handler: async () => {
        const m = await call<{ size: number; bytes: number; usage: number; mempoolminfee?: number }>('getmempoolinfo');
        return {
          size: m.size,
          bytes: m.bytes,
          usage: m.usage,
          min_fee_sat_per_vb: m.mempoolminfee === undefined ? null : Math.round(((m.mempoolminfee * 1e8) / 1000) * 1000) / 1000,
        };
      },
    }),
    defineMethod({
      name: 'chain.watch',
      summary: 'Watch an address, an output script or an outpoint; matching transactions come as chain.tx events.',
      params: Type.Object(
        {
          address: Type.Optional(Type.String({ maxLength: 100, description: "An address of anyad's network." })),
          script: Type.Optional(Type.String({ maxLength: 20000, description: 'An output script, hex.' })),
          outpoint: Type.Optional(Type.String({ maxLength: 80, description: 'txid:vout; its spend is reported.' })),
          label: Type.Optional(Type.String({ maxLength: 200, description: 'Free text for the app.' })),
        },
        { additionalProperties: false },
      ),
      result: WatchT,
      errors: ['Busy'],
      role: 'user',
      handler: (p, ctx) => svc.watches.add(p, ctx.connection.user ?? 'unknown'),
    }),
    defineMethod({
      name: 'chain.unwatch',
      summary: 'Stop watching (by the id chain.watch returned): only the credential that made the watch, or an admin.',
      params: Type.Object({ id: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
      result: Type.Boolean(),
      errors: ['NotFound', 'Forbidden'],
      role: 'user',
      handler: async ({ id }, ctx) => {
        if (!(await svc.watches.remove(id, ctx.connection.user ?? 'unknown', roleAllows(ctx.role, 'admin')))) throw rpcError('NotFound', `no watch ${id}`);
        return true;
      },
    }),
    defineMethod({
      name: 'chain.listwatches',
      summary: 'What is watched, oldest first, a page at a time.',
      params: Type.Object(
        {
          limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000, description: 'Most watches in the answer.' }),
          offset: Type.Integer({ minimum: 0, default: 0, description: 'Watches to skip.' }),
        },
        { additionalProperties: false },
      ),
      result: Type.Array(WatchT),
      role: 'readonly',
      handler: ({ limit, offset }) => svc.watches.list().slice(offset, offset + limit),
    }),
  ];
}
