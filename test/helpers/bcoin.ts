// Starts the real regtest node (test/peers/bcoin-regtest) as a child process on a free port, and builds and
// signs transactions for it with bitcoinjs-lib.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { ECPairFactory } from 'ecpair';
import * as ecc from 'tiny-secp256k1';
import { ROOT } from './paths.js';

const ECPair = ECPairFactory(ecc);
const NET = bitcoin.networks.regtest;
const nodes = new Set<ChildProcess>();
// Killed by PID when the test file's process ends, whatever happened in between.
process.on('exit', () => {
  for (const p of nodes) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface BcoinNode {
  port: number;
  apiKey: string;
  cookieFile: string;
  proc: ChildProcess;
  rpc<T = unknown>(method: string, ...params: unknown[]): Promise<T>;
  mine(n: number, address?: string): Promise<string[]>;
  /** sendrawtransaction, then waits until the transaction is in the mempool (bcoin answers before it validates). */
  send(hex: string): Promise<string>;
  /** The mempool once it holds every one of txids (bcoin takes a transaction in after answering its sender), or throws. */
  mempoolWith(txids: string[]): Promise<Set<string>>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** Starts bcoin; with `prefix`, its chain is kept on disk so a restart resumes it. */
export async function startBcoin(
  dir: string,
  opts: { port?: number; apiKey?: string; prefix?: string; zmqPort?: number; zmqSkip?: number; maxWeight?: number } = {},
): Promise<BcoinNode> {
  const port = opts.port ?? (await freePort());
  const apiKey = opts.apiKey ?? randomBytes(16).toString('hex');
  const cookieFile = join(dir, `bitcoind-${port}.cookie`);
  await writeFile(cookieFile, `__cookie__:${apiKey}`, { mode: 0o600 });
  const proc = spawn(process.execPath, [join(ROOT, 'dist/test/peers/bcoin-regtest.js'), String(port), apiKey, ...(opts.prefix ? [opts.prefix] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...(opts.zmqPort ? { ZMQ_PORT: String(opts.zmqPort) } : {}),
      ...(opts.zmqSkip !== undefined ? { ZMQ_SKIP: String(opts.zmqSkip) } : {}),
      ...(opts.maxWeight !== undefined ? { MINER_MAXWEIGHT: String(opts.maxWeight) } : {}),
    },
  });
  nodes.add(proc);
  let err = '';
  proc.stderr!.on('data', (c) => (err += c));
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
    proc.once('exit', (code) => reject(new Error(`bcoin exited ${code}: ${err}`)));
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const rpc = async <T>(method: string, ...params: unknown[]): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`x:${apiKey}`).toString('base64')}` },
      body: JSON.stringify({ method, params }),
    });
    const body = (await res.json()) as { result: T; error: { message: string } | null };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  };
  const miner = p2wpkh(ECPair.makeRandom({ network: NET })).address;
  const mempoolWith = async (txids: string[]): Promise<Set<string>> => {
    for (let i = 0; i < 500; i++) {
      const pool = new Set(await rpc<string[]>('getrawmempool'));
      if (txids.every((t) => pool.has(t))) return pool;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${txids.join(', ')} never all reached the mempool`);
  };
  return {
    port,
    apiKey,
    cookieFile,
    proc,
    rpc,
    mine: (n, address = miner) => rpc<string[]>('generatetoaddress', n, address),
    send: async (hex) => {
      const txid = await rpc<string>('sendrawtransaction', hex);
      await mempoolWith([txid]);
      return txid;
    },
    mempoolWith,
    stop: async () => {
      proc.kill('SIGTERM');
      await exited;
    },
    kill: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export interface Wallet {
  key: ReturnType<typeof ECPair.makeRandom>;
  address: string;
  script: Uint8Array;
}

function p2wpkh(key: ReturnType<typeof ECPair.makeRandom>): Wallet {
  const pay = bitcoin.payments.p2wpkh({ pubkey: key.publicKey, network: NET });
  return { key, address: pay.address!, script: pay.output! };
}

export function newWallet(): Wallet {
  return p2wpkh(ECPair.makeRandom({ network: NET }));
}

/** Mines 101 blocks to `w` and returns a spendable coinbase output of the first. */
export async function fund(node: BcoinNode, w: Wallet): Promise<{ txid: string; vout: number; value: bigint }> {
  const [first] = await node.mine(101, w.address);
  const block = await node.rpc<{ tx: Array<{ txid: string; vout: Array<{ value: number; n: number; scriptPubKey: { hex: string } }> }> }>(
    'getblock',
    first,
    true,
    true,
  );
  const cb = block.tx[0]!;
  const out = cb.vout.find((o) => o.scriptPubKey.hex === Buffer.from(w.script).toString('hex'))!;
  return { txid: cb.txid, vout: out.n, value: BigInt(Math.round(out.value * 1e8)) };
}

/** A signed segwit v0 transaction spending `utxo` (owned by `from`) to `to`, minus a fee. */
export function pay(from: Wallet, utxo: { txid: string; vout: number; value: bigint }, to: string, fee = 1000n): { hex: string; txid: string } {
  const psbt = new bitcoin.Psbt({ network: NET });
  psbt.addInput({ hash: utxo.txid, index: utxo.vout, witnessUtxo: { script: from.script, value: utxo.value } });
  psbt.addOutput({ address: to, value: utxo.value - fee });
  psbt.signInput(0, from.key);
  psbt.finalizeAllInputs();
  const tx = psbt.extractTransaction();
  return { hex: tx.toHex(), txid: tx.getId() };
}
