// The fee model retrained inside the daemon on its own observations of a regtest fee market (bcoin, small blocks,
// bursts and quiet spells, as fee-market.test.ts drives it, shorter): ml.retrain over the socket writes a new
// fee-estimator version whose card says what it was trained on (checked against what the test sent and the node's
// chain), anyad loads it, shadows it, judges it against the current version by the rule (promoted only when it
// beats it on both hit rate and overpayment), keeps every comparison (ml.listpromotions, ml.evaluate), and after a
// restart loads the retrained versions from its model folder and retrains by itself on ml.retraininterval.
// What it does not prove: that a retrained model is good on a real network (the figures here are ~35 blocks of a
// test market; test/ml/fee-retrain.test.ts replays 400 simulated blocks).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, unixChannel } from '../helpers/channel.js';
import { newWallet, type BcoinNode } from '../helpers/bcoin.js';
import { until } from '../helpers/until.js';
import { BLOCK_VSIZE, market, marketNode, spend, type Utxo } from './fee-market-setup.js';
import type { ModelCard } from '../../src/ml/card.js';
import type { Comparison } from '../../src/ml/fee-retrain.js';

type Ch = Awaited<ReturnType<typeof unixChannel>>;

function assertRule(c: Comparison): void {
  const { candidate: k, current: cur } = c.figures!;
  const hit = k.hit_rate !== null && k.hit_rate > (cur.hit_rate ?? -1);
  const over = k.mean_overpay_sat_vb !== null && k.mean_overpay_sat_vb < (cur.mean_overpay_sat_vb ?? Infinity);
  assert.equal(c.decision, hit && over && k.transactions > 0 ? 'promoted' : 'refused', JSON.stringify(c));
}

type Retrained = { version: number; path: string; card: ModelCard; comparison: Comparison };

