// The setup the DLC end-to-end tests share (dlc.test.ts, dlc-oracles.test.ts, dlc-restarts.test.ts): two anyad
// instances (Alice offers, Bob accepts), each with its own datadir and software keystore, on one bcoin regtest node,
// started before a describe's tests and stopped after them; and the steps those tests repeat (a coinbase to spend,
// a contract's state, funding a contract). Each test file has its own chain and anyads.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** The daemons' error log lines, appended to a failed call's message (what went wrong inside is there). */
let errorLogs = (): string => '';

export interface Party {
  d: RunningDaemon;
  ch: Channel;
  address: string;
}

export async function call<T>(ch: Channel, method: string, params?: unknown): Promise<T> {
  // A numeric contract's offer, accept and sign make and check hundreds of adaptor signatures: seconds, more under load.
  const r = await ch.call(method, params, undefined, 60_000);
  if (r.error) throw new Error(`${method}: ${r.error.code} ${r.error.message}${errorLogs()}`);
  return r.result as T;
}

/** Alice's and Bob's anyads on one regtest node; `alice` and `bob` are replaced when a test starts one again. */
export interface TwoAnyads {
  dir: { path: string; remove: () => Promise<void> };
  node: BcoinNode;
  alice: Party;
  bob: Party;
  /** A party's anyad; `fresh`: a new datadir with a coins key (else the same datadir again, address left to the caller). */
  start(name: string, fresh?: boolean, extra?: string[]): Promise<Party>;
  /** The coinbase output of the block at `hash` (50 BTC to the miner's address, less after halvings). */
  coinbase(hash: string): Promise<{ txid: string; vout: number }>;
  state(p: Party, id: string): Promise<{ state: string; outcome: string | null; closing_txid: string | null }>;
  waitState(p: Party, id: string, want: string): Promise<true>;
  /** Bob accepts with the coinbase of his block, Alice signs, Bob funds; the funding confirms at both. */
  fund(offered: { id: string; offer: string }, bobBlock: string): Promise<void>;
}

/** Starts the node and both anyads before the enclosing describe's tests, stops them after; call inside describe. */
export function twoAnyads(): TwoAnyads {
  const w = {} as TwoAnyads;
  w.start = async (name, fresh = true, extra = []) => {
    const pf = join(w.dir.path, `${name}.pass`);
    if (fresh) await writeFile(pf, `${name}'s keystore passphrase\n`, { mode: 0o600 });
    // The refund test uses block-height locktimes 4 blocks apart, and the mutual close and threshold tests a refund
    // locktime years after their events: the room's bounds on the refund delay opened for them (dlc-hostile.test.ts
    // tests the bounds).
    const d = await startDaemon(join(w.dir.path, name), {
      args: keystorePartyArgs(w.node, pf, ['-dlc.minrefunddelay=600', '-dlc.maxrefunddelay=0', ...extra]),
    });
    const ch = await unixChannel(d.socket);
    if (!fresh) return { d, ch, address: '' };
    const key = await call<{ id: string }>(ch, 'hsm.generatekey', { label: `${name} coins` });
    const pub = await call<{ addresses: { p2wpkh: string } }>(ch, 'hsm.getpubkey', { key: key.id });
    return { d, ch, address: pub.addresses.p2wpkh };
  };
  w.coinbase = async (hash) => {
    const block = await w.node.rpc<{ tx: string[] }>('getblock', hash, true, false);
    return { txid: block.tx[0]!, vout: 0 };
  };
  w.state = async (p, id) => call(p.ch, 'dlc.get', { id });
  w.waitState = (p, id, want) =>
    until(`${want}`, async () => ((await w.state(p, id)).state === want ? true : undefined), 800).catch(async (err: Error) => {
      throw new Error(`${err.message} (it is ${(await w.state(p, id)).state}); ${JSON.stringify(p.d.logs.filter((l) => (l.level as number) >= 40).slice(-5))}`);
    });
  w.fund = async (offered, bobBlock) => {
    const accepted = await call<{ accept: string }>(w.bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [await w.coinbase(bobBlock)] });
    const signed = await call<{ sign: string }>(w.alice.ch, 'dlc.sign', { accept: accepted.accept });
    const funded = await call<{ txid: string }>(w.bob.ch, 'dlc.finalize', { sign: signed.sign });
    await until('the funding transaction in the node mempool', async () =>
      (await w.node.rpc<string[]>('getrawmempool')).includes(funded.txid) ? true : undefined,
    );
    await w.node.mine(1, w.bob.address);
    await w.waitState(w.alice, offered.id, 'confirmed');
    await w.waitState(w.bob, offered.id, 'confirmed');
  };

  before(async () => {
    w.dir = await tempDir();
    w.node = await startBcoin(w.dir.path);
    w.alice = await w.start('alice');
    errorLogs = () => JSON.stringify([...w.alice.d.logs, ...(w.bob?.d.logs ?? [])].filter((l) => (l.level as number) >= 50));
    w.bob = await w.start('bob');
    await until('both connected to the node', async () => {
      const a = await call<{ state: string }>(w.alice.ch, 'chain.getinfo');
      const b = await call<{ state: string }>(w.bob.ch, 'chain.getinfo');
      return a.state === 'connected' && b.state === 'connected' ? true : undefined;
    });
  });
  after(async () => {
    w.alice?.ch.close();
    w.bob?.ch.close();
    await w.alice?.d.kill();
    await w.bob?.d.kill();
    await w.node?.stop().catch(() => undefined);
    await w.dir?.remove();
  });
  return w;
}
