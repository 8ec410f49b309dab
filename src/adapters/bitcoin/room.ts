// The bitcoin room: the connection to Bitcoin Core, the chain watcher and the watch lists.

import { CHAIN_METHODS } from './declarations.js';
import type { Room } from '../../core/room.js';
import { BITCOIN_OPTIONS } from './options.js';
import { CHAIN_BLOCK, CHAIN_DISCONNECTED, CHAIN_REORG, CHAIN_RESYNC, CHAIN_TX, type BitcoinApi } from './api.js';
import { bitcoinNetwork } from '../../core/bitcoin-network.js';

export const bitcoinRoom: Room = {
  name: 'bitcoin',
  methods: CHAIN_METHODS,
  options: BITCOIN_OPTIONS,
  topics: [CHAIN_BLOCK, CHAIN_DISCONNECTED, CHAIN_REORG, CHAIN_RESYNC, CHAIN_TX],
  create: async ({ config, log, store, bus }) => {
    if (!config.bool('bitcoind.enable')) return {};
    // Loaded only when the room is on (bitcoinjs-lib, the watcher, the RPC client).
    const [{ BitcoindClient }, { chainMethods }, { BitcoinService }, { createPsbt, finalizePsbt }, { decodeRawTx }] = await Promise.all([
      import('./client.js'),
      import('./methods.js'),
      import('./service.js'),
      import('./psbt.js'),
      import('./backend.js'),
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
    const service = new BitcoinService({
      client,
      db,
      store,
      bus,
      log,
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
    });
    const api: BitcoinApi = {
      connected: () => service.state === 'connected',
      feeSnapshot: (target) => service.feeSnapshot(target),
      blockTxids: (hash) => service.blockTxids(hash),
      rawBlock: (hash) => service.rawBlock(hash),
      broadcast: (txHex, what) => service.broadcast(txHex, what),
      coreEstimate: async (target) => (await service.backend!.estimateSmartFee(target)).sat_per_vb,
      notifications: (room, handlers) => service.notifier.notifications(room, handlers),
      utxo: (txid, vout) => service.utxo(txid, vout),
      transaction: (txid) => service.transaction(txid),
      header: (hash) => service.header(hash),
      blockHash: (height) => service.blockHash(height),
      listen: (listener) => service.watcher.listen(listener),
      tip: () => service.watcher.tip,
      best: () => service.watcher.best,
      block: (hash) => service.backend!.getBlockFull(hash),
      nodeKind: () => service.backend?.kind,
      mempoolEntry: async (txid) => {
        // Core answers vsize and fees.base (BTC); bcoin (and Core before 0.19's deprecation) size and fee.
        type Entry = { vsize?: number; size?: number; fees?: { base?: number }; fee?: number };
        const e = await service.nodeCall<Entry>('getmempoolentry', txid).catch((err: unknown) => {
          if (/not in mempool|not found/i.test((err as Error).message)) return null;
          throw err;
        });
        const vsize = e?.vsize ?? e?.size;
        const fee = e?.fees?.base ?? e?.fee;
        return e && vsize !== undefined && fee !== undefined ? { vsize, fee_sat: Math.round(fee * 1e8) } : null;
      },
      // Without the block first (a node with -txindex, or the mempool; bcoin takes no third argument), then with it.
      rawTransaction: (txid, blockHash) =>
        service
          .nodeCall<string>('getrawtransaction', txid, false)
          .catch((err: unknown) => (blockHash ? service.nodeCall<string>('getrawtransaction', txid, false, blockHash) : Promise.reject(err))),
      decode: (hex) => decodeRawTx(Buffer.from(hex, 'hex')),
      createPsbt: (p) => createPsbt(p, bitcoinNetwork(config.network), (m, ...a) => service.nodeCall(m, ...a)),
      finalizePsbt: (base64) => finalizePsbt(base64, bitcoinNetwork(config.network)),
    };
    return { services: embedded ? [embedded, service] : [service], methods: chainMethods(service, config.network), api };
  },
};
