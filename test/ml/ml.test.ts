// The ML room on real onnxruntime-node sessions, with models the tests write (tools/onnx-mlp) and the bundled ones:
// outputs equal a plain-JS reference (tolerance 1e-5), broken models listed with their reason, bad inputs refused,
// routing splits within statistical bounds and sticky, shadow records, cache hits and TTL, batching equal to
// unbatched, a bounded queue, reload with requests in flight, and the HSM veto.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import * as ecc from '@bitcoinerlab/secp256k1';
import * as bitcoin from 'bitcoinjs-lib';
import { Store } from '../../src/store/store.js';
import { MlService } from '../../src/ml/service.js';
import { Router } from '../../src/ml/routing.js';
import { feeFeatures, FeatureError, riskFeatures, parseTx } from '../../src/ml/features.js';
import type { ModelCard } from '../../src/ml/card.js';
import { mlpModel, mlpForward, type Layer } from '../../tools/onnx-mlp.js';
import { ROOT, startDaemon, tempDir } from '../helpers/daemon.js';
import { unixChannel } from '../helpers/channel.js';

bitcoin.initEccLib(ecc);

const L1: Layer[] = [
  {
    weights: [
      [0.5, -0.25, 1],
      [1, 0.75, -0.5],
      [-1, 0.1, 0.2],
    ],
    bias: [0.1, 0.2, -0.1],
  },
  { weights: [[1], [-0.5], [0.25]], bias: [0.05] },
];
const L2: Layer[] = [{ weights: [[1.5], [0.5], [-0.5]], bias: [0.3] }];

async function writeModel(
  dir: string,
  id: string,
  version: number,
  layers: Layer[],
  patch: Partial<ModelCard> = {},
  bytesOverride?: Uint8Array,
): Promise<void> {
  const bytes = mlpModel(layers);
  const d = join(dir, id, String(version));
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'model.onnx'), bytesOverride ?? bytes);
  const card: ModelCard = {
    id,
    version,
    task: 'regression',
    description: 'test model',
    extractor: 'none',
    inputs: [{ name: 'features', dtype: 'float32', shape: ['N', 3] }],
    outputs: [{ name: 'output', dtype: 'float32', shape: ['N', 1] }],
    postprocess: 'none',
    training_data: { source: 'none', statement: 'hand-written weights for tests' },
    metrics: {},
    created: '2026-11-21',
    sha256: createHash('sha256')
      .update(bytesOverride ?? bytes)
      .digest('hex'),
    ...patch,
  };
  await writeFile(join(d, 'card.json'), JSON.stringify(card));
}

