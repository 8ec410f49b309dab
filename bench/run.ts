// npm run bench: each figure is measured against a baseline in the same run and reported as a ratio with p50/p99.
//  1. RPC: `uptime` over the Unix socket and the WebSocket with 1, 16 and 64 concurrent clients, against a bare
//     NDJSON echo server and a bare ws echo server (target: throughput >= 0.85x the baseline; >= 0.6x with CPU
//     burners beside); and against bcoin's HTTP JSON-RPC (target >= 5x).
//  2. WebSocket fan-out: 1000 subscribers, one event; p99 delivery latency (target <= bare ws), against a bare ws
//     broadcast to 1000 clients.
//  3. anyad start-to-ready time and idle RSS (targets: core rooms < 300 ms and <= 70 MB, default rooms < 500 ms
//     and <= 100 MB), against a bare `node` process; and
//     anya-cli answering one call against bare `node -e 0` (target < 2x).
// and, from their own files: chain (catch-up, block-to-event), hsm (signing), ml (inference, cache, batching), fees
// (fee observations' storage over 30 days at 100k transactions a day, each estimator's p50/p99), ln
// (settle-to-event, ln.getinfo, start-to-ready per Lightning backend), watches (100k watches: add rate, memory,
// block matching), dlc (adaptor signatures, a numeric contract), channels (state updates between two anyads), wallet
// (getbalance, listunspent, fundpsbt with 10,000 coins), rescan (wallet.rescan of 2,000 blocks), ldk (payments
// between two anyads on the embedded LDK node, against LDK's own loop between two nodes in one process). `npm run bench -- ln`
// runs one of them.
// Figures go to stdout and, as JSON, to the file BENCH_OUT names; the summary table goes into docs/bench.json and
// README.md (bench/summary.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { benchChain } from './chain.js';
import { benchChannels } from './channels.js';
import { benchDlc } from './dlc.js';
import { benchHsm } from './hsm.js';
import { benchMl } from './ml.js';
import { benchFees } from './fees.js';
import { benchLdk } from './ldk.js';
import { benchLn } from './ln.js';
import { benchWallet } from './wallet.js';
import { benchWalletRescan } from './wallet-rescan.js';
import { benchWatches } from './watches.js';
import { writeSummary } from './summary.js';
import { inTurns } from './turns.js';
import { LineSplitter } from '../src/core/lines.js';
import { startBcoin } from '../test/helpers/bcoin.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ANYAD = join(ROOT, 'dist/bin/anyad.js');
const ANYAD_TEST = join(ROOT, 'dist/test/fixtures/anyad-test.js');
const ECHO = join(ROOT, 'dist/bench/echo-server.js');
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 4) * 1000;

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const r2 = (x: number): number => Math.round(x * 100) / 100;

function startProc(args: string[], readyRe: RegExp): Promise<{ proc: ChildProcess; match: RegExpExecArray; ms: number }> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      const m = readyRe.exec(buf);
      if (m) resolve({ proc, match: m, ms: performance.now() - t0 });
    });
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)));
  });
}

async function stopProc(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
}

/** A request/answer client: `send` writes one request, answers come through `onAnswer`. */
interface LoadClient {
  send(id: number): void;
  close(): void;
}

function unixClient(path: string, body: (id: number) => string, onAnswer: () => void): Promise<LoadClient> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const lines = new LineSplitter();
    s.setEncoding('utf8');
    s.on('data', (c: string) => lines.push(c, () => onAnswer()));
    s.once('error', reject);
    s.once('connect', () => resolve({ send: (id) => s.write(`${body(id)}\n`), close: () => s.destroy() }));
  });
}

function wsClient(url: string, token: string | undefined, body: (id: number) => string, onAnswer: () => void): Promise<LoadClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, headers: token ? { authorization: `Bearer ${token}` } : {} });
    ws.on('message', () => onAnswer());
    ws.once('error', reject);
    ws.once('open', () => resolve({ send: (id) => ws.send(body(id)), close: () => ws.close() }));
  });
}

/** An HTTP/1.1 keep-alive JSON-RPC client (one socket) for bcoin's RPC. */
function httpClient(port: number, apiKey: string, onAnswer: () => void): Promise<LoadClient> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const auth = `Basic ${Buffer.from(`x:${apiKey}`).toString('base64')}`;
  return Promise.resolve({
    send: (id) => {
      const body = JSON.stringify({ method: 'getblockcount', params: [], id });
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/',
          agent,
          headers: { authorization: auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', onAnswer);
        },
      );
      req.end(body);
    },
    close: () => agent.destroy(),
  });
}

