// The wallet with 10,000 coins (issue 27): wallet.getbalance, wallet.listunspent and wallet.fundpsbt over the Unix
// socket of a real anyad (the shipped bundle, software keystore, bcoin regtest node), p50/p99 (goals < 5 ms,
// < 20 ms, < 20 ms), each against a LevelDB scan of the same coin records (a copy of anyad's state, read with the
// store anyad uses, every c: record decoded), the two taken in turns in the same run.
//
// How the 10,000 coins are made: real transactions on the bcoin regtest node, seen by the wallet as it sees any
// payment (mempool, then a block). An outside payer (a key of this process) mines 110 blocks and spends ten of its
// coinbases in ten transactions of 1,000 outputs each to 100 of the wallet's receive addresses (0.001 to 0.01 BTC
// each); one block confirms them. The wallet then holds exactly those 10,000 coins. (Not through wallet.send: today
// hsm.signpsbt takes tens of ms per output — 3.6 s for a 100-output PSBT — so 1,000-output sends would take minutes.)
// fundpsbt asks for 0.05 BTC at 2 sat/vB: coinselect walks every candidate, and the PSBT carries each chosen input's
// previous transaction (a 31 kB one, read from the node); its coins are released after each call, outside the timing.

import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as bitcoin from 'bitcoinjs-lib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnyaClient } from '../src/client/index.js';
import { Store } from '../src/store/store.js';
import { newWallet, startBcoin, type BcoinNode } from '../test/helpers/bcoin.js';
import { keystorePartyArgs } from '../test/helpers/keystore-party.js';
import { startAnyad, stop } from './chain.js';
import { inTurns } from './turns.js';

