// What other rooms may use of the wallet room (declared in their `requires`): the one coin service — coins chosen
// and promised to a holder (a DLC, a channel's funding), given back, and the wallet's own addresses to pay to.

import { roomApi } from '../core/room.js';

export interface WalletCoin {
  txid: string;
  vout: number;
  amount_sat: number;
  /** The output script, hex. */
  script: string;
}

export interface WalletApi {
  /**
   * Chooses coins worth at least `amount_sat` plus the fee of spending them at `fee_rate` (sat/vB) and promises them
   * to `holder` for `reserve_sec`; answers them with a change address for what is left. InvalidParams names the
   * amounts when the wallet has too little.
   */
  reserveCoins(req: { amount_sat: number; fee_rate: number; holder: string; reserve_sec: number }): Promise<{ coins: WalletCoin[]; change_address: string }>;
  /** Gives back the coins promised to `holder`. */
  releaseCoins(holder: string): Promise<void>;
  /** A new address of the wallet (receive chain) for a payout, close, sweep or refund to land in. */
  newAddress(): Promise<string>;
}

/** The handle a room lists in `requires` and passes to `ctx.use` for the wallet room's api. */
export const WALLET = roomApi<WalletApi>('wallet');