type LoopFigures = { rps: number; p50_ms: number; p99_ms: number };

/** `n` clients, each sending its next request as soon as the previous answer arrives, for `ms`. */
async function closedLoopRaw(n: number, make: (onAnswer: () => void) => Promise<LoadClient>, ms: number): Promise<{ lat: number[]; elapsed: number }> {
  const lat: number[] = [];
  let stopAt = Infinity;
  let running = n;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const clients: LoadClient[] = [];
  for (let i = 0; i < n; i++) {
    let sentAt = 0;
    let id = 0;
    const c: LoadClient = await make(() => {
      lat.push(performance.now() - sentAt);
      if (performance.now() >= stopAt) {
        if (--running === 0) finish();
        return;
      }
      sentAt = performance.now();
      c.send(++id);
    });
    clients.push(Object.assign(c, { start: () => ((sentAt = performance.now()), c.send(++id)) }));
  }
  const t0 = performance.now();
  stopAt = t0 + ms;
  for (const c of clients) (c as LoadClient & { start: () => void }).start();
  await finished;
  const elapsed = performance.now() - t0;
  clients.forEach((c) => c.close());
  return { lat, elapsed };
}

function loopFigures(runs: Array<{ lat: number[]; elapsed: number }>): LoopFigures {
  const lat = runs.flatMap((r) => r.lat).sort((a, b) => a - b);
  const elapsed = runs.reduce((t, r) => t + r.elapsed, 0);
  return { rps: Math.round(lat.length / (elapsed / 1000)), p50_ms: r2(pct(lat, 50)), p99_ms: r2(pct(lat, 99)) };
}

/** A subject and its baseline under `n` clients, in turns (ROUNDS each, the same total time as one run of each). */
async function interleaved(
  n: number,
  subject: (onAnswer: () => void) => Promise<LoadClient>,
  baseline: (onAnswer: () => void) => Promise<LoadClient>,
): Promise<{ subject: LoopFigures; baseline: LoopFigures }> {
  // Eight half-second turns a side: the shorter the turn, the less a drift in the machine's speed lands on one side.
  const ROUNDS = 8;
  const ms = DURATION_MS / ROUNDS;
  const r = await inTurns(
    ROUNDS,
    () => closedLoopRaw(n, subject, ms),
    () => closedLoopRaw(n, baseline, ms),
  );
  return { subject: loopFigures(r.subject), baseline: loopFigures(r.baseline) };
}

const request = (id: number): string => `{"jsonrpc":"2.0","id":${id},"method":"uptime"}`;

