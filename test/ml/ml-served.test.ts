// The fee model served as it was trained (issue 11): both bundled models rebuilt from tools/make-models.ts give
// the same bytes as their cards' sha256 (and the same cards); features outside the training ranges are clamped
// (the card says so); estimates are at least 1 sat/vB and never rise with the target; ml.predict on the fee model
// never answers below 1; the live snapshot carries the fee rates of recent blocks seen on a real regtest node.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ModelCard } from '../../src/ml/card.js';
import { makeFeeModel, makeRiskModel } from '../../tools/make-models.js';
import { ROOT, startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, unixChannel, type Channel } from '../helpers/channel.js';
import { fund, newWallet, pay, startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { until } from '../helpers/until.js';

describe('fee model served as trained', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());

  it('both bundled models are rebuilt byte for byte from their seeds (sha256 as on the cards, cards equal)', async () => {
    const out = join(dir.path, 'models');
    await makeFeeModel(out);
    await makeRiskModel(out);
    for (const id of ['fee-estimator', 'tx-risk']) {
      const card = JSON.parse(await readFile(join(ROOT, 'models', id, '1', 'card.json'), 'utf8')) as ModelCard;
      const rebuilt = await readFile(join(out, id, '1', 'model.onnx'));
      assert.equal(createHash('sha256').update(rebuilt).digest('hex'), card.sha256, `${id}: rebuilt bytes`);
      assert.equal(
        await readFile(join(out, id, '1', 'card.json'), 'utf8'),
        await readFile(join(ROOT, 'models', id, '1', 'card.json'), 'utf8'),
        `${id}: rebuilt card`,
      );
      assert.equal(card.inputs[0]!.ranges?.length, card.inputs[0]!.features?.length, `${id}: a training range per feature`);
      assert.equal(card.inputs[0]!.out_of_range, 'clamp');
    }
  });

  describe('answers within the training ranges', () => {
    let d: RunningDaemon;
    let ch: Channel;
    before(async () => {
      d = await startDaemon(join(dir.path, 'a'), { args: ['-nobitcoind.enable'] });
      ch = await unixChannel(d.socket);
    });
    after(async () => {
      ch.close();
      await d.kill();
    });

    it("absurd snapshots are clamped to what the model saw: finite, at most the card's highest label", async () => {
      const card = JSON.parse(await readFile(join(ROOT, 'models', 'fee-estimator', '1', 'card.json'), 'utf8')) as ModelCard;
      const max = card.outputs[0]!.ranges![0]![1];
      const huge = await call<{ sat_per_vb: number }>(ch, 'ml.estimatefee', {
        target: 1,
        snapshot: { mempool_vsize: 1e300, fee_histogram: [[1e300, 1e300]], recent_block_feerates: [1e300], seconds_since_last_block: 1e300 },
      });
      assert.ok(Number.isFinite(huge.sat_per_vb) && huge.sat_per_vb <= max, `${huge.sat_per_vb} <= ${max}`);
      const p = await call<{ output: number }>(ch, 'ml.predict', { id: 'fee-estimator', features: [-50, -50, -50, -50, -50, -50, -50, -50, 0] });
      assert.ok(p.output >= 1, `ml.predict on the fee model answers ${p.output}`);
    });

    it('ml.listmodels and ml.modelinfo answer in their declared shapes (the card with its ranges, the routing)', async () => {
      const list = await call<{ loaded: Array<{ id: string }>; routing: Record<string, { mode: string }> }>(ch, 'ml.listmodels');
      assert.deepEqual(list.loaded.map((m) => m.id).sort(), ['fee-estimator', 'tx-risk']);
      assert.equal(list.routing['fee-estimator']?.mode, 'single');
      const info = await call<{ card: ModelCard; shadow: unknown }>(ch, 'ml.modelinfo', { id: 'fee-estimator' });
      assert.equal(info.card.inputs[0]!.out_of_range, 'clamp');
      assert.equal(info.shadow, null);
    });

    it('estimates are at least 1 sat/vB and never rise with the target, on a near-empty and on a busy mempool', async () => {
      for (const snapshot of [
        { mempool_vsize: 1000, fee_histogram: [[1, 1000]], recent_block_feerates: [1, 1, 1, 1, 1, 1], seconds_since_last_block: 30 },
        { mempool_vsize: 1000, fee_histogram: [[1, 1000]], recent_block_feerates: [], seconds_since_last_block: 30 },
        {
          mempool_vsize: 90e6,
          fee_histogram: [
            [1, 30e6],
            [5, 30e6],
            [20, 20e6],
            [60, 10e6],
          ],
          recent_block_feerates: [30, 35, 40, 28, 33, 31],
          seconds_since_last_block: 900,
        },
      ]) {
        let prev = Infinity;
        for (const target of [1, 2, 3, 4, 5, 6, 8, 10, 12, 18, 24, 36, 72, 144, 504, 1008]) {
          const r = await call<{ sat_per_vb: number }>(ch, 'ml.estimatefee', { target, snapshot });
          assert.ok(r.sat_per_vb >= 1, `target ${target}: ${r.sat_per_vb}`);
          assert.ok(r.sat_per_vb <= prev, `target ${target}: ${r.sat_per_vb} after ${prev}`);
          prev = r.sat_per_vb;
        }
      }
    });
  });

  it('the live snapshot carries the median fee rates of the blocks anyad has seen', async () => {
    const node: BcoinNode = await startBcoin(dir.path);
    const d = await startDaemon(join(dir.path, 'live'), {
      args: [`-bitcoind.rpcport=${node.port}`, `-bitcoind.rpccookiefile=${node.cookieFile}`, '-bitcoind.pollinterval=100'],
    });
    const ch = await unixChannel(d.socket);
    try {
      const w = newWallet();
      const utxo = await fund(node, w);
      const tx = pay(w, utxo, newWallet().address, 5000n);
      await node.send(tx.hex);
      const before = await call<{ recent_block_feerates: number[] }>(ch, 'ml.estimatefee', { target: 3 });
      assert.ok(Array.isArray(before.recent_block_feerates));
      await node.mine(1);
      const r = await until('a block fee rate in the live snapshot', async () => {
        const x = await call<{ recent_block_feerates: number[] }>(ch, 'ml.estimatefee', { target: 3 });
        return x.recent_block_feerates.length > 0 ? x : undefined;
      });
      // 5000 sat on a 1-in 1-out P2WPKH transaction of 110 vB: about 45 sat/vB.
      assert.ok(r.recent_block_feerates[0]! > 40 && r.recent_block_feerates[0]! < 50, JSON.stringify(r.recent_block_feerates));
    } finally {
      ch.close();
      await d.kill();
      await node.stop();
    }
  });
});
