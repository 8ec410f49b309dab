// The chain watcher decides the main chain by block hashes (issue 11), against a real regtest node behind a proxy
// that injects faults (test/peers/rpc-proxy.ts): transient RPC failures pause the watcher and never produce a reorg
// event; a backend whose `confirmations` never goes negative (as bcoin's) still gives a correct reorg; a reorg
// deeper than bitcoind.reorgwindow resyncs with a chain.resync event and goes on; a failed mempool lookup is
// retried.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { unixChannel, type Channel, eventsUntil } from '../helpers/channel.js';
import { fund, newWallet, pay, startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { RpcProxy } from '../peers/rpc-proxy.js';

describe('chain watcher: hashes, not numbers; pauses, not phantom reorgs', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let proxy: RpcProxy;
  let d: RunningDaemon;
  let ch: Channel;

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    await node.mine(5);
    proxy = new RpcProxy(node.port);
    await proxy.start();
    d = await startDaemon(join(dir.path, 'anya'), {
      args: [
        '-bitcoind.stalltimeout=2',
        `-bitcoind.rpcport=${proxy.port}`,
        `-bitcoind.rpccookiefile=${node.cookieFile}`,
        '-bitcoind.pollinterval=100',
        '-bitcoind.reorgwindow=6',
        '-bitcoind.confirmations=2',
      ],
    });
    ch = await unixChannel(d.socket);
    await ch.call('subscribe', { topics: ['chain.*'] });
  });
  after(async () => {
    ch?.close();
    await d?.kill();
    await proxy?.stop();
    await node?.stop().catch(() => undefined);
    await dir.remove();
  });

  it('transient failures of every call the watcher makes produce no reorg event; the new block still arrives once', async () => {
    const [first] = await node.mine(1);
    await eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === first);
    for (const fault of ['rpc-error', 'http-500', 'drop'] as const) {
      for (const m of ['getblockhash', 'getblockheader', 'getblock', 'getbestblockhash']) proxy.failNext(m, 2, fault);
      const [h] = await node.mine(1);
      const seen = await eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === h);
      assert.deepEqual(
        seen.filter((e) => e.params.topic !== 'chain.block').map((e) => e.params.topic),
        [],
        `${fault}: no reorg, no disconnect`,
      );
      assert.equal(seen.filter((e) => e.params.topic === 'chain.block').length, 1, `${fault}: the block once`);
    }
  });

  it('bitcoind answering an error during a round is not an outage: calls to it go through, health says degraded', async () => {
    const lost = d.logs.filter((l) => l.msg === 'lost bitcoind').length;
    proxy.failNext('getblockhash', 4, 'rpc-error');
    const [h] = await node.mine(1);
    const states = new Set<string>();
    const done = eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === h);
    let finished = false;
    void done.finally(() => (finished = true));
    while (!finished) {
      // chain.getinfo asks the node itself (getblockchaininfo): it answers while the watcher's round fails.
      const r = (await ch.call('chain.getinfo')) as { result?: { state: string; blocks: number | null }; error?: unknown };
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      states.add(r.result!.state);
      await new Promise((r) => setTimeout(r, 20));
    }
    await done;
    assert.deepEqual([...states], ['connected'], 'bitcoind stayed connected');
    const failed = await d.waitForLog((l) => l.msg === 'chain watcher round failed');
    assert.equal(failed.reason, 'injected failure');
    assert.equal(d.logs.filter((l) => l.msg === 'lost bitcoind').length, lost, 'no outage logged');
  });

  it('a backend whose confirmations never go negative (bcoin-style) still gives a correct reorg', async () => {
    proxy.rewrite('getblockheader', (r) => ({ ...(r as object), confirmations: Math.max(1, Math.abs((r as { confirmations: number }).confirmations)) }));
    try {
      const tip = await node.rpc<string>('getbestblockhash');
      await node.rpc('invalidateblock', tip);
      const fresh = await node.mine(2);
      const seen = await eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === fresh[1]);
      const reorg = seen.find((e) => e.params.topic === 'chain.reorg');
      assert.ok(reorg, 'the reorg is seen');
      assert.deepEqual(
        (reorg.params.data.disconnected as Array<{ hash: string }>).map((b) => b.hash),
        [tip],
      );
      assert.deepEqual(
        seen.filter((e) => e.params.topic === 'chain.block').map((e) => e.params.data.hash),
        fresh,
      );
    } finally {
      proxy.rewrite('getblockheader', undefined);
    }
  });

  it('a failed mempool lookup is retried: the watched payment is still reported', async () => {
    const alice = newWallet();
    const bob = newWallet();
    const utxo = await fund(node, alice);
    await ch.call('chain.watch', { address: bob.address });
    proxy.failNext('getrawtransaction', 3, 'rpc-error');
    const tx = pay(alice, utxo, bob.address);
    await node.rpc('sendrawtransaction', tx.hex);
    const seen = await eventsUntil(ch, (e) => e.params.topic === 'chain.tx' && e.params.data.txid === tx.txid);
    assert.equal(seen.at(-1)!.params.data.status, 'mempool');
    paid = { txid: tx.txid };
  });
  let paid: { txid: string } = { txid: '' };

  it('a reorg deeper than bitcoind.reorgwindow resyncs with chain.resync and goes on', async () => {
    const [paidBlock] = await node.mine(1);
    await eventsUntil(ch, (e) => e.params.topic === 'chain.tx' && e.params.data.txid === paid.txid && e.params.data.status === 'confirmed');
    const later = await node.mine(8);
    await eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === later[7]);
    await node.rpc('invalidateblock', paidBlock);
    const fresh = await node.mine(12);
    const seen = await eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === fresh[11]);
    const resync = seen.find((e) => e.params.topic === 'chain.resync');
    assert.ok(resync, `a resync is announced: ${seen.map((e) => e.params.topic).join(',')}`);
    assert.ok((resync.params.data.reorged as string[]).includes(paid.txid), 'the payment in the lost block is named');
    assert.ok(seen.some((e) => e.params.topic === 'chain.tx' && e.params.data.txid === paid.txid && e.params.data.status === 'reorged'));
    // After the resync the new branch is reported in order up to the node's tip.
    const blocks = seen.filter((e) => e.params.topic === 'chain.block' && fresh.includes(e.params.data.hash!)).map((e) => e.params.data.hash);
    assert.deepEqual(blocks, fresh);
  });

  it('a watcher that makes no progress while the node is ahead shows as degraded within bitcoind.stalltimeout, then recovers', async () => {
    const health = async (): Promise<{ state: string; detail: string }> =>
      ((await ch.call('health')).result as { services: Record<string, { state: string; detail: string }> }).services.bitcoind!;
    // Blocks that never link to the tip (a node answering garbage): no error, no progress.
    proxy.rewrite('getblock', (r) => (typeof r === 'object' && r !== null ? { ...(r as object), previousblockhash: '11'.repeat(32) } : r));
    try {
      const [h] = await node.mine(1);
      let seen: { state: string; detail: string } | undefined;
      for (let i = 0; i < 100 && seen?.state !== 'degraded'; i++) {
        seen = await health();
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(seen?.state, 'degraded');
      assert.match(seen!.detail, /chain watcher stalled: at height \d+ while the node is at \d+/);
      assert.ok(
        d.logs.some((l) => l.msg === 'chain watcher stalled'),
        'logged',
      );
      proxy.rewrite('getblock', undefined);
      await eventsUntil(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === h);
      for (let i = 0; i < 50 && (await health()).state !== 'ok'; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal((await health()).state, 'ok');
    } finally {
      proxy.rewrite('getblock', undefined);
    }
  });
});
