// ZMQ notifications from a regtest node publishing Core's frames: blocks and watched transactions arrive without
// waiting for a poll, a lost message (sequence gap) is noticed and the chain re-read, and a silent ZMQ endpoint
// falls back to polling.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { wsChannel, type Channel } from '../helpers/channel.js';
import { freePort, fund, newWallet, pay, startBcoin } from '../helpers/bcoin.js';

interface Ev {
  method: string;
  params: { topic: string; data: { hash?: string; txid?: string; status?: string } };
}
async function until(ch: Channel, pred: (e: Ev) => boolean, timeoutMs = 20000): Promise<Ev> {
  for (;;) {
    const e = (await ch.next(timeoutMs)) as Ev;
    if (e.method === 'event' && pred(e)) return e;
  }
}

describe('ZMQ', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());

  it('blocks and watched mempool transactions arrive by ZMQ, with polling ten minutes away', async () => {
    const zmqPort = await freePort();
    const node = await startBcoin(dir.path, { zmqPort });
    const alice = newWallet();
    const utxo = await fund(node, alice);
    const d = await startDaemon(join(dir.path, 'a'), {
      args: [
        `-bitcoind.rpcport=${node.port}`,
        `-bitcoind.rpccookiefile=${node.cookieFile}`,
        '-bitcoind.pollinterval=600000',
        `-bitcoind.zmqpubhashblock=tcp://127.0.0.1:${zmqPort}`,
        `-bitcoind.zmqpubrawtx=tcp://127.0.0.1:${zmqPort}`,
      ],
    });
    const ch = await wsChannel(d.wsUrl!, await d.cookie());
    await ch.call('subscribe', { topics: ['chain.block', 'chain.tx'] });
    assert.equal(((await ch.call('chain.getinfo')).result as { mode: string }).mode, 'zmq');
    // A subscriber's connect takes a moment in ZMQ ("slow joiner"): mine until the first block comes through.
    let got: Ev | undefined;
    for (let i = 0; !got && i < 50; i++) {
      const [h] = await node.mine(1);
      got = await until(ch, (e) => e.params.topic === 'chain.block' && e.params.data.hash === h, 300).catch(() => undefined);
    }
    assert.ok(got, 'a block arrived through ZMQ');
    const bob = newWallet();
    await ch.call('chain.watch', { address: bob.address });
    const tx = pay(alice, utxo, bob.address);
    await ch.call('chain.broadcast', [tx.hex]);
    const mem = await until(ch, (e) => e.params.topic === 'chain.tx' && e.params.data.txid === tx.txid);
    assert.equal(mem.params.data.status, 'mempool');
    const [h] = await node.mine(1);
    const block = await until(ch, (e) => e.params.topic === 'chain.block');
    assert.equal(block.params.data.hash, h);
    const conf = await until(ch, (e) => e.params.topic === 'chain.tx' && e.params.data.txid === tx.txid);
    assert.equal(conf.params.data.status, 'confirmed');
    ch.close();
    await d.kill();
    await node.stop();
  });

  it('a sequence gap is noticed and the chain re-read; no block is missed', async () => {
    const zmqPort = await freePort();
    const node = await startBcoin(dir.path, { zmqPort, zmqSkip: 3 });
    const d = await startDaemon(join(dir.path, 'b'), {
      args: [
        `-bitcoind.rpcport=${node.port}`,
        `-bitcoind.rpccookiefile=${node.cookieFile}`,
        '-bitcoind.pollinterval=600000',
        `-bitcoind.zmqpubhashblock=tcp://127.0.0.1:${zmqPort}`,
      ],
    });
    const ch = await wsChannel(d.wsUrl!, await d.cookie());
    await ch.call('subscribe', { topics: ['chain.block'] });
    const hashes: string[] = [];
    for (let i = 0; i < 8; i++) hashes.push(...(await node.mine(1)));
    const gap = await d.waitForLog((l) => l.msg === 'zmq sequence gap: notifications were lost; re-reading the chain');
    assert.equal(gap.topic, 'hashblock');
    assert.equal((gap.got as number) - (gap.expected as number), 1);
    await until(ch, (e) => e.params.data.hash === hashes[7]);
    const info = (await ch.call('chain.getinfo')).result as { processed_hash: string };
    assert.equal(info.processed_hash, hashes[7]);
    ch.close();
    await d.kill();
    await node.stop();
  });

  it('a silent ZMQ endpoint: polling still delivers every block and the mode says so', async () => {
    const node = await startBcoin(dir.path);
    const silent = await freePort();
    const d = await startDaemon(join(dir.path, 'c'), {
      args: [
        `-bitcoind.rpcport=${node.port}`,
        `-bitcoind.rpccookiefile=${node.cookieFile}`,
        '-bitcoind.pollinterval=100',
        `-bitcoind.zmqpubhashblock=tcp://127.0.0.1:${silent}`,
      ],
    });
    const ch = await wsChannel(d.wsUrl!, await d.cookie());
    await ch.call('subscribe', { topics: ['chain.block'] });
    const [h] = await node.mine(1);
    await until(ch, (e) => e.params.data.hash === h);
    await d.waitForLog((l) => l.msg === 'zmq is silent (blocks found by polling were never announced); polling carries on');
    assert.equal(((await ch.call('chain.getinfo')).result as { mode: string }).mode, 'polling');
    ch.close();
    await d.kill();
    await node.stop();
  });
});
