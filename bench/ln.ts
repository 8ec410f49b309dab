// Lightning benchmarks, once per backend, with the test peers in this process (test/peers/cln-peer, lnd-peer):
//  - latency from the backend settling an invoice to ln.invoice at a WebSocket subscriber of anyad (p50, p99),
//    against a client of the backend's own interface in this process (lightningd's waitanyinvoice; ln-service's
//    subscribeToInvoices for LND), measured from the same settlements;
//  - ln.getinfo throughput through anyad (Unix socket), against calling the backend directly (lightningd's getinfo;
//    ln-service's getWalletInfo), 16 callers each, on one connection with a bare client on both sides for CLN.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ln from 'ln-service';
import WebSocket from 'ws';
import { ClnClient } from '../src/adapters/lightning/cln-client.js';
import { call, unixChannel } from '../test/helpers/channel.js';
import { inTurns } from './turns.js';
import { ClnPeer } from '../test/peers/cln-peer.js';
import { LnNetwork } from '../test/peers/ln-network.js';
import { LndPeer } from '../test/peers/lnd-peer.js';
import { r3 } from './measure.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const ROUNDS = 200;
const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

/** What one backend's bench needs: peers A (payer) and B (anyad's node), and B's own interface as the baseline. */
interface Rig {
  name: 'cln' | 'lnd';
  daemonArgs: string[];
  /** Sets the hook called with the payment hash when B settles an invoice. */
  onSettle(f: (hash: string) => void): void;
  invoice(i: number): Promise<{ bolt11: string; payment_hash: string }>;
  pay(bolt11: string): Promise<void>;
  /** Starts the baseline listener; it calls back with the hash of each settlement it sees. */
  listen(f: (hash: string) => void): Promise<void>;
  getinfo(): Promise<unknown>;
  close(): Promise<void>;
}

async function clnRig(dir: string): Promise<Rig> {
  const net = new LnNetwork();
  const a = new ClnPeer(net, join(dir, 'a.rpc'), 'alice');
  const b = new ClnPeer(net, join(dir, 'b.rpc'), 'bob');
  await a.start();
  await b.start();
  const payer = new ClnClient(a.socketPath, 10_000);
  const maker = new ClnClient(b.socketPath, 10_000);
  const direct = new ClnClient(b.socketPath, 10_000);
  const waiter = new ClnClient(b.socketPath, 60_000);
  await payer.call('connect', { id: b.id });
  let running = true;
  return {
    name: 'cln',
    daemonArgs: ['-cln.enable', `-cln.rpcfile=${b.socketPath}`],
    onSettle: (f) => {
      const settle = b.settle.bind(b);
      b.settle = (inv, amount) => {
        f(inv.payment_hash);
        settle(inv, amount);
      };
    },
    invoice: (i) => maker.call('invoice', { amount_msat: 1000 + i, label: `bench-${i}`, description: 'bench' }),
    pay: async (bolt11) => void (await payer.call('pay', { bolt11 })),
    listen: async (f) => {
      void (async () => {
        let last = 0;
        while (running) {
          const w = await waiter.call<{ pay_index: number; payment_hash: string }>('waitanyinvoice', { lastpay_index: last }).catch(() => undefined);
          if (!w) continue;
          last = w.pay_index;
          f(w.payment_hash);
        }
      })();
    },
    getinfo: () => direct.call('getinfo'),
    close: async () => {
      running = false;
      for (const c of [payer, maker, direct, waiter]) c.close();
      await a.stop();
      await b.stop();
    },
  };
}

