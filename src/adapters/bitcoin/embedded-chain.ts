// The embedded regtest chain: on regtest only, when no bitcoind is configured, anyad runs a real regtest full node
// (bcoin, regtest-node.ts) as its own child process, its chain under <datadir>/regtest/chain, its RPC on a free
// loopback port with a random key (in a 0600 cookie file beside the chain), and connects the bitcoin room to it
// exactly as to bitcoind. The child dies with anyad (it exits when its IPC channel to anyad closes, SIGKILL
// included), and closing the service stops it. `-noembeddedchain` turns it off; never on other networks.

import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { HealthCell, type Health, type Service } from '../../core/service.js';
import { PACKAGE_DIR } from '../../core/version.js';
import type { Config } from '../../core/config.js';
import { loadBcoin } from './regtest-node.js';

/** The bitcoind keys that, when any is set, mean the operator has a node of their own. */
const CONNECTION_KEYS = ['bitcoind.rpcconnect', 'bitcoind.rpcport', 'bitcoind.rpccookiefile', 'bitcoind.rpcuser'];

export function wantsEmbeddedChain(config: Config): boolean {
  return config.network === 'regtest' && config.bool('embeddedchain') && !CONNECTION_KEYS.some((k) => config.isSet(k));
}

async function freeLoopbackPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r, j) => s.once('error', j).listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export class EmbeddedChain implements Service {
  readonly name = 'embedded-chain';
  readonly optional = true;
  private readonly cell = new HealthCell('starting', 'not started');
  private child: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly apiKey: string,
    readonly cookieFile: string,
    private readonly log: Logger,
  ) {}

  /** Picks the port and key and writes the cookie; the node starts when the service opens. */
  static async prepare(netdir: string, log: Logger): Promise<EmbeddedChain> {
    const dir = join(netdir, 'chain');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const apiKey = randomBytes(32).toString('hex');
    const cookieFile = join(dir, '.cookie');
    await writeFile(cookieFile, `__cookie__:${apiKey}`, { mode: 0o600 });
    return new EmbeddedChain(dir, await freeLoopbackPort(), apiKey, cookieFile, log);
  }

  async open(): Promise<void> {
    if (!loadBcoin()) {
      this.cell.set('unavailable', 'the embedded regtest chain needs bcoin, which comes with the development dependencies (npm ci in a checkout)');
      this.log.warn('no embedded regtest chain: bcoin is not installed (npm ci in a checkout installs it); configure bitcoind.* instead');
      return;
    }
    const entry = join(PACKAGE_DIR, 'dist', 'src', 'adapters', 'bitcoin', 'embedded-node.js');
    const child = fork(entry, [String(this.port), this.apiKey, this.dir], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child = child;
    let err = '';
    child.stderr!.on('data', (c) => (err = (err + c).slice(-2000)));
    const height = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { ready?: number; error?: string }) => (m.ready !== undefined ? resolve(m.ready) : reject(new Error(m.error ?? 'failed'))));
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${err.trim()}`)));
    }).catch((e: Error) => {
      this.cell.set('failed', `the embedded regtest chain did not start: ${e.message}`);
      this.log.error({ reason: e.message }, 'the embedded regtest chain did not start');
      return undefined;
    });
    if (height === undefined) return;
    child.on('exit', (code, sig) => {
      if (this.child === child) this.cell.set('failed', `the embedded regtest chain stopped (${code ?? sig})`);
    });
    this.cell.set('ok', `embedded bcoin regtest node on 127.0.0.1:${this.port}, chain in ${this.dir} (height ${height} at start)`);
    this.log.info({ port: this.port, dir: this.dir, height, pid: child.pid }, 'embedded regtest chain started');
  }

  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    this.cell.set('stopped', 'closed');
  }

  health(): Health {
    return this.cell.get();
  }
}
