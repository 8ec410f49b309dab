// The regtest fee market fee-market.test.ts and fee-retrain-daemon.test.ts drive on bcoin: a key's coinbases fanned
// out to 200 coins each in full-size blocks, then a node on the same chain with small blocks (about PER_BLOCK 1-in
// 1-out spends each) so a backlog builds and clears; each block interval sends a seeded number of spends at
// log-normal fee rates — a burst every 8th interval, a quiet one every 5th, else about a block's worth.

import { join } from 'node:path';
import * as bitcoin from 'bitcoinjs-lib';
import { startBcoin, type BcoinNode, type Wallet } from '../helpers/bcoin.js';
import { rng } from '../../src/ml/mlp.js';

const NET = bitcoin.networks.regtest;
export const PER_BLOCK = 30; // 1-in 1-out P2WPKH spends of 110 vB
export const BLOCK_VSIZE = PER_BLOCK * 110;

export interface Utxo {
  txid: string;
  vout: number;
  value: bigint;
}

/** A one-input spend from `w` to `outputs`, signed. */
export function spend(w: Wallet, u: Utxo, outputs: Array<{ address: string; value: bigint }>): { hex: string; txid: string } {
  const p = new bitcoin.Psbt({ network: NET });
  p.addInput({ hash: u.txid, index: u.vout, witnessUtxo: { script: w.script, value: u.value } });
  for (const o of outputs) p.addOutput(o);
  p.signInput(0, w.key);
  p.finalizeAllInputs();
  const tx = p.extractTransaction();
  return { hex: tx.toHex(), txid: tx.getId() };
}

/** `coinbases` blocks to `w`, each fanned out to 200 coins (mined), then the market's node with small blocks. */
export async function marketNode(dirPath: string, w: Wallet, coinbases: number): Promise<{ node: BcoinNode; coins: Utxo[] }> {
  const prefix = join(dirPath, 'chain');
  const funder = await startBcoin(dirPath, { prefix });
  const coins: Utxo[] = [];
  try {
    const blocks = await funder.mine(coinbases, w.address);
    await funder.mine(100);
    for (const h of blocks) {
      const b = await funder.rpc<{ tx: Array<{ txid: string; vout: Array<{ value: number }> }> }>('getblock', h, true, true);
      const cb = b.tx[0]!;
      const value = BigInt(Math.round(cb.vout[0]!.value * 1e8));
      const each = (value - 100_000n) / 200n;
      const fan = spend(
        w,
        { txid: cb.txid, vout: 0, value },
        Array.from({ length: 200 }, () => ({ address: w.address, value: each })),
      );
      await funder.send(fan.hex);
      for (let i = 0; i < 200; i++) coins.push({ txid: fan.txid, vout: i, value: each });
    }
    await funder.mine(1);
    if ((await funder.rpc<string[]>('getrawmempool')).length !== 0) throw new Error('the fan-outs were not mined');
  } finally {
    await funder.stop();
  }
  return { node: await startBcoin(dirPath, { prefix, maxWeight: 4000 + PER_BLOCK * 440 }), coins };
}

/** The market's intervals, seeded: each `send(interval)` sends that interval's spends to `burn` and returns their txids. */
export function market(node: BcoinNode, w: Wallet, coins: Utxo[], burn: string, seed: number): (interval: number) => Promise<string[]> {
  const rand = rng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  return async (interval) => {
    const n = interval % 8 === 3 ? 90 : interval % 5 === 4 ? 8 : Math.max(0, Math.round(PER_BLOCK + Math.sqrt(PER_BLOCK) * normal()));
    const txids: string[] = [];
    for (let k = 0; k < n; k++) {
      const rate = Math.min(200, Math.max(1, Math.exp(1.6 + 0.9 * normal())));
      const u = coins.pop()!;
      txids.push(await node.rpc<string>('sendrawtransaction', spend(w, u, [{ address: burn, value: u.value - BigInt(Math.ceil(rate * 110)) }]).hex));
    }
    await node.mempoolWith(txids);
    return txids;
  };
}