const SENDS = 10;
const OUTPUTS = 1000;
const ADDRESSES = 100;
const r2 = (x: number): number => Math.round(x * 100) / 100;
const pct = (s: number[], p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
const figures = (xs: number[]): { p50_ms: number; p99_ms: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50_ms: r2(pct(s, 50)), p99_ms: r2(pct(s, 99)) };
};

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/** Waits until anyad's watcher has processed the node's tip and nothing of the wallet is left unconfirmed. */
async function settled(client: AnyaClient, node: BcoinNode): Promise<void> {
  const height = await node.rpc<number>('getblockcount');
  for (let i = 0; i < 2400; i++) {
    const info = await client.call<{ processed_height: number | null }>('chain.getinfo');
    const b = await client.call<{ unconfirmed_sat: number }>('wallet.getbalance');
    if (info.processed_height === height && b.unconfirmed_sat === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('anyad did not follow the node');
}

/** The coins into the wallet, by real transactions of an outside payer (see the header). Answers the coins held. */
async function populate(client: AnyaClient, node: BcoinNode): Promise<number> {
  const payer = newWallet();
  for (let i = 0; i < 110; i += 10) await node.mine(10, payer.address);
  const addrs: string[] = [];
  for (let i = 0; i < ADDRESSES; i++) addrs.push((await client.call<{ address: string }>('wallet.getnewaddress')).address);
  for (let t = 0; t < SENDS; t++) {
    // Block t+1's coinbase (50 BTC, mature at height 110) pays 1,000 wallet outputs; the rest goes back to the payer.
    const hash = await node.rpc<string>('getblockhash', t + 1);
    const cb = (await node.rpc<{ tx: Array<{ txid: string; vout: Array<{ value: number; n: number }> }> }>('getblock', hash, true, true)).tx[0]!;
    const value = BigInt(Math.round(cb.vout[0]!.value * 1e8));
    const psbt = new bitcoin.Psbt({ network: bitcoin.networks.regtest });
    psbt.addInput({ hash: cb.txid, index: 0, witnessUtxo: { script: payer.script, value } });
    let paid = 0n;
    for (let i = 0; i < OUTPUTS; i++) {
      const amount = BigInt(100_000 + (((t * OUTPUTS + i) * 7919) % 900_000));
      psbt.addOutput({ address: addrs[i % ADDRESSES]!, value: amount });
      paid += amount;
    }
    psbt.addOutput({ address: payer.address, value: value - paid - 70_000n }); // ~31,100 vB at > 2 sat/vB
    psbt.signInput(0, payer.key);
    psbt.finalizeAllInputs();
    await node.send(psbt.extractTransaction().toHex());
  }
  await node.mine(1, payer.address);
  await settled(client, node);
  return (await client.call<unknown[]>('wallet.listunspent', { limit: 100_000 })).length;
}

export async function benchWallet(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-wallet-'));
  let node: BcoinNode | undefined;
  try {
    node = await startBcoin(dir);
    const pf = join(dir, 'pass');
    await writeFile(pf, 'bench wallet passphrase\n', { mode: 0o600 });
    const datadir = join(dir, 'anya');
    const args = keystorePartyArgs(node, pf);
    const sock = join(datadir, 'regtest', 'anya.sock');
    let a = await startAnyad(datadir, args);
    let client = await AnyaClient.connect({ socket: sock });
    const t0 = performance.now();
    const coins = await populate(client, node);
    const populateS = (performance.now() - t0) / 1000;
    await client.close();
    // The baseline's copy of the same records: anyad's state after a clean stop.
    await stop(a.proc);
    const copy = join(dir, 'state-copy');
    await cp(join(datadir, 'regtest', 'state'), copy, { recursive: true });
    const store = await Store.open(copy);
    const db = await store.room('wallet');
    const scan = async (): Promise<number> => {
      let n = 0;
      for await (const [, v] of db.iterator({ gte: 'c:', lt: 'c;' })) if ((v as { value_sat: number }).value_sat > 0) n++;
      return n;
    };
    const scanned = await scan();
    a = await startAnyad(datadir, args);
    client = await AnyaClient.connect({ socket: sock });
    await settled(client, node);
    const to = newWallet().address;
    const subjects: Record<string, { rounds: number; run: () => Promise<unknown> }> = {
      getbalance: { rounds: 200, run: () => client.call('wallet.getbalance') },
      listunspent: { rounds: 40, run: () => client.call('wallet.listunspent', { limit: 100_000 }) },
      fundpsbt: {
        rounds: 60,
        run: async () => {
          const f = await client.call<{ holder: string }>('wallet.fundpsbt', { outputs: [{ address: to, amount_sat: 5_000_000 }], fee_rate: 2 });
          return f.holder;
        },
      },
    };
    const row: Record<string, unknown> = { coins, scanned_records: scanned, populate_s: r2(populateS) };
    for (const [name, s] of Object.entries(subjects)) {
      for (let i = 0; i < 3; i++) {
        const h = await s.run(); // warm-up
        if (name === 'fundpsbt') await client.call('wallet.release', { holder: h });
      }
      const holders: string[] = [];
      const turns = await inTurns(
        s.rounds,
        () =>
          timed(async () => {
            const h = await s.run();
            if (name === 'fundpsbt') holders.push(h as string);
          }).then(async (ms) => {
            // The promise of a funded PSBT is given back outside the timing, so every round chooses from all coins.
            if (holders.length > 0) await client.call('wallet.release', { holder: holders.pop()! });
            return ms;
          }),
        () => timed(scan),
      );
      const subj = figures(turns.subject);
      const base = figures(turns.baseline);
      row[name] = { ...subj, level_scan: base, ratio_p50: r2(subj.p50_ms / base.p50_ms) };
      const goal = name === 'getbalance' ? 5 : 20;
      console.log(
        `wallet.${name} with ${coins} coins: p50 ${subj.p50_ms} ms p99 ${subj.p99_ms} ms (goal < ${goal} ms) | LevelDB scan of the ${scanned} coin records p50 ${base.p50_ms} ms p99 ${base.p99_ms} ms | ratio ${r2(subj.p50_ms / base.p50_ms)}`,
      );
    }
    await client.close();
    await store.close();
    await stop(a.proc);
    results.wallet = row;
  } finally {
    await node?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
