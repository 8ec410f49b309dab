// Bitcoin room benchmarks against the regtest node (bcoin):
//  - catch-up: anyad following 2000 blocks it missed, against the node's own getblockhash+getblock rate for the
//    same blocks in the same run, read once before and once after anyad's catch-up (target >= 1.0x), quiet and with
//    a CPU-burning neighbour per core;
//  - event latency: from asking the node to mine a block to chain.block at a WebSocket subscriber (p50, p99), by
//    ZMQ and by polling, against the node's own time to answer generatetoaddress.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { AnyaClient } from '../src/client/index.js';
import { LineSplitter } from '../src/core/lines.js';
import { freePort, startBcoin, type BcoinNode } from '../test/helpers/bcoin.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const ANYAD = join(ROOT, 'dist/bin/anyad.js');
const r2 = (x: number): number => Math.round(x * 100) / 100;
const pct = (s: number[], p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;

export function startAnyad(datadir: string, args: string[]): Promise<{ proc: ChildProcess; logs: Array<Record<string, unknown>> }> {
  const proc = spawn(process.execPath, [ANYAD, '-regtest', `-datadir=${datadir}`, '-rpcport=0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const logs: Array<Record<string, unknown>> = [];
  return new Promise((resolve, reject) => {
    const lines = new LineSplitter();
    proc.stdout!.setEncoding('utf8').on('data', (c: string) =>
      lines.push(c, (l) => {
        const j = JSON.parse(l) as Record<string, unknown>;
        logs.push(j);
        if (j.msg === 'anyad ready') resolve({ proc, logs });
      }),
    );
    proc.once('exit', (c) => reject(new Error(`anyad exited ${c}`)));
  });
}
export async function stop(p: ChildProcess): Promise<void> {
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
}

export async function benchChain(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-chain-'));
  let node: BcoinNode | undefined;
  try {
    const zmqPort = await freePort();
    node = await startBcoin(dir, { zmqPort });
    const base = [`-bitcoind.rpcport=${node.port}`, `-bitcoind.rpccookiefile=${node.cookieFile}`];
    // anyad learns the tip, stops, misses 2000 blocks, then catches up while it opens; once on a quiet machine and
    // once with a CPU-burning process per core beside it (the node's own rate is measured under the same load).
    // Then once more, quiet, with an address watched: every block is read in full to be matched.
    const BLOCKS = 2000;
    let a = await startAnyad(join(dir, 'anya'), base);
    await stop(a.proc);
    for (const mode of ['quiet', 'loaded', 'watched'] as const) {
      const loaded = mode === 'loaded';
      if (mode === 'watched') {
        a = await startAnyad(join(dir, 'anya'), base);
        const client = await AnyaClient.connect({ socket: join(dir, 'anya', 'regtest', 'anya.sock') });
        await client.call('chain.watch', { script: `0014${'11'.repeat(20)}` });
        await client.close();
        await stop(a.proc);
      }
      const from = await node.rpc<number>('getblockcount');
      for (let i = 0; i < BLOCKS; i += 500) await node.mine(500);
      const burners = loaded ? cpus().map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' })) : [];
      try {
        /** Seconds the node takes to answer getblockhash+getblock for each of the blocks anyad missed. */
        const nodePass = async (): Promise<number> => {
          const t0 = performance.now();
          for (let h = from + 1; h <= from + BLOCKS; h++) {
            const hash = await node!.rpc<string>('getblockhash', h);
            await node!.rpc('getblock', hash, true, true);
          }
          return (performance.now() - t0) / 1000;
        };
        // The node's pass before and after anyad's catch-up (which can only happen once), so a drift in the shared
        // machine's speed during the three falls on both sides alike.
        const before = await nodePass();
        a = await startAnyad(join(dir, 'anya'), base);
        const opened = a.logs.find((l) => l.msg === 'service opened' && l.service === 'bitcoind')!;
        const anyRate = BLOCKS / ((opened.ms as number) / 1000);
        await stop(a.proc);
        const nodeRate = (2 * BLOCKS) / (before + (await nodePass()));
        const catchup = {
          blocks: BLOCKS,
          neighbours: burners.length,
          anyad_blocks_per_s: Math.round(anyRate),
          node_getblock_blocks_per_s: Math.round(nodeRate),
          ratio: r2(anyRate / nodeRate),
        };
        results[{ quiet: 'catchup', loaded: 'catchup_loaded', watched: 'catchup_watched' }[mode]] = catchup;
        const what = mode === 'watched' ? 'an address watched (full blocks)' : 'no chain.watch (the wallet and ml rooms still read every block in full)';
        console.log(
          `catch-up ${BLOCKS} blocks, ${what}${loaded ? ` (${burners.length} CPU burners beside)` : ''}: anyad ${catchup.anyad_blocks_per_s} blocks/s | node getblockhash+getblock ${catchup.node_getblock_blocks_per_s} blocks/s | ratio ${catchup.ratio} (target >= 1.0)`,
        );
      } finally {
        burners.forEach((b) => b.kill('SIGKILL'));
      }
    }

    const latency: Record<string, unknown> = {};
    for (const [mode, args] of [
      ['zmq', [`-bitcoind.zmqpubhashblock=tcp://127.0.0.1:${zmqPort}`, '-bitcoind.pollinterval=600000']],
      ['polling-100ms', ['-bitcoind.pollinterval=100']],
    ] as const) {
      const dd = join(dir, `lat-${mode}`);
      const d = await startAnyad(dd, [...base, ...args]);
      const wsUrl = String(d.logs.find((l) => l.msg === 'anyad serving RPC; opening services')!.ws);
      const cookie = (await readFile(join(dd, 'regtest', '.cookie'), 'utf8')).trim();
      const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${cookie}` } });
      await new Promise((r) => ws.once('open', r));
      ws.send('{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"topics":["chain.block"]}}');
      const waiters = new Map<string, (t: number) => void>();
      const seen = new Map<string, number>();
      ws.on('message', (m) => {
        const e = JSON.parse(m.toString()) as { params?: { data?: { hash?: string } } };
        const h = e.params?.data?.hash;
        if (!h) return;
        seen.set(h, performance.now());
        waiters.get(h)?.(performance.now());
      });
      // warm-up (and ZMQ's slow joiner)
      for (let i = 0; i < 5; i++) await node.mine(1);
      await new Promise((r) => setTimeout(r, 500));
      const lat: number[] = [];
      const mineRtt: number[] = [];
      for (let i = 0; i < 50; i++) {
        const t = performance.now();
        const [hash] = await node.mine(1);
        mineRtt.push(performance.now() - t);
        // The event may beat the RPC answer: then its arrival time is already recorded.
        const arrived = seen.get(hash!) ?? (await new Promise<number>((r) => waiters.set(hash!, r)));
        lat.push(arrived - t);
      }
      lat.sort((x, y) => x - y);
      mineRtt.sort((x, y) => x - y);
      latency[mode] = {
        p50_ms: r2(pct(lat, 50)),
        p99_ms: r2(pct(lat, 99)),
        node_generate_rtt_p50_ms: r2(pct(mineRtt, 50)),
        ratio_p50: r2(pct(lat, 50) / pct(mineRtt, 50)),
      };
      console.log(
        `block -> chain.block at a ws subscriber (${mode}): p50 ${r2(pct(lat, 50))} ms p99 ${r2(pct(lat, 99))} ms | node's generatetoaddress round trip p50 ${r2(pct(mineRtt, 50))} ms`,
      );
      ws.close();
      await stop(d.proc);
    }
    results.block_event_latency = latency;
  } finally {
    await node?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