async function lndRig(dir: string): Promise<Rig> {
  const net = new LnNetwork();
  const a = new LndPeer(net, dir, 'alice');
  const b = new LndPeer(net, dir, 'bob');
  await a.start();
  await b.start();
  net.connect(a, b.id);
  const connect = async (p: LndPeer): Promise<ln.AuthenticatedLnd> =>
    ln.authenticatedLndGrpc({
      cert: (await readFile(p.certPath)).toString('base64'),
      macaroon: (await readFile(p.macaroonPath)).toString('hex'),
      socket: p.socket,
    }).lnd;
  const la = await connect(a);
  const lb = await connect(b);
  let sub: ReturnType<typeof ln.subscribeToInvoices> | undefined;
  return {
    name: 'lnd',
    daemonArgs: ['-lnd.enable', `-lnd.socket=${b.socket}`, `-lnd.tlscertpath=${b.certPath}`, `-lnd.macaroonpath=${b.macaroonPath}`],
    onSettle: (f) => {
      b.onSettle = f;
    },
    invoice: async (i) => {
      const r = await ln.createInvoice({ lnd: lb, description: 'bench', mtokens: String(1000 + i) });
      return { bolt11: r.request, payment_hash: r.id };
    },
    pay: async (bolt11) => void (await ln.payViaPaymentRequest({ lnd: la, request: bolt11 })),
    listen: async (f) => {
      sub = ln.subscribeToInvoices({ lnd: lb });
      sub.on('invoice_updated', (inv: ln.LndInvoice) => inv.is_confirmed && f(inv.id));
      sub.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 200)); // the stream is open before the first settlement
    },
    getinfo: () => ln.getWalletInfo({ lnd: lb }),
    close: async () => {
      sub?.removeAllListeners();
      await a.stop();
      await b.stop();
    },
  };
}