describe('the fee model retrained by the daemon on a regtest market', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let d: RunningDaemon;
  let ch: Ch;
  const w = newWallet();
  let coins: Utxo[] = [];
  let sent = 0;
  let firstSent = 0;
  let lastSeen = 0;
  const args = (): string[] => [
    `-bitcoind.rpcport=${node.port}`,
    `-bitcoind.rpccookiefile=${node.cookieFile}`,
    '-bitcoind.pollinterval=100',
    `-ml.feeblockvsize=${BLOCK_VSIZE}`,
  ];

  before(async () => {
    dir = await tempDir();
    ({ node, coins } = await marketNode(dir.path, w, 7));
    d = await startDaemon(join(dir.path, 'anya'), { args: args() });
    ch = await unixChannel(d.socket);
  });
  after(async () => {
    ch?.close();
    await d?.kill().catch(() => undefined);
    await node?.stop().catch(() => undefined);
    await dir.remove();
  });

  const stored = async (): Promise<{ stored: number; tracked_blocks: number }> => call(ch, 'ml.feestats');

  it('a market is observed (bursts, quiet spells, a backlog that clears)', async () => {
    const send = market(node, w, coins, newWallet().address, 9);
    firstSent = Date.now();
    for (let interval = 0; interval < 36; interval++) {
      const txids = await send(interval);
      sent += txids.length;
      await until('observed', async () => ((await stored()).stored >= sent ? true : undefined));
      lastSeen = Date.now();
      const base = (await stored()).tracked_blocks;
      await node.mine(1);
      await until('the block is tracked', async () => ((await stored()).tracked_blocks > base ? true : undefined));
    }
    // Blocks until the backlog clears and the longest target (12) resolves for the last intervals.
    const tracked = (await stored()).tracked_blocks;
    for (let i = 0; i < 14; i++) await node.mine(1);
    await until('the last blocks are tracked', async () => ((await stored()).tracked_blocks >= tracked + 14 ? true : undefined));
    await until('the mempool cleared', async () => ((await call<{ waiting: number }>(ch, 'ml.feestats')).waiting === 0 ? true : undefined));
    assert.equal((await stored()).stored, sent);
  });

  let first: Retrained;

  it('ml.retrain writes a new version with a true card, loads it and judges it by the rule', async () => {
    first = await call<Retrained>(ch, 'ml.retrain');
    assert.equal(first.version, 2);
    const td = first.card.training_data as Record<string, unknown>;
    assert.equal(td.observations, sent, 'every observation of the market, and only those');
    const firstObs = Date.parse(td.first_observation as string);
    const lastObs = Date.parse(td.last_observation as string);
    assert.ok(firstObs >= firstSent && firstObs <= lastSeen && lastObs >= firstObs && lastObs <= lastSeen, JSON.stringify(td));
    assert.equal(td.network, 'regtest');
    assert.equal(td.node, 'bcoin');
    assert.equal(td.tip_height, await node.rpc<number>('getblockcount'));
    assert.equal(td.tip_hash, await node.rpc<string>('getbestblockhash'));
    assert.equal(td.rows, (td.training_rows as number) + (td.holdout_rows as number));
    assert.ok((td.training_rows as number) >= 40, JSON.stringify(td));
    assert.ok(first.path.startsWith(join(dir.path, 'anya')), first.path);
    const models = await call<{ loaded: Array<{ id: string; version: number; path: string }> }>(ch, 'ml.listmodels');
    assert.ok(models.loaded.some((m) => m.id === 'fee-estimator' && m.version === 2 && m.path === first.path));
    const info = await call<{ card: ModelCard }>(ch, 'ml.modelinfo', { id: 'fee-estimator', version: 2 });
    assert.deepEqual(info.card, first.card);
    assert.equal(first.comparison.candidate, 2);
    assert.equal(first.comparison.current, 1);
    assertRule(first.comparison);
    process.stdout.write(`# first retrain: ${first.comparison.reason}\n`);
  });

  it('a retrained version in shadow answers alongside, never to the caller; a retrain on the same history ties and is refused', async () => {
    // While the worker trains, the daemon keeps answering.
    const pending = call<Retrained>(ch, 'ml.retrain');
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await call(ch, 'ml.feestats');
      ms.push(performance.now() - t);
    }
    const second = await pending;
    assert.ok(Math.max(...ms) < 1000, `ml.feestats took ${Math.max(...ms).toFixed(0)} ms during a retrain`);
    assert.equal(second.version, 3);
    const active = first.comparison.decision === 'promoted' ? 2 : 1;
    // v2 promoted: v3 is trained on the same history with the same seed, so it ties with v2 and is refused. v2
    // refused: v3 replaces it in shadow (v2 dropped) and is judged against v1 as v2 was.
    assertRule(second.comparison);
    if (active === 2) assert.equal(second.comparison.decision, 'refused');
    const routing = (await call<{ routing: Record<string, unknown> }>(ch, 'ml.listmodels')).routing['fee-estimator'];
    const expected = second.comparison.decision === 'promoted' ? { mode: 'single', active: 3 } : { mode: 'shadow', active, candidate: 3 };
    assert.deepEqual(routing, expected);
    if (second.comparison.decision === 'promoted') return;
    const est = await call<{ version: number; model: string }>(ch, 'ml.estimatefee', { target: 2, estimator: 'model' });
    assert.equal(est.version, active, 'the caller is answered by the current version');
    const info = await call<{ shadow: { count: number; recent: Array<{ active: { version: number }; candidate: { version: number; output: number } }> } }>(
      ch,
      'ml.modelinfo',
      { id: 'fee-estimator' },
    );
    assert.ok(info.shadow.count >= 1);
    const r = info.shadow.recent[info.shadow.recent.length - 1]!;
    assert.equal(r.active.version, active);
    assert.equal(r.candidate.version, 3);
    assert.ok(r.candidate.output >= 1);
  });

  it('ml.evaluate replays every version and shows the last comparison without judging (readonly); ml.listpromotions keeps each comparison', async () => {
    const ev = await call<{
      backtest: {
        promotion: Comparison | null;
        estimators: { model: { available: boolean; versions: Record<string, { answered: number; hit_rate: number | null }> } };
      };
    }>(ch, 'ml.evaluate', { target: 2, blocks: 100 });
    assert.equal(ev.backtest.estimators.model.available, true);
    assert.deepEqual(Object.keys(ev.backtest.estimators.model.versions).sort(), ['1', '2', '3']);
    assert.ok(ev.backtest.estimators.model.versions['1']!.answered > 20, JSON.stringify(ev.backtest.estimators.model));
    const p = ev.backtest.promotion!;
    assert.ok(p, 'a comparison is shown');
    const list = await call<Comparison[]>(ch, 'ml.listpromotions', { limit: 10 });
    assert.deepEqual(list[0], p);
    assert.notEqual(p.trigger, 'evaluate', 'a readonly call judges nothing');
    assert.ok(list.some((c) => c.candidate === 2 && c.decision === first.comparison.decision));
    assert.deepEqual(
      list.map((c) => c.seq),
      [...list.map((c) => c.seq)].sort((a, b) => b - a),
      'newest first',
    );
    const bad = await ch.call('ml.listpromotions', { limit: 0 });
    assert.equal(bad.error?.code, -32602);
  });

  it('after a restart the retrained versions load from the model folder, the comparisons are kept, and the interval retrains', async () => {
    const before = await call<Comparison[]>(ch, 'ml.listpromotions', { limit: 100 });
    await d.kill();
    ch.close();
    d = await startDaemon(join(dir.path, 'anya'), { args: [...args(), '-ml.retraininterval=2', '-ml.retrainmin=10'] });
    ch = await unixChannel(d.socket);
    const versions = (await call<{ loaded: Array<{ id: string; version: number }> }>(ch, 'ml.listmodels')).loaded
      .filter((m) => m.id === 'fee-estimator')
      .map((m) => m.version)
      .sort();
    assert.deepEqual(versions, [1, 2, 3]);
    const kept = await call<Comparison[]>(ch, 'ml.listpromotions', { limit: 100 });
    assert.deepEqual(kept.slice(-before.length), before);
    // A retrain at the interval needs history no version was trained on: one more block of the market.
    const u = coins.pop()!;
    await node.rpc<string>('sendrawtransaction', spend(w, u, [{ address: newWallet().address, value: u.value - 1100n }]).hex);
    await node.mine(1);
    const auto = await until(
      'an automatic retrain',
      async () => (await call<Comparison[]>(ch, 'ml.listpromotions', { limit: 5 })).find((c) => c.trigger === 'interval' && c.candidate === 4),
      2400,
    );
    if (auto.decision !== 'dropped') assertRule(auto);
  });
});