async function benchRpc(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-'));
  try {
    // The default rpcratelimit, as users (and measures from outside) run anyad: a limit that binds shows here.
    const anyad = await startProc(
      [ANYAD, '-regtest', `-datadir=${dir}`, '-rpcport=0', '-noembeddedchain', '-noembeddedkeystore', '-rpcmaxconnections=5000'],
      /"ws":"(ws:\/\/[^"]+)"/,
    );
    await new Promise((r) => setTimeout(r, 300));
    const wsUrl = anyad.match[1]!;
    const sock = join(dir, 'regtest', 'anya.sock');
    const cookie = (await readFile(join(dir, 'regtest', '.cookie'), 'utf8')).trim();
    const echoUnixPath = join(dir, 'echo.sock');
    const echoUnix = await startProc([ECHO, 'unix', echoUnixPath], /ready/);
    const echoWs = await startProc([ECHO, 'ws'], /ready (\d+)/);
    const echoWsUrl = `ws://127.0.0.1:${echoWs.match[1]}/`;
    const rows: unknown[] = [];
    for (const transport of ['unix', 'ws'] as const) {
      for (const n of [1, 16, 64]) {
        const { subject, baseline: base } = await interleaved(
          n,
          (on) => (transport === 'unix' ? unixClient(sock, request, on) : wsClient(wsUrl, cookie, request, on)),
          (on) => (transport === 'unix' ? unixClient(echoUnixPath, request, on) : wsClient(echoWsUrl, undefined, request, on)),
        );
        const row = { transport, clients: n, anyad: subject, baseline: base, throughput_ratio: r2(subject.rps / base.rps) };
        rows.push(row);
        console.log(
          `rpc ${transport.padEnd(4)} c=${String(n).padStart(2)}  anyad ${String(subject.rps).padStart(6)} req/s p50 ${subject.p50_ms} ms p99 ${subject.p99_ms} ms | echo ${String(base.rps).padStart(6)} req/s p50 ${base.p50_ms} p99 ${base.p99_ms} | ratio ${row.throughput_ratio} (target >= 0.85)`,
        );
      }
    }
    results.rpc = rows;
    // The same at 16 clients with a CPU-burning neighbour on the machine (one process spinning per core): both
    // anyad and the echo server share the cores with it (target >= 0.6x).
    const burners = Array.from({ length: cpus().length }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    children.push(...burners);
    const loaded: unknown[] = [];
    try {
      for (const transport of ['unix', 'ws'] as const) {
        const { subject, baseline: base } = await interleaved(
          16,
          (on) => (transport === 'unix' ? unixClient(sock, request, on) : wsClient(wsUrl, cookie, request, on)),
          (on) => (transport === 'unix' ? unixClient(echoUnixPath, request, on) : wsClient(echoWsUrl, undefined, request, on)),
        );
        const row = { transport, clients: 16, neighbours: burners.length, anyad: subject, baseline: base, throughput_ratio: r2(subject.rps / base.rps) };
        loaded.push(row);
        console.log(
          `rpc ${transport.padEnd(4)} c=16 under load (${burners.length} CPU burners)  anyad ${subject.rps} req/s p50 ${subject.p50_ms} ms p99 ${subject.p99_ms} ms | echo ${base.rps} req/s | ratio ${row.throughput_ratio} (target >= 0.6)`,
        );
      }
    } finally {
      burners.forEach((b) => b.kill('SIGKILL'));
    }
    results.rpc_loaded = loaded;
    // A second baseline: bcoin's own HTTP JSON-RPC (getblockcount, keep-alive), the kind of node RPC apps know.
    const node = await startBcoin(dir);
    try {
      const { subject, baseline: base } = await interleaved(
        16,
        (on) => unixClient(sock, request, on),
        (on) => httpClient(node.port, node.apiKey, on),
      );
      const row = { clients: 16, anyad_unix: subject, bcoin_http_getblockcount: base, ratio: r2(subject.rps / base.rps) };
      results.rpc_vs_bcoin = row;
      console.log(
        `rpc unix c=16 vs bcoin HTTP JSON-RPC getblockcount (keep-alive): anyad ${subject.rps} req/s p50 ${subject.p50_ms} ms | bcoin ${base.rps} req/s p50 ${base.p50_ms} ms | ratio ${row.ratio} (target >= 5)`,
      );
    } finally {
      await node.stop();
    }
    await Promise.all([stopProc(anyad.proc), stopProc(echoUnix.proc), stopProc(echoWs.proc)]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchFanout(results: Record<string, unknown>): Promise<void> {
  const SUBSCRIBERS = 1000;
  const ROUNDS = 20;
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-'));
  try {
    const anyad = await startProc(
      [ANYAD_TEST, '-regtest', `-datadir=${dir}`, '-rpcport=0', '-noembeddedchain', '-noembeddedkeystore', '-rpcratelimit=1000000', '-rpcmaxconnections=5000'],
      /"ws":"(ws:\/\/[^"]+)"/,
    );
    await new Promise((r) => setTimeout(r, 300));
    const cookie = (await readFile(join(dir, 'regtest', '.cookie'), 'utf8')).trim();
    /** Connects SUBSCRIBERS clients; the answer runs one round: triggers one event and gives the round's p99 delivery. */
    const connectAll = async (
      url: string,
      token: string | undefined,
      subscribe: ((ws: WebSocket) => Promise<void>) | undefined,
      trigger: (ws: WebSocket, round: number) => void,
      isEvent: (text: string) => boolean,
    ): Promise<{ round: (n: number) => Promise<number>; close: () => void }> => {
      let arrived = 0;
      let roundStart = 0;
      let roundDone!: () => void;
      let lat: number[] = [];
      const subs: WebSocket[] = [];
      for (let i = 0; i < SUBSCRIBERS; i++) {
        const ws = new WebSocket(url, { perMessageDeflate: false, headers: token ? { authorization: `Bearer ${token}` } : {} });
        await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
        if (subscribe) await subscribe(ws);
        ws.on('message', (d) => {
          if (!isEvent(d.toString())) return;
          lat.push(performance.now() - roundStart);
          if (++arrived === SUBSCRIBERS) roundDone();
        });
        subs.push(ws);
      }
      return {
        round: async (n) => {
          arrived = 0;
          lat = [];
          const done = new Promise<void>((r) => (roundDone = r));
          roundStart = performance.now();
          trigger(subs[0]!, n);
          await done;
          lat.sort((a, b) => a - b);
          return pct(lat, 99);
        },
        close: () => subs.forEach((w) => w.close()),
      };
    };
    const subscribe = (ws: WebSocket): Promise<void> =>
      new Promise((r) => {
        ws.once('message', () => r());
        ws.send('{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"topics":["test.tick"]}}');
      });
    const viaAnyad = await connectAll(
      anyad.match[1]!,
      cookie,
      subscribe,
      (ws, round) => ws.send(`{"jsonrpc":"2.0","id":"e${round}","method":"test.emit","params":{"count":1}}`),
      (t) => t.includes('"test.tick"'),
    );
    const echo = await startProc([ECHO, 'ws'], /ready (\d+)/);
    const viaWs = await connectAll(
      `ws://127.0.0.1:${echo.match[1]}/`,
      undefined,
      undefined,
      (ws, round) => ws.send(`broadcast:${round}`),
      (t) => t.startsWith('broadcast:'),
    );
    // Both sets of subscribers stay connected; their rounds alternate, so the machine's drift falls on both.
    let n = 0;
    const turns = await inTurns(
      ROUNDS,
      () => viaAnyad.round(n++),
      () => viaWs.round(n++),
    );
    viaAnyad.close();
    viaWs.close();
    const anyP99 = turns.subject.sort((a, b) => a - b);
    const baseP99 = turns.baseline.sort((a, b) => a - b);
    const row = {
      subscribers: SUBSCRIBERS,
      rounds: ROUNDS,
      anyad_p99_ms: { p50: r2(pct(anyP99, 50)), worst: r2(anyP99[anyP99.length - 1]!) },
      baseline_p99_ms: { p50: r2(pct(baseP99, 50)), worst: r2(baseP99[baseP99.length - 1]!) },
      ratio: r2(pct(anyP99, 50) / pct(baseP99, 50)),
    };
    results.fanout = row;
    console.log(
      `fan-out ${SUBSCRIBERS} subscribers: anyad p99 delivery ${row.anyad_p99_ms.p50} ms (median of ${ROUNDS} rounds; worst round ${row.anyad_p99_ms.worst} ms, target <= bare ws) | bare ws broadcast p99 ${row.baseline_p99_ms.p50} ms | ratio ${row.ratio}`,
    );
    await Promise.all([stopProc(anyad.proc), stopProc(echo.proc)]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return r2(Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024);
}

async function startupFigures(extra: string[], runs: number, embedded = false): Promise<{ ready: number[]; rss: number[] }> {
  const ready: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'anya-bench-'));
    const off = embedded ? [] : ['-noembeddedchain', '-noembeddedkeystore'];
    const a = await startProc([ANYAD, '-regtest', `-datadir=${dir}`, '-rpcport=0', ...off, ...extra], /"msg":"anyad ready"/);
    ready.push(a.ms);
    await new Promise((r) => setTimeout(r, 1000));
    rss.push(await rssMb(a.proc.pid!));
    await stopProc(a.proc);
    await rm(dir, { recursive: true, force: true });
  }
  ready.sort((x, y) => x - y);
  rss.sort((x, y) => x - y);
  return { ready, rss };
}

