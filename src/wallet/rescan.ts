// wallet.rescan: reads the node's blocks from a height (or from a wallet birthday) up to the bitcoin room's watcher
// tip and applies them to the ledger, as Core's rescanblockchain does after a restore: every coin of the seed's
// accounts that the chain holds is found, the gap limit moving ahead as used addresses are met. It runs inside the
// wallet lock (a block from the watcher waits, then applies on top), one durable batch per block, and applying a
// block twice changes nothing (ledger.ts), so a rescan over blocks already followed is harmless. Progress goes out
// as wallet.rescan events and in the room's health.

import { rpcError } from '../core/errors.js';
import type { WalletService } from './service.js';
import { WALLET_RESCAN } from './topics.js';

/** Core's TIMESTAMP_WINDOW: block times may run this far behind the real time, so a birthday looks that far back. */
const TIMESTAMP_WINDOW_SEC = 2 * 60 * 60;
const PROGRESS_EVERY = 100;

export interface RescanResult {
  from_height: number;
  to_height: number;
  blocks: number;
  /** Wallet transactions the rescan found that the ledger did not hold. */
  transactions_found: number;
}

/**
 * The first height whose block time is at or after the birthday (less the timestamp window): a binary search (block
 * times are not strictly monotonic, BIP113; the window covers what they run behind).
 */
async function heightOfBirthday(svc: WalletService, birthday: number, tip: number): Promise<number> {
  const { chain } = svc.settings;
  let lo = 0;
  let hi = tip + 1; // tip + 1: no block that late (a birthday in the future)
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const b = await chain.block(await chain.blockHash(mid));
    if (b.time >= birthday - TIMESTAMP_WINDOW_SEC) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export async function rescan(svc: WalletService, from: { from_height?: number; birthday?: number }): Promise<RescanResult> {
  await svc.accounts();
  const { chain, store, bus } = svc.settings;
  const tip = chain.tip();
  if (!tip) throw rpcError('BackendUnavailable', 'the bitcoin room has not followed the chain yet: nothing to rescan');
  const start = from.from_height ?? (from.birthday !== undefined ? await heightOfBirthday(svc, from.birthday, tip.height) : 0);
  if (start > tip.height)
    throw rpcError(
      'InvalidParams',
      `${from.from_height !== undefined ? `from_height ${start}` : `the birthday's first block (${start})`} is above the tip the wallet follows (${tip.height})`,
    );
  return svc.exclusive(async () => {
    const before = svc.ledger.txs.size;
    const blind = svc.blindHeight();
    for (let h = start; h <= tip.height; h++) {
      const block = await chain.block(await chain.blockHash(h));
      const w = svc.onBlock({ ...block, height: h });
      if (h === tip.height && blind !== undefined && start <= blind) svc.sawBlind(w.ops);
      await store.batch(w.ops);
      w.after?.();
      if ((h - start) % PROGRESS_EVERY === PROGRESS_EVERY - 1 || h === tip.height) {
        const found = svc.ledger.txs.size - before;
        bus.publish(WALLET_RESCAN, { height: h, from_height: start, to_height: tip.height, transactions_found: found, done: h === tip.height });
        svc.note(h === tip.height ? `rescanned ${start}..${h}: ${found} transactions found` : `rescanning: ${h} of ${start}..${tip.height}`);
      }
    }
    return { from_height: start, to_height: tip.height, blocks: tip.height - start + 1, transactions_found: svc.ledger.txs.size - before };
  });
}
