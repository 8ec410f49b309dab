// What LDK needs of the chain, from the bitcoin room: blocks (connected in order, disconnected on a reorg), fee rates
// and broadcasts. LDK's callbacks are synchronous and the bitcoin room answers asynchronously: fees are kept in a
// cache refreshed in the background, broadcasts are sent without waiting (LDK rebroadcasts what matters on its
// timer), and blocks are fed from an async queue that fetches each raw block before handing it to LDK.

import type { Logger } from 'pino';
import * as bitcoin from 'bitcoinjs-lib';
import * as ldk from 'lightningdevkit';
import type { BitcoinApi } from '../../bitcoin/api.js';
import type { HeaderLog } from './headers.js';
import { hashBytes, hashHex } from './wasm.js';

/** Something LDK that follows blocks one at a time: the ChannelManager, the ChainMonitor, or one ChannelMonitor. */
export interface Follower {
  height: number;
  /** Block hash, displayed hex. */
  hash: string;
  connect(raw: Uint8Array, height: number): void;
  disconnect(header: Uint8Array, height: number): void;
}

/** A follower for LDK objects with the Listen trait (the manager, the chain monitor), starting at a best block. */
export function listenFollower(listens: ldk.Listen[], best: ldk.BestBlock): Follower {
  return {
    height: best.get_height(),
    hash: hashHex(best.get_block_hash()),
    connect: (raw, h) => listens.forEach((l) => l.block_connected(raw, h)),
    disconnect: (header, h) => listens.forEach((l) => l.block_disconnected(header, h)),
  };
}

/** A follower for one ChannelMonitor read at start (brought to the manager's height before it is watched). */
export function monitorFollower(m: ldk.ChannelMonitor, env: { broadcaster: ldk.BroadcasterInterface; fees: ldk.FeeEstimator; logger: ldk.Logger }): Follower {
  const best = m.current_best_block();
  return {
    height: best.get_height(),
    hash: hashHex(best.get_block_hash()),
    connect: (raw, h) => {
      const block = bitcoin.Block.fromBuffer(Buffer.from(raw));
      const txdata = (block.transactions ?? []).map((tx, i) => ldk.TwoTuple_usizeTransactionZ.constructor_new(i, tx.toBuffer()));
      m.block_connected(raw.subarray(0, 80), txdata, h, env.broadcaster, env.fees, env.logger);
    },
    disconnect: (header, h) => m.block_disconnected(header, h, env.broadcaster, env.fees, env.logger),
  };
}

/**
 * Moves a follower to the block `target` (height and hash) of the node's main chain: back block by block while its
 * tip is not an ancestor of the target (a reorg, also one that happened while anyad was down), then forward. A block
 * to disconnect is given to LDK with its header as kept when it was connected (headers.ts), or else as the node still
 * has it; each block connected has its header kept.
 */
export async function syncTo(f: Follower, target: { height: number; hash: string }, chain: BitcoinApi, headers: HeaderLog): Promise<void> {
  const header = async (height: number, hash: string): Promise<Buffer> =>
    (await headers.header(height, hash)) ??
    Buffer.from(
      await chain.rawBlock(hash).catch((err: Error) => {
        throw new Error(`the header of block ${height} ${hash}, left by a reorg, is neither kept nor on the node (${err.message})`);
      }),
      'hex',
    ).subarray(0, 80);
  for (;;) {
    if (f.height === target.height && f.hash === target.hash) return;
    const onMain = f.height <= target.height && (await chain.blockHash(f.height).catch(() => undefined)) === f.hash;
    if (!onMain) {
      // The follower's tip left the main chain: disconnect it (its header names the block before it).
      const h = await header(f.height, f.hash);
      f.disconnect(h, f.height);
      f.height -= 1;
      f.hash = hashHex(h.subarray(4, 36));
      continue;
    }
    // The block it stands on is on the main chain now: its header kept before a reorg can take it away.
    if (!(await headers.header(f.height, f.hash))) headers.keep(f.height, f.hash, Buffer.from(await chain.rawBlock(f.hash), 'hex'));
    const next = await chain.blockHash(f.height + 1);
    const raw = Buffer.from(await chain.rawBlock(next), 'hex');
    if (hashHex(raw.subarray(4, 36)) !== f.hash) continue; // the chain moved under us: look again
    f.connect(raw, f.height + 1);
    f.height += 1;
    f.hash = next;
    headers.keep(f.height, f.hash, raw);
  }
}

/** Fee rates LDK asks for, in sat per 1000 weight units (LDK's floor is 253, i.e. 1 sat/vB rounded up). */
export class FeeCache {
  private readonly rates = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  readonly estimator: ldk.FeeEstimator;

  constructor(
    private readonly chain: BitcoinApi,
    private readonly fallbackSatKw: number,
    private readonly log: Logger,
  ) {
    this.estimator = ldk.FeeEstimator.new_impl({ get_est_sat_per_1000_weight: (t: ldk.ConfirmationTarget) => this.rate(t) });
  }

  /** The block target each of LDK's purposes stands for; the minimums LDK accepts from a peer are the floor. */
  private static target(t: ldk.ConfirmationTarget): number | undefined {
    const T = ldk.ConfirmationTarget;
    if (t === T.LDKConfirmationTarget_MaximumFeeEstimate || t === T.LDKConfirmationTarget_UrgentOnChainSweep) return 2;
    if (t === T.LDKConfirmationTarget_AnchorChannelFee || t === T.LDKConfirmationTarget_NonAnchorChannelFee) return 6;
    if (t === T.LDKConfirmationTarget_ChannelCloseMinimum || t === T.LDKConfirmationTarget_OutputSpendingFee) return 12;
    return undefined;
  }

  private rate(t: ldk.ConfirmationTarget): number {
    const target = FeeCache.target(t);
    if (target === undefined) return 253;
    return Math.max(253, this.rates.get(target) ?? this.fallbackSatKw);
  }

  /** The rate for a purpose in sat/vB (what the wallet's coin selection takes), at least 1. */
  satPerVb(t: ldk.ConfirmationTarget): number {
    return Math.max(1, Math.ceil(this.rate(t) / 250));
  }

  /** Reads the node's estimates now and every minute after; a node without one (bcoin) leaves the fallback. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), 60_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    for (const target of [2, 6, 12]) {
      try {
        const satVb = await this.chain.coreEstimate(target);
        if (satVb === null) this.rates.delete(target);
        else this.rates.set(target, Math.ceil(satVb * 250));
      } catch (err) {
        this.log.debug({ target, reason: (err as Error).message }, 'fee estimate failed; the last one (or the fallback) stays');
      }
    }
  }
}

/** LDK's broadcaster: each transaction sent through the bitcoin room; a refusal is logged (LDK sends again on its timer). */
export function broadcaster(chain: BitcoinApi, log: Logger): ldk.BroadcasterInterface {
  return ldk.BroadcasterInterface.new_impl({
    broadcast_transactions: (txs: Uint8Array[]) => {
      for (const tx of txs) {
        const hex = Buffer.from(tx).toString('hex');
        chain.broadcast(hex, 'an LDK transaction').then(
          (txid) => log.info({ txid }, 'LDK transaction broadcast'),
          (err: Error) => log.warn({ reason: err.message }, 'LDK transaction not accepted by the node'),
        );
      }
    },
  });
}

/** Exposed for the follower of the chain's blocks (node.ts): a block's hash from its raw bytes, displayed hex. */
export const blockHashOf = (raw: Uint8Array): string => hashHex(bitcoin.crypto.hash256(Buffer.from(raw.subarray(0, 80))));
export { hashBytes };
