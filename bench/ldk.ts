// The embedded LDK node (issue 29): payments between two anyads with ldk.enable on one bcoin regtest node, a channel
// between them funded from Alice's wallet. Each payment: Bob's ln.createinvoice, Alice's ln.pay, until ln.pay has
// answered and Bob's ln.invoice settled event has reached a WebSocket subscriber of his; one at a time, p50/p99 and
// payments/s. Against LDK's own payment loop between two nodes in this one process (ldk-inprocess.ts: the same
// node modules, the ChannelManager called directly, until PaymentSent and PaymentClaimed), in turns in the same run,
// as a ratio (goal: p50 < 50 ms through anyad).

import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBcoin } from '../test/helpers/bcoin.js';
import { unixChannel, wsChannel, type Channel } from '../test/helpers/channel.js';
import { startDaemon, type LogLine, type RunningDaemon } from '../test/helpers/daemon.js';
import { keystorePartyArgs } from '../test/helpers/keystore-party.js';
import { inProcessPair } from './ldk-inprocess.js';
import { inTurns } from './turns.js';
import { call, latency, r3 } from './measure.js';

const N = Number(process.env.BENCH_LDK_PAYMENTS ?? 200);
/** Turns of subject and baseline (N payments each in all), so the machine's drift falls on both. */
const ROUNDS = 8;
const CAPACITY_SAT = 5_000_000;

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`ldk bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function benchLdk(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-ldk-'));
  const node = await startBcoin(dir);
  const daemons: RunningDaemon[] = [];
  const started = (l: LogLine): boolean => l.msg === 'LDK node started';
  try {
    await node.mine(3);
    const party = async (name: string, extra: string[]): Promise<{ ch: Channel; d: RunningDaemon; id: string; port: number }> => {
      const pf = join(dir, `${name}.pass`);
      await writeFile(pf, `${name} passphrase\n`, { mode: 0o600 });
      const d = await startDaemon(join(dir, name), { args: keystorePartyArgs(node, pf, ['-ldk.enable', '-ldk.port=0', ...extra]), alsoWaitFor: started });
      daemons.push(d);
      const line = await d.waitForLog(started);
      return { ch: await unixChannel(d.socket), d, id: line.id as string, port: line.port as number };
    };
    const alice = await party('alice', []);
    const bob = await party('bob', ['-nowallet.enable']);
    await call(alice.ch, 'ln.connect', { id: bob.id, host: '127.0.0.1', port: bob.port });
    const { address } = await call<{ address: string }>(alice.ch, 'wallet.getnewaddress');
    await node.mine(1, address);
    await node.mine(100);
    await until("Alice's wallet funded", async () =>
      (await call<{ confirmed_sat: number }>(alice.ch, 'wallet.getbalance')).confirmed_sat > 0 ? true : undefined,
    );
    const opened = await call<{ txid: string }>(alice.ch, 'ln.openchannel', { peer: bob.id, amount_sat: CAPACITY_SAT });
    await until('the funding in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(opened.txid) ? true : undefined));
    await node.mine(6);
    for (const p of [alice, bob])
      await until('the channel active', async () => ((await call<Array<{ active: boolean }>>(p.ch, 'ln.listchannels'))[0]?.active ? true : undefined));
    // Bob's settlements as a subscriber sees them.
    const ws = await wsChannel(bob.d.wsUrl!, await bob.d.cookie());
    await call(ws, 'subscribe', { topics: ['ln.invoice'] });
    const settled = new Map<string, () => void>();
    const seen = new Set<string>();
    void (async () => {
      for (;;) {
        const m = (await ws.next(3_600_000).catch(() => undefined)) as
          { method?: string; params?: { data: { status: string; payment_hash: string } } } | undefined;
        if (!m) return;
        if (m.method !== 'event' || m.params?.data.status !== 'settled') continue;
        seen.add(m.params.data.payment_hash);
        settled.get(m.params.data.payment_hash)?.();
      }
    })();
    let i = 0;
    /** Where the time of each payment through anyad goes: ln.createinvoice, ln.pay, then the wait for Bob's event. */
    const parts = { createinvoice: [] as number[], pay: [] as number[], event_after_pay: [] as number[] };
    const viaAnyad = async (): Promise<number> => {
      const t = performance.now();
      const inv = await call<{ payment_hash: string; bolt11: string }>(bob.ch, 'ln.createinvoice', { amount_msat: 1_000_000 + i++, description: 'bench' });
      const t1 = performance.now();
      const got = new Promise<void>((r) => (seen.has(inv.payment_hash) ? r() : settled.set(inv.payment_hash, r)));
      await call(alice.ch, 'ln.pay', { invoice: inv.bolt11 });
      const t2 = performance.now();
      await got;
      settled.delete(inv.payment_hash);
      const t3 = performance.now();
      parts.createinvoice.push(t1 - t);
      parts.pay.push(t2 - t1);
      parts.event_after_pay.push(t3 - t2);
      return t3 - t;
    };
    const pair = await inProcessPair(node, CAPACITY_SAT);
    const direct = async (): Promise<number> => {
      const t = performance.now();
      await pair.pay(1_000_000 + i++);
      return performance.now() - t;
    };
    // A few of each first: the first payments on a channel warm LDK's caches and the JIT.
    for (let w = 0; w < 5; w++) {
      await viaAnyad();
      await direct();
    }
    const per = Math.ceil(N / ROUNDS);
    const turn = (f: () => Promise<number>) => async (): Promise<{ times: number[]; ms: number }> => {
      const times: number[] = [];
      const t0 = performance.now();
      for (let k = 0; k < per; k++) times.push(await f());
      return { times, ms: performance.now() - t0 };
    };
    const r = await inTurns(ROUNDS, turn(viaAnyad), turn(direct));
    ws.close();
    await pair.close();
    const sum = (xs: Array<{ times: number[]; ms: number }>): { payments: number; payments_per_s: number; p50_ms: number; p99_ms: number } => {
      const times = xs.flatMap((x) => x.times);
      return { payments: times.length, payments_per_s: r3(times.length / (xs.reduce((s, x) => s + x.ms, 0) / 1000)), ...latency(times) };
    };
    const anyad = sum(r.subject);
    const base = sum(r.baseline);
    const split = Object.fromEntries(Object.entries(parts).map(([k, xs]) => [k, latency(xs)]));
    const res = {
      anyad: { ...anyad, split },
      in_process: base,
      p50_ratio: r3(anyad.p50_ms / base.p50_ms),
      throughput_ratio: r3(anyad.payments_per_s / base.payments_per_s),
    };
    results.ldk = res;
    console.log(
      `ldk: ${anyad.payments} payments between two anyads, ${anyad.payments_per_s}/s (p50 ${anyad.p50_ms} ms, p99 ${anyad.p99_ms} ms; goal p50 < 50 ms) | LDK in one process ${base.payments_per_s}/s (p50 ${base.p50_ms} ms, p99 ${base.p99_ms} ms) | p50 ${res.p50_ratio}×, throughput ${res.throughput_ratio}×`,
    );
    console.log(
      `ldk: through anyad, p50 of ln.createinvoice ${split.createinvoice!.p50_ms} ms, ln.pay ${split.pay!.p50_ms} ms, then Bob's ln.invoice settled ${split.event_after_pay!.p50_ms} ms later`,
    );
  } finally {
    for (const d of daemons) await d.kill().catch(() => undefined);
    await node.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
