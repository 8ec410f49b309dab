// A real regtest full node for the tests: bcoin 1.0.2 (an independent full-node implementation; Bitcoin Core
// cannot be installed here), run as its own process and killed by PID by the tests.
// It is patched to Bitcoin Core's regtest address and key prefixes and to activate csv and segwit at once, so
// transactions built with bitcoinjs-lib for regtest are valid on it.
// The one patch to bcoin itself: its miner after invalidateblock (see below).
// What it does NOT prove: Bitcoin Core's exact RPC shapes (bcoin's getblock takes booleans, estimatesmartfee answers
// {fee:-1}, sendrawtransaction returns before validation), Taproot validation, ZMQ, or Core's warm-up (-28).
// With ZMQ_PORT set it also publishes Bitcoin Core's ZMQ frames (topic, body, 4-byte LE sequence) for hashblock
// (the hash as RPC shows it) and rawtx (the serialized transaction), as Core's zmq notifier does; ZMQ_SKIP=N makes it
// skip sequence number N of hashblock, to test gap detection.
// Usage: node bcoin-regtest.js <port> <apikey> [<prefix dir for a persistent chain>]; prints "ready" when serving.

import { createRequire } from 'node:module';

process.env.NODE_BACKEND = 'js';
const require = createRequire(import.meta.url);

const bcoin = require('bcoin');

const [port, apiKey, prefix] = process.argv.slice(2);
const net = bcoin.Network.get('regtest');
Object.assign(net.addressPrefix, { pubkeyhash: 0x6f, scripthash: 0xc4, witnesspubkeyhash: 0x03, witnessscripthash: 0x28, bech32: 'bcrt' });
Object.assign(net.keyPrefix, { privkey: 0xef, xpubkey: 0x043587cf, xprivkey: 0x04358394, xpubkey58: 'tpub', xprivkey58: 'tprv' });
for (const d of net.deploys) {
  d.threshold = 1;
  d.window = 1;
}
for (const d of Object.values(net.deployments) as Array<{ threshold: number; window: number }>) {
  d.threshold = 1;
  d.window = 1;
}

const node = new bcoin.FullNode({
  network: 'regtest',
  memory: !prefix,
  ...(prefix ? { prefix } : {}),
  indexTX: true,
  indexAddress: false,
  httpHost: '127.0.0.1',
  httpPort: Number(port),
  apiKey,
  listen: false,
  maxOutbound: 1,
  noDiscovery: true,
  nodes: [],
  seeds: [],
  logLevel: 'error',
  logConsole: false,
  workers: false,
});
if (prefix) await node.ensure();
await node.open();
// bcoin 1.0.2 leaves its (emptied) mempool pointing at an old tip after invalidateblock, and its miner then refuses
// with "Mempool/chain tip mismatch". An empty mempool holds nothing tied to a tip: point it at the chain's.
const assemble = node.miner.assemble.bind(node.miner);
node.miner.assemble = (attempt: unknown): unknown => {
  if (node.mempool.tip !== node.chain.tip.hash && node.mempool.map.size === 0) node.mempool.tip = node.chain.tip.hash;
  return assemble(attempt);
};
if (process.env.ZMQ_PORT) {
  const { Publisher } = await import('zeromq');
  const pub = new Publisher();
  await pub.bind(`tcp://127.0.0.1:${process.env.ZMQ_PORT}`);
  const seq = new Map<string, number>();
  const skip = process.env.ZMQ_SKIP === undefined ? -1 : Number(process.env.ZMQ_SKIP);
  // Sends are queued so frames leave in order even when events come faster than the socket takes them.
  let chain = Promise.resolve();
  const publish = (topic: string, body: Buffer): void => {
    let n = seq.get(topic) ?? 0;
    if (topic === 'hashblock' && n === skip) n++;
    seq.set(topic, n + 1);
    const s = Buffer.alloc(4);
    s.writeUInt32LE(n >>> 0);
    chain = chain.then(() => pub.send([topic, body, s])).catch(() => undefined);
  };
  node.chain.on('connect', (entry: { rhash(): string }) => publish('hashblock', Buffer.from(entry.rhash(), 'hex')));
  node.mempool.on('tx', (tx: { toRaw(): Buffer }) => publish('rawtx', tx.toRaw()));
}
process.stdout.write(`ready ${node.chain.height}\n`);
const shutdown = async (): Promise<void> => {
  await node.close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
