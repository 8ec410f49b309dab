// A real regtest full node in this process: bcoin 1.0 (an independent full-node implementation), set to Bitcoin
// Core's regtest address and key prefixes (bcrt1…, tpub) and with csv and segwit active from the start, so what
// bitcoinjs-lib and anyad build for regtest is valid on it. Used by the embedded regtest chain (embedded-chain.ts,
// `npm start` on regtest with no bitcoind configured) and by the tests' regtest node.
// bcoin is a development dependency: present in a checkout (npm ci), absent from the production packages.

import { createRequire } from 'node:module';

export interface RegtestNode {
  height(): number;
  /** The bcoin FullNode, for callers that need more (the tests' ZMQ publisher). */
  node: {
    chain: { on(ev: string, f: (...a: never[]) => void): void; height: number };
    mempool: { on(ev: string, f: (...a: never[]) => void): void };
  };
  close(): Promise<void>;
}

/** Loads bcoin, or undefined when it is not installed (a production install). */
export function loadBcoin(): unknown {
  process.env.NODE_BACKEND = 'js';
  try {
    return createRequire(import.meta.url)('bcoin');
  } catch {
    return undefined;
  }
}

/** Opens a regtest node serving bcoin's JSON-RPC on 127.0.0.1:port, its chain in memory or under prefix. */
export async function openRegtestNode(opts: { port: number; apiKey: string; prefix?: string }): Promise<RegtestNode> {
  // bcoin ships no types; its surface used here is small and checked by the tests that run it.
  const bcoin = loadBcoin() as never as {
    Network: { get(n: string): Record<string, Record<string, unknown> & { deploys?: never }> };
    FullNode: new (o: Record<string, unknown>) => never;
  };
  if (!bcoin) throw new Error('bcoin is not installed (it comes with the development dependencies: npm ci in a checkout)');
  const net = bcoin.Network.get('regtest') as unknown as {
    addressPrefix: Record<string, unknown>;
    keyPrefix: Record<string, unknown>;
    deploys: Array<{ threshold: number; window: number }>;
    deployments: Record<string, { threshold: number; window: number }>;
  };
  Object.assign(net.addressPrefix, { pubkeyhash: 0x6f, scripthash: 0xc4, witnesspubkeyhash: 0x03, witnessscripthash: 0x28, bech32: 'bcrt' });
  Object.assign(net.keyPrefix, { privkey: 0xef, xpubkey: 0x043587cf, xprivkey: 0x04358394, xpubkey58: 'tpub', xprivkey58: 'tprv' });
  for (const d of [...net.deploys, ...Object.values(net.deployments)]) {
    d.threshold = 1;
    d.window = 1;
  }
  const node = new bcoin.FullNode({
    network: 'regtest',
    memory: !opts.prefix,
    ...(opts.prefix ? { prefix: opts.prefix } : {}),
    indexTX: true,
    indexAddress: false,
    httpHost: '127.0.0.1',
    httpPort: opts.port,
    apiKey: opts.apiKey,
    listen: false,
    maxOutbound: 1,
    noDiscovery: true,
    nodes: [],
    seeds: [],
    logLevel: 'error',
    logConsole: false,
    workers: false,
  }) as unknown as {
    ensure(): Promise<void>;
    open(): Promise<void>;
    close(): Promise<void>;
    chain: { height: number; tip: { hash: unknown }; on(ev: string, f: (...a: never[]) => void): void };
    mempool: { tip: unknown; map: Map<unknown, unknown>; isSpent(hash: string, index: number): boolean; on(ev: string, f: (...a: never[]) => void): void };
    miner: { assemble(attempt: unknown): unknown };
    rpc: { calls: Record<string, (this: unknown, args: unknown[], help: boolean) => Promise<unknown>> };
  };
  if (opts.prefix) await node.ensure();
  await node.open();
  // bcoin 1.0.2 leaves its (emptied) mempool pointing at an old tip after invalidateblock, and its miner then
  // refuses with "Mempool/chain tip mismatch". An empty mempool holds nothing tied to a tip: point it at the chain's.
  const assemble = node.miner.assemble.bind(node.miner);
  node.miner.assemble = (attempt: unknown): unknown => {
    if (node.mempool.tip !== node.chain.tip.hash && node.mempool.map.size === 0) node.mempool.tip = node.chain.tip.hash;
    return assemble(attempt);
  };
  // bcoin 1.0.2's gettxout with include_mempool looks for the coin among the mempool's new outputs but not among
  // the ones the mempool spends (its hashes: hex in internal byte order); Bitcoin Core answers null for those (rpc/blockchain.cpp gettxout:
  // "if (mempool.isSpent(out)) return null"). As Core, so a double spend is seen before it is broadcast.
  const gettxout = node.rpc.calls.gettxout!;
  node.rpc.calls.gettxout = async function (this: unknown, args: unknown[], help: boolean): Promise<unknown> {
    const [txid, vout, includeMempool = true] = args;
    if (!help && includeMempool !== false && typeof txid === 'string' && /^[0-9a-fA-F]{64}$/.test(txid) && Number.isInteger(vout))
      if (node.mempool.isSpent(Buffer.from(txid, 'hex').reverse().toString('hex'), vout as number)) return null;
    return gettxout.call(this, args, help);
  };
  return { node, height: () => node.chain.height, close: () => node.close() };
}