async function benchRig(rig: Rig, dir: string): Promise<Record<string, unknown>> {
  const settledAt = new Map<string, number>();
  rig.onSettle((h) => settledAt.set(h, performance.now()));
  const dd = join(dir, `anya-${rig.name}`);
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'dist/bin/anyad.js'),
      '-regtest',
      `-datadir=${dd}`,
      '-rpcport=0',
      '-nobitcoind.enable',
      '-noml.enable',
      ...rig.daemonArgs,
      '-rpcratelimit=1000000',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const wsUrl = await new Promise<string>((resolve, reject) => {
      let buf = '';
      let url = '';
      proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
        buf += c;
        url ||= /"ws":"(ws:\/\/[^"]+)"/.exec(buf)?.[1] ?? '';
        // LND attaches after anyad is ready (its calls answer -28 until then).
        if (url && buf.includes('anyad ready') && (rig.name !== 'lnd' || buf.includes('LND attached'))) resolve(url);
      });
      proc.once('exit', (c) => reject(new Error(`anyad exited ${c}`)));
    });
    const cookie = (await readFile(join(dd, 'regtest', '.cookie'), 'utf8')).trim();
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${cookie}` } });
    await new Promise((r) => ws.once('open', r));
    ws.send('{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"topics":["ln.invoice"]}}');
    const seenBy = { anyad: new Map<string, number>(), direct: new Map<string, number>() };
    const waiters = new Map<string, () => void>();
    const mark = (where: 'anyad' | 'direct', hash: string): void => {
      seenBy[where].set(hash, performance.now());
      if (seenBy.anyad.has(hash) && seenBy.direct.has(hash)) waiters.get(hash)?.();
    };
    ws.on('message', (m) => {
      const e = JSON.parse(m.toString()) as { params?: { data?: { status?: string; payment_hash?: string } } };
      if (e.params?.data?.status === 'settled') mark('anyad', e.params.data.payment_hash!);
    });
    await rig.listen((h) => mark('direct', h));
    const latAnyad: number[] = [];
    const latDirect: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const inv = await rig.invoice(i);
      const both = new Promise<void>((r) => waiters.set(inv.payment_hash, r));
      await rig.pay(inv.bolt11);
      await both;
      const t0 = settledAt.get(inv.payment_hash)!;
      latAnyad.push(seenBy.anyad.get(inv.payment_hash)! - t0);
      latDirect.push(seenBy.direct.get(inv.payment_hash)! - t0);
    }
    // A bare NDJSON client (one connection, answers matched by id, a timer per call) as lean as the baseline's
    // ClnClient, so the ratio measures what anyad adds, not two client libraries: AnyaClient, on json-rpc-2.0's
    // client, costs about twice ClnClient's CPU per call.
    const client = await unixChannel(join(dd, 'regtest', 'anya.sock'));
    /** Calls made by 16 callers in `ms`. */
    const count = async (f: () => Promise<unknown>, ms: number): Promise<number> => {
      let n = 0;
      const until = performance.now() + ms;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (performance.now() < until) {
            await f();
            n++;
          }
        }),
      );
      return n;
    };
    // In half-second turns (2 s each in all), so a shift in the shared machine's speed falls on both alike.
    const turns = await inTurns(
      4,
      () => count(() => call(client, 'ln.getinfo'), 500),
      () => count(() => rig.getinfo(), 500),
    );
    const sum = (xs: number[]): number => xs.reduce((a, x) => a + x, 0);
    const viaRpc = Math.round(sum(turns.subject) / 2);
    const direct = Math.round(sum(turns.baseline) / 2);
    client.close();
    ws.close();
    const row = {
      settle_to_ws_event: { p50_ms: r3(q(latAnyad, 0.5)), p99_ms: r3(q(latAnyad, 0.99)) },
      settle_to_direct_client: { p50_ms: r3(q(latDirect, 0.5)), p99_ms: r3(q(latDirect, 0.99)) },
      getinfo_per_s: { anyad: viaRpc, direct, ratio: r3(viaRpc / direct) },
    };
    const baseline = rig.name === 'cln' ? "waitanyinvoice on lightningd's socket" : 'ln-service subscribeToInvoices';
    console.log(
      `[${rig.name}] ln.invoice settled -> ws subscriber: p50 ${row.settle_to_ws_event.p50_ms} ms p99 ${row.settle_to_ws_event.p99_ms} ms | ${baseline}: p50 ${row.settle_to_direct_client.p50_ms} ms p99 ${row.settle_to_direct_client.p99_ms} ms`,
    );
    console.log(
      `[${rig.name}] ln.getinfo: ${viaRpc}/s through anyad vs ${direct}/s ${rig.name === 'cln' ? "on lightningd's socket" : 'through ln-service'} directly (16 callers; the peer answers in this process) | ratio ${row.getinfo_per_s.ratio}`,
    );
    return row;
  } finally {
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await done;
  }
}

/**
 * anyad's start-to-ready in ms (p50 of `runs`), with the given extra arguments, each run on a fresh datadir; and, when
 * `attachedLine` is given, the time until that log line (a backend attaching in the background).
 */
async function startToReady(dir: string, tag: string, extra: string[], runs = 5, attachedLine?: string): Promise<{ ready: number; attached?: number }> {
  const times: number[] = [];
  const attached: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const proc = spawn(
      process.execPath,
      [join(ROOT, 'dist/bin/anyad.js'), '-regtest', `-datadir=${join(dir, `start-${tag}-${i}`)}`, '-rpcport=0', '-nobitcoind.enable', '-noml.enable', ...extra],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
        buf += c;
        if (buf.includes('anyad ready') && times.length === i) times.push(performance.now() - t0);
        if (attachedLine && buf.includes(attachedLine) && attached.length === i) attached.push(performance.now() - t0);
        if (times.length > i && (!attachedLine || attached.length > i)) resolve();
      });
      proc.once('exit', (c) => reject(new Error(`anyad exited ${c}`)));
    });
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await done;
  }
  return { ready: q(times, 0.5), ...(attachedLine ? { attached: q(attached, 0.5) } : {}) };
}

export async function benchLn(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-ln-'));
  try {
    const out: Record<string, unknown> = {};
    for (const make of [clnRig, lndRig]) {
      const rig = await make(dir);
      try {
        const row = await benchRig(rig, dir);
        const without = (await startToReady(dir, `${rig.name}-off`, [])).ready;
        const withIt = await startToReady(dir, `${rig.name}-on`, rig.daemonArgs, 5, rig.name === 'lnd' ? 'LND attached' : undefined);
        row.start_to_ready = {
          p50_ms_without: Math.round(without),
          p50_ms_with: Math.round(withIt.ready),
          added_ms: Math.round(withIt.ready - without),
          ...(withIt.attached !== undefined ? { p50_ms_backend_attached: Math.round(withIt.attached) } : {}),
        };
        console.log(
          `[${rig.name}] start-to-ready p50: ${Math.round(withIt.ready)} ms with the backend vs ${Math.round(without)} ms without (+${Math.round(withIt.ready - without)} ms, target <= +500)${withIt.attached !== undefined ? `; the backend attached (in the background) at ${Math.round(withIt.attached)} ms` : ''}`,
        );
        out[rig.name] = row;
      } finally {
        await rig.close();
      }
    }
    results.lightning = out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
