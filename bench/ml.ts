// ML benchmarks, against raw onnxruntime session.run on the same bundled model in the same run:
//  - in-process service overhead (cache off) vs raw session.run, batch 1 (target <= 1.3x);
//  - cached p50 (target < 50 us in-process);
//  - ml.predict end-to-end over the Unix socket, p50/p99;
//  - throughput at 64 concurrent callers with micro-batching vs without;
//  - RSS added per loaded model.

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import pino from 'pino';
import { MlService } from '../src/ml/service.js';
import { Router } from '../src/ml/routing.js';
import { Store } from '../src/store/store.js';
import { AnyaClient } from '../src/client/index.js';
import { r3 } from './measure.js';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
const ROOT = new URL('../../', import.meta.url).pathname;
const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function timed(n: number, f: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f(i);
    out.push(performance.now() - t);
  }
  return out;
}

export async function benchMl(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-ml-'));
  try {
    const N = 3000;
    const modelPath = join(ROOT, 'models', 'tx-risk', '1', 'model.onnx');
    const rss0 = process.memoryUsage().rss;
    const raw = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
    const rssPerModelMb = (process.memoryUsage().rss - rss0) / 1024 / 1024;
    // distinct rows, so nothing is answered from a cache by accident
    const rows = Array.from({ length: N }, (_, i) => Float32Array.from({ length: 14 }, (_, j) => Math.sin(i * 14 + j) * 0.5 + 0.5));
    const rawTimes = await timed(N, (i) => raw.run({ features: new ort.Tensor('float32', rows[i]!, [1, 14]) }));

    const store = await Store.open(join(dir, 'state'));
    const mk = async (name: string, windowMs: number, cacheSize: number): Promise<MlService> => {
      const s = new MlService(
        { dirs: [join(ROOT, 'models')], required: [], cacheSize, cacheTtlMs: 600_000, concurrency: 2, limits: { windowMs, maxBatch: 64, maxQueue: 100_000 } },
        new Router(await store.room(name), store),
        pino({ level: 'silent' }),
      );
      await s.open();
      return s;
    };
    // cache of size 1 and distinct rows: every call runs the model
    const nocache = await mk('a', 0, 1);
    const svcTimes = await timed(N, (i) => nocache.predict('tx-risk', rows[i]!, undefined));
    const cached = await mk('b', 0, 10_000);
    await cached.predict('tx-risk', rows[0]!, undefined);
    const hitTimes = await timed(N, () => cached.predict('tx-risk', rows[0]!, undefined));

    // 64 concurrent callers, each issuing requests back to back, with and without a batching window
    const throughput = async (svc: MlService): Promise<number> => {
      let done = 0;
      const until = performance.now() + 2000;
      await Promise.all(
        Array.from({ length: 64 }, async (_, c) => {
          let i = c;
          while (performance.now() < until) {
            await svc.predict('tx-risk', rows[i++ % N]!, undefined);
            done++;
          }
        }),
      );
      return Math.round(done / 2);
    };
    const mkB = async (name: string, maxBatch: number): Promise<MlService> => {
      const s = new MlService(
        { dirs: [join(ROOT, 'models')], required: [], cacheSize: 1, cacheTtlMs: 1, concurrency: 2, limits: { windowMs: 1, maxBatch, maxQueue: 100_000 } },
        new Router(await store.room(name), store),
        pino({ level: 'silent' }),
      );
      await s.open();
      return s;
    };
    const unbatched = await mkB('c', 1);
    const batched = await mkB('d', 64);
    const tpUnbatched = await throughput(unbatched);
    const tpBatched = await throughput(batched);
    for (const s of [nocache, cached, unbatched, batched]) await s.close();
    await store.close();
    await raw.release();

    // ml.predict over the Unix socket of a real anyad
    const dd = join(dir, 'anya');
    const proc = spawn(
      process.execPath,
      [join(ROOT, 'dist/bin/anyad.js'), '-regtest', `-datadir=${dd}`, '-norpcws', '-nobitcoind.enable', '-rpcratelimit=1000000', '-ml.cachesize=1'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (c: Buffer) => c.toString().includes('anyad ready') && resolve());
      proc.once('exit', (c) => reject(new Error(`anyad exited ${c}`)));
    });
    const client = await AnyaClient.connect({ socket: join(dd, 'regtest', 'anya.sock') });
    const rpcTimes = await timed(2000, (i) => client.call('ml.predict', { id: 'tx-risk', features: Array.from(rows[i]!) }));
    await client.close();
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;

    const row = {
      raw_session_run: { p50_ms: r3(q(rawTimes, 0.5)), p99_ms: r3(q(rawTimes, 0.99)) },
      service_uncached: { p50_ms: r3(q(svcTimes, 0.5)), p99_ms: r3(q(svcTimes, 0.99)) },
      overhead_ratio_p50: r3(q(svcTimes, 0.5) / q(rawTimes, 0.5)),
      service_cached: { p50_us: r3(q(hitTimes, 0.5) * 1000), p99_us: r3(q(hitTimes, 0.99) * 1000) },
      rpc_predict_unix: { p50_ms: r3(q(rpcTimes, 0.5)), p99_ms: r3(q(rpcTimes, 0.99)) },
      throughput_64_callers: { one_row_per_run_per_s: tpUnbatched, batched_per_s: tpBatched, ratio: r3(tpBatched / tpUnbatched) },
      rss_per_loaded_model_mb: r3(rssPerModelMb),
    };
    results.ml = row;
    console.log(
      `ml in-process: service p50 ${row.service_uncached.p50_ms} ms vs raw session.run p50 ${row.raw_session_run.p50_ms} ms | overhead ${row.overhead_ratio_p50}x (target <= 1.3) | cached p50 ${row.service_cached.p50_us} us (target < 50)`,
    );
    console.log(
      `ml.predict over unix: p50 ${row.rpc_predict_unix.p50_ms} ms p99 ${row.rpc_predict_unix.p99_ms} ms | 64 callers: ${tpUnbatched}/s one row per run, ${tpBatched}/s batched up to 64 (${row.throughput_64_callers.ratio}x) | RSS per model ${row.rss_per_loaded_model_mb} MB (first model includes the runtime)`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
