// More of the bitcoin room against the regtest node: fee estimates and mempool figures in sat/vB, the cookie
// re-read when the node restarts with a new one, rpcuser with a password file, watch-list validation and outpoint
// spends.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { wsChannel, type Channel } from '../helpers/channel.js';
import { fund, newWallet, pay, startBcoin, type BcoinNode } from '../helpers/bcoin.js';

async function untilEvent(ch: Channel, pred: (d: Record<string, unknown>, topic: string) => boolean): Promise<Record<string, unknown>> {
  for (;;) {
    const e = (await ch.next(20000)) as { method: string; params: { topic: string; data: Record<string, unknown> } };
    if (e.method === 'event' && pred(e.params.data, e.params.topic)) return e.params.data;
  }
}

describe('bitcoin room, more', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path, { prefix: join(dir.path, 'chain') });
  });
  after(async () => {
    await node.stop().catch(() => undefined);
    await dir.remove();
  });

  it('estimatefee answers per target in sat/vB (null with the reason when the node has no estimate); mempoolinfo in sat/vB', async () => {
    const d = await startDaemon(join(dir.path, 'a'), { args: [`-bitcoind.rpcport=${node.port}`, `-bitcoind.rpccookiefile=${node.cookieFile}`] });
    const ch = await wsChannel(d.wsUrl!, await d.cookie());
    const fee = (await ch.call('chain.estimatefee', { targets: [2, 6] })).result as {
      source: string;
      estimates: Array<{ target: number; sat_per_vb: number | null; errors: string[] }>;
    };
    assert.equal(fee.source, 'estimatesmartfee');
    assert.deepEqual(
      fee.estimates.map((e) => e.target),
      [2, 6],
    );
    // a fresh regtest node has seen no fee data
    for (const e of fee.estimates) {
      assert.equal(e.sat_per_vb, null);
      assert.ok(e.errors.length > 0);
    }
    const bad = await ch.call('chain.estimatefee', { targets: [0] });
    assert.equal(bad.error?.code, -32602);
    const mp = (await ch.call('chain.mempoolinfo')).result as { size: number; min_fee_sat_per_vb: number | null };
    assert.equal(typeof mp.size, 'number');
    ch.close();
    await d.kill();
  });

  it('re-reads the cookie when the node restarts with a new one', async () => {
    const d = await startDaemon(join(dir.path, 'b'), {
      args: [`-bitcoind.rpcport=${node.port}`, `-bitcoind.rpccookiefile=${node.cookieFile}`, '-bitcoind.pollinterval=100'],
    });
    const ch = await wsChannel(d.wsUrl!, await d.cookie());
    await ch.call('subscribe', { topics: ['chain.block'] });
    await node.stop();
    await d.waitForLog((l) => l.msg === 'lost bitcoind');
    // a new api key, written to the same cookie file, as bitcoind does at each start
    node = await startBcoin(dir.path, { port: node.port, prefix: join(dir.path, 'chain') });
    await d.waitForLog((l) => l.msg === 'connected to bitcoind' && l.reconnected === true, 30000);
    const [h] = await node.mine(1);
    await untilEvent(ch, (data) => data.hash === h);
    ch.close();
    await d.kill();
  });

  it('rpcuser with a password file; a missing password file is a clear health reason', async () => {
    const pw = join(dir.path, 'bitcoind.pw');
    await writeFile(pw, `${node.apiKey}\n`, { mode: 0o600 });
    const d = await startDaemon(join(dir.path, 'c'), { args: [`-bitcoind.rpcport=${node.port}`, '-bitcoind.rpcuser=anya', `-bitcoind.rpcpasswordfile=${pw}`] });
    const ch = await wsChannel(d.wsUrl!, await d.cookie());
    assert.equal(((await ch.call('chain.getinfo')).result as { state: string }).state, 'connected');
    ch.close();
    await d.kill();
    const e = await startDaemon(join(dir.path, 'e'), {
      args: [`-bitcoind.rpcport=${node.port}`, '-bitcoind.rpcuser=anya', `-bitcoind.rpcpasswordfile=${join(dir.path, 'none')}`],
    });
    const ch2 = await wsChannel(e.wsUrl!, await e.cookie());
    const h = (await ch2.call('health')).result as { status: string; services: Record<string, { state: string; detail: string }> };
    assert.equal(h.status, 'degraded');
    assert.match(h.services.bitcoind!.detail, /bitcoind\.rpcpasswordfile: cannot read .*none \(ENOENT\)/);
    assert.ok(!JSON.stringify(e.logs).includes(node.apiKey), 'no password in the log');
    ch2.close();
    await e.kill();
  });

  it('a spend of a watched outpoint is reported with the outpoint; bad watches are refused', async () => {
    const d = await startDaemon(join(dir.path, 'f'), {
      args: [`-bitcoind.rpcport=${node.port}`, `-bitcoind.rpccookiefile=${node.cookieFile}`, '-bitcoind.pollinterval=100'],
    });
    const ch = await wsChannel(d.wsUrl!, await d.cookie());
    await ch.call('subscribe', { topics: ['chain.tx'] });
    const alice = newWallet();
    const utxo = await fund(node, alice);
    const op = `${utxo.txid}:${utxo.vout}`;
    const w = (await ch.call('chain.watch', { outpoint: op })).result as { id: string };
    const tx = pay(alice, utxo, newWallet().address);
    await ch.call('chain.broadcast', [tx.hex]);
    const ev = await untilEvent(ch, (data) => data.txid === tx.txid);
    assert.deepEqual(ev.spends, [op]);
    assert.deepEqual(ev.watches, [w.id]);
    for (const [params, re] of [
      [{ outpoint: 'abc:1' }, /outpoint must be <txid>:<vout>/],
      [{ script: 'xyz' }, /script must be hex/],
      [{ address: newWallet().address, script: '00' }, /exactly one of address, script or outpoint/],
      [{}, /exactly one of address, script or outpoint/],
    ] as const) {
      const r = await ch.call('chain.watch', params);
      assert.equal(r.error?.code, -32602);
      assert.match(r.error!.message, re);
    }
    assert.equal((await ch.call('chain.unwatch', [w.id])).result, true);
    assert.equal((await ch.call('chain.unwatch', [w.id])).error?.code, -32011);
    ch.close();
    await d.kill();
  });
});
