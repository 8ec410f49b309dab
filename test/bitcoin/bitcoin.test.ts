// The bitcoin room against a real regtest full node (bcoin; see test/peers/bcoin-regtest for what that does not
// prove): connect, chain.block events in order, a watched address paid (mempool, confirmed, deep), broadcast
// checks, a real reorg, the node killed and restarted (fast errors, then catch-up with no missed block), anyad
// restarted (resume from the persisted tip), and the network check.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { wsChannel, type Channel, eventsUntil } from '../helpers/channel.js';
import { fund, newWallet, pay, startBcoin, type BcoinNode } from '../helpers/bcoin.js';

describe('bitcoin room against a regtest node', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let d: RunningDaemon;
  let ch: Channel;
  const args = (n: BcoinNode): string[] => [
    `-bitcoind.rpcport=${n.port}`,
    `-bitcoind.rpccookiefile=${n.cookieFile}`,
    '-bitcoind.pollinterval=100',
    '-bitcoind.confirmations=3',
  ];

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path, { prefix: join(dir.path, 'bcoin') });
    d = await startDaemon(join(dir.path, 'anya'), { args: args(node) });
    ch = await wsChannel(d.wsUrl!, await d.cookie());
    await ch.call('subscribe', { topics: ['chain.*'] });
  });
  after(async () => {
    ch?.close();
    await d?.kill();
    await node?.stop().catch(() => undefined);
    await dir.remove();
  });

  it('connects and reports the backend and the chain', async () => {
    const info = (await ch.call('chain.getinfo')).result as { state: string; backend: { kind: string }; network: string; blocks: number; mode: string };
    assert.equal(info.state, 'connected');
    assert.equal(info.backend.kind, 'bcoin');
    assert.equal(info.network, 'regtest');
    assert.equal(info.mode, 'polling');
    const health = (await ch.call('health')).result as { services: Record<string, { state: string; detail: string }> };
    assert.equal(health.services.bitcoind!.state, 'ok');
  });

  it('mined blocks arrive as chain.block events, in order', async () => {
    const hashes = await node.mine(5);
    const seen = await eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === hashes[4]);
    const blocks = seen.filter((e) => e.params.topic === 'chain.block').map((e) => e.params.data.hash);
    assert.deepEqual(blocks.slice(-5), hashes);
    const heights = seen.filter((e) => e.params.topic === 'chain.block').map((e) => e.params.data.height!);
    heights.forEach((h, i) => i > 0 && assert.equal(h, heights[i - 1]! + 1));
    const h = await ch.call('chain.getblockheader', [hashes[4]]);
    assert.equal((h.result as { hash: string } | undefined)?.hash, hashes[4], JSON.stringify(h.error));
    const b1 = await ch.call('chain.getblock', { block: heights[heights.length - 1], verbosity: 1 });
    assert.equal((b1.result as { hash: string } | undefined)?.hash, hashes[4], JSON.stringify(b1.error));
    // Every verbosity answers in its declared shape (the daemon checks each answer: rpccheckresults).
    const raw = await ch.call('chain.getblock', { block: hashes[4], verbosity: 0 });
    assert.match(raw.result as string, /^[0-9a-f]+$/, JSON.stringify(raw.error));
    const full = await ch.call('chain.getblock', { block: hashes[4], verbosity: 2 });
    assert.ok(((full.result as { tx: Array<{ txid: string }> }).tx[0]!.txid ?? '').length === 64, JSON.stringify(full.error));
  });

  let paidTxid = '';
  let paidBlock = '';
  it('a payment to a watched address: mempool, then confirmed, then deep', async () => {
    const alice = newWallet();
    const bob = newWallet();
    const utxo = await fund(node, alice);
    const w = (await ch.call('chain.watch', { address: bob.address, label: 'bob' })).result as { id: string };
    const again = (await ch.call('chain.watch', { address: bob.address })).result as { id: string };
    assert.equal(again.id, w.id, 'watching the same thing twice gives the same watch');
    const tx = pay(alice, utxo, bob.address);
    const sent = (await ch.call('chain.broadcast', [tx.hex])).result as { txid: string };
    assert.equal(sent.txid, tx.txid);
    const mem = await eventsUntil(ch, (e) => e.params.topic === 'chain.tx' && e.params.data.txid === tx.txid);
    const memEv = mem[mem.length - 1]!.params.data;
    assert.equal(memEv.status, 'mempool');
    assert.deepEqual(memEv.watches, [w.id]);
    const [blockHash] = await node.mine(1);
    const conf = await eventsUntil(ch, (e) => e.params.topic === 'chain.tx' && e.params.data.txid === tx.txid);
    assert.equal(conf[conf.length - 1]!.params.data.status, 'confirmed');
    assert.equal(conf[conf.length - 1]!.params.data.block_hash, blockHash);
    await node.mine(2);
    const deep = await eventsUntil(ch, (e) => e.params.topic === 'chain.tx' && e.params.data.txid === tx.txid);
    assert.equal(deep[deep.length - 1]!.params.data.status, 'deep');
    assert.equal(deep[deep.length - 1]!.params.data.confirmations, 3);
    const got = (await ch.call('chain.gettx', [tx.txid])).result as { txid: string; anya_watch: { status: string } };
    assert.equal(got.anya_watch.status, 'confirmed');
    const list = (await ch.call('chain.listwatches')).result as Array<{ id: string; label: string }>;
    assert.deepEqual(
      list.map((x) => [x.id, x.label]),
      [[w.id, 'bob']],
    );
    paidTxid = tx.txid;
    paidBlock = blockHash!;
  });

  it('broadcast refuses what is not a transaction, with a clear error, before bitcoind sees it', async () => {
    const r = await ch.call('chain.broadcast', ['00'.repeat(20)]);
    assert.equal(r.error?.code, -32602);
    assert.match(r.error!.message, /not a valid transaction/);
    const notHex = await ch.call('chain.broadcast', ['zz'.repeat(20)]);
    assert.equal(notHex.error?.code, -32602);
    const bad = await ch.call('chain.watch', { address: 'bc1qnotanaddress' });
    assert.match(bad.error!.message, /not a valid regtest address/);
  });

  it('a real reorg: disconnected newest first, the watched tx back to unconfirmed, then the new branch', async () => {
    const tip = await node.rpc<string>('getbestblockhash');
    await node.rpc('invalidateblock', paidBlock);
    const seen = await eventsUntil(ch, (e) => e.params.topic === 'chain.tx' && e.params.data.txid === paidTxid && e.params.data.status === 'reorged');
    const reorg = seen.find((e) => e.params.topic === 'chain.reorg')!;
    assert.equal((reorg.params.data.disconnected as Array<{ hash: string }>)[0]!.hash, tip);
    const disc = seen.filter((e) => e.params.topic === 'chain.disconnected').map((e) => e.params.data.height!);
    assert.equal(disc.length, 3);
    disc.forEach((h, i) => i > 0 && assert.equal(h, disc[i - 1]! - 1, 'newest first'));
    assert.equal(seen.filter((e) => e.params.topic === 'chain.disconnected').pop()!.params.data.hash, paidBlock);
    const fresh = await node.mine(4);
    const more = await eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === fresh[3]);
    assert.deepEqual(
      more
        .filter((e) => e.params.topic === 'chain.block')
        .map((e) => e.params.data.hash)
        .slice(-4),
      fresh,
    );
  });

  it('node killed: anyad stays up and answers BackendUnavailable; node back: reconnects and catches up every block', async () => {
    const before = (await ch.call('chain.getinfo')).result as { processed_height: number };
    await node.stop();
    await d.waitForLog((l) => l.msg === 'lost bitcoind');
    const r = await ch.call('chain.getblockheader', ['00'.repeat(32)]);
    assert.equal(r.error?.code, -32010);
    assert.equal((r.error?.data as { service: string }).service, 'bitcoind');
    assert.equal(typeof (await ch.call('uptime')).result, 'number', 'the daemon itself is fine');
    node = await startBcoin(dir.path, { port: node.port, apiKey: node.apiKey, prefix: join(dir.path, 'bcoin') });
    await d.waitForLog((l) => l.msg === 'connected to bitcoind' && l.reconnected === true, 30000);
    const mined = await node.mine(3);
    const seen = await eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === mined[2]);
    const heights = seen.filter((e) => e.params.topic === 'chain.block').map((e) => e.params.data.height!);
    assert.deepEqual(heights, [before.processed_height + 1, before.processed_height + 2, before.processed_height + 3]);
  });

  it('anyad restarted: resumes from the persisted tip and catches up the blocks it missed', async () => {
    const info = (await ch.call('chain.getinfo')).result as { processed_height: number };
    ch.close();
    await d.kill();
    const missed = await node.mine(4);
    d = await startDaemon(join(dir.path, 'anya'), { args: args(node) });
    ch = await wsChannel(d.wsUrl!, await d.cookie());
    // Catch-up happens during start-up: by now the processed tip is the node's.
    const after = (await ch.call('chain.getinfo')).result as { processed_height: number; processed_hash: string; watches: number };
    assert.equal(after.processed_height, info.processed_height + 4);
    assert.equal(after.processed_hash, missed[3]);
    assert.equal(after.watches, 1, 'the watch list survived');
  });

  it('refuses a bitcoind on another network', async () => {
    const other = await startDaemon(join(dir.path, 'main-net'), {
      args: ['-network=test', `-bitcoind.rpcport=${node.port}`, `-bitcoind.rpccookiefile=${node.cookieFile}`, '-rpcport=0'],
    }).catch((e: Error) => e);
    assert.ok(!(other instanceof Error), String(other));
    const o = other as RunningDaemon;
    const line = await o.waitForLog((l) => l.msg === 'bitcoind is on another network');
    assert.equal(line.bitcoind_chain, 'regtest');
    await o.kill();
  });
});
