// Helpers to run real anyad processes and talk to them over real sockets. Every test gets its own temp datadir
// and port 0; processes are killed by PID when a test ends.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import WebSocket from 'ws';
import { LineSplitter } from '../../src/core/lines.js';

export { ROOT, ANYAD, ANYAD_TEST, ANYA_CLI } from './paths.js';
import { ANYAD_TEST, ANYA_CLI } from './paths.js';

const spawned = new Set<ChildProcess>();
/** Kills, by PID, whatever a test file spawned and did not stop (a failed assertion skips its cleanup). */
export function killSpawned(): void {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
  spawned.clear();
}
// node:test is loaded only inside a test run (`node --test` sets NODE_TEST_CONTEXT in each file's process): loaded
// elsewhere (the benchmarks use startDaemon) its harness would start and track every promise of the process.
const testHooks = (): typeof import('node:test') => createRequire(import.meta.url)('node:test') as typeof import('node:test');
if (process.env.NODE_TEST_CONTEXT) testHooks().after(killSpawned);
process.on('exit', killSpawned);

export async function tempDir(prefix = 'anya-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface RunningDaemon {
  proc: ChildProcess;
  pid: number;
  datadir: string;
  netdir: string;
  socket: string;
  wsUrl: string | undefined;
  logs: LogLine[];
  stderr: () => string;
  cookie: () => Promise<string>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  waitForLog: (pred: (l: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>;
  kill: (sig?: NodeJS.Signals) => Promise<number | string>;
}

export interface SpawnOptions {
  args?: string[];
  entry?: string;
  /** Wait for "anyad ready" (default) or only for "serving RPC" (the daemon may still be warming up). */
  waitFor?: 'ready' | 'serving' | 'nothing';
  /** After ready, also wait for a log line (a backend that attaches in the background, e.g. LND). */
  alsoWaitFor?: (l: LogLine) => boolean;
  env?: NodeJS.ProcessEnv;
  /** Let anyad start its embedded regtest chain (off in tests unless asked for). */
  embeddedChain?: boolean;
  /** Let anyad make its embedded regtest keystore (off in tests unless asked for). */
  embeddedKeystore?: boolean;
  /** Let anyad run its embedded Lightning node as regtest does by default (off in tests unless asked for, or set by args). */
  embeddedLightning?: boolean;
}

/** LND attaches after anyad is ready: its first attach ended, attached or failed (it goes on retrying then). */
export const lndSettled = (l: LogLine): boolean => l.msg === 'LND attached: invoices reconciled, stream open' || l.msg === 'LND unavailable; retrying';

/** Starts anyad on regtest in `datadir` and waits until it is ready; rejects with stderr if it exits first. */
export async function startDaemon(datadir: string, opts: SpawnOptions = {}): Promise<RunningDaemon> {
  const network = (opts.args ?? []).some((a) => /^-(network=|testnet|signet)/.test(a)) ? [] : ['-regtest'];
  // Every answer is checked against its result schema (rpccheckresults), as pyln-testing does for Core Lightning.
  // No embedded regtest chain or keystore unless a test asks for them (a bcoin process and a keystore with its KDF
  // for every daemon).
  const embedded = [...(opts.embeddedChain ? [] : ['-noembeddedchain']), ...(opts.embeddedKeystore ? [] : ['-noembeddedkeystore'])];
  // The peer listener on any free port too (daemons of parallel tests would meet on p2p.peerport's default).
  const peerport = (opts.args ?? []).some((a) => a.startsWith('-p2p.peerport=')) ? [] : ['-p2p.peerport=0'];
  // Regtest's embedded LDK node only where a test asks for it (a wasm node in every daemon otherwise), on any free port.
  const given = (prefix: RegExp): boolean => (opts.args ?? []).some((a) => prefix.test(a));
  const ldk = [...(opts.embeddedLightning || given(/^-(no)?ldk\.enable/) ? [] : ['-noldk.enable']), ...(given(/^-ldk\.port=/) ? [] : ['-ldk.port=0'])];
  const args = [...network, `-datadir=${datadir}`, '-rpcport=0', '-rpccheckresults', ...embedded, ...peerport, ...ldk, ...(opts.args ?? [])];
  const proc = spawn(process.execPath, [opts.entry ?? ANYAD_TEST, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  spawned.add(proc);
  const logs: LogLine[] = [];
  let err = '';
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  const lines = new LineSplitter();
  proc.stdout!.setEncoding('utf8').on('data', (c: string) =>
    lines.push(c, (line) => {
      try {
        const l = JSON.parse(line) as LogLine;
        logs.push(l);
        for (const w of [...waiters])
          if (w.pred(l)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(l);
          }
      } catch {
        // not a log line
      }
    }),
  );
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, sig) => {
      spawned.delete(proc);
      resolve(code ?? sig ?? -1);
    }),
  );
  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 15000): Promise<LogLine> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for a log line; stderr: ${err}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
      void exited.then((code) => {
        clearTimeout(t);
        reject(new Error(`anyad exited (${code}) before the expected log line; stderr: ${err}`));
      });
    });
  };
  const netdir = join(datadir, 'regtest');
  const d: RunningDaemon = {
    proc,
    pid: proc.pid!,
    datadir,
    netdir,
    socket: join(netdir, 'anya.sock'),
    wsUrl: undefined,
    logs,
    stderr: () => err,
    cookie: async () => (await readFile(join(netdir, '.cookie'), 'utf8')).trim(),
    exited,
    waitForLog,
    kill: async (sig = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
      return exited;
    },
  };
  if (opts.waitFor === 'nothing') return d;
  const serving = await waitForLog((l) => l.msg === 'anyad serving RPC; opening services');
  d.wsUrl = serving.ws as string | undefined;
  if (typeof serving.socket === 'string') d.socket = serving.socket;
  if (opts.waitFor !== 'serving') await waitForLog((l) => l.msg === 'anyad ready');
  if (opts.alsoWaitFor && opts.waitFor !== 'serving') await waitForLog(opts.alsoWaitFor);
  return d;
}

