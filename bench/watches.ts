// Watch lists at scale (a merchant or wallet backend watches 100,000 addresses):
//  1. add rate: 100k address and 100k outpoint watches made through a real anyad in JSON-RPC batches of 1000 over
//     the Unix socket, against the same records written straight to LevelDB (classic-level, one synced batch per
//     record, 1000 at a time: the writes anyad makes, without anyad);
//  2. memory: anyad's RSS before and after, per watch;
//  3. restart: loading the list from LevelDB into the indexes;
//  4. matching: a block of 3000 transactions (2 inputs, 2 outputs each; 1% of them touching a watch) against the
//     full list, against the same block on an empty list (the cost of walking the block). Target < 50 ms.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as bitcoin from 'bitcoinjs-lib';
import { Level } from 'level';
import { AnyaClient } from '../src/client/index.js';
import { Store } from '../src/store/store.js';
import { WatchList } from '../src/adapters/bitcoin/watchlist.js';
import type { VerboseTx } from '../src/adapters/bitcoin/backend.js';
import { ANYAD } from '../test/helpers/paths.js';

const N = Number(process.env.BENCH_WATCHES ?? 100_000);
setFlagsFromString('--expose-gc');
/** A full collection, so heap figures count what is kept, not garbage. */
const gc = runInNewContext('gc') as () => void;
const BATCH = 1000;
const BLOCK_TXS = 3000;
const r2 = (x: number): number => Math.round(x * 100) / 100;
const pct = (s: number[], p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;

const scriptOf = (i: number): string => `0014${createHash('sha256').update(`a${i}`).digest('hex').slice(0, 40)}`;
const outpointOf = (i: number): string => `${createHash('sha256').update(`o${i}`).digest('hex')}:${i % 4}`;
const addressOf = (i: number): string => bitcoin.address.fromOutputScript(Buffer.from(scriptOf(i), 'hex'), bitcoin.networks.regtest);

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function startAnyad(dir: string): Promise<{ pid: number; stop: () => Promise<void> }> {
  const proc = spawn(
    process.execPath,
    [ANYAD, '-regtest', `-datadir=${dir}`, '-rpcport=0', '-bitcoind.rpcport=1', '-noml.enable', '-rpcratelimit=1000000', `-rpcmaxbatch=${BATCH}`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => ((buf += c), buf.includes('"msg":"anyad ready"') && resolve()));
    proc.once('exit', (code) => reject(new Error(`anyad exited ${code}`)));
  });
  return {
    pid: proc.pid!,
    stop: () =>
      new Promise<void>((r) => {
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      }),
  };
}

/**
 * Adds `N` watches of one kind in batches; answers watches per second, and how much slower the last ten batches
 * were than the first ten (the cost must not grow with the list).
 */
async function addAll(client: AnyaClient, param: (i: number) => Record<string, string>): Promise<{ rate: number; growth: number }> {
  const t = performance.now();
  const batches: number[] = [];
  for (let from = 0; from < N; from += BATCH) {
    const calls = Array.from({ length: Math.min(BATCH, N - from) }, (_, k) => ({ method: 'chain.watch', params: param(from + k) }));
    const tb = performance.now();
    const answers = await client.batch(calls);
    batches.push(performance.now() - tb);
    const bad = answers.find((a) => a.error);
    if (bad) throw new Error(`chain.watch failed: ${bad.error!.message}`);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { rate: N / ((performance.now() - t) / 1000), growth: median(batches.slice(-10)) / median(batches.slice(0, 10)) };
}

/** The baseline: the same number of records put straight into LevelDB, one synced batch each, BATCH at a time. */
async function levelRate(dir: string): Promise<number> {
  const db = new Level<string, unknown>(join(dir, 'baseline'), { valueEncoding: 'json' });
  await db.open();
  const sub = db.sublevel<string, unknown>('bitcoin', { valueEncoding: 'json' });
  const t = performance.now();
  for (let from = 0; from < N; from += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, N - from) }, (_, k) => {
        const id = createHash('sha256')
          .update(`w${from + k}`)
          .digest('hex')
          .slice(0, 16);
        const w = { id, kind: 'address', value: addressOf(from + k), label: '', created: new Date().toISOString(), owners: ['cookie'] };
        return db.batch([{ type: 'put', sublevel: sub, key: `w:${id}`, value: w }] as never, { sync: true });
      }),
    );
  }
  const rate = N / ((performance.now() - t) / 1000);
  await db.close();
  return rate;
}

