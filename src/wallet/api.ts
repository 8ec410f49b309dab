// What other rooms may use of the wallet room (declared in their `requires`): the one coin service — coins chosen
// and promised to a holder (a DLC, a channel's funding), given back, and the wallet's own addresses to pay to.

import { roomApi } from '../core/room.js';

export interface WalletCoin {
  txid: string;
  vout: number;
  amount_sat: number;
  /** The output script, hex (P2WPKH). */
  script: string;
  /** The transaction that made the coin (hex): a P2WPKH input's non_witness_utxo, a DLC funding input's prev_tx. */
  prev_tx: string;
  /** The key origin a PSBT input needs for the HSM to sign it (bip32Derivation): master fingerprint, path, key. */
  origin: { fingerprint: string; path: string; pubkey: string };
}

export interface WalletApi {
  /**
   * Chooses P2WPKH coins worth at least `amount_sat` plus the fee of spending them at `fee_rate` (sat/vB) and
   * promises them to `holder` for `reserve_sec`; answers them, each with what its PSBT input needs, and a change
   * address for what is left. InvalidParams names the amounts when the wallet has too little.
   */
  reserveCoins(req: { amount_sat: number; fee_rate: number; holder: string; reserve_sec: number }): Promise<{ coins: WalletCoin[]; change_address: string }>;
  /**
   * Promises coins a caller hand-picked (outpoints "txid:vout", the wallet's or foreign ones) to `holder` for
   * `reserve_sec`, durably before it answers; Conflict names the first coin promised to another holder, and that
   * holder, and nothing is promised then. A foreign coin's spend is not seen by the wallet: its holder gives it back
   * (releaseCoins), or the promise expires.
   */
  reserveOutpoints(req: { outpoints: string[]; holder: string; reserve_sec: number }): Promise<void>;
  /** Gives back the coins promised to `holder`. */
  releaseCoins(holder: string): Promise<void>;
  /** A new address of the wallet (receive chain) for a payout, close, sweep or refund to land in. */
  newAddress(): Promise<string>;
  /**
   * A room that promises coins to holders named `<prefix><id>` says how to tell a holder still exists (its record).
   * The coins are promised before the holder's record is written, so a crash between the two leaves a promise no
   * record answers for; at start, such promises made by an earlier run are given back (logged), not kept till they
   * expire. Promises made since this start are never touched (a record may be on its way).
   */
  adoptHolders(prefix: string, exists: (holder: string) => Promise<boolean>): void;
}

/** A wallet coin as a funding input another room keeps in its record: its outpoint ("txid:vout") and key origin. */
export type WalletInput = { outpoint: string } & WalletCoin['origin'];

/** A wallet coin's key origin as a PSBT input's bip32Derivation: what makes the HSM sign it with the wallet's key. */
export function bip32DerivationOf(origin: WalletCoin['origin']): Array<{ masterFingerprint: Buffer; path: string; pubkey: Buffer }> {
  return [{ masterFingerprint: Buffer.from(origin.fingerprint, 'hex'), path: origin.path, pubkey: Buffer.from(origin.pubkey, 'hex') }];
}

/** The handle a room lists in `requires` and passes to `ctx.use` for the wallet room's api. */
export const WALLET = roomApi<WalletApi>('wallet');