describe('ML service (in-process, real onnxruntime)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let store: Store;
  const log = pino({ level: 'silent' });
  const make = async (name: string, opts: Partial<ConstructorParameters<typeof MlService>[0]> = {}): Promise<MlService> => {
    const db = await store.room(name);
    const svc = new MlService(
      {
        dirs: [join(dir.path, 'models')],
        required: [],
        cacheSize: 1000,
        cacheTtlMs: 60_000,
        concurrency: 2,
        limits: { windowMs: 2, maxBatch: 64, maxQueue: 1024 },
        ...opts,
      },
      new Router(db, store),
      log,
    );
    await svc.open();
    return svc;
  };
  before(async () => {
    dir = await tempDir();
    const m = join(dir.path, 'models');
    await writeModel(m, 'toy', 1, L1);
    await writeModel(m, 'toy', 2, L2);
    await writeModel(m, 'badhash', 1, L1, { sha256: '0'.repeat(64) });
    await writeModel(m, 'corrupt', 1, L1, {}, Buffer.from('this is not an onnx model'));
    await writeModel(m, 'wrongname', 1, L1, { inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 3] }] });
    await writeModel(m, 'wrongshape', 1, L1, { inputs: [{ name: 'features', dtype: 'float32', shape: ['N', 4] }] });
    await mkdir(join(m, 'nocard', '1'), { recursive: true });
    store = await Store.open(join(dir.path, 'state'));
  });
  after(async () => {
    await store.close();
    await dir.remove();
  });

  it('outputs equal the plain-JS reference within 1e-5, for every version', async () => {
    const svc = await make('a');
    const rows = [
      [0, 0, 0],
      [1, 2, 3],
      [-1, 0.5, 2],
      [10, -10, 0.001],
    ];
    for (const row of rows) {
      for (const [v, layers] of [
        [1, L1],
        [2, L2],
      ] as const) {
        const got = await svc.engine('toy', v).infer(Float32Array.from(row));
        assert.ok(Math.abs(got - mlpForward(layers, Float32Array.from(row))) < 1e-5, `v${v} ${row}: ${got}`);
      }
    }
    await svc.close();
  });

  it('bad models are left out with their reason; the rest load', async () => {
    const svc = await make('b');
    const reasons = Object.fromEntries(svc.broken.map((b) => [b.id, b.reason]));
    assert.match(reasons.badhash!, /sha256 .* does not match the card/);
    assert.match(reasons.corrupt!, /sha256|onnxruntime cannot load/);
    assert.match(reasons.wrongname!, /input is \["features"\], the card says x/);
    assert.match(reasons.wrongshape!, /input shape is \["N",3\], the card says \["N",4\]/);
    assert.match(reasons.nocard!, /card\.json: ENOENT/);
    assert.deepEqual(svc.versions('toy'), [1, 2]);
    await svc.close();
    await assert.rejects(make('b2', { required: ['corrupt'] }), /required model not loaded \(ml\.required\): corrupt: /);
  });

  it('the fee extractor computes what its card says, position by position', () => {
    const f = feeFeatures({
      mempool_vsize: 3e6,
      fee_histogram: [
        [1, 1e6],
        [5, 1e6],
        [20, 0.5e6],
        [60, 0.5e6],
      ],
      recent_block_feerates: [10, 30, 20],
      seconds_since_last_block: 300,
      target: 6,
    });
    const expect = [Math.log1p(3), Math.log1p(0.5), Math.log1p(1), Math.log1p(1), Math.log1p(2), Math.log1p(2), Math.log1p(20), 0.5, Math.log(6)];
    expect.forEach((v, i) => assert.ok(Math.abs(f[i]! - v) < 1e-6, `feature ${i}: ${f[i]} vs ${v}`));
  });

  it('wrong width, NaN and infinity are refused with the feature named', async () => {
    const svc = await make('c');
    await assert.rejects(svc.predict('toy', Float32Array.from([1, 2]), undefined), /toy takes 3 features, got 2/);
    await assert.rejects(svc.predict('toy', Float32Array.from([1, NaN, 2]), undefined), /feature 1 .* is NaN/);
    await assert.rejects(svc.predict('toy', Float32Array.from([Infinity, 0, 2]), undefined), /feature 0 .* is Infinity/);
    await assert.rejects(svc.predict('nosuch', Float32Array.from([1, 2, 3]), undefined), /no model nosuch is loaded/);
    assert.throws(() => feeFeatures({ mempool_vsize: -1, fee_histogram: [], recent_block_feerates: [], seconds_since_last_block: 1, target: 6 }), FeatureError);
    assert.throws(
      () => feeFeatures({ mempool_vsize: 1, fee_histogram: [], recent_block_feerates: [], seconds_since_last_block: 1, target: 0 }),
      /target must be an integer from 1 to 1008/,
    );
    await svc.close();
  });

  it('a weighted split stays within statistical bounds and is sticky per caller key', async () => {
    const svc = await make('d');
    await svc.router.set('toy', { mode: 'split', weights: { '1': 70, '2': 30 } }, [1, 2]);
    const n = 2000;
    let v1 = 0;
    for (let i = 0; i < n; i++) if (svc.router.choose('toy', [1, 2], `user-${i}`).version === 1) v1++;
    // binomial(2000, 0.7): sd about 20.5; 5 sd each side
    assert.ok(Math.abs(v1 - 0.7 * n) < 5 * Math.sqrt(n * 0.7 * 0.3), `v1 ${v1} of ${n}`);
    for (let i = 0; i < 50; i++) {
      const first = svc.router.choose('toy', [1, 2], `user-${i}`).version;
      for (let j = 0; j < 5; j++) assert.equal(svc.router.choose('toy', [1, 2], `user-${i}`).version, first);
    }
    await svc.router.rollback('toy');
    assert.deepEqual(svc.router.get('toy', [1, 2]), { mode: 'single', active: 2 });
    await svc.close();
  });

  it('shadow mode answers with the active version and records both', async () => {
    const svc = await make('e');
    await svc.router.set('toy', { mode: 'shadow', active: 1, candidate: 2 }, [1, 2]);
    const row = Float32Array.from([1, 2, 3]);
    const r = await svc.predict('toy', row, undefined);
    assert.equal(r.version, 1);
    assert.ok(Math.abs(r.shadow!.output - mlpForward(L2, row)) < 1e-5);
    const s = svc.shadowSummary('toy')!;
    assert.equal(s.count, 1);
    assert.ok(Math.abs(s.mean_abs_diff - Math.abs(mlpForward(L2, row) - mlpForward(L1, row))) < 1e-5);
    assert.equal(s.recent[0]!.active.version, 1);
    await svc.close();
  });

  it('cache: a repeat is a hit; after the TTL it is run again', async () => {
    const svc = await make('f', { cacheTtlMs: 50 });
    const row = Float32Array.from([3, 2, 1]);
    assert.equal((await svc.predict('toy', row, undefined)).cached, false);
    assert.equal((await svc.predict('toy', row, undefined)).cached, true);
    await new Promise((r) => setTimeout(r, 80)); // the TTL is the event here; nothing else to await
    assert.equal((await svc.predict('toy', row, undefined)).cached, false);
    const stats = svc.engine('toy', 2).stats.snapshot();
    assert.equal(stats.requests, 3);
    assert.equal(stats.cache_hits, 1);
    await svc.close();
  });

  it('micro-batching: concurrent requests run as batches, each result equal to its unbatched run', async () => {
    const svc = await make('g', { limits: { windowMs: 20, maxBatch: 64, maxQueue: 1024 } });
    const e = svc.engine('toy', 1);
    const rows = Array.from({ length: 64 }, (_, i) => Float32Array.from([i / 7, -i / 3, i % 5]));
    const batched = await Promise.all(rows.map((r) => e.infer(r)));
    assert.ok(e.stats.batches <= 4, `batches ${e.stats.batches}`);
    assert.ok(e.stats.snapshot().max_batch_size! > 1);
    for (let i = 0; i < rows.length; i++) assert.ok(Math.abs(batched[i]! - (await e.infer(rows[i]!))) < 1e-6);
    await svc.close();
  });

  it('a full queue answers Busy instead of growing', async () => {
    const svc = await make('h', { limits: { windowMs: 200, maxBatch: 1000, maxQueue: 3 } });
    const e = svc.engine('toy', 1);
    // the first runs at once (the engine is idle); three may wait; the other three are refused
    const results = await Promise.allSettled(Array.from({ length: 7 }, (_, i) => e.infer(Float32Array.from([i, 0, 0]))));
    const busy = results.filter((r) => r.status === 'rejected' && /ml\.maxqueue/.test(String((r.reason as Error).message)));
    assert.equal(busy.length, 3);
    await svc.close();
  });

  it('reload adds a version while requests are in flight; none fails', async () => {
    const svc = await make('i', { limits: { windowMs: 5, maxBatch: 8, maxQueue: 100_000 } });
    const inflight = Array.from({ length: 200 }, (_, i) => svc.predict('toy', Float32Array.from([i, 1, 2]), undefined));
    await writeModel(join(dir.path, 'models'), 'toy', 3, L1);
    await svc.reload();
    const done = await Promise.allSettled(inflight);
    assert.equal(done.filter((d) => d.status === 'rejected').length, 0);
    assert.deepEqual(svc.versions('toy'), [1, 2, 3]);
    assert.equal((await svc.predict('toy', Float32Array.from([1, 1, 1]), undefined)).version, 3);
    await svc.close();
  });
});