async function benchStartup(results: Record<string, unknown>): Promise<void> {
  const RUNS = 7;
  const baseReady: number[] = [];
  const baseRss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const b = await startProc(['-e', 'process.stdout.write("ready\\n"); setInterval(() => {}, 1000)'], /ready/);
    baseReady.push(b.ms);
    await new Promise((r) => setTimeout(r, 1000));
    baseRss.push(await rssMb(b.proc.pid!));
    await stopProc(b.proc);
  }
  baseReady.sort((x, y) => x - y);
  baseRss.sort((x, y) => x - y);
  const rows: Record<string, unknown> = {};
  // The daemon core alone (the figure of the daemon-core issue), and the default regtest start with every room on.
  for (const [name, extra] of [
    ['core', ['-nobitcoind.enable', '-noml.enable']],
    ['default', []],
  ] as const) {
    const { ready, rss } = await startupFigures([...extra], RUNS);
    const row = {
      runs: RUNS,
      start_to_ready_ms: { p50: r2(pct(ready, 50)), max: r2(ready[RUNS - 1]!) },
      bare_node_start_ms: { p50: r2(pct(baseReady, 50)) },
      start_ratio: r2(pct(ready, 50) / pct(baseReady, 50)),
      idle_rss_mb: { p50: pct(rss, 50), max: rss[RUNS - 1]! },
      bare_node_rss_mb: { p50: pct(baseRss, 50) },
      rss_ratio: r2(pct(rss, 50) / pct(baseRss, 50)),
    };
    rows[name] = row;
    console.log(
      `start-to-ready (${name}): anyad p50 ${row.start_to_ready_ms.p50} ms (max ${row.start_to_ready_ms.max}, target < ${name === 'core' ? 300 : 500}) | bare node ${row.bare_node_start_ms.p50} ms | ratio ${row.start_ratio}`,
    );
    console.log(
      `idle RSS (${name}): anyad p50 ${row.idle_rss_mb.p50} MB (target <= ${name === 'core' ? 70 : 100}) | bare node ${row.bare_node_rss_mb.p50} MB | ratio ${row.rss_ratio}`,
    );
  }
  // `npm start` on a fresh datadir: every room plus the embedded regtest chain (its own process, started before
  // ready) and the embedded keystore (made with its KDF on the first start). Reported apart: not the core figure.
  {
    const { ready, rss } = await startupFigures([], RUNS, true);
    const row = {
      runs: RUNS,
      start_to_ready_ms: { p50: r2(pct(ready, 50)), max: r2(ready[RUNS - 1]!) },
      over_default_ms: r2(pct(ready, 50) - (rows.default as { start_to_ready_ms: { p50: number } }).start_to_ready_ms.p50),
      idle_rss_mb: { p50: pct(rss, 50) },
    };
    rows.npm_start = row;
    console.log(
      `start-to-ready (npm start: default rooms + embedded chain + embedded keystore, fresh datadir): p50 ${row.start_to_ready_ms.p50} ms (+${row.over_default_ms} ms over default; not a target) | anyad RSS ${row.idle_rss_mb.p50} MB (the chain's process apart)`,
    );
  }
  results.startup = rows;
  await benchCli(results);
}

