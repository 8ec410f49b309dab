// wallet.rescan over 2,000 blocks (issue 27) against the node's own block rate: the seconds a real anyad (the shipped
// bundle, software keystore, bcoin regtest node) takes for `wallet.rescan from_height=0`, and the seconds this
// process takes to ask the same node for the same blocks as the rescan does (getblockhash, then getblock with every
// transaction), one after the other. The two are taken in turns, twice each, so a drift of the shared machine falls
// on both alike; the ratio is rescan / node pass (1× = the rescan costs no more than reading the blocks).
//
// The chain: 2,000 blocks, every 20th paying its coinbase to a wallet address (100 wallet transactions, found again
// by each rescan: applying a block the wallet already holds does the same matching, and changes nothing).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnyaClient } from '../src/client/index.js';
import { newWallet, startBcoin, type BcoinNode } from '../test/helpers/bcoin.js';
import { keystorePartyArgs } from '../test/helpers/keystore-party.js';
import { startAnyad, stop } from './chain.js';
import { inTurns } from './turns.js';

const BLOCKS = 2000;
const EVERY = 20;
const r2 = (x: number): number => Math.round(x * 100) / 100;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function seconds(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return (performance.now() - t) / 1000;
}

async function followed(client: AnyaClient, node: BcoinNode): Promise<number> {
  const height = await node.rpc<number>('getblockcount');
  for (let i = 0; i < 2400; i++) {
    const info = await client.call<{ processed_height: number | null }>('chain.getinfo');
    if (info.processed_height === height) return height;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('anyad did not follow the node');
}

export async function benchWalletRescan(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-rescan-'));
  let node: BcoinNode | undefined;
  try {
    node = await startBcoin(dir);
    const pf = join(dir, 'pass');
    await writeFile(pf, 'bench rescan passphrase\n', { mode: 0o600 });
    const datadir = join(dir, 'anya');
    const a = await startAnyad(datadir, keystorePartyArgs(node, pf));
    const client = await AnyaClient.connect({ socket: join(datadir, 'regtest', 'anya.sock') });
    const outside = newWallet().address;
    for (let i = 0; i < BLOCKS; i += EVERY) {
      const { address } = await client.call<{ address: string }>('wallet.getnewaddress');
      await node.mine(EVERY - 1, outside);
      await node.mine(1, address);
    }
    const tip = await followed(client, node);
    const nodePass = (): Promise<number> =>
      seconds(async () => {
        for (let h = 0; h <= tip; h++) await node!.rpc('getblock', await node!.rpc<string>('getblockhash', h), true, true);
      });
    let found = 0;
    const turns = await inTurns(
      2,
      () =>
        seconds(async () => {
          const r = await client.call<{ blocks: number; transactions_found: number }>('wallet.rescan', { from_height: 0 });
          if (r.blocks !== tip + 1) throw new Error(`the rescan read ${r.blocks} blocks, not ${tip + 1}`);
          found = r.transactions_found;
        }),
      nodePass,
    );
    const txs = (await client.call<{ total: number }>('wallet.listtransactions', { count: 1 })).total;
    const rescanS = median(turns.subject);
    const nodeS = median(turns.baseline);
    results.wallet_rescan = {
      blocks: tip + 1,
      wallet_transactions: txs,
      transactions_found_again: found,
      rescan_s: r2(rescanS),
      rescan_blocks_per_s: Math.round((tip + 1) / rescanS),
      node_getblock_s: r2(nodeS),
      node_blocks_per_s: Math.round((tip + 1) / nodeS),
      ratio: r2(rescanS / nodeS),
    };
    console.log(
      `wallet.rescan of ${tip + 1} blocks (${txs} wallet transactions): ${r2(rescanS)} s (${Math.round((tip + 1) / rescanS)} blocks/s) | the node's getblockhash+getblock for the same blocks ${r2(nodeS)} s | ratio ${r2(rescanS / nodeS)}`,
    );
    await client.close();
    await stop(a.proc);
  } finally {
    await node?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
