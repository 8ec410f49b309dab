// Lightning benchmarks with Core Lightning test peers in this process (see test/peers/cln-peer):
//  - latency from the backend settling an invoice to ln.invoice at a WebSocket subscriber of anyad (p50, p99),
//    against a client calling waitanyinvoice on lightningd's socket directly, in the same run;
//  - ln.getinfo throughput through anyad (Unix socket) against calling lightningd's getinfo directly.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ClnClient } from '../src/adapters/lightning/cln-client.js';
import { AnyaClient } from '../src/client/index.js';
import { ClnPeer, LnNetwork } from '../test/peers/cln-peer.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

export async function benchLn(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-ln-'));
  const net = new LnNetwork();
  const a = new ClnPeer(net, join(dir, 'a.rpc'), 'alice');
  const b = new ClnPeer(net, join(dir, 'b.rpc'), 'bob');
  await a.start();
  await b.start();
  const settledAt = new Map<string, number>();
  const settle = b.settle.bind(b);
  b.settle = (inv, amount) => {
    settledAt.set(inv.payment_hash, performance.now());
    settle(inv, amount);
  };
  const dd = join(dir, 'anya');
  const proc = spawn(process.execPath, [join(ROOT, 'dist/src/daemon/main.js'), '-regtest', `-datadir=${dd}`, '-rpcport=0', '-nobitcoind.enable', '-noml.enable', '-cln.enable', `-cln.rpcfile=${b.socketPath}`, '-rpcratelimit=1000000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const wsUrl = await new Promise<string>((resolve, reject) => {
      let buf = '';
      let url = '';
      proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
        buf += c;
        url ||= /"ws":"(ws:\/\/[^"]+)"/.exec(buf)?.[1] ?? '';
        if (url && buf.includes('anyad ready')) resolve(url);
      });
      proc.once('exit', (c) => reject(new Error(`anyad exited ${c}`)));
    });
    const cookie = (await readFile(join(dd, 'regtest', '.cookie'), 'utf8')).trim();
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${cookie}` } });
    await new Promise((r) => ws.once('open', r));
    ws.send('{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"topics":["ln.invoice"]}}');
    const viaAnyad = new Map<string, number>();
    const wsWaiters = new Map<string, () => void>();
    ws.on('message', (m) => {
      const e = JSON.parse(m.toString()) as { params?: { data?: { status?: string; payment_hash?: string } } };
      if (e.params?.data?.status === 'settled') {
        viaAnyad.set(e.params.data.payment_hash!, performance.now());
        wsWaiters.get(e.params.data.payment_hash!)?.();
      }
    });
    const payer = new ClnClient(a.socketPath, 10_000);
    const direct = new ClnClient(b.socketPath, 10_000);
    const maker = new ClnClient(b.socketPath, 10_000);
    await payer.call('connect', { id: b.id });
    const latAnyad: number[] = [];
    const latDirect: number[] = [];
    let lastPay = 0;
    for (let i = 0; i < 200; i++) {
      const inv = await maker.call<{ bolt11: string; payment_hash: string }>('invoice', { amount_msat: 1000 + i, label: `bench-${i}`, description: 'bench' });
      const seen = new Promise<void>((r) => wsWaiters.set(inv.payment_hash, r));
      const waited = direct.call<{ pay_index: number; payment_hash: string }>('waitanyinvoice', { lastpay_index: lastPay });
      await payer.call('pay', { bolt11: inv.bolt11 });
      const w = await waited;
      const tDirect = performance.now();
      lastPay = w.pay_index;
      await seen;
      const t0 = settledAt.get(inv.payment_hash)!;
      latDirect.push(tDirect - t0);
      latAnyad.push(viaAnyad.get(inv.payment_hash)! - t0);
    }
    // ln.getinfo throughput: 16 callers for 2 s through anyad, and directly on lightningd's socket
    const client = await AnyaClient.connect({ socket: join(dd, 'regtest', 'anya.sock') });
    const rate = async (f: () => Promise<unknown>): Promise<number> => {
      let n = 0;
      const until = performance.now() + 2000;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (performance.now() < until) {
          await f();
          n++;
        }
      }));
      return Math.round(n / 2);
    };
    const viaRpc = await rate(() => client.call('ln.getinfo'));
    const viaCln = await rate(() => direct.call('getinfo'));
    await client.close();
    ws.close();
    payer.close();
    direct.close();
    maker.close();
    const row = {
      settle_to_ws_event: { p50_ms: r3(q(latAnyad, 0.5)), p99_ms: r3(q(latAnyad, 0.99)) },
      settle_to_direct_waitanyinvoice: { p50_ms: r3(q(latDirect, 0.5)), p99_ms: r3(q(latDirect, 0.99)) },
      getinfo_per_s: { anyad: viaRpc, cln_direct: viaCln, ratio: r3(viaRpc / viaCln) },
    };
    results.lightning = row;
    console.log(`ln.invoice settled -> ws subscriber: p50 ${row.settle_to_ws_event.p50_ms} ms p99 ${row.settle_to_ws_event.p99_ms} ms | direct waitanyinvoice p50 ${row.settle_to_direct_waitanyinvoice.p50_ms} ms p99 ${row.settle_to_direct_waitanyinvoice.p99_ms} ms`);
    console.log(`ln.getinfo: ${viaRpc}/s through anyad vs ${viaCln}/s on lightningd's socket directly (16 callers; the test peer answers in-process) | ratio ${row.getinfo_per_s.ratio}`);
  } finally {
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await done;
    await a.stop();
    await b.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