/** Runs a process to its end; answers the wall time in ms. */
function timeProc(args: string[]): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: 'ignore' });
    p.once('error', reject);
    p.once('exit', () => resolve(performance.now() - t));
  });
}

/** anya-cli answering one call (uptime over the Unix socket) against bare `node -e 0`, run in turn (target < 2x). */
async function benchCli(results: Record<string, unknown>): Promise<void> {
  const RUNS = 15;
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-cli-'));
  try {
    const a = await startProc([ANYAD, '-regtest', `-datadir=${dir}`, '-rpcport=0', '-nobitcoind.enable', '-noml.enable'], /"msg":"anyad ready"/);
    const cli: number[] = [];
    const bare: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < RUNS + 2; i++) {
      const c = await timeProc([join(ROOT, 'dist/bin/anya-cli.js'), '-regtest', `-datadir=${dir}`, 'uptime']);
      const b = await timeProc(['-e', '0']);
      if (i < 2) continue; // warm-up: file cache
      cli.push(c);
      bare.push(b);
      ratios.push(c / b);
    }
    await stopProc(a.proc);
    for (const xs of [cli, bare, ratios]) xs.sort((x, y) => x - y);
    const row = {
      runs: RUNS,
      anya_cli_uptime_ms: { p50: r2(pct(cli, 50)), p99: r2(pct(cli, 99)) },
      bare_node_ms: { p50: r2(pct(bare, 50)) },
      ratio_p50: r2(pct(ratios, 50)),
    };
    results.cli = row;
    console.log(
      `anya-cli uptime: p50 ${row.anya_cli_uptime_ms.p50} ms (p99 ${row.anya_cli_uptime_ms.p99}) | bare node -e 0 p50 ${row.bare_node_ms.p50} ms | ratio (pairwise median) ${row.ratio_p50} (target < 2)`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const results: Record<string, unknown> = { node: process.version, arch: process.arch, duration_ms_per_case: DURATION_MS };
const only = process.argv.slice(2);
if (only.length === 0 || only.includes('startup')) await benchStartup(results);
if (only.length === 0 || only.includes('rpc')) await benchRpc(results);
if (only.length === 0 || only.includes('fanout')) await benchFanout(results);
if (only.length === 0 || only.includes('chain')) await benchChain(results);
if (only.length === 0 || only.includes('hsm')) await benchHsm(results);
if (only.length === 0 || only.includes('ml')) await benchMl(results);
if (only.length === 0 || only.includes('fees')) await benchFees(results);
if (only.length === 0 || only.includes('ln')) await benchLn(results);
if (only.length === 0 || only.includes('ldk')) await benchLdk(results);
if (only.length === 0 || only.includes('watches')) await benchWatches(results);
if (only.length === 0 || only.includes('dlc')) await benchDlc(results);
if (only.length === 0 || only.includes('channels')) await benchChannels(results);
if (only.length === 0 || only.includes('wallet')) await benchWallet(results);
if (only.length === 0 || only.includes('rescan')) await benchWalletRescan(results);
if (process.env.BENCH_OUT) await writeFile(process.env.BENCH_OUT, `${JSON.stringify(results, null, 2)}\n`);
await writeSummary(ROOT, results);
process.exit(0);