describe('bundled models and the ml.* RPC', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());

  it('the bundled models match their cards; scoretx and estimatefee answer; the cards say their data is synthetic', async () => {
    for (const id of ['fee-estimator', 'tx-risk']) {
      const card = JSON.parse(await readFile(join(ROOT, 'models', id, '1', 'card.json'), 'utf8')) as ModelCard;
      assert.equal(card.training_data.source, 'synthetic');
      assert.match(card.training_data.statement, /synthetic/i);
      assert.equal(
        createHash('sha256')
          .update(await readFile(join(ROOT, 'models', id, '1', 'model.onnx')))
          .digest('hex'),
        card.sha256,
      );
    }
    const d = await startDaemon(join(dir.path, 'a'), { args: ['-nobitcoind.enable'] });
    const ch = await unixChannel(d.socket);
    const status = (await ch.call('ml.status')).result as { runtime: { execution_provider: string; arch: string }; models: Array<{ id: string }> };
    assert.equal(status.runtime.execution_provider, 'cpu');
    assert.equal(status.runtime.arch, process.arch);
    assert.deepEqual(status.models.map((m) => m.id).sort(), ['fee-estimator', 'tx-risk']);
    const busy = {
      mempool_vsize: 80e6,
      fee_histogram: [
        [1, 40e6],
        [5, 20e6],
        [20, 10e6],
        [50, 10e6],
      ],
      recent_block_feerates: [40, 45, 38],
      seconds_since_last_block: 120,
    };
    const quiet = { mempool_vsize: 0.2e6, fee_histogram: [[1, 0.2e6]], recent_block_feerates: [1, 1, 1], seconds_since_last_block: 120 };
    const hi = (await ch.call('ml.estimatefee', { target: 2, snapshot: busy })).result as { sat_per_vb: number };
    const lo = (await ch.call('ml.estimatefee', { target: 2, snapshot: quiet })).result as { sat_per_vb: number };
    assert.ok(hi.sat_per_vb > lo.sat_per_vb, `busy ${hi.sat_per_vb} > quiet ${lo.sat_per_vb}`);
    assert.equal((await ch.call('ml.estimatefee', { target: 2 })).error?.code, -32010, 'no bitcoind and no snapshot');
    const p = new bitcoin.Psbt({ network: bitcoin.networks.regtest });
    const script = bitcoin.payments.p2wpkh({ hash: Buffer.alloc(20, 1), network: bitcoin.networks.regtest }).output!;
    p.addInput({ hash: Buffer.alloc(32, 2), index: 0, witnessUtxo: { script, value: 100_000n } });
    p.addOutput({ script, value: 99_000n });
    const score = (await ch.call('ml.scoretx', { psbt: p.toBase64() })).result as { score: number };
    assert.ok(score.score >= 0 && score.score <= 1);
    const feats = riskFeatures(parseTx({ psbt: p.toBase64() }, bitcoin.networks.regtest));
    assert.equal(feats[12], 1, 'address reuse seen (the output pays the input script)');
    assert.equal((await ch.call('ml.scoretx', { hex: 'zz' })).error?.code, -32602);
    assert.equal((await ch.call('ml.scoretx', {})).error?.code, -32602);
    assert.equal((await ch.call('ml.promote', { id: 'tx-risk', version: 9 })).error?.code, -32011);
    ch.close();
    await d.kill();
  });

  it('with ml.riskveto set, the HSM refuses to sign a PSBT the risk model scores at or above it', async () => {
    const d = await startDaemon(join(dir.path, 'v'), { args: ['-nobitcoind.enable', '-hsm.provider=simulator', '-ml.riskveto=0.001'] });
    const ch = await unixChannel(d.socket);
    const k = (await ch.call('hsm.generatekey', { label: 'v' })).result as { public_key: string };
    const script = bitcoin.payments.p2wpkh({ pubkey: Buffer.from(k.public_key, 'hex'), network: bitcoin.networks.regtest }).output!;
    const prev = new bitcoin.Transaction();
    prev.addInput(Buffer.alloc(32, 3), 0);
    prev.addOutput(script, 100_000n);
    const p = new bitcoin.Psbt({ network: bitcoin.networks.regtest });
    p.addInput({ hash: prev.getId(), index: 0, witnessUtxo: { script, value: 100_000n }, nonWitnessUtxo: prev.toBuffer() });
    p.addOutput({ script: bitcoin.payments.p2wpkh({ hash: Buffer.alloc(20, 9) }).output!, value: 90_000n });
    const r = await ch.call('hsm.signpsbt', { psbt: p.toBase64() });
    assert.equal(r.error?.code, -32013);
    assert.match((r.error?.data as { rule: string }).rule, /^veto:tx-risk:risk$/);
    ch.close();
    await d.kill();
  });
});
