// What the room asks the bitcoin room about a channel's outputs: the chain notifications it registers for a
// channel's funding, whether the node knows the funding transaction, which transaction spends an output, and
// whether the coin at the funding outpoint is the channel's.

import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../core/errors.js';
import type { BitcoinApi, ChainNotifications, Utxo } from '../bitcoin/api.js';
import { checkFundingOutput } from './rules.js';
import { fundingScript, p2wsh } from './transactions.js';
import type { ChannelRecord } from './record.js';

export interface Spender {
  tx: bitcoin.Transaction;
  /** The block it is in, or null while it is in the mempool. */
  height: number | null;
}

/**
 * Whether the node knows the channel's funding transaction: 'in the mempool' or 'on chain' (its output unspent,
 * else by getrawtransaction: the mempool or a txindex), or undefined.
 */
export async function fundingSeen(chain: BitcoinApi, rec: ChannelRecord): Promise<'in the mempool' | 'on chain' | undefined> {
  if (rec.funding_txid === null || rec.funding_vout === null) return undefined;
  const out = await chain.utxo(rec.funding_txid, rec.funding_vout);
  if (out) return out.confirmations >= 1 ? 'on chain' : 'in the mempool';
  const tx = await chain.transaction(rec.funding_txid).catch(() => undefined);
  if (tx) return tx.confirmations >= 1 ? 'on chain' : 'in the mempool';
  return undefined;
}

/**
 * Registers a channel's funding with the bitcoin room's chain notifications: its output's spend, its confirmation,
 * and (ours) the spend of our first funding coin, which tells a cancelled channel's funding appeared after all.
 */
export async function watchChannel(notes: ChainNotifications, rec: ChannelRecord): Promise<void> {
  if (rec.funding_txid === null || rec.funding_vout === null) return;
  await notes.watchSpend({ outpoint: `${rec.funding_txid}:${rec.funding_vout}`, id: rec.id });
  await notes.watchConfirm({ txid: rec.funding_txid, depth: 1, id: rec.id });
  const coin = rec.role === 'opener' ? rec.utxos[0] : undefined;
  if (coin) await notes.watchSpend({ outpoint: `${coin.txid}:${coin.vout}`, id: rec.id });
}

/** The height of the watcher's tip (where a later scan for a spend may start; never ahead of the node). */
export function tipHeight(chain: BitcoinApi): number {
  const at = chain.tip();
  if (!at) throw rpcError('BackendUnavailable', 'the chain watcher has not reached the tip yet', { service: 'bitcoind' });
  return at.height;
}

/** The node's tip height: above the watcher's while it catches up (after a restart); the watcher's before its first round. */
export function nodeTipHeight(chain: BitcoinApi): number {
  return Math.max(chain.best()?.height ?? 0, tipHeight(chain));
}

/** Why the coin at the funding outpoint is not this channel's funding output, or undefined when it is. */
export function fundingMismatch(rec: ChannelRecord, out: Utxo): string | undefined {
  try {
    checkFundingOutput(
      { value: BigInt(out.value_sat), script: Buffer.from(out.script, 'hex') },
      BigInt(rec.capacity_sat),
      p2wsh(fundingScript(rec.ours.funding, rec.theirs!.funding)),
      'the transaction on chain',
    );
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The transaction spending an output: one of the hinted ones (our own, or the one a chain notification named, a
 * mempool spend included), else in a block from `fromHeight` to the tip.
 */
export async function spenderOf(
  chain: BitcoinApi,
  txid: string,
  vout: number,
  fromHeight: number,
  tip: number,
  hints: Array<string | null | undefined>,
): Promise<Spender | undefined> {
  const spends = (tx: bitcoin.Transaction): boolean => tx.ins.some((i) => Buffer.from(i.hash).reverse().toString('hex') === txid && i.index === vout);
  for (const h of hints.filter((x): x is string => !!x)) {
    const v = await chain.transaction(h).catch(() => undefined);
    if (v) {
      const tx = bitcoin.Transaction.fromHex(v.hex);
      if (spends(tx)) return { tx, height: v.confirmations ? tip - v.confirmations + 1 : null };
    }
  }
  for (let h = Math.max(fromHeight, 1); h <= tip; h++) {
    const block = bitcoin.Block.fromHex(await chain.rawBlock(await chain.blockHash(h)));
    const tx = block.transactions?.find(spends);
    if (tx) return { tx, height: h };
  }
  return undefined;
}
