// The bitcoin room: the connection to Bitcoin Core, the chain watcher and the watch lists.

import { CHAIN_METHODS } from './declarations.js';
import { Type } from '@sinclair/typebox';
import type { Room } from '../../core/room.js';
import { BITCOIN_OPTIONS } from './options.js';
import type { BitcoinService } from './service.js';

/** What other rooms may use of the bitcoin room. */
export interface BitcoinApi {
  connected(): boolean;
  feeSnapshot: BitcoinService['feeSnapshot'];
  blockTxids(hash: string): Promise<string[]>;
  /** A block as bitcoind serialises it (hex): every transaction, for a room that looks for spends itself. */
  rawBlock(hash: string): Promise<string>;
  /** sendrawtransaction; the node's refusal as BackendRejected naming `what` and the node's reason. */
  broadcast(txHex: string, what: string): Promise<string>;
  /** Watches an outpoint for a room (owner 'room:<name>'): its spends come as chain.tx events, mempool included. */
  watchOutpoint(outpoint: string, label: string, room: string): Promise<void>;
  /** bitcoind's estimatesmartfee for the target, sat/vB, or null where it has none. */
  coreEstimate(target: number): Promise<number | null>;
  /** One call to bitcoind (its errors as they are), or BackendUnavailable at once when it is not connected. */
  node<T>(method: string, ...params: unknown[]): Promise<T>;
}

const Block = Type.Object({ height: Type.Integer(), hash: Type.String() });

export const bitcoinRoom: Room = {
  name: 'bitcoin',
  methods: CHAIN_METHODS,
  options: BITCOIN_OPTIONS,
  topics: [
    {
      name: 'chain.block',
      summary: 'A block was connected to the chain anyad follows (in order; after a reorg, the new branch).',
      data: Type.Object({
        height: Type.Integer(),
        hash: Type.String(),
        previous: Type.Union([Type.String(), Type.Null()]),
        time: Type.Integer(),
        tx_count: Type.Integer(),
      }),
    },
    { name: 'chain.disconnected', summary: "A block was removed by a reorg (newest first, before the new branch's chain.block events).", data: Block },
    {
      name: 'chain.reorg',
      summary: 'A reorg: the fork point and the blocks it removed.',
      data: Type.Object({ fork_height: Type.Integer(), fork_hash: Type.String(), disconnected: Type.Array(Block) }),
    },
    {
      name: 'chain.resync',
      summary:
        'A reorg deeper than bitcoind.reorgwindow: the watcher starts again from the oldest block it knew; the blocks from there are reported again, and the watched transactions no longer in the main chain are listed (each also gets chain.tx reorged).',
      data: Type.Object({ reason: Type.String(), from: Block, to: Block, reorged: Type.Array(Type.String()) }),
    },
    {
      name: 'chain.tx',
      summary: 'A watched transaction: status mempool, confirmed, deep (bitcoind.confirmations reached) or reorged; spends lists watched outpoints it spends.',
      data: Type.Object(
        { txid: Type.String(), watches: Type.Array(Type.String()), spends: Type.Array(Type.String()), status: Type.String(), confirmations: Type.Integer() },
        { additionalProperties: true },
      ),
    },
  ],
  create: async ({ config, log, store, bus }) => {
    if (!config.bool('bitcoind.enable')) return {};
    // Loaded only when the room is on (bitcoinjs-lib, the watcher, the RPC client).
    const [{ BitcoindClient }, { chainMethods }, { BitcoinService }] = await Promise.all([
      import('./client.js'),
      import('./methods.js'),
      import('./service.js'),
    ]);
    // On regtest with no bitcoind configured, a chain of anyad's own (embedded-chain.ts), connected to as to bitcoind.
    const { EmbeddedChain, wantsEmbeddedChain } = await import('./embedded-chain.js');
    const embedded = wantsEmbeddedChain(config) ? await EmbeddedChain.prepare(config.netdir, log.child({ room: 'embedded-chain' })) : undefined;
    const host = embedded ? '127.0.0.1' : config.str('bitcoind.rpcconnect')!;
    const port = embedded ? embedded.port : config.int('bitcoind.rpcport');
    const client = new BitcoindClient({
      host,
      port,
      timeoutMs: config.int('bitcoind.timeout') * 1000,
      maxConcurrency: config.int('bitcoind.maxconcurrency'),
      cookieFile: embedded ? embedded.cookieFile : config.path('bitcoind.rpccookiefile'),
      user: embedded ? undefined : config.str('bitcoind.rpcuser') || undefined,
      passwordFile: config.path('bitcoind.rpcpasswordfile'),
    });
    const db = await store.room('bitcoin');
    const service = new BitcoinService(
      client,
      {
        network: config.network,
        pollMs: config.int('bitcoind.pollinterval'),
        endpoint: `${host}:${port}`,
        deepAt: config.int('bitcoind.confirmations'),
        reorgWindow: config.int('bitcoind.reorgwindow'),
        stallMs: config.int('bitcoind.stalltimeout') * 1000,
        zmq: {
          hashblock: config.str('bitcoind.zmqpubhashblock') || undefined,
          rawtx: config.str('bitcoind.zmqpubrawtx') || undefined,
          sequence: config.str('bitcoind.zmqpubsequence') || undefined,
        },
      },
      db,
      store,
      bus,
      log,
    );
    const api: BitcoinApi = {
      connected: () => service.state === 'connected',
      feeSnapshot: (target) => service.feeSnapshot(target),
      blockTxids: (hash) => service.blockTxids(hash),
      rawBlock: (hash) => service.rawBlock(hash),
      broadcast: (txHex, what) => service.broadcast(txHex, what),
      watchOutpoint: async (outpoint, label, room) => {
        await service.watches.add({ outpoint, label }, `room:${room}`);
      },
      coreEstimate: async (target) => (await service.backend!.estimateSmartFee(target)).sat_per_vb,
      node: (method, ...params) => service.nodeCall(method, ...params),
    };
    return { services: embedded ? [embedded, service] : [service], methods: chainMethods(service, config.network), api };
  },
};