/**
 * Registers before/after hooks that give the enclosing suite a temp dir and a daemon started in it; the returned
 * object's fields are filled once `before` has run.
 */
export function useDaemon(opts: SpawnOptions = {}): { dir: string; d: RunningDaemon } {
  const ctx = {} as { dir: string; d: RunningDaemon; remove: () => Promise<void> };
  const { before, after } = testHooks();
  before(async () => {
    const t = await tempDir();
    ctx.dir = t.path;
    ctx.remove = t.remove;
    ctx.d = await startDaemon(t.path, opts);
  });
  after(async () => {
    await ctx.d?.kill();
    await ctx.remove?.();
  });
  return ctx;
}

/** Sends one line on the Unix socket and collects `n` answer lines. */
export function unixExchange(path: string, text: string, n = 1, timeoutMs = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const out: unknown[] = [];
    const lines = new LineSplitter();
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`timeout; got ${JSON.stringify(out)}`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('data', (c: string) =>
      lines.push(c, (l) => {
        out.push(JSON.parse(l));
        if (out.length === n) {
          clearTimeout(t);
          s.end();
          resolve(out);
        }
      }),
    );
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
    if (n === 0) {
      s.write(`${text}\n`, () => setTimeout(() => s.end(), 300));
    } else s.write(`${text}\n`);
  });
}

/** Opens a WebSocket with the given headers/protocols; resolves once open or rejects with the HTTP status. */
export function openWs(url: string, opts: { token?: string; headers?: Record<string, string>; protocols?: string[] } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const headers = { ...opts.headers, ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) };
    const ws = new WebSocket(url, opts.protocols ?? [], { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', reject);
  });
}

/** Sends one message on an open WebSocket and waits for the next message. */
export function wsExchange(ws: WebSocket, text: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout waiting for a WebSocket answer')), timeoutMs);
    ws.once('message', (d) => {
      clearTimeout(t);
      resolve(JSON.parse(d.toString()));
    });
    ws.send(text);
  });
}

/** Runs anya-cli to completion. */
export function runCli(args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [ANYA_CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    spawned.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`anya-cli ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 20000);
    p.on('exit', (code) => {
      clearTimeout(t);
      spawned.delete(p);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(opts.stdin ?? '');
  });
}
