// A real regtest full node for the tests: bcoin 1.0.2 (an independent full-node implementation; Bitcoin Core
// cannot be installed here), run as its own process and killed by PID by the tests; the node itself is
// src/adapters/bitcoin/regtest-node.ts (Core's regtest prefixes, csv and segwit active, the miner patch), the same
// one anyad embeds on regtest.
// What it does NOT prove: Bitcoin Core's exact RPC shapes (bcoin's getblock takes booleans, estimatesmartfee answers
// {fee:-1}, sendrawtransaction returns before validation), Taproot validation, ZMQ, or Core's warm-up (-28).
// With ZMQ_PORT set it also publishes Bitcoin Core's ZMQ frames (topic, body, 4-byte LE sequence) for hashblock
// (the hash as RPC shows it) and rawtx (the serialized transaction), as Core's zmq notifier does; ZMQ_SKIP=N makes it
// skip sequence number N of hashblock, to test gap detection. MINER_MAXWEIGHT=W mines blocks of at most W weight units.
// Usage: node bcoin-regtest.js <port> <apikey> [<prefix dir for a persistent chain>]; prints "ready" when serving.

import { openRegtestNode } from '../../src/adapters/bitcoin/regtest-node.js';

const [port, apiKey, prefix] = process.argv.slice(2);
const regtest = await openRegtestNode({ port: Number(port), apiKey: apiKey!, ...(prefix ? { prefix } : {}) });
const node = regtest.node;
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
if (process.env.MINER_MAXWEIGHT) {
  // Smaller blocks, so a test can build a fee backlog with a few hundred transactions. bcoin's miner fills its
  // template by fee rate (descendant-aware), with no priority area (policy BLOCK_PRIORITY_WEIGHT 0), so what a small
  // block takes is the top of the mempool by fee rate, as Core's would.
  (node as unknown as { miner: { options: { maxWeight: number } } }).miner.options.maxWeight = Number(process.env.MINER_MAXWEIGHT);
}
process.stdout.write(`ready ${regtest.height()}\n`);
const shutdown = async (): Promise<void> => {
  await regtest.close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
