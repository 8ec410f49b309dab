// Learning from the node: a live ml.estimatefee on the regtest node's mempool is recorded with a sample of mempool
// transactions and their fee rates; when the target's blocks pass, the outcome (the lowest sampled fee rate that
// confirmed within the target) is joined to it; ml.evaluate and ml.exportdataset report it.

import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { unixChannel } from '../helpers/channel.js';
import { newWallet, startBcoin, type BcoinNode } from '../helpers/bcoin.js';

describe('fee outcomes on a regtest chain', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
  });
  after(async () => {
    await node.stop().catch(() => undefined);
    await dir.remove();
  });

  it('joins an estimate to the fee rates that confirmed within its target', async () => {
    const w = newWallet();
    const blocks = await node.mine(3, w.address);
    await node.mine(100);
    const utxos = [];
    for (const h of blocks) {
      const b = await node.rpc<{ tx: Array<{ txid: string; vout: Array<{ value: number; n: number; scriptPubKey: { hex: string } }> }> }>(
        'getblock',
        h,
        true,
        true,
      );
      const o = b.tx[0]!.vout.find((x) => x.scriptPubKey.hex === Buffer.from(w.script).toString('hex'))!;
      utxos.push({ txid: b.tx[0]!.txid, vout: o.n, value: BigInt(Math.round(o.value * 1e8)) });
    }
    const d = await startDaemon(join(dir.path, 'a'), {
      args: [`-bitcoind.rpcport=${node.port}`, `-bitcoind.rpccookiefile=${node.cookieFile}`, '-bitcoind.pollinterval=100'],
    });
    const ch = await unixChannel(d.socket);
    // three transactions paying about 2, 10 and 30 sat/vB (a 1-in 1-out P2WPKH spend is 110 vB)
    const txids: string[] = [];
    for (const [i, rate] of [2, 10, 30].entries()) {
      const p = new bitcoin.Psbt({ network: bitcoin.networks.regtest });
      p.addInput({ hash: utxos[i]!.txid, index: utxos[i]!.vout, witnessUtxo: { script: w.script, value: utxos[i]!.value } });
      p.addOutput({ address: newWallet().address, value: utxos[i]!.value - BigInt(rate * 110) });
      p.signInput(0, w.key);
      p.finalizeAllInputs();
      const tx = p.extractTransaction();
      txids.push(((await ch.call('chain.broadcast', [tx.toHex()])).result as { txid: string }).txid);
    }
    for (let i = 0; (await node.rpc<string[]>('getrawmempool')).length < 3; i++) {
      assert.ok(i < 200, 'transactions did not reach the mempool');
      await new Promise((r) => setTimeout(r, 10));
    }
    const est = (await ch.call('ml.estimatefee', { target: 1 })).result as { sat_per_vb: number; source: string; version: number };
    assert.equal(est.source, 'bitcoind mempool');
    await ch.call('subscribe', { topics: ['chain.block'] });
    const [mined] = await node.mine(1);
    for (;;) {
      const e = (await ch.next(20000)) as { params?: { data?: { hash?: string } } };
      if (e.params?.data?.hash === mined) break;
    }
    let ev: { rows: number; resolved: number; with_outcome: number; versions: Record<string, { n: number; mae_sat_vb: number }>; core: unknown };
    for (let i = 0; ; i++) {
      ev = (await ch.call('ml.evaluate', {})).result as typeof ev;
      if (ev.resolved === 1) break;
      assert.ok(i < 200, `not resolved: ${JSON.stringify(ev)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(ev.rows, 1);
    assert.equal(ev.with_outcome, 1);
    assert.equal(ev.versions['1']!.n, 1);
    assert.equal(ev.core, null, 'bcoin has no estimate, so there is nothing to compare');
    const file = join(dir.path, 'dataset.csv');
    const ex = (await ch.call('ml.exportdataset', { destination: file })).result as { rows: number };
    assert.equal(ex.rows, 1);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const [header, line] = (await readFile(file, 'utf8')).trim().split('\n');
    assert.match(header!, /^time,height,target,log1p_mempool_mvb,.*,core_sat_per_vb,outcome_sat_per_vb$/);
    const outcome = Number(line!.split(',').pop());
    // the lowest sampled fee rate that confirmed: the 2 sat/vB transaction, 220 sat over 109 to 110 vB as its
    // signature is 71 or 72 bytes (bcoin reports size, not vsize, so it may also read a little lower)
    assert.ok(outcome > 0.5 && outcome <= 220 / 109 + 0.001, `outcome ${outcome}`);
    const mae = ev.versions['1']!.mae_sat_vb;
    assert.ok(Math.abs(mae - Math.abs(est.sat_per_vb - outcome)) < 1.01, `mae ${mae} vs |${est.sat_per_vb} - ${outcome}|`);
    assert.equal((await ch.call('ml.exportdataset', { destination: file })).error?.code, -32014);
    ch.close();
    await d.kill();
  });
});