function block(hitEvery: number): VerboseTx[] {
  const txs: VerboseTx[] = [];
  for (let t = 0; t < BLOCK_TXS; t++) {
    const hit = t % hitEvery === 0;
    const rnd = (s: string): string => createHash('sha256').update(`${s}${t}`).digest('hex');
    txs.push({
      txid: rnd('tx'),
      vin: [
        { txid: rnd('in0'), vout: 0 },
        hit ? { txid: outpointOf(t).split(':')[0]!, vout: Number(outpointOf(t).split(':')[1]) } : { txid: rnd('in1'), vout: 1 },
      ],
      vout: [
        { value: 0.001, n: 0, scriptPubKey: { hex: hit ? scriptOf(t) : `0014${rnd('o0').slice(0, 40)}` } },
        { value: 0.002, n: 1, scriptPubKey: { hex: `0014${rnd('o1').slice(0, 40)}` } },
      ],
    } as unknown as VerboseTx);
  }
  return txs;
}

function timeMatch(list: WatchList, txs: VerboseTx[], rounds: number): { times: number[]; hits: number } {
  const times: number[] = [];
  let hits = 0;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    let h = 0;
    for (const tx of txs) if (list.match(tx)) h++;
    times.push(performance.now() - t);
    hits = h;
  }
  return { times: times.sort((a, b) => a - b), hits };
}

export async function benchWatches(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-watch-'));
  try {
    const anyad = await startAnyad(dir);
    const rss0 = await rssMb(anyad.pid);
    const client = await AnyaClient.connect({ socket: join(dir, 'regtest', 'anya.sock') });
    const { rate: addressRate, growth } = await addAll(client, (i) => ({ address: addressOf(i) }));
    const { rate: outpointRate } = await addAll(client, (i) => ({ outpoint: outpointOf(i) }));
    await client.close();
    await new Promise((r) => setTimeout(r, 1000));
    const rss1 = await rssMb(anyad.pid);
    await anyad.stop();
    const baseRate = await levelRate(dir);

    const store = await Store.open(join(dir, 'regtest', 'state'));
    const list = new WatchList(await store.room('bitcoin'), store, 'regtest');
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const tl = performance.now();
    await list.load();
    const loadMs = performance.now() - tl;
    gc();
    const heapPerWatch = (process.memoryUsage().heapUsed - heap0) / list.size();
    const emptyStore = await Store.open(join(dir, 'empty'));
    const empty = new WatchList(await emptyStore.room('bitcoin'), emptyStore, 'regtest');
    const txs = block(100);
    const full = timeMatch(list, txs, 30);
    const bare = timeMatch(empty, txs, 30);
    await store.close();
    await emptyStore.close();
    const row = {
      watches: { addresses: N, outpoints: N, loaded: list.size() },
      add_per_s: { addresses: Math.round(addressRate), outpoints: Math.round(outpointRate), level_baseline: Math.round(baseRate) },
      add_ratio: r2(addressRate / baseRate),
      last_to_first_batch_time: r2(growth),
      rss_mb: { before: r2(rss0), after: r2(rss1) },
      bytes_per_watch: Math.round(((rss1 - rss0) * 1024 * 1024) / (2 * N)),
      heap_bytes_per_watch: Math.round(heapPerWatch),
      load_ms: Math.round(loadMs),
      block_match_ms: { txs: BLOCK_TXS, hits: full.hits, p50: r2(pct(full.times, 50)), p99: r2(pct(full.times, 99)) },
      empty_list_match_ms: { p50: r2(pct(bare.times, 50)), p99: r2(pct(bare.times, 99)) },
      match_ratio: r2(pct(full.times, 50) / pct(bare.times, 50)),
    };
    results.watches = row;
    console.log(
      `watches: ${N} addresses + ${N} outpoints added at ${row.add_per_s.addresses}/s and ${row.add_per_s.outpoints}/s (batches of ${BATCH}) | LevelDB alone ${row.add_per_s.level_baseline}/s | ratio ${row.add_ratio} | last batches take ${row.last_to_first_batch_time}x the first (target ~1)`,
    );
    console.log(
      `watches: RSS ${row.rss_mb.before} -> ${row.rss_mb.after} MB, ${row.bytes_per_watch} bytes per watch (${row.heap_bytes_per_watch} of them kept on the heap, measured after a full GC) | loaded from LevelDB in ${row.load_ms} ms | a ${BLOCK_TXS}-tx block (${full.hits} hits) matched in p50 ${row.block_match_ms.p50} ms p99 ${row.block_match_ms.p99} ms (target < 50) | on an empty list p50 ${row.empty_list_match_ms.p50} ms | ratio ${row.match_ratio}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
